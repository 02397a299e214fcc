//! The output writer against real directories: ownership, minimal rewrites, stale-file removal,
//! drift checks, locking and crash recovery.

use std::fs::{self, File, FileTimes, OpenOptions};
use std::path::Path;
use std::time::{Duration, SystemTime};

use manifold::output::{Drift, DriftKind, MANIFEST_PATH, Manifest, Tree, check, write};
use tempfile::TempDir;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A tree from `(path, contents)` pairs.
fn tree(files: &[(&str, &str)]) -> Tree {
    let mut tree = Tree::new();
    for (path, contents) in files {
        tree.insert(*path, contents.as_bytes());
    }
    tree
}

/// The base tree most tests start from.
fn base() -> Tree {
    tree(&[
        ("kubernetes/base/api/deployment.yaml", "kind: Deployment\n"),
        ("kubernetes/base/api/service.yaml", "kind: Service\n"),
        ("terraform/main.tf", "terraform {}\n"),
    ])
}

fn read(out: &Path, rel: &str) -> Result<String, Box<dyn std::error::Error>> {
    Ok(fs::read_to_string(out.join(rel))?)
}

fn drift(path: &str, kind: DriftKind) -> Drift {
    Drift {
        path: path.to_owned(),
        kind,
    }
}

/// Sets a file's modification time to a fixed point far in the past.
fn age(path: &Path) -> Result<SystemTime, Box<dyn std::error::Error>> {
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    File::options()
        .write(true)
        .open(path)?
        .set_times(FileTimes::new().set_modified(old))?;
    Ok(old)
}

fn mtime(path: &Path) -> Result<SystemTime, Box<dyn std::error::Error>> {
    Ok(fs::metadata(path)?.modified()?)
}

#[test]
fn first_write_into_an_empty_directory_writes_every_file_and_the_manifest() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path().join("out");
    let tree = base();
    let report = write(&tree, &out)?;
    assert_eq!(
        report.written,
        [
            "kubernetes/base/api/deployment.yaml",
            "kubernetes/base/api/service.yaml",
            "terraform/main.tf"
        ]
    );
    assert_eq!(report.unchanged, 0);
    assert!(report.removed.is_empty());
    for (path, contents) in tree.files() {
        assert_eq!(fs::read(out.join(path))?, *contents, "{path}");
    }
    assert_eq!(
        fs::read(out.join(MANIFEST_PATH))?,
        Manifest::from_tree(&tree).to_bytes()
    );
    // Nothing of the write machinery is left behind.
    assert!(!out.join(".manifold/journal.json").exists());
    assert!(!out.join(".manifold/staging").exists());
    Ok(())
}

#[test]
fn manifest_bytes_are_sorted_pretty_json_with_sha256_and_a_trailing_newline() -> TestResult {
    let mut tree = Tree::new();
    tree.insert("z.yaml", "");
    tree.insert("a/b.yaml", "abc");
    let bytes = Manifest::from_tree(&tree).to_bytes();
    let expected = r#"{
  "format": 1,
  "generator": "manifold",
  "files": {
    "a/b.yaml": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    "z.yaml": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
  }
}
"#;
    assert_eq!(String::from_utf8(bytes.clone())?, expected);
    let parsed = Manifest::parse(&bytes)?;
    assert_eq!(parsed, Manifest::from_tree(&tree));
    assert!(parsed.owns("z.yaml"));
    assert_eq!(
        parsed.hash("a/b.yaml"),
        Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(parsed.len(), 2);
    Ok(())
}

