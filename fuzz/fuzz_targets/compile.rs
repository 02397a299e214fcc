//! Fuzz target (b): the whole pipeline from arbitrary text to the in-memory tree —
//! `pipeline::compile(.., Stop::AfterEmit)`, what `manifold compile` runs before writing.
//! A tree that is produced must also pass the writer's path validation (checked against a
//! directory that does not exist, so nothing touches the disk).
#![no_main]

use libfuzzer_sys::fuzz_target;
use manifold::output::{self, DriftKind};
use manifold::pipeline::{self, Stop};

mod common;

fuzz_target!(|data: &[u8]| {
    if let Some(text) = common::text(data) {
        let compilation = pipeline::compile("fuzz.kdl", text, Stop::AfterEmit);
        common::check(&compilation);
        if let Some(tree) = &compilation.tree {
            let nowhere = std::path::Path::new("/nonexistent/manifold-fuzz/out");
            let drift = output::check(tree, nowhere).expect("the writer rejected the tree's paths");
            assert!(drift.iter().all(|item| item.kind == DriftKind::Missing));
            assert_eq!(drift.len(), tree.len());
        }
    }
});
