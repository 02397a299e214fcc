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