#[test]
fn manifest_parse_rejects_anything_but_a_valid_format_1_manifest() {
    let hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let ok = format!(r#"{{"format": 1, "generator": "manifold", "files": {{"a": "{hash}"}}}}"#);
    assert!(Manifest::parse(ok.as_bytes()).is_ok());
    for bad in [
        "{not json".to_owned(),
        format!(r#"{{"format": 2, "generator": "manifold", "files": {{"a": "{hash}"}}}}"#),
        format!(r#"{{"format": 1, "generator": "other", "files": {{"a": "{hash}"}}}}"#),
        r#"{"format": 1, "generator": "manifold", "files": {"a": "abc"}}"#.to_owned(),
        format!(r#"{{"format": 1, "generator": "manifold", "files": {{"../a": "{hash}"}}}}"#),
        format!(r#"{{"format": 1, "generator": "manifold", "files": {{"/etc/a": "{hash}"}}}}"#),
        r#"{"format": 1, "generator": "manifold"}"#.to_owned(),
    ] {
        assert!(Manifest::parse(bad.as_bytes()).is_err(), "accepted {bad}");
    }
}

#[test]
fn recompiling_the_same_tree_writes_nothing_and_keeps_mtimes() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path();
    let tree = base();
    write(&tree, out)?;
    let mut aged = Vec::new();
    for path in tree.files().keys() {
        aged.push((path.clone(), age(&out.join(path))?));
    }
    let manifest_time = age(&out.join(MANIFEST_PATH))?;

    let report = write(&tree, out)?;
    assert!(report.written.is_empty(), "{:?}", report.written);
    assert_eq!(report.unchanged, 3);
    assert!(report.removed.is_empty());
    for (path, time) in aged {
        assert_eq!(mtime(&out.join(&path))?, time, "{path} was rewritten");
    }
    assert_eq!(mtime(&out.join(MANIFEST_PATH))?, manifest_time);
    Ok(())
}

#[test]
fn a_changed_file_is_rewritten_and_the_others_are_left_alone() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path();
    write(&base(), out)?;
    let untouched = age(&out.join("terraform/main.tf"))?;

    let mut next = base();
    next.insert("kubernetes/base/api/service.yaml", "kind: Service\nv: 2\n");
    next.insert("kubernetes/base/web/deployment.yaml", "kind: Deployment\n");
    let report = write(&next, out)?;
    assert_eq!(
        report.written,
        [
            "kubernetes/base/api/service.yaml",
            "kubernetes/base/web/deployment.yaml"
        ]
    );
    assert_eq!(report.unchanged, 2);
    assert_eq!(
        read(out, "kubernetes/base/api/service.yaml")?,
        "kind: Service\nv: 2\n"
    );
    assert_eq!(mtime(&out.join("terraform/main.tf"))?, untouched);
    assert_eq!(
        fs::read(out.join(MANIFEST_PATH))?,
        Manifest::from_tree(&next).to_bytes()
    );
    Ok(())
}

#[test]
fn a_file_edited_by_hand_is_restored() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path();
    write(&base(), out)?;
    fs::write(out.join("terraform/main.tf"), "hand edit\n")?;
    let report = write(&base(), out)?;
    assert_eq!(report.written, ["terraform/main.tf"]);
    assert_eq!(read(out, "terraform/main.tf")?, "terraform {}\n");
    Ok(())
}

#[test]
fn a_stale_owned_file_is_removed_with_the_directories_it_empties() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path();
    let mut first = base();
    first.insert("kubernetes/overlays/prod/extra/patch.yaml", "patch\n");
    first.insert("kubernetes/overlays/prod/kustomization.yaml", "k\n");
    write(&first, out)?;

    let mut second = base();
    second.insert("kubernetes/overlays/prod/kustomization.yaml", "k\n");
    let report = write(&second, out)?;
    assert_eq!(
        report.removed,
        ["kubernetes/overlays/prod/extra/patch.yaml"]
    );
    assert!(report.written.is_empty());
    assert!(!out.join("kubernetes/overlays/prod/extra").exists());
    assert!(
        out.join("kubernetes/overlays/prod/kustomization.yaml")
            .exists()
    );

    // Dropping the last file of a branch removes the whole branch, but never `out`.
    let report = write(&Tree::new(), out)?;
    assert_eq!(report.removed.len(), 4);
    assert!(!out.join("kubernetes").exists());
    assert!(!out.join("terraform").exists());
    assert!(out.is_dir());
    assert!(!Manifest::parse(&fs::read(out.join(MANIFEST_PATH))?)?.owns("terraform/main.tf"));
    Ok(())
}

#[test]
fn user_files_survive_writes_rewrites_and_stale_removal() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path();
    fs::write(out.join("NOTES.md"), "mine\n")?;
    write(&base(), out)?;
    fs::write(out.join("kubernetes/base/api/mine.yaml"), "mine\n")?;

    let mut next = base();
    next.insert("kubernetes/base/api/service.yaml", "changed\n");
    write(&next, out)?;
    // The directory held a stale file and a user file: the stale one goes, the rest stays.
    let report = write(&tree(&[("terraform/main.tf", "terraform {}\n")]), out)?;
    assert_eq!(
        report.removed,
        [
            "kubernetes/base/api/deployment.yaml",
            "kubernetes/base/api/service.yaml"
        ]
    );
    assert_eq!(read(out, "NOTES.md")?, "mine\n");
    assert_eq!(read(out, "kubernetes/base/api/mine.yaml")?, "mine\n");
    assert!(!out.join("kubernetes/base/api/service.yaml").exists());
    assert!(check(&tree(&[("terraform/main.tf", "terraform {}\n")]), out)?.is_empty());
    Ok(())
}

