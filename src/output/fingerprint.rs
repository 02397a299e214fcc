//! The fingerprint of an output directory: a record, written by a successful
//! [`write_recorded`](super::write_recorded), that lets the next compile of the same inputs
//! skip the whole pipeline when nothing on disk changed since (like cargo's and ninja's
//! fingerprints).
//!
//! Consumes: a caller's key (a hash of everything the output and the diagnostics depend on)
//! and payload (what the caller must print again), and the `lstat` signatures of the files the
//! write just made current. Produces: `.manifold/fingerprint` (git-ignored, like the lock), and
//! [`fresh`]'s answer: the payload, when the key matches and every file is as recorded.
//!
//! The file (text, one record a line, names last so they may hold spaces):
//!
//! ```text
//! manifold-fingerprint 1
//! key <64 hex>
//! payload <n>
//! <the payload's n bytes>
//! manifest <signature> <sha-256 if racy, else ->
//! dir <inode> <device> <mode> <path, empty for the output directory itself>
//! file <signature> <sha-256 if racy, else -> <name in the directory above>
//! sha256 <64 hex of every byte above>
//! ```
//!
//! A signature is `size mtime-ns ctime-ns inode device mode`. Every directory of the tree has
//! a `dir` line (followed by the files directly in it), so [`fresh`] opens each directory once
//! (refusing a link) and looks at its files with `fstatat` relative to it, on two threads (a
//! whole no-op compile of N = 1000, 33,653 files, with `--format json` takes about 60 ms).
//!
//! Invariants:
//!
//! - **An optimisation only.** Anything unexpected (no file, another format, a bad checksum,
//!   another key, a file or directory whose signature differs, a journal, a staging area or a
//!   temporary file of an interrupted write, a changed `.gitignore`, a lock held by a writer)
//!   makes [`fresh`] answer [`Stale`], and the caller runs the full compile, which records
//!   anew. Recording is best effort: a failure leaves no fingerprint, never a wrong one, and
//!   every write that changes anything deletes the old fingerprint before it stages a file.
//! - **A recorded signature describes bytes manifold compared or wrote.** An unchanged file's
//!   signature is the `lstat` taken before its bytes were read and compared; a written file's
//!   is taken after every rename. A file can change without changing its signature only within
//!   one tick of the filesystem clock, so a file whose mtime or ctime is not older than a stamp
//!   taken (the creation time of a new file: the filesystem's own clock) before its `lstat` is
//!   *racy*: its sha-256 is recorded and [`fresh`] compares its bytes instead of trusting the
//!   signature (git's "racily clean" entries). The one change the fingerprint can miss is an
//!   edit made to a file between manifold renaming it into place and recording it, while
//!   manifold holds the exclusive lock (a race with manifold's own write); `manifold compile
//!   --check` always compares bytes.
//! - **Exclusion.** Recording happens inside the write, under its exclusive lock; [`fresh`]
//!   holds a shared lock (as `check` does) until its answer is dropped, so it never reads a
//!   half-written directory and no writer starts while the caller replays.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use super::Tree;
use super::manifest::{GITIGNORE, GITIGNORE_PATH, MANIFEST_PATH, STATE_DIR, sha256_hex};

/// Where the fingerprint lives, relative to the output directory.
pub const FINGERPRINT_PATH: &str = ".manifold/fingerprint";

/// What a caller records with a write: the key of its inputs and the payload to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// A sha-256 (64 lowercase hex digits) of everything the output and the diagnostics
    /// depend on.
    pub key: String,
    /// What the caller prints again when the fingerprint holds (opaque here).
    pub payload: Vec<u8>,
}

/// A fingerprint that holds: the output directory is exactly what the recorded compile wrote.
/// Holds a shared lock on the directory until dropped.
#[derive(Debug)]
pub struct Fresh {
    /// The recorded payload.
    pub payload: Vec<u8>,
    /// Number of files the recorded compile produced (all unchanged).
    pub files: usize,
    _lock: File,
}

/// Why [`fresh`] answered `None` (for tracing; every reason means "compile in full").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale(pub String);

