//! Writing a [`Tree`] into an output directory, and checking a directory against a tree.
//!
//! Consumes: a complete [`Tree`] and the path of the output directory.
//! Produces: the files on disk plus `.manifold/owned.json` ([`write`], which returns a
//! [`WriteReport`]), or the sorted list of differences ([`check`], which returns [`Drift`]s).
//!
//! Invariants:
//!
//! - **Ownership.** manifold only creates, replaces or deletes files listed in the manifest
//!   (plus new files at paths where nothing exists). If the tree wants a path where a file (or
//!   directory, or link) exists that the manifest does not list, the whole write is refused
//!   before anything changes. Files the user added are never touched. Stale files (in the old
//!   manifest, no longer in the tree) are deleted, and so are the directories that became empty
//!   because of those deletions; `out` itself is never removed.
//! - **Minimal writes.** Only files whose bytes differ from the disk are rewritten; unchanged
//!   files keep their modification time. When nothing differs and the manifest is already
//!   identical, nothing at all is written (but `.manifold/.gitignore`, which keeps the lock,
//!   the journal and the staging area out of git, is restored if it is missing or changed).
//! - **Exclusion.** [`write`] holds an exclusive lock on `.manifold/lock` (taken with
//!   [`File::try_lock`], never waited for) for its whole run; [`check`] holds a shared one, so it
//!   never reads a half-written tree. A held lock is an immediate error.
//! - **Crash safety.** A file is never half-written, and the tree switches from old to new as
//!   one unit, as far as recovery can ensure. [`write`]:
//!   1. writes every new or changed file into `.manifold/staging` and makes them all durable
//!      (one `syncfs(2)` of the filesystem on Linux ≥ 5.8, else an fsync per file and per
//!      staged directory). A file whose directory exists is staged as `staging/<n>`; each
//!      topmost directory of the tree that does not exist yet is staged whole, as
//!      `staging/<k>/…`, so that one rename moves it (a first compile renames a handful of
//!      directories, not every file). The files are written on every core;
//!   2. writes the journal `.manifold/journal.json` (the renames staging → target, the stale
//!      files to delete, and the new manifest bytes) to a temporary file, fsyncs it and renames
//!      it into place, so the journal is either absent or complete;
//!   3. applies the journal: deletes the stale files and prunes the directories they leave
//!      empty, renames every staged file or directory onto its target, makes the renames durable (one
//!      `syncfs(2)` again, else an fsync of every touched directory; the directories that
//!      deletions touched are always fsynced one by one), then atomically replaces the
//!      manifest (temporary file, fsync, rename, fsync);
//!   4. removes the journal, then the staging area.
//!
//!   A write that records a fingerprint ([`write_recorded`], see [`super::fingerprint`])
//!   deletes the old one before step 1 and writes the new one after step 4, under the lock.
//!
//!   Deletions come before renames so that a path can turn from a file into a directory (or
//!   back) between two trees. Every [`write`] and [`check`] first rolls a leftover journal
//!   forward (each step tolerates having been done already: a staged file that is gone was
//!   renamed, a stale file that is gone was deleted) and discards a staging area that has no
//!   journal. A kill at any moment therefore leaves either the old tree (the journal was not yet
//!   complete: the staging area is discarded next time) or a state that the next run of
//!   manifold completes into the new tree.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use super::Tree;
use super::fingerprint::{self, FINGERPRINT_PATH, Record, Recorder, Stamp};
use super::manifest::{
    GITIGNORE, GITIGNORE_PATH, MANIFEST_PATH, Manifest, STATE_DIR, validate_path,
};

/// What [`write`] did. Every list is sorted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteReport {
    /// Files created or changed.
    pub written: Vec<String>,
    /// Number of files of the tree that were already on disk with the same bytes.
    pub unchanged: usize,
    /// Stale files (owned, no longer produced) that were deleted.
    pub removed: Vec<String>,
}

/// How one path of the output directory differs from the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DriftKind {
    /// The tree has the file; the disk does not.
    Missing,
    /// The file is on disk with different bytes (or something other than a file is there).
    Modified,
    /// The manifest owns the file and it is on disk, but the tree no longer produces it.
    Stale,
}

/// One difference between the tree and the output directory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Drift {
    /// The relative, `/`-separated path.
    pub path: String,
    /// How it differs.
    pub kind: DriftKind,
}

impl fmt::Display for DriftKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriftKind::Missing => "missing",
            DriftKind::Modified => "modified",
            DriftKind::Stale => "stale",
        })
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.path)
    }
}

/// Writes `tree` into `out` (created if missing), replacing the files manifold owns there,
/// deleting the owned files the tree no longer produces, and recording the new manifest.
///
/// Fails, before changing anything, on an invalid tree path, a corrupt manifest, a lock held
/// by another manifold process, or a path the tree wants that is taken by a file manifold
/// does not own.
pub fn write(tree: &Tree, out: &Path) -> Result<WriteReport> {
    write_with(tree, out, None).map(|(report, _)| report)
}

/// [`write`], then, under the same exclusive lock, records the fingerprint of the result
/// under `record` (see [`super::fingerprint`]), so that [`super::fresh`] can later tell that
/// nothing changed. Recording is best effort: the second value is why it failed, if it did
/// (the write itself succeeded either way, and no fingerprint is left).
pub fn write_recorded(
    tree: &Tree,
    out: &Path,
    record: &Record,
) -> Result<(WriteReport, Option<String>)> {
    write_with(tree, out, Some(record))
}

