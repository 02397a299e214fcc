//! The ownership manifest: the record, kept in every output directory, of which files manifold
//! wrote there and what it wrote.
//!
//! Consumes: a [`Tree`] (to build a manifest) or the bytes of `.manifold/owned.json` (to read one).
//! Produces: a [`Manifest`], and its serialized form:
//!
//! ```json
//! {
//!   "format": 1,
//!   "generator": "manifold",
//!   "files": {
//!     "<relative path>": "<sha-256 of the contents, lowercase hex>"
//!   }
//! }
//! ```
//!
//! Invariant: the serialized bytes depend only on the set of files and their contents (keys
//! sorted, two-space pretty printing, one trailing newline), and every path a parsed manifest
//! holds is a valid relative output path, so acting on a manifest can never reach outside the
//! output directory or into `.manifold/`.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Tree;

/// Where the manifest lives, relative to the output directory.
pub const MANIFEST_PATH: &str = ".manifold/owned.json";

/// The `.gitignore` manifold keeps in `.manifold/`, relative to the output directory.
pub const GITIGNORE_PATH: &str = ".manifold/.gitignore";

/// The contents of [`GITIGNORE_PATH`]: the manifest belongs in git, the rest of `.manifold/`
/// (the lock, the journal, the staging area, the fingerprint) is transient.
pub const GITIGNORE: &str = "# Written by manifold. Only the ownership manifest belongs in git; the lock, the\n# journal, the staging area and the fingerprint are transient.\n*\n!.gitignore\n!owned.json\n";

/// The directory, relative to the output directory, that holds manifold's own state (the
/// manifest, the lock, the journal, the staging area and the fingerprint). Tree paths may not point into it.
pub(crate) const STATE_DIR: &str = ".manifold";

/// The only manifest format this version reads and writes.
const FORMAT: u64 = 1;

/// The value of the `generator` field.
const GENERATOR: &str = "manifold";

/// The set of files manifold owns in one output directory, each with the sha-256 (lowercase
/// hex) of the contents it wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Manifest {
    files: BTreeMap<String, String>,
}

impl Manifest {
    /// A manifest that owns nothing (what a directory without a manifest is treated as).
    pub fn new() -> Manifest {
        Manifest::default()
    }

    /// The manifest describing exactly the files of `tree`.
    pub fn from_tree(tree: &Tree) -> Manifest {
        let files: Vec<_> = tree.files().iter().collect();
        let hashes = crate::parallel::map(&files, |(_, contents)| sha256_hex(contents));
        let files = files
            .into_iter()
            .zip(hashes)
            .map(|((path, _), hash)| (path.clone(), hash))
            .collect();
        Manifest { files }
    }

    /// Reads a serialized manifest. Fails (with a reason, not naming the file) on anything that
    /// is not exactly a format-1 manifold manifest with valid paths and hashes.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let raw: RawManifest =
            serde_json::from_slice(bytes).map_err(|err| format!("not a valid manifest: {err}"))?;
        if raw.format != FORMAT {
            return Err(format!(
                "unsupported manifest format {} (this manifold reads format {FORMAT})",
                raw.format
            ));
        }
        if raw.generator != GENERATOR {
            return Err(format!(
                "the generator is {:?}, not {GENERATOR:?}",
                raw.generator
            ));
        }
        for (path, hash) in &raw.files {
            validate_path(path).map_err(|reason| format!("invalid path {path:?}: {reason}"))?;
            if !is_sha256_hex(hash) {
                return Err(format!(
                    "the hash of {path:?} is not 64 lowercase hex digits: {hash:?}"
                ));
            }
        }
        Ok(Manifest { files: raw.files })
    }

    /// The serialized manifest: deterministic, pretty-printed JSON with a trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        /// The serialized form, borrowing the files: pretty JSON, keys in this order.
        #[derive(Serialize)]
        struct Written<'a> {
            format: u64,
            generator: &'a str,
            files: &'a BTreeMap<String, String>,
        }
        let written = Written {
            format: FORMAT,
            generator: GENERATOR,
            files: &self.files,
        };
        let mut bytes = Vec::with_capacity(128 + self.files.len() * 160);
        // Serializing strings and integers into memory cannot fail.
        let _ = serde_json::to_writer_pretty(&mut bytes, &written);
        bytes.push(b'\n');
        bytes
    }

    /// Every owned path with its sha-256 hex, in path order.
    pub fn files(&self) -> &BTreeMap<String, String> {
        &self.files
    }

    /// Whether manifold owns `path`.
    pub fn owns(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    /// The recorded sha-256 hex of `path`, if manifold owns it.
    pub fn hash(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    /// Number of owned files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the manifest owns no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// The sha-256 of `bytes` as 64 lowercase hex digits.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for byte in digest.iter() {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

/// Checks that `path` is a valid output path: relative, `/`-separated, every component a plain
/// name (no empty, `.` or `..` component, no `\` or NUL), and not inside `.manifold/`.
/// Returns the reason it is not.
pub(crate) fn validate_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("the path is empty");
    }
    if path.starts_with('/') {
        return Err("the path is absolute");
    }
    if path.contains('\\') {
        return Err("the path contains '\\' (use '/' separators)");
    }
    if path.contains('\0') {
        return Err("the path contains a NUL byte");
    }
    for component in path.split('/') {
        match component {
            "" => return Err("the path has an empty component"),
            "." => return Err("the path has a '.' component"),
            ".." => return Err("the path has a '..' component"),
            _ => {}
        }
        // A component this platform would read as something other than one plain name
        // (for example a drive prefix such as `C:` on Windows).
        let mut parts = Path::new(component).components();
        match (parts.next(), parts.next()) {
            (Some(Component::Normal(_)), None) => {}
            _ => return Err("the path has a component that is not a plain file name"),
        }
    }
    let first = path.split('/').next().unwrap_or_default();
    if first.eq_ignore_ascii_case(STATE_DIR) {
        return Err("the path is inside .manifold/, which holds manifold's own state");
    }
    Ok(())
}

/// The manifest as stored, before validation.
#[derive(Deserialize)]
struct RawManifest {
    format: u64,
    generator: String,
    files: BTreeMap<String, String>,
}

/// Whether `text` is a sha-256 in lowercase hex.
fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