/// Whether `out` holds a fingerprint recorded under `key` that still describes every file on
/// disk; if so, its payload, with a shared lock held. Never fails: anything unexpected is
/// [`Stale`].
pub fn fresh(out: &Path, key: &str) -> Result<Fresh, Stale> {
    #[cfg(unix)]
    {
        unix::fresh(out, key)
    }
    #[cfg(not(unix))]
    {
        let _ = (out, key);
        Err(Stale("fingerprints need Unix file metadata".into()))
    }
}

/// Deletes the fingerprint of `out`, if any (before a write changes anything).
pub(crate) fn remove(out: &Path) -> io::Result<()> {
    match fs::remove_file(out.join(FINGERPRINT_PATH)) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// A point in time on the filesystem's own clock: the creation time of a new temporary file.
/// Holds the file, which [`Recorder::finish`] fills and renames into place.
pub(crate) struct Stamp {
    #[cfg_attr(not(unix), allow(dead_code))]
    nanos: i128,
    file: File,
    path: PathBuf,
}

/// An unused stamp takes its temporary file with it (a refused or failed write leaves no
/// trace); after [`Recorder::finish`] renamed it into place there is nothing left to remove.
impl Drop for Stamp {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Stamps the filesystem clock: creates (anew) the fingerprint's temporary file.
pub(crate) fn stamp(out: &Path) -> io::Result<Stamp> {
    let path = tmp_path(out);
    match fs::remove_file(&path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    let nanos = stamp_nanos(&file.metadata()?);
    Ok(Stamp { nanos, file, path })
}

#[cfg(unix)]
fn stamp_nanos(meta: &fs::Metadata) -> i128 {
    use std::os::unix::fs::MetadataExt as _;
    nanos(meta.mtime(), meta.mtime_nsec()).min(nanos(meta.ctime(), meta.ctime_nsec()))
}

#[cfg(not(unix))]
fn stamp_nanos(_: &fs::Metadata) -> i128 {
    0
}

/// Seconds and nanoseconds as one number.
#[cfg_attr(not(unix), allow(dead_code))]
fn nanos(seconds: i64, nanoseconds: i64) -> i128 {
    i128::from(seconds) * 1_000_000_000 + i128::from(nanoseconds)
}

/// The fingerprint being recorded by one write.
#[derive(Default)]
pub(crate) struct Recorder {
    /// Signatures taken during planning (unchanged files), with the stamp before them.
    planned: Vec<(String, Signature)>,
    /// The manifest's signature when the write leaves it unchanged.
    manifest: Option<Signature>,
    /// Whether recording already failed (a file that could not be read, say).
    broken: bool,
}

impl Recorder {
    /// Notes the `lstat` of an unchanged file, taken before its bytes were compared.
    pub(crate) fn unchanged(&mut self, path: &str, meta: &fs::Metadata, stamp: &Stamp) {
        match Signature::of(meta) {
            Some(signature) => self
                .planned
                .push((path.to_owned(), signature.judged(stamp))),
            None => self.broken = true,
        }
    }

    /// Notes the `lstat` of the manifest, taken before it was read, when the write leaves it.
    pub(crate) fn manifest(&mut self, meta: &fs::Metadata, stamp: &Stamp) {
        match Signature::of(meta) {
            Some(signature) => self.manifest = Some(signature.judged(stamp)),
            None => self.broken = true,
        }
    }

    /// Drops the manifest's planning signature (the write is about to replace the manifest).
    pub(crate) fn forget_manifest(&mut self) {
        self.manifest = None;
    }

    /// Writes the fingerprint: `stamp` is the planning stamp when nothing was written, or a
    /// new one taken after every rename. Files not noted as unchanged are `lstat`ed now.
    pub(crate) fn finish(
        self,
        out: &Path,
        tree: &Tree,
        manifest_bytes: &[u8],
        stamp: Stamp,
        record: &Record,
    ) -> io::Result<()> {
        let result = self.finish_inner(out, tree, manifest_bytes, &stamp, record);
        if result.is_err() {
            let _ = remove(out);
        }
        result
    }

    fn finish_inner(
        self,
        out: &Path,
        tree: &Tree,
        manifest_bytes: &[u8],
        stamp: &Stamp,
        record: &Record,
    ) -> io::Result<()> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        if self.broken {
            return Err(invalid("a file could not be described"));
        }
        if record.key.len() != 64 || !record.key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("the key is not a sha-256"));
        }
        if tree.files().keys().any(|path| path.contains(['\n', '\r'])) {
            return Err(invalid("a path holds a line break"));
        }
        let lstat = |path: &Path| -> io::Result<Signature> {
            Signature::of(&fs::symlink_metadata(path)?)
                .map(|signature| signature.judged(stamp))
                .ok_or_else(|| invalid("no Unix metadata"))
        };
        let mut text = String::with_capacity(64 + record.payload.len() + tree.len() * 120);
        text.push_str(&format!(
            "{HEADER}\nkey {}\npayload {}\n",
            record.key,
            record.payload.len()
        ));
        let payload = std::str::from_utf8(&record.payload).map_err(|_| invalid("payload"))?;
        text.push_str(payload);
        text.push('\n');

        let manifest = match self.manifest {
            Some(signature) => signature,
            None => lstat(&out.join(MANIFEST_PATH))?,
        };
        text.push_str("manifest ");
        manifest.write(&mut text, || sha256_hex(manifest_bytes));
        text.push('\n');

        // Every directory of the tree (`""` is `out`), each with the files directly in it.
        let mut directories: BTreeMap<&str, Vec<Placed<'_>>> = BTreeMap::new();
        directories.insert("", Vec::new());
        for (path, contents) in tree.files() {
            for (end, _) in path.match_indices('/') {
                directories.entry(&path[..end]).or_default();
            }
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
            if let Some(files) = directories.get_mut(dir) {
                files.push((name, path, contents));
            }
        }
        let directories: Vec<(&str, Vec<Placed<'_>>)> = directories.into_iter().collect();
        let planned: HashMap<String, Signature> = self.planned.into_iter().collect();
        let describe_part = |part: &[(&str, Vec<Placed<'_>>)]| -> io::Result<Vec<Described>> {
            part.iter()
                .map(|(dir, files)| describe(out, dir, files, &planned, stamp))
                .collect()
        };
        let (first, second) = in_halves(&directories, |(_, files)| files.len(), describe_part);
        let mut described = first?;
        if let Some(second) = second {
            described.extend(second.map_err(|_| invalid("a thread panicked"))??);
        }

        let mut n_files = 0;
        for ((dir, files), (signature, file_signatures)) in directories.iter().zip(described) {
            text.push_str(&format!(
                "dir {} {} {} {dir}\n",
                signature.inode, signature.device, signature.mode
            ));
            for ((name, _, contents), signature) in files.iter().zip(file_signatures) {
                text.push_str("file ");
                signature.write(&mut text, || sha256_hex(contents));
                text.push(' ');
                text.push_str(name);
                text.push('\n');
                n_files += 1;
            }
        }
        if n_files != tree.len() || planned.keys().any(|path| tree.get(path).is_none()) {
            return Err(invalid("the planned files are not the tree's"));
        }
        let checksum = sha256_hex(text.as_bytes());
        text.push_str(&format!("sha256 {checksum}\n"));

        let mut file = &stamp.file;
        file.write_all(text.as_bytes())?;
        fs::rename(&stamp.path, out.join(FINGERPRINT_PATH))
    }
}

/// A file of the tree: its name in its directory, its path, its bytes.
type Placed<'a> = (&'a str, &'a str, &'a [u8]);

/// A directory's signature and those of its files, in order.
type Described = (Signature, Vec<Signature>);

/// How many files one thread looks at, at least, when [`in_halves`] splits the work.
const FILES_PER_THREAD: usize = 4096;

/// `work` over `directories` (`files` gives each one's file count): in two halves of about
/// as many files each, on two threads, when there are enough files to be worth a second
/// thread (an `lstat` mostly waits on the kernel's locks and caches, so two threads take
/// about half the time). Returns the first half's result, and the second's: `None` when the
/// work was not split, `Err` when its thread panicked.
fn in_halves<T: Sync, R: Send>(
    directories: &[T],
    files: impl Fn(&T) -> usize,
    work: impl Fn(&[T]) -> R + Sync,
) -> (R, Option<std::thread::Result<R>>) {
    let n_files: usize = directories.iter().map(&files).sum();
    if n_files < 2 * FILES_PER_THREAD {
        return (work(directories), None);
    }
    let mut seen = 0;
    let middle = directories
        .iter()
        .position(|dir| {
            seen += files(dir);
            seen >= n_files / 2
        })
        .map_or(directories.len(), |index| index + 1);
    let (first, second) = directories.split_at(middle);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| work(second));
        (work(first), Some(other.join()))
    })
}