#[test]
fn an_unowned_existing_file_is_never_overwritten_and_nothing_is_written() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path();
    fs::create_dir_all(out.join("kubernetes/base/api"))?;
    fs::write(out.join("kubernetes/base/api/service.yaml"), "user's\n")?;
    fs::create_dir_all(out.join("terraform"))?;
    fs::write(out.join("terraform/main.tf"), "user's too\n")?;

    let err = write(&base(), out)
        .err()
        .ok_or("write succeeded")?
        .to_string();
    assert!(err.contains("does not own"), "{err}");
    let first = err
        .find("kubernetes/base/api/service.yaml")
        .ok_or("first path not listed")?;
    let second = err
        .find("terraform/main.tf")
        .ok_or("second path not listed")?;
    assert!(first < second, "paths not sorted: {err}");
    assert!(!err.contains("deployment.yaml"), "{err}");

    assert_eq!(read(out, "kubernetes/base/api/service.yaml")?, "user's\n");
    assert_eq!(read(out, "terraform/main.tf")?, "user's too\n");
    assert!(!out.join("kubernetes/base/api/deployment.yaml").exists());
    assert!(!out.join(MANIFEST_PATH).exists());
    Ok(())
}

#[test]
fn an_unowned_file_where_the_tree_needs_a_directory_is_refused() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path();
    fs::write(out.join("terraform"), "user's\n")?;
    let err = write(&base(), out)
        .err()
        .ok_or("write succeeded")?
        .to_string();
    assert!(err.contains("  terraform\n"), "{err}");
    assert_eq!(read(out, "terraform")?, "user's\n");
    assert!(!out.join("kubernetes").exists());
    Ok(())
}

#[test]
fn a_path_can_turn_from_file_to_directory_and_back() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path();
    write(&tree(&[("a/b/c.yaml", "c\n")]), out)?;
    let report = write(&tree(&[("a/b", "now a file\n")]), out)?;
    assert_eq!(report.written, ["a/b"]);
    assert_eq!(report.removed, ["a/b/c.yaml"]);
    assert_eq!(read(out, "a/b")?, "now a file\n");
    let report = write(&tree(&[("a/b/c.yaml", "c\n")]), out)?;
    assert_eq!(report.removed, ["a/b"]);
    assert_eq!(read(out, "a/b/c.yaml")?, "c\n");
    Ok(())
}

#[test]
fn a_corrupt_manifest_is_refused_by_write_and_check() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path();
    write(&base(), out)?;
    fs::write(out.join(MANIFEST_PATH), "{\"format\": 1, \"files\": ")?;
    let mut next = base();
    next.insert("terraform/main.tf", "changed\n");

    let err = write(&next, out)
        .err()
        .ok_or("write succeeded")?
        .to_string();
    assert!(err.contains("owned.json"), "{err}");
    assert!(err.contains("will not guess"), "{err}");
    assert!(err.contains("git"), "{err}");
    assert_eq!(read(out, "terraform/main.tf")?, "terraform {}\n");

    let err = check(&next, out)
        .err()
        .ok_or("check succeeded")?
        .to_string();
    assert!(err.contains("owned.json"), "{err}");
    Ok(())
}

#[test]
fn check_reports_nothing_for_a_clean_directory() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path();
    write(&base(), out)?;
    fs::write(out.join("user.txt"), "not drift\n")?;
    assert_eq!(check(&base(), out)?, []);
    Ok(())
}

#[test]
fn check_reports_modified_missing_and_stale_files_sorted() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path();
    let mut first = base();
    first.insert("kubernetes/base/old/configmap.yaml", "old\n");
    write(&first, out)?;
    fs::write(out.join("kubernetes/base/api/service.yaml"), "edited\n")?;
    fs::remove_file(out.join("terraform/main.tf"))?;
    let before = fs::read(out.join("kubernetes/base/api/service.yaml"))?;

    let drifts = check(&base(), out)?;
    assert_eq!(
        drifts,
        [
            drift("kubernetes/base/api/service.yaml", DriftKind::Modified),
            drift("kubernetes/base/old/configmap.yaml", DriftKind::Stale),
            drift("terraform/main.tf", DriftKind::Missing),
        ]
    );
    assert_eq!(
        drifts[0].to_string(),
        "modified: kubernetes/base/api/service.yaml"
    );
    assert_eq!(
        drifts[1].to_string(),
        "stale: kubernetes/base/old/configmap.yaml"
    );
    assert_eq!(drifts[2].to_string(), "missing: terraform/main.tf");
    // Checking changed nothing.
    assert_eq!(
        fs::read(out.join("kubernetes/base/api/service.yaml"))?,
        before
    );
    assert!(out.join("kubernetes/base/old/configmap.yaml").exists());
    Ok(())
}