fn write_with(
    tree: &Tree,
    out: &Path,
    record: Option<&Record>,
) -> Result<(WriteReport, Option<String>)> {
    validate_tree(tree)?;
    let state = out.join(STATE_DIR);
    fs::create_dir_all(&state).map_err(|err| io_error("create", &state, &err))?;
    let lock = open_lock(out)?;
    lock_exclusive(&lock, out)?;
    recover(out)?;
    ensure_gitignore(out)?;

    // Taken before any file is looked at: see `fingerprint` on racy files.
    let mut recorder = Recorder::default();
    let planning = record.map(|_| fingerprint::stamp(out));
    let planning_stamp = planning.as_ref().and_then(|stamp| stamp.as_ref().ok());
    if let Some(stamp) = planning_stamp
        && let Ok(meta) = fs::symlink_metadata(join_rel(out, MANIFEST_PATH))
    {
        recorder.manifest(&meta, stamp);
    }
    let (old, old_bytes) = load_manifest(out)?;
    let plan = plan_write(
        tree,
        &old,
        out,
        planning_stamp.map(|stamp| (&mut recorder, stamp)),
    )?;
    let new_bytes = Manifest::from_tree(tree).to_bytes();
    let report = WriteReport {
        written: plan.writes.iter().map(|write| write.path.clone()).collect(),
        unchanged: plan.unchanged,
        removed: plan.removals.clone(),
    };
    if plan.writes.is_empty()
        && plan.removals.is_empty()
        && old_bytes.as_deref() == Some(new_bytes.as_slice())
    {
        let failure = match (record, planning) {
            (Some(record), Some(stamp)) => {
                finish_record(out, tree, &new_bytes, recorder, stamp, record)
            }
            _ => None,
        };
        drop(lock);
        return Ok((report, failure));
    }
    // The old fingerprint goes before anything changes; the manifest is rewritten below, so
    // its planning signature no longer applies.
    fingerprint::remove(out)
        .map_err(|err| io_error("remove", &join_rel(out, FINGERPRINT_PATH), &err))?;
    recorder.forget_manifest();
    // The planning stamp (and its temporary file) is done with: a new one is taken after the
    // renames.
    let recording = record.filter(|_| planning.is_some());
    drop(planning);

    let staging = state.join(STAGING_DIR);
    fs::create_dir_all(&staging).map_err(|err| io_error("create", &staging, &err))?;
    // Opened before the files are written: syncfs(2) reports the write-back errors that
    // happened since its descriptor was opened.
    let barrier = Barrier::open(&staging)?;
    let (renames, staged_files, staged_dirs) = stage(&staging, &plan)?;
    if !barrier.sync() {
        sync_all_parallel(&staged_files)?;
        for dir in staged_dirs.iter().rev() {
            fsync_dir(dir)?;
        }
        fsync_dir(&staging)?;
    }
    drop(staged_files);
    let manifest = String::from_utf8(new_bytes).map_err(|err| {
        anyhow!(
            "the new manifest for {} is not UTF-8 ({err}); this is a bug in manifold, please report it",
            join_rel(out, MANIFEST_PATH).display()
        )
    })?;
    let journal = Journal {
        format: JOURNAL_FORMAT,
        renames,
        remove: plan.removals,
        manifest,
    };
    let journal_path = state.join(JOURNAL_FILE);
    let journal_bytes = serde_json::to_vec_pretty(&journal).map_err(|err| {
        anyhow!(
            "could not serialize the journal {} ({err}); this is a bug in manifold, please report it",
            journal_path.display()
        )
    })?;
    write_atomic(&journal_path, &journal_bytes)?;
    apply(out, &journal)?;
    finish(out)?;
    let failure = match recording {
        // A new stamp, taken after every rename: the written files are looked at after it.
        Some(record) => finish_record(
            out,
            tree,
            journal.manifest.as_bytes(),
            recorder,
            fingerprint::stamp(out),
            record,
        ),
        None => None,
    };
    drop(lock);
    Ok((report, failure))
}

/// Writes every file of the plan into the staging area, unsynced, and returns the journal's
/// renames, the staged files and the staged directories (parents first).
///
/// A file in one of the plan's new directories is staged at its place in a copy of that
/// directory, `staging/<k>/…`, and the whole directory is moved into place with one rename;
/// any other file is staged as `staging/<n>` and renamed on its own. So a first compile, where
/// nothing exists yet, renames a handful of directories instead of every file. The files are
/// written on every core, each thread into directories of its own part of the tree.
fn stage(staging: &Path, plan: &Plan<'_>) -> Result<(Vec<Rename>, Vec<PathBuf>, Vec<PathBuf>)> {
    let mut renames: Vec<Rename> = plan
        .new_dirs
        .iter()
        .enumerate()
        .map(|(index, dir)| Rename {
            staged: index.to_string(),
            target: dir.clone(),
        })
        .collect();
    let mut files = Vec::with_capacity(plan.writes.len());
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for write in &plan.writes {
        let staged = match write.new_dir {
            Some(index) => {
                let dir = &plan.new_dirs[index];
                let inside = &write.path[dir.len() + 1..];
                let staged = staging.join(index.to_string()).join(inside);
                // Its directories up to the staging area; the rest were noted before.
                for dir in staged.ancestors().skip(1).take_while(|dir| *dir != staging) {
                    if !dirs.insert(dir.to_path_buf()) {
                        break;
                    }
                }
                staged
            }
            None => {
                let staged = renames.len().to_string();
                renames.push(Rename {
                    staged: staged.clone(),
                    target: write.path.clone(),
                });
                staging.join(staged)
            }
        };
        files.push((staged, write.contents));
    }
    // Parents sort before their children.
    let dirs: Vec<PathBuf> = dirs.into_iter().collect();
    for dir in &dirs {
        match fs::create_dir(dir) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(io_error("create", dir, &err)),
        }
    }
    crate::parallel::map(&files, |(path, contents)| write_unsynced(path, contents))
        .into_iter()
        .collect::<Result<Vec<()>>>()?;
    let files = files.into_iter().map(|(path, _)| path).collect();
    Ok((renames, files, dirs))
}

