//! Ownership (issue 10): `manifold compile` and `manifold commit` never delete or change a
//! file they do not own — files users added beside or inside the output, files behind links,
//! files outside the output directory — and when the ownership manifest is missing (then every
//! existing path the tree wants is in the way) or corrupt, they refuse, say why, and change
//! nothing. Through the real binary.

mod generated;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use manifold::output::Tree;

const BIN: &str = env!("CARGO_BIN_EXE_manifold");

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run manifold")
}

fn compile(spec: &Path, out: &Path) -> Output {
    run(&[
        "compile".as_ref(),
        spec.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

struct Fixture {
    dir: tempfile::TempDir,
    spec_a: PathBuf,
    spec_b: PathBuf,
    tree_a: Tree,
    tree_b: Tree,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (text_a, text_b) = (generated::spec(6, 1), generated::spec(6, 2));
        let spec_a = dir.path().join("a.kdl");
        let spec_b = dir.path().join("b.kdl");
        fs::write(&spec_a, &text_a).unwrap();
        fs::write(&spec_b, &text_b).unwrap();
        Fixture {
            tree_a: generated::tree(&spec_a.display().to_string(), &text_a),
            tree_b: generated::tree(&spec_b.display().to_string(), &text_b),
            dir,
            spec_a,
            spec_b,
        }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }
}

/// Every file under `dir`, `.manifold/` included (its lock file aside), with its bytes and
/// modification time: "unchanged" means all of these are.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|entry| entry.expect("walk"))
        .filter(|entry| entry.file_type().is_file() && entry.file_name() != "lock")
        .map(|entry| {
            let meta = entry.metadata().expect("metadata");
            (
                entry.path().to_path_buf(),
                (
                    fs::read(entry.path()).expect("read"),
                    meta.modified().expect("mtime"),
                ),
            )
        })
        .collect()
}

#[test]
fn issue_10_compile_never_touches_files_it_does_not_own() {
    let fx = Fixture::new();
    let out = fx.out();
    assert!(compile(&fx.spec_a, &out).status.success());
    // Files a user added: at the top, beside generated files, and inside the base directory
    // of a service that spec B no longer has (so manifold deletes every file of its own there).
    let removed_service = "kubernetes/base/svc-v1-000";
    assert!(out.join(removed_service).join("deployment.yaml").exists());
    let user: BTreeMap<String, Vec<u8>> = [
        ("NOTES.md", "mine\n"),
        ("kubernetes/base/svc-001/extra.yaml", "kind: Mine\n"),
        ("kubernetes/base/svc-v1-000/keep-me.txt", "still mine\n"),
        ("terraform/aws/big-eks/override.tf", "# mine\n"),
    ]
    .into_iter()
    .map(|(path, text)| (path.to_owned(), text.as_bytes().to_vec()))
    .collect();
    for (path, bytes) in &user {
        fs::write(out.join(path), bytes).unwrap();
    }
    let outside = fx.dir.path().join("outside.txt");
    fs::write(&outside, "outside\n").unwrap();
    let before: BTreeMap<_, _> = snapshot(&out)
        .into_iter()
        .filter(|(path, _)| user.keys().any(|u| path.ends_with(u)))
        .collect();

    let replaced = compile(&fx.spec_b, &out);
    assert!(replaced.status.success(), "{}", stderr(&replaced));
    assert!(generated::holds(&out, &fx.tree_b, &user));
    for (path, state) in &before {
        assert_eq!(
            snapshot(&out).get(path),
            Some(state),
            "{} changed",
            path.display()
        );
    }
    assert!(!out.join(removed_service).join("deployment.yaml").exists());
    assert_eq!(fs::read(&outside).unwrap(), b"outside\n");

    // and back: the user's files still survive
    assert!(compile(&fx.spec_a, &out).status.success());
    assert!(generated::holds(&out, &fx.tree_a, &user));
}

#[test]
fn issue_10_missing_manifest_refuses_to_overwrite() {
    let fx = Fixture::new();
    let out = fx.out();
    assert!(compile(&fx.spec_a, &out).status.success());
    fs::remove_file(out.join(".manifold/owned.json")).unwrap();
    let before = snapshot(&out);
    for spec in [&fx.spec_b, &fx.spec_a] {
        let refused = compile(spec, &out);
        let text = stderr(&refused);
        assert_eq!(refused.status.code(), Some(1), "{text}");
        assert!(
            text.contains("manifold does not own them") && text.contains("README.md"),
            "the refusal names the files in the way: {text}"
        );
        assert_eq!(
            snapshot(&out),
            before,
            "a refused compile changed the directory"
        );
    }
}

#[test]
fn issue_10_corrupt_manifest_refuses_and_explains() {
    let fx = Fixture::new();
    let out = fx.out();
    assert!(compile(&fx.spec_a, &out).status.success());
    let outside = fx.dir.path().join("outside.txt");
    fs::write(&outside, "outside\n").unwrap();
    let hash = "0".repeat(64);
    let cases = [
        (
            "not JSON",
            "{ this is not json".to_owned(),
            "not a valid manifest",
        ),
        ("empty", String::new(), "not a valid manifest"),
        (
            "another format",
            r#"{"format": 2, "generator": "manifold", "files": {}}"#.to_owned(),
            "unsupported manifest format",
        ),
        (
            "another generator",
            r#"{"format": 1, "generator": "helm", "files": {}}"#.to_owned(),
            "the generator is",
        ),
        (
            "a path outside the directory",
            format!(
                r#"{{"format": 1, "generator": "manifold", "files": {{"../outside.txt": "{hash}"}}}}"#
            ),
            "'..' component",
        ),
        (
            "an absolute path",
            format!(
                r#"{{"format": 1, "generator": "manifold", "files": {{"{}": "{hash}"}}}}"#,
                outside.display()
            ),
            "absolute",
        ),
        (
            "a path into .manifold",
            format!(
                r#"{{"format": 1, "generator": "manifold", "files": {{".manifold/lock": "{hash}"}}}}"#
            ),
            "inside .manifold/",
        ),
        (
            "a bad hash",
            r#"{"format": 1, "generator": "manifold", "files": {"README.md": "xyz"}}"#.to_owned(),
            "64 lowercase hex",
        ),
    ];
    for (what, manifest, reason) in cases {
        fs::write(out.join(".manifold/owned.json"), &manifest).unwrap();
        let before = snapshot(&out);
        for check in [false, true] {
            let mut args: Vec<&std::ffi::OsStr> = vec![
                "compile".as_ref(),
                fx.spec_b.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
            ];
            if check {
                args.push("--check".as_ref());
            }
            let refused = run(&args);
            let text = stderr(&refused);
            assert_eq!(refused.status.code(), Some(1), "{what}: {text}");
            assert!(
                text.contains("is corrupt")
                    && text.contains(reason)
                    && text.contains("restore the manifest"),
                "{what} (check: {check}): the refusal explains: {text}"
            );
            assert_eq!(snapshot(&out), before, "{what}: the directory changed");
        }
        assert_eq!(fs::read(&outside).unwrap(), b"outside\n", "{what}");
    }
}

#[cfg(unix)]
#[test]
fn issue_10_links_are_never_followed_out_of_the_directory() {
    let fx = Fixture::new();
    let out = fx.out();
    assert!(compile(&fx.spec_a, &out).status.success());
    // A user replaces a generated directory by a link to a directory of their own, holding a
    // file named like one manifold wrote there.
    let elsewhere = fx.dir.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    fs::write(elsewhere.join("deployment.yaml"), "mine\n").unwrap();
    let linked = out.join("kubernetes/base/svc-v1-000");
    fs::remove_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();

    // B drops the service: its owned files are not followed through the link
    let replaced = compile(&fx.spec_b, &out);
    assert!(replaced.status.success(), "{}", stderr(&replaced));
    assert_eq!(
        fs::read(elsewhere.join("deployment.yaml")).unwrap(),
        b"mine\n"
    );
    assert!(
        fs::symlink_metadata(&linked)
            .unwrap()
            .file_type()
            .is_symlink()
    );

    // A wants to write there again: refused, not written through the link
    let refused = compile(&fx.spec_a, &out);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("kubernetes/base/svc-v1-000"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        fs::read(elsewhere.join("deployment.yaml")).unwrap(),
        b"mine\n"
    );
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 1);
}

