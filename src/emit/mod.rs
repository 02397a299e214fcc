//! Emitters: pure functions from the [`crate::model::Platform`] to rendered files.
//!
//! Consumes: the model only (never KDL, never the filesystem). Produces: a map of relative
//! output paths to file contents, merged into one [`crate::output::Tree`].
//! Invariant: output bytes depend only on the model; every map is ordered, nothing reads the
//! clock, the environment or the machine.

pub mod kustomize;
pub mod readme;
pub mod yaml;

use std::collections::BTreeMap;

use crate::model::Platform;
use crate::output::Tree;

/// Files produced by one emitter: relative path → contents.
pub type Files = BTreeMap<String, String>;

/// Runs every emitter and collects their files into one tree.
pub fn emit(platform: &Platform) -> Tree {
    let mut tree = Tree::new();
    for (path, contents) in kustomize::emit(platform) {
        tree.insert(path, contents);
    }
    let readme = readme::emit(platform, &tree);
    tree.insert("README.md", readme);
    tree
}