/// Writes the fingerprint (best effort); why it failed, if it did.
fn finish_record(
    out: &Path,
    tree: &Tree,
    manifest_bytes: &[u8],
    recorder: Recorder,
    stamp: io::Result<Stamp>,
    record: &Record,
) -> Option<String> {
    let result = stamp.and_then(|stamp| recorder.finish(out, tree, manifest_bytes, stamp, record));
    match result {
        Ok(()) => None,
        Err(err) => {
            let _ = fingerprint::remove(out);
            Some(err.to_string())
        }
    }
}

/// Compares `tree` with the files in `out` without writing them, and returns every difference,
/// sorted by path. Files the manifest does not own and the tree does not produce are not drift.
///
/// A missing `out` means every file is [`DriftKind::Missing`]. A journal left by an interrupted
/// [`write`] is rolled forward first. Fails on an invalid tree path, a corrupt manifest, or a
/// lock held by a writer.
pub fn check(tree: &Tree, out: &Path) -> Result<Vec<Drift>> {
    validate_tree(tree)?;
    match fs::metadata(out) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => bail!(
            "the output path {} is not a directory; point manifold at a directory",
            out.display()
        ),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Ok(tree
                .files()
                .keys()
                .map(|path| Drift {
                    path: path.clone(),
                    kind: DriftKind::Missing,
                })
                .collect());
        }
        Err(err) => return Err(io_error("read", out, &err)),
    }

    let state = out.join(STATE_DIR);
    let _lock = if exists(&state)? {
        let lock = open_lock(out)?;
        lock_shared(&lock, out)?;
        if exists(&state.join(JOURNAL_FILE))? {
            // Rolling forward changes files: trade the shared lock for an exclusive one, then
            // look again, since another process may have finished the journal in between.
            let lock_path = state.join(LOCK_FILE);
            lock.unlock()
                .map_err(|err| io_error("unlock", &lock_path, &err))?;
            lock_exclusive(&lock, out)?;
            recover(out)?;
        }
        Some(lock)
    } else {
        None
    };

    let (manifest, _) = load_manifest(out)?;
    let mut drift = Vec::new();
    for (path, contents) in tree.files() {
        if let Some(kind) = compare(out, path, contents)? {
            drift.push(Drift {
                path: path.clone(),
                kind,
            });
        }
    }
    for path in manifest.files().keys() {
        if tree.get(path).is_none() && is_removable(out, path)? {
            drift.push(Drift {
                path: path.clone(),
                kind: DriftKind::Stale,
            });
        }
    }
    drift.sort();
    Ok(drift)
}

/// The lock file, relative to `.manifold/`.
const LOCK_FILE: &str = "lock";
/// The journal, relative to `.manifold/`.
const JOURNAL_FILE: &str = "journal.json";
/// The staging directory, relative to `.manifold/`.
const STAGING_DIR: &str = "staging";
/// The only journal format this version reads and writes.
const JOURNAL_FORMAT: u64 = 1;
/// Suffix of the temporary file an atomic replacement goes through.
const TMP_SUFFIX: &str = ".tmp";

/// A write in progress: everything needed to finish it after a crash.
#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    format: u64,
    /// Staged files to move into place, in order.
    renames: Vec<Rename>,
    /// Stale files to delete.
    remove: Vec<String>,
    /// The complete new manifest.
    manifest: String,
}

/// One staged file and where it goes.
#[derive(Debug, Serialize, Deserialize)]
struct Rename {
    /// The file name under `.manifold/staging/`.
    staged: String,
    /// The relative target path.
    target: String,
}

/// What a write has to do, decided before anything changes.
struct Plan<'a> {
    /// New or changed files, in path order.
    writes: Vec<Planned<'a>>,
    /// The topmost directories of the tree that do not exist on disk yet, in path order: each
    /// is staged whole and moved into place with one rename.
    new_dirs: Vec<String>,
    /// Files of the tree already on disk with the same bytes.
    unchanged: usize,
    /// Stale owned files present on disk, in path order.
    removals: Vec<String>,
}

/// One file to write.
struct Planned<'a> {
    /// The relative target path.
    path: String,
    /// Its new bytes.
    contents: &'a [u8],
    /// The index in [`Plan::new_dirs`] of the new directory it lies in, if it does.
    new_dir: Option<usize>,
}