/// `manifold commit` writes with the same writer: a committed corrupt or missing manifest
/// makes it refuse before the working tree or the history changes.
#[test]
fn issue_10_commit_refuses_with_a_missing_or_corrupt_manifest() {
    let fx = Fixture::new();
    let repo = fx.dir.path().join("gitops");
    let git = |args: &[&str]| {
        let output = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(&repo)
            .output()
            .expect("run git");
        assert!(output.status.success(), "git {args:?}: {}", stderr(&output));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    fs::create_dir(&repo).unwrap();
    git(&["init", "-q"]);
    fs::write(repo.join("OWNERS"), "me\n").unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "start"]);
    let commit = |spec: &Path| {
        run(&[
            "commit".as_ref(),
            spec.as_os_str(),
            "--repo".as_ref(),
            repo.as_os_str(),
            "--dir".as_ref(),
            "deploy".as_ref(),
            "--author".as_ref(),
            "t <t@example.com>".as_ref(),
        ])
    };
    let first = commit(&fx.spec_a);
    assert!(first.status.success(), "{}", stderr(&first));

    for (what, change) in [("corrupt", Some("{ not json")), ("missing", None)] {
        match change {
            Some(text) => fs::write(repo.join("deploy/.manifold/owned.json"), text).unwrap(),
            None => fs::remove_file(repo.join("deploy/.manifold/owned.json")).unwrap(),
        }
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", what]);
        let head = git(&["rev-parse", "HEAD"]);
        let before = snapshot(&repo.join("deploy"));
        let refused = commit(&fx.spec_b);
        let text = stderr(&refused);
        assert_eq!(refused.status.code(), Some(1), "{what}: {text}");
        let explained = match change {
            Some(_) => text.contains("is corrupt"),
            None => text.contains("manifold does not own them"),
        };
        assert!(explained, "{what}: {text}");
        assert_eq!(
            git(&["rev-parse", "HEAD"]),
            head,
            "{what}: a commit was made"
        );
        assert_eq!(
            snapshot(&repo.join("deploy")),
            before,
            "{what}: the working tree changed"
        );
        assert_eq!(fs::read(repo.join("OWNERS")).unwrap(), b"me\n");
        // restore a good manifest for the next case
        let good = manifold::output::Manifest::from_tree(&fx.tree_a).to_bytes();
        fs::write(repo.join("deploy/.manifold/owned.json"), good).unwrap();
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "restore"]);
    }
}