#[test]
fn check_of_a_missing_directory_reports_every_file_missing() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path().join("never-written");
    let drifts = check(&base(), &out)?;
    assert_eq!(drifts.len(), 3);
    assert!(drifts.iter().all(|d| d.kind == DriftKind::Missing));
    assert!(!out.exists());
    Ok(())
}

#[test]
fn a_held_lock_makes_write_and_check_fail_at_once() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path();
    write(&base(), out)?;
    let holder = OpenOptions::new()
        .read(true)
        .write(true)
        .open(out.join(".manifold/lock"))?;
    holder.try_lock()?;

    let mut next = base();
    next.insert("terraform/main.tf", "changed\n");
    let err = write(&next, out)
        .err()
        .ok_or("write succeeded")?
        .to_string();
    assert!(err.contains("another manifold process is writing"), "{err}");
    assert!(err.contains(&out.display().to_string()), "{err}");
    assert_eq!(read(out, "terraform/main.tf")?, "terraform {}\n");
    let err = check(&next, out)
        .err()
        .ok_or("check succeeded")?
        .to_string();
    assert!(err.contains("another manifold process"), "{err}");

    drop(holder);
    assert_eq!(write(&next, out)?.written, ["terraform/main.tf"]);
    Ok(())
}

#[test]
fn a_check_in_progress_blocks_writers_but_not_other_checks() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path();
    write(&base(), out)?;
    let reader = File::open(out.join(".manifold/lock"))?;
    reader.try_lock_shared()?;
    assert!(check(&base(), out)?.is_empty());
    assert!(write(&base(), out).is_err());
    Ok(())
}

/// Leaves `out` as a write from `base()` to `next` would, killed halfway through applying its
/// journal: the journal is complete, one staged file was already moved into place, and the
/// other staged file and the stale deletion are still pending.
fn crash_midway(out: &Path, next: &Tree) -> TestResult {
    write(&base(), out)?;
    let staging = out.join(".manifold/staging");
    fs::create_dir_all(&staging)?;
    // Rename 0 already happened.
    fs::write(
        out.join("kubernetes/base/api/service.yaml"),
        "kind: Service\nv: 2\n",
    )?;
    fs::write(staging.join("1"), "kind: Deployment\nname: web\n")?;
    write_journal(
        out,
        next,
        serde_json::json!([
            {"staged": "0", "target": "kubernetes/base/api/service.yaml"},
            {"staged": "1", "target": "kubernetes/base/web/deployment.yaml"},
        ]),
    )
}

/// The journal of a write from `base()` to `next` with these renames (the stale
/// `terraform/main.tf` to delete, `next`'s manifest).
fn write_journal(out: &Path, next: &Tree, renames: serde_json::Value) -> TestResult {
    let manifest = String::from_utf8(Manifest::from_tree(next).to_bytes())?;
    let journal = serde_json::json!({
        "format": 1,
        "renames": renames,
        "remove": ["terraform/main.tf"],
        "manifest": manifest,
    });
    fs::write(out.join(".manifold/journal.json"), journal.to_string())?;
    Ok(())
}

fn next_tree() -> Tree {
    tree(&[
        ("kubernetes/base/api/deployment.yaml", "kind: Deployment\n"),
        ("kubernetes/base/api/service.yaml", "kind: Service\nv: 2\n"),
        (
            "kubernetes/base/web/deployment.yaml",
            "kind: Deployment\nname: web\n",
        ),
    ])
}

fn assert_complete(out: &Path, next: &Tree) -> TestResult {
    for (path, contents) in next.files() {
        assert_eq!(fs::read(out.join(path))?, *contents, "{path}");
    }
    assert!(
        !out.join("terraform").exists(),
        "stale file or its directory left"
    );
    assert_eq!(
        fs::read(out.join(MANIFEST_PATH))?,
        Manifest::from_tree(next).to_bytes()
    );
    assert!(!out.join(".manifold/journal.json").exists());
    assert!(!out.join(".manifold/staging").exists());
    Ok(())
}