/// Rejects every invalid tree path (and a path that is also a directory of another path),
/// listing them all.
fn validate_tree(tree: &Tree) -> Result<()> {
    let mut problems = Vec::new();
    for path in tree.files().keys() {
        if let Err(reason) = validate_path(path) {
            problems.push(format!("  {path:?}: {reason}"));
            continue;
        }
        let ancestor = path
            .match_indices('/')
            .map(|(end, _)| &path[..end])
            .find(|ancestor| tree.get(ancestor).is_some());
        if let Some(ancestor) = ancestor {
            problems.push(format!(
                "  {path:?}: {ancestor:?} is also a file of the tree, so it cannot be a directory"
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "the output tree holds invalid paths, so nothing was written:\n{}\nthis is a bug in the emitter that produced them; please report it",
        problems.join("\n")
    )
}

/// Decides what to write, keep and delete; refuses if the tree needs a path manifold does not own.
///
/// With `recording`, notes the `lstat` of every unchanged file (taken before its bytes were
/// compared) for the fingerprint.
fn plan_write<'a>(
    tree: &'a Tree,
    old: &Manifest,
    out: &Path,
    mut recording: Option<(&mut Recorder, &Stamp)>,
) -> Result<Plan<'a>> {
    let mut removals = Vec::new();
    for path in old.files().keys() {
        if tree.get(path).is_none() && is_removable(out, path)? {
            removals.push(path.clone());
        }
    }
    let removal_set: BTreeSet<&str> = removals.iter().map(String::as_str).collect();

    let mut writes = Vec::new();
    let mut new_dirs: Vec<String> = Vec::new();
    let mut unchanged = 0;
    let mut unowned = BTreeSet::new();
    let mut seen = Ancestors::default();
    // Paths whose directories all exist: their own entries are looked at next, on every core.
    let mut existing = Vec::new();
    for (path, contents) in tree.files() {
        match blocking_ancestor(out, path, &removal_set, &mut seen)? {
            Ancestry::Blocked(blocker) => {
                unowned.insert(blocker);
            }
            Ancestry::Absent(dir) => {
                // Paths come in order, so a new directory's files are consecutive.
                if new_dirs.last() != Some(&dir) {
                    new_dirs.push(dir);
                }
                writes.push(Planned {
                    path: path.clone(),
                    contents: contents.as_slice(),
                    new_dir: Some(new_dirs.len() - 1),
                });
            }
            Ancestry::Directories => existing.push((path, contents.as_slice())),
        }
    }
    let looked = crate::parallel::map(&existing, |(path, contents)| look(out, path, contents));
    for ((path, contents), found) in existing.into_iter().zip(looked) {
        let write = Planned {
            path: path.clone(),
            contents,
            new_dir: None,
        };
        match found? {
            OnDisk::Absent => writes.push(write),
            OnDisk::Directory => {
                if will_vanish(out, path, &removal_set)? {
                    writes.push(write);
                } else {
                    unowned.insert(path.clone());
                }
            }
            OnDisk::Same(_) | OnDisk::Differs | OnDisk::Other if !old.owns(path) => {
                unowned.insert(path.clone());
            }
            OnDisk::Differs | OnDisk::Other => writes.push(write),
            OnDisk::Same(meta) => {
                unchanged += 1;
                if let Some((recorder, stamp)) = recording.as_mut() {
                    recorder.unchanged(path, &meta, stamp);
                }
            }
        }
    }
    // New files are staged in path order, whichever list found them.
    writes.sort_by(|a, b| a.path.cmp(&b.path));
    if !unowned.is_empty() {
        let list: Vec<String> = unowned.iter().map(|path| format!("  {path}")).collect();
        bail!(
            "refusing to write {}: these paths already exist there but manifold does not own them (they are not in {MANIFEST_PATH}), and it never overwrites files it does not own:\n{}\nmove or delete them, or choose another output directory",
            out.display(),
            list.join("\n")
        );
    }
    Ok(Plan {
        writes,
        new_dirs,
        unchanged,
        removals,
    })
}

/// What [`look`] found at a tree path whose directories all exist.
enum OnDisk {
    /// Nothing: the path is written.
    Absent,
    /// A file with other bytes: written if owned.
    Differs,
    /// A file with the tree's bytes, and its `lstat` (taken before the bytes were read).
    Same(fs::Metadata),
    /// A real directory.
    Directory,
    /// Something else that is not a directory (a link, a special file): written only if owned.
    Other,
}

/// Looks at one tree path whose directories all exist: what is there, and whether a file
/// there already holds `contents`. Ownership is the caller's to judge: it refuses anything but
/// [`OnDisk::Absent`] and [`OnDisk::Directory`] that the manifest does not list.
fn look(out: &Path, path: &str, contents: &[u8]) -> Result<OnDisk> {
    let target = join_rel(out, path);
    let meta = match fs::symlink_metadata(&target) {
        Err(err) if is_absent(&err) => return Ok(OnDisk::Absent),
        Err(err) => return Err(io_error("read", &target, &err)),
        Ok(meta) if meta.is_dir() => return Ok(OnDisk::Directory),
        Ok(meta) => meta,
    };
    if !meta.is_file() || meta.len() != contents.len() as u64 {
        // Only a regular file of the same size can be unchanged; an owned link or special
        // file is replaced by the file.
        return Ok(if meta.is_file() {
            OnDisk::Differs
        } else {
            OnDisk::Other
        });
    }
    match fs::read(&target) {
        Ok(disk) if disk == contents => Ok(OnDisk::Same(meta)),
        Ok(_) => Ok(OnDisk::Differs),
        Err(err) if is_absent(&err) => Ok(OnDisk::Absent),
        Err(err) => Err(io_error("read", &target, &err)),
    }
}

/// The ancestor directories of tree paths already looked up by [`blocking_ancestor`], so a
/// tree of many files in few directories looks each directory up once.
#[derive(Default)]
struct Ancestors {
    /// Real directories.
    directories: HashSet<String>,
    /// Paths where nothing exists (nor, therefore, below them).
    absent: HashSet<String>,
}

/// What lies on disk above a tree path.
enum Ancestry {
    /// Every ancestor is a real directory.
    Directories,
    /// This ancestor, the topmost one missing, does not exist (or is a stale file about to be
    /// deleted), so neither does the path.
    Absent(String),
    /// This ancestor exists as something other than a real directory (a file or a link) and
    /// will not be deleted as stale; writing the path would need to replace it.
    Blocked(String),
}

/// What lies on disk above `path` (see [`Ancestry`]), looking up only what `seen` does not
/// already know.
fn blocking_ancestor(
    out: &Path,
    path: &str,
    removals: &BTreeSet<&str>,
    seen: &mut Ancestors,
) -> Result<Ancestry> {
    for (end, _) in path.match_indices('/') {
        let ancestor = &path[..end];
        if seen.directories.contains(ancestor) {
            continue;
        }
        if seen.absent.contains(ancestor) {
            return Ok(Ancestry::Absent(ancestor.to_owned()));
        }
        let on_disk = join_rel(out, ancestor);
        match fs::symlink_metadata(&on_disk) {
            Err(err) if is_absent(&err) => {
                seen.absent.insert(ancestor.to_owned());
                return Ok(Ancestry::Absent(ancestor.to_owned()));
            }
            Err(err) => return Err(io_error("read", &on_disk, &err)),
            Ok(meta) if meta.is_dir() => {
                seen.directories.insert(ancestor.to_owned());
            }
            Ok(_) if removals.contains(ancestor) => {
                seen.absent.insert(ancestor.to_owned());
                return Ok(Ancestry::Absent(ancestor.to_owned()));
            }
            Ok(_) => return Ok(Ancestry::Blocked(ancestor.to_owned())),
        }
    }
    Ok(Ancestry::Directories)
}

/// Whether the directory at `path` holds something, and everything it holds (recursively) is
/// a stale file about to be deleted, so pruning will remove it.
fn will_vanish(out: &Path, path: &str, removals: &BTreeSet<&str>) -> Result<bool> {
    let dir = join_rel(out, path);
    let entries = fs::read_dir(&dir).map_err(|err| io_error("read", &dir, &err))?;
    let mut any = false;
    for entry in entries {
        let entry = entry.map_err(|err| io_error("read", &dir, &err))?;
        any = true;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return Ok(false);
        };
        let child = format!("{path}/{name}");
        let kind = entry
            .file_type()
            .map_err(|err| io_error("read", &entry.path(), &err))?;
        let vanishes = if kind.is_dir() {
            will_vanish(out, &child, removals)?
        } else {
            removals.contains(child.as_str())
        };
        if !vanishes {
            return Ok(false);
        }
    }
    Ok(any)
}

