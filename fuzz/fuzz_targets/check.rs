//! Fuzz target (a): the parser and every check — `pipeline::compile(.., Stop::AfterChecks)`,
//! what `manifold check` runs — on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use manifold::pipeline::{self, Stop};

mod common;

fuzz_target!(|data: &[u8]| {
    if let Some(text) = common::text(data) {
        let compilation = pipeline::compile("fuzz.kdl", text, Stop::AfterChecks);
        assert!(
            compilation.tree.is_none(),
            "Stop::AfterChecks rendered a tree"
        );
        common::check(&compilation);
    }
});
