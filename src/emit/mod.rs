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
///
/// Emitters of objects that live in the Kustomize overlays (scaling, network policies,
/// routing) run first and return files under `kubernetes/overlays/<env>/<cloud>/`; the
/// Kustomize emitter then lists them in each overlay's `resources`. Other families write
/// their own directories.
pub fn emit(platform: &Platform) -> Tree {
    let mut tree = Tree::new();
    let overlay_extras = Files::new();
    for (path, contents) in kustomize::emit(platform, &overlay_extras) {
        tree.insert(path, contents);
    }
    let readme = readme::emit(platform, &tree);
    tree.insert("README.md", readme);
    tree
}