/// Whether the owned `path` is on disk as a file or link reached through real directories only,
/// so that deleting it deletes what manifold wrote and nothing else.
fn is_removable(out: &Path, path: &str) -> Result<bool> {
    let parts: Vec<&str> = path.split('/').collect();
    for depth in 1..parts.len() {
        let on_disk = join_rel(out, &parts[..depth].join("/"));
        match fs::symlink_metadata(&on_disk) {
            Err(err) if is_absent(&err) => return Ok(false),
            Err(err) => return Err(io_error("read", &on_disk, &err)),
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Ok(false),
        }
    }
    let target = join_rel(out, path);
    match fs::symlink_metadata(&target) {
        Err(err) if is_absent(&err) => Ok(false),
        Err(err) => Err(io_error("read", &target, &err)),
        Ok(meta) => Ok(!meta.is_dir()),
    }
}

/// How the file at `path` differs from `contents`, if it does.
fn compare(out: &Path, path: &str, contents: &[u8]) -> Result<Option<DriftKind>> {
    let target = join_rel(out, path);
    match fs::symlink_metadata(&target) {
        Err(err) if is_absent(&err) => return Ok(Some(DriftKind::Missing)),
        Err(err) => return Err(io_error("read", &target, &err)),
        Ok(meta) if meta.is_dir() => return Ok(Some(DriftKind::Modified)),
        Ok(_) => {}
    }
    match fs::read(&target) {
        Ok(disk) if disk == contents => Ok(None),
        Ok(_) => Ok(Some(DriftKind::Modified)),
        Err(err) if is_absent(&err) => Ok(Some(DriftKind::Missing)),
        Err(err) => Err(io_error("read", &target, &err)),
    }
}

/// Reads the manifest: `(owns nothing, None)` if there is none; an error if it is corrupt.
fn load_manifest(out: &Path) -> Result<(Manifest, Option<Vec<u8>>)> {
    let path = join_rel(out, MANIFEST_PATH);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok((Manifest::new(), None)),
        Err(err) => return Err(io_error("read", &path, &err)),
    };
    let manifest = Manifest::parse(&bytes).map_err(|reason| {
        anyhow!(
            "the ownership manifest {} is corrupt ({reason}); manifold will not guess which files it owns in {}: restore the manifest from git, or delete the output directory and run manifold again",
            path.display(),
            out.display()
        )
    })?;
    Ok((manifest, Some(bytes)))
}

