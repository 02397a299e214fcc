//! Golden snapshots of every example's emitted tree (one snapshot per example, every file
//! under a `=== path ===` header). Review changes with `cargo insta review`.

use manifold::pipeline::{self, Stop};

fn render_tree(spec: &str) -> String {
    let text = std::fs::read_to_string(spec).expect("example readable");
    let compilation = pipeline::compile(spec, &text, Stop::AfterEmit);
    assert!(
        !compilation.has_errors(),
        "{spec} has errors: {:?}",
        compilation.diagnostics
    );
    // Warnings are allowed: both examples autoscale on custom metrics, which earns a
    // `manifold::scaling::metrics-adapter` note; tests/scaling.rs snapshots the warnings.
    let tree = compilation.tree.expect("a tree");
    // `compile` drops the model's origin tables before emitting, `explain` keeps them:
    // emitters never read them, so both give the same tree.
    let config = pipeline::Config {
        keep_origins: true,
        ..pipeline::Config::default()
    };
    let kept = pipeline::compile_with(spec, &text, Stop::AfterEmit, &config);
    assert_eq!(
        kept.tree.as_ref(),
        Some(&tree),
        "{spec}: origins changed the output"
    );
    let mut out = String::new();
    for (path, bytes) in tree.files() {
        out.push_str(&format!("=== {path} ===\n"));
        out.push_str(&String::from_utf8_lossy(bytes));
    }
    out
}

#[test]
fn voiceassist() {
    insta::assert_snapshot!(render_tree("examples/voiceassist/platform.kdl"));
}

#[test]
fn webshop() {
    insta::assert_snapshot!(render_tree("examples/webshop/platform.kdl"));
}

#[test]
fn starter() {
    insta::assert_snapshot!(render_tree("templates/init.kdl"));
}