/// The signatures of a directory of the tree (`""` is `out`, which may be a link the user
/// chose; nothing below it may be one) and of its files: taken during planning for the
/// unchanged ones, looked up now (relative to the open directory) for the others.
#[cfg(unix)]
fn describe(
    out: &Path,
    dir: &str,
    files: &[Placed<'_>],
    planned: &HashMap<String, Signature>,
    stamp: &Stamp,
) -> io::Result<Described> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let dir_path = join(out, dir);
    let handle = unix::open_directory(&dir_path, dir.is_empty())?;
    let signature =
        Signature::of(&handle.metadata()?).ok_or_else(|| invalid("no Unix metadata"))?;
    let file_signatures = files
        .iter()
        .map(|(name, path, _)| match planned.get(*path) {
            Some(signature) => Ok(*signature),
            None => unix::lstat_at(&handle, &dir_path, name)
                .map(|signature| signature.judged(stamp))
                .ok_or_else(|| invalid("a file is not a regular file")),
        })
        .collect::<io::Result<_>>()?;
    Ok((signature, file_signatures))
}

/// Without Unix metadata there is nothing to record.
#[cfg(not(unix))]
fn describe(
    _: &Path,
    _: &str,
    _: &[Placed<'_>],
    _: &HashMap<String, Signature>,
    _: &Stamp,
) -> io::Result<Described> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no Unix metadata",
    ))
}