#[test]
fn check_rolls_an_interrupted_write_forward() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path();
    let next = next_tree();
    crash_midway(out, &next)?;
    assert_eq!(check(&next, out)?, []);
    assert_complete(out, &next)
}

#[test]
fn write_rolls_an_interrupted_write_forward_before_its_own() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path();
    let next = next_tree();
    crash_midway(out, &next)?;
    let report = write(&next, out)?;
    assert!(report.written.is_empty(), "{:?}", report.written);
    assert_eq!(report.unchanged, 3);
    assert_complete(out, &next)
}

/// [`crash_midway`], as the writer stages a directory that does not exist yet: whole, under
/// one staged name, moved into place with one rename.
fn crash_midway_with_a_new_directory(out: &Path, next: &Tree) -> TestResult {
    crash_midway(out, next)?;
    let staging = out.join(".manifold/staging");
    fs::remove_file(staging.join("1"))?;
    fs::create_dir_all(staging.join("1"))?;
    fs::write(
        staging.join("1/deployment.yaml"),
        "kind: Deployment\nname: web\n",
    )?;
    write_journal(
        out,
        next,
        serde_json::json!([
            {"staged": "1", "target": "kubernetes/base/web"},
            {"staged": "0", "target": "kubernetes/base/api/service.yaml"},
        ]),
    )
}

#[test]
fn an_interrupted_write_of_a_new_directory_is_rolled_forward() -> TestResult {
    for by_check in [true, false] {
        let dir = TempDir::new()?;
        let out = dir.path();
        let next = next_tree();
        crash_midway_with_a_new_directory(out, &next)?;
        if by_check {
            assert_eq!(check(&next, out)?, []);
        } else {
            let report = write(&next, out)?;
            assert!(report.written.is_empty(), "{:?}", report.written);
        }
        assert_complete(out, &next)?;
    }
    Ok(())
}

#[test]
fn new_directories_are_written_whole_next_to_changed_files() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path();
    write(&base(), out)?;
    let mut next = base();
    next.insert("kubernetes/base/api/service.yaml", "kind: Service\nv: 3\n");
    for name in ["web", "worker"] {
        for file in ["deployment.yaml", "service.yaml"] {
            next.insert(
                format!("kubernetes/base/{name}/{file}"),
                format!("{name} {file}\n"),
            );
        }
    }
    next.insert("argocd/nested/deep/app.yaml", "kind: Application\n");
    let report = write(&next, out)?;
    assert_eq!(report.written.len(), 6, "{:?}", report.written);
    assert_eq!(check(&next, out)?, []);
    for (path, contents) in next.files() {
        assert_eq!(fs::read(out.join(path))?, *contents, "{path}");
    }
    assert!(!out.join(".manifold/staging").exists());
    Ok(())
}

#[test]
fn a_write_killed_before_its_journal_leaves_the_old_tree() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path();
    write(&base(), out)?;
    // Staged files and a half-written journal, but no complete journal.
    let staging = out.join(".manifold/staging");
    fs::create_dir_all(&staging)?;
    fs::write(staging.join("0"), "half of a new servi")?;
    fs::write(
        out.join(".manifold/journal.json.tmp"),
        "{\"format\": 1, \"ren",
    )?;

    assert_eq!(check(&base(), out)?, []);
    let report = write(&base(), out)?;
    assert!(report.written.is_empty());
    assert!(!staging.exists());
    assert!(!out.join(".manifold/journal.json.tmp").exists());
    assert_eq!(
        read(out, "kubernetes/base/api/service.yaml")?,
        "kind: Service\n"
    );
    Ok(())
}

#[test]
fn invalid_paths_are_rejected_before_anything_is_written() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path().join("out");
    for bad in [
        "",
        "/etc/passwd",
        "../escape.yaml",
        "a/../../escape.yaml",
        "a//b.yaml",
        "./a.yaml",
        "a/./b.yaml",
        "a/",
        "a\\b.yaml",
        ".manifold/owned.json",
        ".manifold",
    ] {
        let mut tree = base();
        tree.insert(bad, "x");
        let err = write(&tree, &out)
            .err()
            .ok_or(format!("accepted {bad:?}"))?;
        assert!(err.to_string().contains("invalid"), "{err}");
        assert!(!out.exists(), "{bad:?} wrote something");
        assert!(check(&tree, &out).is_err(), "check accepted {bad:?}");
    }
    // A path cannot be both a file and a directory.
    let conflicting = tree(&[("a", "file\n"), ("a/b.yaml", "x\n")]);
    assert!(write(&conflicting, &out).is_err());
    assert!(!out.exists());
    Ok(())
}
