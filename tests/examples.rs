//! End-to-end properties of every bundled example, through the real binary: it compiles,
//! compiling twice gives identical bytes, `--check` agrees with the tree on disk, and a file
//! a user put into the output tree survives recompiles.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn manifold(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_manifold"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the manifold binary runs")
}

fn examples() -> Vec<PathBuf> {
    let mut specs: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"))
            .expect("examples/ exists")
            .map(|entry| entry.expect("readable entry").path().join("platform.kdl"))
            .filter(|spec| spec.is_file())
            .collect();
    specs.sort();
    assert!(specs.len() >= 2, "at least two examples are bundled");
    specs
}

fn read_tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .map(|entry| entry.expect("walkable"))
        .filter(|entry| entry.file_type().is_file())
        // Transient state: the lock, and the fingerprint (inodes and times of this run).
        .filter(|entry| !entry.path().ends_with(".manifold/lock"))
        .filter(|entry| !entry.path().ends_with(".manifold/fingerprint"))
        .map(|entry| {
            let relative = entry.path().strip_prefix(root).expect("inside root");
            (
                relative.display().to_string(),
                std::fs::read(entry.path()).expect("readable"),
            )
        })
        .collect();
    files.sort();
    files
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn every_example_compiles_deterministically() {
    for spec in examples() {
        let spec = spec.to_str().expect("utf-8 path");
        let dir = tempfile::tempdir().expect("tempdir");
        let first = dir.path().join("first");
        let second = dir.path().join("second");
        for out in [&first, &second] {
            let output = manifold(&["compile", spec, "--out", out.to_str().expect("utf-8")]);
            assert!(output.status.success(), "{spec}: {}", stderr(&output));
        }
        let first_tree = read_tree(&first);
        assert!(
            first_tree.len() > 10,
            "{spec}: a real tree, got {} files",
            first_tree.len()
        );
        assert_eq!(
            first_tree,
            read_tree(&second),
            "{spec}: two compiles differ"
        );
    }
}

#[test]
fn check_detects_edits_and_stray_files_survive() {
    for spec in examples() {
        let spec = spec.to_str().expect("utf-8 path");
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out");
        let out_arg = out.to_str().expect("utf-8");
        assert!(
            manifold(&["compile", spec, "--out", out_arg])
                .status
                .success()
        );

        let check = manifold(&["compile", spec, "--out", out_arg, "--check"]);
        assert_eq!(
            check.status.code(),
            Some(0),
            "{spec}: fresh tree is current: {}",
            stderr(&check)
        );

        // A user's own files, at the top and inside a generated directory, survive.
        std::fs::write(out.join("NOTES.md"), "mine\n").expect("write");
        let overlay_dir = out.join("kubernetes/overlays");
        std::fs::write(overlay_dir.join("mine.yaml"), "a: 1\n").expect("write");
        assert!(
            manifold(&["compile", spec, "--out", out_arg])
                .status
                .success()
        );
        assert_eq!(
            std::fs::read_to_string(out.join("NOTES.md")).expect("kept"),
            "mine\n"
        );
        assert_eq!(
            std::fs::read_to_string(overlay_dir.join("mine.yaml")).expect("kept"),
            "a: 1\n"
        );
        assert!(
            manifold(&["compile", spec, "--out", out_arg, "--check"])
                .status
                .success()
        );

        // Editing any generated file makes --check fail and name the file.
        let generated = read_tree(&out)
            .into_iter()
            .map(|(path, _)| path)
            .find(|path| path.ends_with("kustomization.yaml"))
            .expect("a kustomization");
        let path = out.join(&generated);
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str("# edited\n");
        std::fs::write(&path, text).expect("write");
        let stale = manifold(&["compile", spec, "--out", out_arg, "--check"]);
        assert_eq!(
            stale.status.code(),
            Some(1),
            "{spec}: edited tree must be stale"
        );
        assert!(
            String::from_utf8_lossy(&stale.stdout).contains(&generated),
            "{spec}: names {generated}"
        );

        // Recompiling repairs it.
        assert!(
            manifold(&["compile", spec, "--out", out_arg])
                .status
                .success()
        );
        assert!(
            manifold(&["compile", spec, "--out", out_arg, "--check"])
                .status
                .success()
        );
    }
}