/// The first line of every fingerprint.
const HEADER: &str = "manifold-fingerprint 1";

/// The fingerprint's temporary file.
fn tmp_path(out: &Path) -> PathBuf {
    out.join(STATE_DIR).join("fingerprint.tmp")
}

/// `out` joined with a relative `/`-separated path (`""` is `out` itself).
fn join(out: &Path, path: &str) -> PathBuf {
    let mut joined = out.to_path_buf();
    joined.extend(path.split('/').filter(|part| !part.is_empty()));
    joined
}

/// What `lstat` says about a file, as far as telling changes apart goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Signature {
    size: u64,
    mtime: i128,
    ctime: i128,
    inode: u64,
    device: u64,
    mode: u32,
    /// Changed in the same tick of the filesystem clock as the stamp, or later.
    racy: bool,
}

impl Signature {
    #[cfg(unix)]
    fn of(meta: &fs::Metadata) -> Option<Signature> {
        use std::os::unix::fs::MetadataExt as _;
        Some(Signature {
            size: meta.size(),
            mtime: nanos(meta.mtime(), meta.mtime_nsec()),
            ctime: nanos(meta.ctime(), meta.ctime_nsec()),
            inode: meta.ino(),
            device: meta.dev(),
            mode: meta.mode(),
            racy: false,
        })
    }

    #[cfg(not(unix))]
    fn of(_: &fs::Metadata) -> Option<Signature> {
        None
    }

    /// Marks the signature racy if the file changed at or after `stamp`.
    fn judged(mut self, stamp: &Stamp) -> Signature {
        self.racy = self.mtime >= stamp.nanos || self.ctime >= stamp.nanos;
        self
    }

    /// Appends `size mtime ctime inode device mode hash-or-dash`.
    fn write(&self, text: &mut String, hash: impl FnOnce() -> String) {
        use std::fmt::Write as _;
        let _ = write!(
            text,
            "{} {} {} {} {} {} ",
            self.size, self.mtime, self.ctime, self.inode, self.device, self.mode
        );
        if self.racy {
            text.push_str(&hash());
        } else {
            text.push('-');
        }
    }

    /// Whether two signatures describe the same, unchanged file (racy-ness aside).
    fn same(&self, other: &Signature) -> bool {
        (
            self.size,
            self.mtime,
            self.ctime,
            self.inode,
            self.device,
            self.mode,
        ) == (
            other.size,
            other.mtime,
            other.ctime,
            other.inode,
            other.device,
            other.mode,
        )
    }
}