/// Finishes a write that an earlier run left half done, and clears the leftovers of one that
/// never got as far as its journal. Needs the exclusive lock.
fn recover(out: &Path) -> Result<()> {
    let state = out.join(STATE_DIR);
    let journal_path = state.join(JOURNAL_FILE);
    match fs::read(&journal_path) {
        Ok(bytes) => {
            let journal = parse_journal(&bytes).map_err(|reason| {
                anyhow!(
                    "the journal {} of an interrupted manifold run is unreadable ({reason}), so that run cannot be finished: delete it and {}, then restore the output directory {} from git or delete it, and run manifold again",
                    journal_path.display(),
                    state.join(STAGING_DIR).display(),
                    out.display()
                )
            })?;
            apply(out, &journal)?;
            finish(out)?;
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(io_error("read", &journal_path, &err)),
    }
    remove_dir_all_if_present(&state.join(STAGING_DIR))?;
    remove_file_if_present(&tmp_path(&journal_path))?;
    remove_file_if_present(&tmp_path(&join_rel(out, MANIFEST_PATH)))
}

/// Reads and validates a journal.
fn parse_journal(bytes: &[u8]) -> Result<Journal, String> {
    let journal: Journal = serde_json::from_slice(bytes).map_err(|err| err.to_string())?;
    if journal.format != JOURNAL_FORMAT {
        return Err(format!(
            "unsupported journal format {} (this manifold reads format {JOURNAL_FORMAT})",
            journal.format
        ));
    }
    for rename in &journal.renames {
        if rename.staged.is_empty() || !rename.staged.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("invalid staged file name {:?}", rename.staged));
        }
        validate_path(&rename.target)
            .map_err(|reason| format!("invalid path {:?}: {reason}", rename.target))?;
    }
    for path in &journal.remove {
        validate_path(path).map_err(|reason| format!("invalid path {path:?}: {reason}"))?;
    }
    Manifest::parse(journal.manifest.as_bytes())
        .map_err(|reason| format!("the new manifest in it is invalid: {reason}"))?;
    Ok(journal)
}

/// Carries out a journal: deletions (with pruning), renames, then the manifest. Every step may
/// already have been done by an interrupted run.
///
/// The renames are made durable by one [`Barrier`] (syncfs(2) on Linux) on the staging
/// area's filesystem, which holds every renamed file and every directory created for one (a
/// rename across filesystems fails); only where that is unavailable is every touched directory
/// fsynced. The directories that deletions touched are fsynced one by one (they may lie on
/// another filesystem mounted inside `out`; stale files are few).
fn apply(out: &Path, journal: &Journal) -> Result<()> {
    let state = out.join(STATE_DIR);
    let staging = state.join(STAGING_DIR);
    let mut deleted_from = BTreeSet::new();
    for path in &journal.remove {
        let target = join_rel(out, path);
        remove_file_if_present(&target)?;
        prune_empty_parents(out, path)?;
        deleted_from.extend(ancestors_within(out, path));
    }
    // Opened before the renames; the staging area is gone only if an interrupted run
    // finished every rename already.
    let barrier = if journal.renames.is_empty() {
        None
    } else if exists(&staging)? {
        Some(Barrier::open(&staging)?)
    } else {
        Some(Barrier::open(&state)?)
    };
    let mut created: HashSet<PathBuf> = HashSet::new();
    let mut renamed_into: HashSet<String> = HashSet::new();
    for rename in &journal.renames {
        let source = staging.join(&rename.staged);
        let target = join_rel(out, &rename.target);
        if let Some(parent) = target.parent()
            && !created.contains(parent)
        {
            fs::create_dir_all(parent).map_err(|err| io_error("create", parent, &err))?;
            created.insert(parent.to_path_buf());
        }
        match fs::rename(&source, &target) {
            Ok(()) => {}
            // The parent exists, so a missing source is the cause: renamed by the
            // interrupted run.
            Err(err) if err.kind() == io::ErrorKind::NotFound && !exists(&source)? => continue,
            Err(err) => bail!(
                "could not move {} to {}: {err}; make sure nothing else holds the output directory, then run manifold again to finish the write",
                source.display(),
                target.display()
            ),
        }
        let parent = rename.target.rsplit_once('/').map_or("", |(dir, _)| dir);
        if !renamed_into.contains(parent) {
            renamed_into.insert(parent.to_owned());
        }
    }
    let mut touched = deleted_from;
    if barrier.as_ref().is_some_and(|barrier| !barrier.sync()) {
        for dir in &renamed_into {
            touched.extend(dir_and_ancestors(out, dir));
        }
    }
    for dir in &touched {
        if exists(dir)? {
            fsync_dir(dir)?;
        }
    }
    write_atomic(&join_rel(out, MANIFEST_PATH), journal.manifest.as_bytes())
}

