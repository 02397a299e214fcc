//! Real invocations of `init` and `schema` (the commands that create files or print large
//! output, which transcripts handle poorly).

use std::process::{Command, Output};

fn manifold(args: &[&str], cwd: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_manifold"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("the manifold binary runs")
}

#[test]
fn init_writes_a_spec_that_compiles_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let created = manifold(&["init", "team"], dir.path());
    assert!(created.status.success());
    let spec = dir.path().join("team/platform.kdl");
    let text = std::fs::read_to_string(&spec).expect("spec written");
    assert!(text.contains("platform "));

    let check = manifold(&["check", "team/platform.kdl"], dir.path());
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let compile = manifold(
        &["compile", "team/platform.kdl", "--out", "out"],
        dir.path(),
    );
    assert!(
        compile.status.success(),
        "{}",
        String::from_utf8_lossy(&compile.stderr)
    );
    assert!(
        dir.path()
            .join("out/kubernetes/overlays/prod/aws/kustomization.yaml")
            .is_file()
    );

    std::fs::write(&spec, "// mine\n").expect("write");
    let again = manifold(&["init", "team"], dir.path());
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&spec).expect("kept"), "// mine\n");
}

#[test]
fn schema_prints_the_shipped_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = manifold(&["schema"], dir.path());
    assert!(output.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    let shipped: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schemas/platform.schema.json"
        ))
        .expect("schema file"),
    )
    .expect("valid JSON");
    assert_eq!(printed, shipped);
    assert_eq!(
        printed["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
}

#[test]
fn a_failed_compile_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("platform.kdl"),
        "platform x {\n    registry 8Gi\n}\n",
    )
    .expect("write");
    let output = manifold(&["compile", "--out", "out"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(!dir.path().join("out").exists());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("platform.kdl:2:14"), "{stderr}");
}

/// `--deny warnings` means the same for `compile`, `diff` and `commit`: a warning fails the
/// command and nothing is written or committed.
#[test]
fn deny_warnings_fails_compile_diff_and_commit_alike() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A limit 16× the request: a warning (manifold::scaling::limit-ratio), not an error.
    let spec = "platform shop {\n    registry \"ghcr.io/example\"\n}\ncloud aws {\n    region eu-west-1\n    cluster shop-eks {\n        kubernetes \"1.31\"\n        node-pool general instance-type=t3.large min=2 max=6 desired=3\n    }\n}\nenvironment dev profile=development {\n    namespace shop-dev\n    deploy-to aws\n}\nservice web {\n    image shop-web tag=\"1.0.0\"\n    port http 8080\n    resources cpu=\"250m..4\" memory=\"256Mi..512Mi\"\n    probe readiness http=\"/healthz\" port=http\n    probe liveness http=\"/healthz\" port=http\n}\n";
    std::fs::write(dir.path().join("platform.kdl"), spec).expect("spec written");
    let repo = dir.path().join("gitops");
    git2::Repository::init(&repo).expect("git init");

    let allowed = manifold(&["diff", "--against", "out"], dir.path());
    assert_eq!(allowed.status.code(), Some(0), "{allowed:?}");
    let warned = String::from_utf8_lossy(&allowed.stderr).into_owned();
    assert!(warned.contains("16×"), "{warned}");

    for (args, code) in [
        (&["compile", "--out", "out", "--deny", "warnings"][..], 1),
        (&["diff", "--against", "out", "--deny", "warnings"][..], 2),
        (&["commit", "--repo", "gitops", "--deny", "warnings"][..], 1),
    ] {
        let denied = manifold(args, dir.path());
        assert_eq!(denied.status.code(), Some(code), "{args:?}: {denied:?}");
        assert!(
            String::from_utf8_lossy(&denied.stderr).contains("16×"),
            "{args:?}: the warning is shown"
        );
    }
    assert!(!dir.path().join("out").exists(), "compile wrote nothing");
    let repo = git2::Repository::open(&repo).expect("open");
    assert!(repo.head().is_err(), "commit committed nothing");
    let entries = std::fs::read_dir(dir.path().join("gitops"))
        .expect("read")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name() != ".git")
        .count();
    assert_eq!(entries, 0, "commit wrote nothing into the clone");
}
