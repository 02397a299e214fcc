//! The output stage: the in-memory tree every emitter contributes to, and the only code
//! (besides the command line) that touches the output directory.
//!
//! Consumes: a [`Tree`] of relative paths → bytes, built completely in memory.
//! Produces: files on disk (`write`, `write_recorded`), or the list of differences (`check`),
//! or whether a recorded fingerprint still describes the directory (`fresh`).
//!
//! Invariant: nothing is written unless the whole tree was built; files that manifold did not
//! write (per the ownership manifest `.manifold/owned.json`) are never changed or deleted.

use std::collections::BTreeMap;

mod fingerprint;
mod manifest;
mod write;

pub use fingerprint::{FINGERPRINT_PATH, Fresh, Record, Stale, fresh};
pub use manifest::{GITIGNORE, GITIGNORE_PATH, MANIFEST_PATH, Manifest};
pub use write::{Drift, DriftKind, WriteReport, check, write, write_recorded};

/// A complete, rendered output tree: relative `/`-separated paths to file contents.
///
/// A `BTreeMap` keeps iteration (and therefore the manifest and every listing) in a stable order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tree {
    files: BTreeMap<String, Vec<u8>>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Tree {
        Tree::default()
    }

    /// Adds (or replaces) one file. `path` is relative and uses `/` separators.
    pub fn insert(&mut self, path: impl Into<String>, contents: impl Into<Vec<u8>>) {
        // Rendered text comes with its buffer's growth slack; a large tree holds hundreds of
        // megabytes, so it keeps only the bytes.
        let mut contents = contents.into();
        contents.shrink_to_fit();
        self.files.insert(path.into(), contents);
    }

    /// The files, in path order.
    pub fn files(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.files
    }

    /// The contents of one file, if the tree holds it.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the tree holds no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}