/// Writes `.manifold/.gitignore` unless it already holds exactly [`GITIGNORE`], so that
/// `git add` of an output directory takes the manifest and leaves the lock, the journal and the
/// staging area out.
fn ensure_gitignore(out: &Path) -> Result<()> {
    let path = join_rel(out, GITIGNORE_PATH);
    match fs::read(&path) {
        Ok(bytes) if bytes == GITIGNORE.as_bytes() => Ok(()),
        Ok(_) => write_atomic(&path, GITIGNORE.as_bytes()),
        Err(err) if is_absent(&err) => write_atomic(&path, GITIGNORE.as_bytes()),
        Err(err) => Err(io_error("read", &path, &err)),
    }
}

/// Removes the journal (the write is complete from here on), then the staging area.
fn finish(out: &Path) -> Result<()> {
    let state = out.join(STATE_DIR);
    remove_file_if_present(&state.join(JOURNAL_FILE))?;
    fsync_dir(&state)?;
    remove_dir_all_if_present(&state.join(STAGING_DIR))
}

/// Removes the directories above `path` that are now empty, deepest first, stopping at the
/// first one that still holds anything; never removes `out`.
fn prune_empty_parents(out: &Path, path: &str) -> Result<()> {
    let parts: Vec<&str> = path.split('/').collect();
    for depth in (1..parts.len()).rev() {
        let dir = join_rel(out, &parts[..depth].join("/"));
        match fs::symlink_metadata(&dir) {
            Err(err) if is_absent(&err) => continue,
            Err(err) => return Err(io_error("read", &dir, &err)),
            Ok(meta) if !meta.is_dir() => return Ok(()),
            Ok(_) => {}
        }
        let mut entries = fs::read_dir(&dir).map_err(|err| io_error("read", &dir, &err))?;
        if entries.next().is_some() {
            return Ok(());
        }
        match fs::remove_dir(&dir) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) if err.kind() == io::ErrorKind::DirectoryNotEmpty => return Ok(()),
            Err(err) => return Err(io_error("remove", &dir, &err)),
        }
    }
    Ok(())
}

/// `out` and every directory between it and `path` (the directories whose entries a change to
/// `path` may have changed).
fn ancestors_within(out: &Path, path: &str) -> Vec<PathBuf> {
    let parts: Vec<&str> = path.split('/').collect();
    (0..parts.len())
        .map(|depth| join_rel(out, &parts[..depth].join("/")))
        .collect()
}

/// `out`, the relative directory `dir` (`""` for `out` itself) and every directory between.
fn dir_and_ancestors(out: &Path, dir: &str) -> Vec<PathBuf> {
    let mut dirs = vec![out.to_path_buf()];
    let mut joined = out.to_path_buf();
    for part in dir.split('/').filter(|part| !part.is_empty()) {
        joined.push(part);
        dirs.push(joined.clone());
    }
    dirs
}

/// Opens (creating it if needed) the lock file of `out`.
fn open_lock(out: &Path) -> Result<File> {
    let path = out.join(STATE_DIR).join(LOCK_FILE);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|err| io_error("open", &path, &err))
}

/// Takes the exclusive lock, failing at once if anyone holds it.
fn lock_exclusive(lock: &File, out: &Path) -> Result<()> {
    match lock.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => bail!(
            "another manifold process is writing {}; wait for it to finish (or for the check reading it), then run manifold again",
            out.display()
        ),
        Err(TryLockError::Error(err)) => {
            Err(io_error("lock", &out.join(STATE_DIR).join(LOCK_FILE), &err))
        }
    }
}

/// Takes a shared lock, failing at once if a writer holds the exclusive one.
fn lock_shared(lock: &File, out: &Path) -> Result<()> {
    match lock.try_lock_shared() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => bail!(
            "another manifold process is writing {}; wait for it to finish, then run the check again",
            out.display()
        ),
        Err(TryLockError::Error(err)) => {
            Err(io_error("lock", &out.join(STATE_DIR).join(LOCK_FILE), &err))
        }
    }
}

/// A flush of everything written to one filesystem: on Linux, one `syncfs(2)` instead of an
/// fsync per file and per directory (tens of thousands of calls, each waiting for its own
/// journal commit).
///
/// The descriptor is opened before the writes it has to cover, because syncfs reports the
/// write-back errors that happened since the descriptor was opened. syncfs only reports them
/// at all since Linux 5.8, so older kernels (and other systems) get `false` from [`Barrier::sync`]
/// and the caller fsyncs file by file, as it also does when syncfs fails: a failure may come
/// from another program's file on the same filesystem, and the per-file fsyncs then report
/// whether manifold's own files are on disk.
struct Barrier {
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    dir: File,
}

impl Barrier {
    /// Opens the directory `dir`, on the filesystem to flush.
    fn open(dir: &Path) -> Result<Barrier> {
        let dir = File::open(dir).map_err(|err| io_error("open", dir, &err))?;
        Ok(Barrier { dir })
    }

    /// Flushes the whole filesystem; `false` when that is unavailable or failed, and the
    /// caller must fsync what it wrote itself.
    fn sync(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd as _;
            if !syncfs_reports_errors() {
                return false;
            }
            // SAFETY: syncfs only reads the descriptor, which `self.dir` keeps open.
            unsafe { libc::syncfs(self.dir.as_raw_fd()) == 0 }
        }
        #[cfg(not(target_os = "linux"))]
        false
    }
}