#[cfg(unix)]
mod unix {
    use super::*;

    use std::fs::TryLockError;

    /// The journal, the staging area and the temporary files of an interrupted write,
    /// relative to `.manifold/`: any of them sends the caller down the full path, which
    /// recovers.
    const LEFTOVERS: &[&str] = &[
        "journal.json",
        "journal.json.tmp",
        "staging",
        "owned.json.tmp",
    ];

    pub(super) fn fresh(out: &Path, key: &str) -> Result<Fresh, Stale> {
        let stale = |reason: &str| Stale(reason.to_owned());
        let path = out.join(FINGERPRINT_PATH);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(stale("no fingerprint"));
            }
            Err(_) => return Err(stale("unreadable fingerprint")),
        };
        let parsed = parse(&bytes).ok_or_else(|| stale("corrupt fingerprint"))?;
        if parsed.key != key {
            return Err(stale("different inputs or binary"));
        }

        let state = out.join(STATE_DIR);
        let lock = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(state.join("lock"))
            .map_err(|_| stale("no lock file"))?;
        match lock.try_lock_shared() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(stale("locked by a writer")),
            Err(TryLockError::Error(_)) => return Err(stale("cannot lock")),
        }
        for leftover in LEFTOVERS {
            match fs::symlink_metadata(state.join(leftover)) {
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                _ => return Err(stale("an interrupted write to finish")),
            }
        }
        match fs::read(out.join(GITIGNORE_PATH)) {
            Ok(bytes) if bytes == GITIGNORE.as_bytes() => {}
            _ => return Err(stale("the .gitignore to restore")),
        }
        let manifest = out.join(MANIFEST_PATH);
        let manifest_now = fs::symlink_metadata(&manifest)
            .ok()
            .and_then(|meta| Signature::of(&meta).filter(|_| meta.is_file()));
        if !manifest_now.is_some_and(|now| holds(now, &parsed.manifest, || fs::read(&manifest))) {
            return Err(stale("the manifest changed"));
        }
        if let Some(changed) = first_changed(out, &parsed.directories) {
            return Err(Stale(format!("{changed} changed")));
        }
        Ok(Fresh {
            payload: parsed.payload.to_vec(),
            files: parsed.directories.iter().map(|dir| dir.files.len()).sum(),
            _lock: lock,
        })
    }

    /// A directory or file that is no longer as recorded, if any; on two threads when there
    /// are many files.
    fn first_changed(out: &Path, directories: &[Directory<'_>]) -> Option<String> {
        let (found, rest) = in_halves(
            directories,
            |dir| dir.files.len(),
            |part| part.iter().find_map(|dir| changed_in(out, dir)),
        );
        found.or_else(|| rest?.unwrap_or_else(|_| Some("(a thread panicked)".to_owned())))
    }

    /// The directory itself or the first of its files that is not as recorded, if any.
    fn changed_in(out: &Path, dir: &Directory<'_>) -> Option<String> {
        let dir_path = join(out, dir.path);
        let Ok(handle) = open_directory(&dir_path, dir.path.is_empty()) else {
            return Some(format!("directory {:?}", dir.path));
        };
        let same = handle.metadata().is_ok_and(|meta| {
            use std::os::unix::fs::MetadataExt as _;
            meta.is_dir()
                && (meta.ino(), meta.dev(), meta.mode()) == (dir.inode, dir.device, dir.mode)
        });
        if !same {
            return Some(format!("directory {:?}", dir.path));
        }
        let changed = dir.files.iter().find(|file| {
            !lstat_at(&handle, &dir_path, file.name)
                .is_some_and(|now| holds(now, &file.entry, || fs::read(dir_path.join(file.name))))
        })?;
        Some(match dir.path {
            "" => changed.name.to_owned(),
            dir => format!("{dir}/{}", changed.name),
        })
    }

    /// Opens a directory, following a link in its last component only if `follow`.
    pub(super) fn open_directory(path: &Path, follow: bool) -> io::Result<File> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let no_follow = if follow { 0 } else { libc::O_NOFOLLOW };
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | no_follow)
            .open(path)
    }

    /// The signature of the file `name` in the open directory `dir` (at `dir_path`), without
    /// following a link; `None` unless it is a regular file.
    // `stat`'s field types vary between Linux targets; the conversions are no-ops on some.
    #[cfg(target_os = "linux")]
    #[allow(clippy::useless_conversion)]
    pub(super) fn lstat_at(dir: &File, _dir_path: &Path, name: &str) -> Option<Signature> {
        use std::os::fd::AsRawFd as _;
        let name = std::ffi::CString::new(name).ok()?;
        // SAFETY: `stat` is plain data that fstatat fills; the descriptor and the
        // NUL-terminated name outlive the call.
        let stat = unsafe {
            let mut stat: libc::stat = std::mem::zeroed();
            if libc::fstatat(
                dir.as_raw_fd(),
                name.as_ptr(),
                &mut stat,
                libc::AT_SYMLINK_NOFOLLOW,
            ) != 0
            {
                return None;
            }
            stat
        };
        if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
            return None;
        }
        Some(Signature {
            size: u64::try_from(stat.st_size).ok()?,
            mtime: nanos(stat.st_mtime.into(), stat.st_mtime_nsec.into()),
            ctime: nanos(stat.st_ctime.into(), stat.st_ctime_nsec.into()),
            inode: stat.st_ino.into(),
            device: stat.st_dev.into(),
            mode: stat.st_mode.into(),
            racy: false,
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn lstat_at(_: &File, dir_path: &Path, name: &str) -> Option<Signature> {
        let meta = fs::symlink_metadata(dir_path.join(name)).ok()?;
        Signature::of(&meta).filter(|_| meta.is_file())
    }

    /// Whether a file whose signature is now `now` is still the one recorded in `entry`: the
    /// same signature, and for a racy entry the same bytes (read with `read`).
    fn holds(
        now: Signature,
        entry: &Entry<'_>,
        read: impl FnOnce() -> io::Result<Vec<u8>>,
    ) -> bool {
        if !now.same(&entry.signature) {
            return false;
        }
        match entry.racy_hash {
            None => true,
            Some(hash) => read().is_ok_and(|bytes| sha256_hex(&bytes) == hash),
        }
    }

    /// A parsed fingerprint, borrowing from its bytes.
    struct Parsed<'a> {
        key: &'a str,
        payload: &'a [u8],
        manifest: Entry<'a>,
        directories: Vec<Directory<'a>>,
    }

    /// A recorded signature, with the sha-256 to compare when it was racy.
    struct Entry<'a> {
        signature: Signature,
        racy_hash: Option<&'a str>,
    }

    /// A directory of the tree (`""` is `out`) and the files directly in it.
    struct Directory<'a> {
        inode: u64,
        device: u64,
        mode: u32,
        path: &'a str,
        files: Vec<FileEntry<'a>>,
    }

    /// A file, by its name in its directory.
    struct FileEntry<'a> {
        entry: Entry<'a>,
        name: &'a str,
    }

    /// Reads a fingerprint; `None` for anything but a complete, valid one.
    fn parse(bytes: &[u8]) -> Option<Parsed<'_>> {
        let body_end = bytes[..bytes.len().checked_sub(1)?]
            .iter()
            .rposition(|&b| b == b'\n')?
            + 1;
        let (body, last) = bytes.split_at(body_end);
        let checksum = std::str::from_utf8(last).ok()?.strip_prefix("sha256 ")?;
        if checksum.strip_suffix('\n')? != sha256_hex(body) {
            return None;
        }
        let rest = body.strip_prefix(HEADER.as_bytes())?.strip_prefix(b"\n")?;
        let (line, rest) = split_line(rest)?;
        let key = std::str::from_utf8(line).ok()?.strip_prefix("key ")?;
        let (line, rest) = split_line(rest)?;
        let length: usize = std::str::from_utf8(line)
            .ok()?
            .strip_prefix("payload ")?
            .parse()
            .ok()?;
        let payload = rest.get(..length)?;
        let rest = rest.get(length..)?.strip_prefix(b"\n")?;
        let text = std::str::from_utf8(rest).ok()?;
        let mut lines = text.lines();
        let manifest = entry(lines.next()?.strip_prefix("manifest ")?)?.0;
        let mut directories: Vec<Directory<'_>> = Vec::new();
        for line in lines {
            if let Some(dir) = line.strip_prefix("dir ") {
                let mut fields = dir.splitn(4, ' ');
                directories.push(Directory {
                    inode: fields.next()?.parse().ok()?,
                    device: fields.next()?.parse().ok()?,
                    mode: fields.next()?.parse().ok()?,
                    path: fields.next()?,
                    files: Vec::new(),
                });
            } else {
                let (entry, name) = entry(line.strip_prefix("file ")?)?;
                let name = name.filter(|name| !name.is_empty() && !name.contains('/'))?;
                directories
                    .last_mut()?
                    .files
                    .push(FileEntry { entry, name });
            }
        }
        Some(Parsed {
            key,
            payload,
            manifest,
            directories,
        })
    }

    /// `size mtime ctime inode device mode hash-or-dash[ name]`.
    fn entry(text: &str) -> Option<(Entry<'_>, Option<&str>)> {
        let mut fields = text.splitn(8, ' ');
        let signature = Signature {
            size: fields.next()?.parse().ok()?,
            mtime: fields.next()?.parse().ok()?,
            ctime: fields.next()?.parse().ok()?,
            inode: fields.next()?.parse().ok()?,
            device: fields.next()?.parse().ok()?,
            mode: fields.next()?.parse().ok()?,
            racy: false,
        };
        let racy_hash = match fields.next()? {
            "-" => None,
            hash if hash.len() == 64 => Some(hash),
            _ => return None,
        };
        Some((
            Entry {
                signature,
                racy_hash,
            },
            fields.next(),
        ))
    }

    fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
        let end = bytes.iter().position(|&b| b == b'\n')?;
        Some((&bytes[..end], &bytes[end + 1..]))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// The signature a check takes (fstatat) equals the one a write records (std's lstat).
        #[test]
        fn both_ways_of_looking_at_a_file_agree() {
            let dir = std::env::temp_dir().join(format!("manifold-fp-{}", std::process::id()));
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("a file"), b"bytes").unwrap();
            let recorded = Signature::of(&fs::symlink_metadata(dir.join("a file")).unwrap());
            let handle = open_directory(&dir, false).unwrap();
            let checked = lstat_at(&handle, &dir, "a file");
            fs::remove_dir_all(&dir).unwrap();
            assert_eq!(recorded, checked);
            assert!(recorded.is_some());
        }

        /// A racy entry is trusted only if the bytes still hash to what was recorded.
        #[test]
        fn racy_entries_are_compared_by_content() {
            let dir = std::env::temp_dir().join(format!("manifold-racy-{}", std::process::id()));
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("f"), b"written").unwrap();
            let handle = open_directory(&dir, false).unwrap();
            let now = lstat_at(&handle, &dir, "f").unwrap();
            let read = || fs::read(dir.join("f"));
            let good = sha256_hex(b"written");
            let bad = sha256_hex(b"edited!");
            let entry = |racy_hash| Entry {
                signature: now,
                racy_hash,
            };
            assert!(holds(now, &entry(None), read));
            assert!(holds(now, &entry(Some(&good)), read));
            assert!(!holds(now, &entry(Some(&bad)), read));
            let mut other = now;
            other.size += 1;
            assert!(!holds(other, &entry(None), read));
            fs::remove_dir_all(&dir).unwrap();
        }

        /// A file changed at or after the stamp is racy.
        #[test]
        fn changes_in_the_stamps_tick_are_racy() {
            let out = std::env::temp_dir().join(format!("manifold-stamp-{}", std::process::id()));
            fs::create_dir_all(out.join(STATE_DIR)).unwrap();
            let stamp = stamp(&out).unwrap();
            let signature = |mtime, ctime| Signature {
                size: 1,
                mtime,
                ctime,
                inode: 1,
                device: 1,
                mode: 0o100644,
                racy: false,
            };
            assert!(
                !signature(stamp.nanos - 1, stamp.nanos - 1)
                    .judged(&stamp)
                    .racy
            );
            assert!(signature(stamp.nanos, stamp.nanos - 1).judged(&stamp).racy);
            assert!(
                signature(stamp.nanos - 1, stamp.nanos + 5)
                    .judged(&stamp)
                    .racy
            );
            fs::remove_dir_all(&out).unwrap();
        }
    }
}