/// Whether the running kernel is Linux 5.8 or later, the first to return write-back errors
/// from syncfs(2) (earlier ones return 0 even when data was lost).
#[cfg(target_os = "linux")]
fn syncfs_reports_errors() -> bool {
    static REPORTS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *REPORTS.get_or_init(|| {
        // SAFETY: `uname` fills the zeroed struct it is given; the release field is
        // NUL-terminated on success.
        let release = unsafe {
            let mut name: libc::utsname = std::mem::zeroed();
            if libc::uname(&mut name) != 0 {
                return false;
            }
            std::ffi::CStr::from_ptr(name.release.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        kernel_at_least(&release, (5, 8))
    })
}

/// Whether a kernel release string (`6.1.0-13-amd64`) is at least `major.minor`.
#[cfg(any(target_os = "linux", test))]
fn kernel_at_least(release: &str, (major, minor): (u32, u32)) -> bool {
    let mut numbers = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|part| part.parse::<u32>().ok());
    match (numbers.next().flatten(), numbers.next().flatten()) {
        (Some(found_major), Some(found_minor)) => (found_major, found_minor) >= (major, minor),
        _ => false,
    }
}

/// Creates `path` with `bytes`, not yet flushed to disk: a write of many files stages them
/// all first and then flushes them together ([`sync_all_parallel`]), which lets the
/// filesystem commit them in a few journal transactions instead of one per file.
fn write_unsynced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).map_err(|err| io_error("create", path, &err))?;
    file.write_all(bytes)
        .map_err(|err| io_error("write", path, &err))
}

/// How many threads flush staged files at once. fsync waits on the disk, not the CPU, so
/// more threads than cores help: concurrent fsyncs share journal commits (ext4, XFS).
const SYNC_THREADS: usize = 16;

/// Flushes every file to disk (`fsync`), from [`SYNC_THREADS`] threads; returns the first
/// failure. Only the time it takes depends on the threads: each file is flushed once. The
/// files are opened again one at a time (holding tens of thousands open would exceed the
/// descriptor limit).
fn sync_all_parallel(files: &[PathBuf]) -> Result<()> {
    let sync = |path: &PathBuf| {
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|file| file.sync_all())
            .map_err(|err| io_error("sync", path, &err))
    };
    if files.len() < 2 * SYNC_THREADS {
        return files.iter().try_for_each(sync);
    }
    let chunk = files.len().div_ceil(SYNC_THREADS);
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().try_for_each(sync)))
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| Err(anyhow!("an fsync thread panicked")))
            })
            .collect::<Result<Vec<()>>>()
            .map(drop)
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).map_err(|err| io_error("create", path, &err))?;
    file.write_all(bytes)
        .map_err(|err| io_error("write", path, &err))?;
    file.sync_all().map_err(|err| io_error("sync", path, &err))
}

/// Replaces `path` with `bytes` atomically: temporary file, fsync, rename, fsync of the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    write_synced(&tmp, bytes)?;
    fs::rename(&tmp, path).map_err(|err| io_error("replace", path, &err))?;
    match path.parent() {
        Some(parent) => fsync_dir(parent),
        None => Ok(()),
    }
}

/// The temporary file an atomic replacement of `path` goes through.
fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(TMP_SUFFIX);
    PathBuf::from(name)
}

/// Flushes a directory's entries to disk (a no-op where directories cannot be opened).
fn fsync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let handle = File::open(dir).map_err(|err| io_error("open", dir, &err))?;
        handle
            .sync_all()
            .map_err(|err| io_error("sync", dir, &err))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Deletes a file or link; one that is already gone is fine.
fn remove_file_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if is_absent(&err) => Ok(()),
        Err(err) => Err(io_error("remove", path, &err)),
    }
}

/// Deletes a directory tree; one that is already gone is fine.
fn remove_dir_all_if_present(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(io_error("remove", path, &err)),
    }
}

/// Whether anything (a link included) is at `path`.
fn exists(path: &Path) -> Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(err) if is_absent(&err) => Ok(false),
        Err(err) => Err(io_error("read", path, &err)),
    }
}

/// Whether an error means "nothing there" (including "a parent is not a directory").
fn is_absent(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// `out` joined with a relative `/`-separated path, one component at a time.
fn join_rel(out: &Path, path: &str) -> PathBuf {
    path.split('/')
        .filter(|part| !part.is_empty())
        .fold(out.to_path_buf(), |joined, part| joined.join(part))
}

/// An I/O failure on `path`, with what to do about it.
fn io_error(action: &str, path: &Path, err: &io::Error) -> anyhow::Error {
    anyhow!(
        "could not {action} {}: {err}; check the permissions and free space of the output directory, then run manifold again",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kernel_releases() {
        assert!(kernel_at_least("5.8.0", (5, 8)));
        assert!(kernel_at_least("6.1.0-13-amd64", (5, 8)));
        assert!(kernel_at_least("10.0", (5, 8)));
        assert!(!kernel_at_least("5.7.19", (5, 8)));
        assert!(!kernel_at_least("4.19.0-foo", (5, 8)));
        assert!(!kernel_at_least("", (5, 8)));
        assert!(!kernel_at_least("weird", (5, 8)));
    }

    #[test]
    fn lists_a_directory_and_its_ancestors() {
        let out = Path::new("out");
        assert_eq!(dir_and_ancestors(out, ""), vec![PathBuf::from("out")]);
        assert_eq!(
            dir_and_ancestors(out, "a/b"),
            vec![
                PathBuf::from("out"),
                PathBuf::from("out/a"),
                PathBuf::from("out/a/b")
            ]
        );
    }
}
