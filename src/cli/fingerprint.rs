//! The no-op fast path of `manifold compile` (without `--check`): the key of a compile's
//! inputs, the payload a write records with its fingerprint, and the replay of a fresh one.
//!
//! Consumes: the spec's path and text, the `--templates` overrides, `--deny` and `--format`
//! (for the key); a finished [`Compilation`] (for the payload). Produces: a
//! [`manifold::output::Record`] for [`manifold::output::write_recorded`], or, when
//! [`manifold::output::fresh`] says the output directory is exactly what the same inputs
//! produced last time, the same diagnostics and summary a full no-op compile prints.
//!
//! The key is a sha-256 over a format version, manifold's version, the running binary's
//! identity ([`binary_identity`]: it holds the emitters, the templates and the built-in
//! profiles), the spec's path as given
//! (it is shown in diagnostics) and bytes, the templates directory as given and every override
//! in it (relative name, path shown, text), `--deny` and `--format`.
//!
//! Invariant: the fingerprint is an optimisation only. Whatever cannot be replayed exactly
//! (diagnostics in a file other than the spec and the built-in profiles, an unreadable binary)
//! is not recorded, and anything unexpected while replaying means the full compile runs.
//! `MANIFOLD_TRACE_FINGERPRINT=1` prints one line on stderr saying which way it went.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use manifold::diagnostic::{self, Diagnostic, Severity};
use manifold::emit::TemplateOverride;
use manifold::output::{self, Record, WriteReport};
use manifold::pipeline::Compilation;
use manifold::source::{FileId, Sources, Span};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Deny, Format};

/// What a compile's output and diagnostics depend on, besides the binary.
pub(super) struct Inputs<'a> {
    /// The spec's path as given.
    pub spec: &'a Path,
    /// The spec's text.
    pub text: &'a str,
    /// The `--templates` directory as given.
    pub templates_dir: Option<&'a Path>,
    /// Its overrides, as read.
    pub templates: &'a BTreeMap<String, TemplateOverride>,
    /// `--deny`.
    pub deny: &'a [Deny],
    /// `--format`.
    pub format: Format,
}

/// The key of a compile's inputs (64 lowercase hex digits), or `None` when the running
/// binary cannot be identified (then nothing is recorded or replayed).
pub(super) fn key(inputs: &Inputs<'_>) -> Option<String> {
    let binary = binary_identity()?;
    let mut hash = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    field(KEY_FORMAT.as_bytes());
    field(env!("CARGO_PKG_VERSION").as_bytes());
    field(&binary);
    field(inputs.spec.as_os_str().as_encoded_bytes());
    field(inputs.text.as_bytes());
    match inputs.templates_dir {
        Some(dir) => field(dir.as_os_str().as_encoded_bytes()),
        None => field(b"(no templates)"),
    }
    field(&(inputs.templates.len() as u64).to_le_bytes());
    for (name, found) in inputs.templates {
        field(name.as_bytes());
        field(found.path.as_bytes());
        field(found.text.as_bytes());
    }
    field(format!("{:?}", inputs.deny).as_bytes());
    field(format!("{:?}", inputs.format).as_bytes());
    Some(hex(&hash.finalize()))
}

/// What a write of `compilation` records with its fingerprint, or `None` when its
/// diagnostics could not be replayed exactly.
pub(super) fn record(
    key: String,
    compilation: &Compilation,
    spec_name: &str,
    text: &str,
    format: Format,
) -> Option<Record> {
    if !same_sources(&compilation.sources, &replay_sources(spec_name, text)) {
        trace("not recorded: diagnostics in files a replay cannot rebuild");
        return None;
    }
    let diagnostics = compilation
        .diagnostics
        .iter()
        .map(|found| Stored {
            code: found.code.to_owned(),
            error: match found.severity {
                Severity::Error => true,
                Severity::Warning => false,
            },
            message: found.message.clone(),
            label: found.label.clone(),
            help: found.help.clone(),
            file: found.span.file.0,
            start: found.span.start,
            len: found.span.len,
            related: found
                .related
                .iter()
                .map(|label| (label.span.start, label.span.len, label.text.clone()))
                .collect(),
        })
        .collect();
    // The QoS classes `--format json` prints with the diagnostics (text does not need them).
    let qos = match (format, compilation.platform.as_ref()) {
        (Format::Json, Some(platform)) => Some(
            serde_json::to_value(manifold::check::platform::scaling::qos(platform))
                .unwrap_or_default(),
        ),
        _ => None,
    };
    let payload = serde_json::to_vec(&Payload { diagnostics, qos }).ok()?;
    Some(Record { key, payload })
}

/// When the fingerprint of `out` is fresh for `key`: prints what a full no-op compile would
/// (the recorded diagnostics, then the summary) and returns its exit code. `None` means
/// "compile in full".
pub(super) fn replay(
    out: &Path,
    key: &str,
    spec_name: &str,
    text: &str,
    format: Format,
) -> Option<ExitCode> {
    let fresh = match output::fresh(out, key) {
        Ok(fresh) => fresh,
        Err(stale) => {
            trace(&format!("stale ({}), compiling", stale.0));
            return None;
        }
    };
    let Some(payload) = serde_json::from_slice::<Payload>(&fresh.payload).ok() else {
        trace("stale (unreadable payload), compiling");
        return None;
    };
    let sources = replay_sources(spec_name, text);
    let Some(diagnostics) = rebuild(&payload.diagnostics, &sources) else {
        trace("stale (diagnostics out of range), compiling");
        return None;
    };
    if diagnostic::has_errors(&diagnostics) {
        // A compile with errors writes nothing, so it never records; be safe anyway.
        trace("stale (recorded errors), compiling");
        return None;
    }
    trace("fresh, replaying");
    let compilation = Compilation {
        sources,
        file: FileId(0),
        diagnostics,
        platform: None,
        tree: None,
    };
    match format {
        Format::Text => super::print_diagnostics(&compilation, format),
        Format::Json => print_json(&compilation, payload.qos),
    }
    let report = WriteReport {
        written: Vec::new(),
        unchanged: fresh.files,
        removed: Vec::new(),
    };
    drop(fresh);
    Some(super::print_written(&report, out, format))
}

/// Prints one line on stderr when `MANIFOLD_TRACE_FINGERPRINT` is set (tests use it to tell
/// the fast path from the full one).
pub(super) fn trace(message: &str) {
    if std::env::var_os("MANIFOLD_TRACE_FINGERPRINT").is_some_and(|value| !value.is_empty()) {
        let _ = writeln!(std::io::stderr(), "manifold: fingerprint: {message}");
    }
}

/// Bumped whenever the key or the payload changes meaning.
const KEY_FORMAT: &str = "manifold compile fingerprint 1";

/// The recorded diagnostics and, for `--format json`, the QoS document.
#[derive(Serialize, Deserialize)]
struct Payload {
    diagnostics: Vec<Stored>,
    qos: Option<serde_json::Value>,
}

/// One diagnostic as recorded: its file is an index into [`replay_sources`].
#[derive(Serialize, Deserialize)]
struct Stored {
    code: String,
    error: bool,
    message: String,
    label: String,
    help: String,
    file: u32,
    start: usize,
    len: usize,
    related: Vec<(usize, usize, String)>,
}

/// The sources a successful compile has: the spec, then the built-in profiles and defaults,
/// as `manifold::profiles::load` adds them.
fn replay_sources(spec_name: &str, text: &str) -> Sources {
    let mut sources = Sources::new();
    sources.add(spec_name, text);
    for (name, profile) in manifold::profiles::BUILTIN
        .iter()
        .chain([&manifold::profiles::DEFAULTS])
    {
        sources.add(format!("<builtin>/overlays/{name}.kdl"), *profile);
    }
    sources
}

/// Whether two source sets hold the same files (names and texts) in the same order.
fn same_sources(found: &Sources, rebuilt: &Sources) -> bool {
    found.iter().count() == rebuilt.iter().count()
        && found
            .iter()
            .zip(rebuilt.iter())
            .all(|((_, a), (_, b))| a.name == b.name && a.text == b.text)
}

/// The recorded diagnostics bound to `sources`; `None` if a span does not fit its file.
fn rebuild(stored: &[Stored], sources: &Sources) -> Option<Vec<Diagnostic>> {
    let n_files = sources.iter().count();
    let mut codes: HashMap<&str, &'static str> = HashMap::new();
    let mut diagnostics = Vec::with_capacity(stored.len());
    for found in stored {
        let file = FileId(found.file);
        if found.file as usize >= n_files {
            return None;
        }
        let text = &sources.get(file).text;
        let fits = |start: usize, len: usize| {
            start.checked_add(len).is_some_and(|end| end <= text.len())
                && text.is_char_boundary(start)
                && text.is_char_boundary(start + len)
        };
        if !fits(found.start, found.len)
            || !found
                .related
                .iter()
                .all(|(start, len, _)| fits(*start, *len))
        {
            return None;
        }
        let code = *codes
            .entry(found.code.as_str())
            .or_insert_with(|| intern(&found.code));
        let span = Span::new(file, found.start, found.len);
        let mut rebuilt = if found.error {
            Diagnostic::error(code, span, found.message.clone())
        } else {
            Diagnostic::warning(code, span, found.message.clone())
        }
        .with_label(found.label.clone())
        .with_help(found.help.clone());
        for (start, len, label) in &found.related {
            rebuilt = rebuilt.with_related(Span::new(file, *start, *len), label.clone());
        }
        diagnostics.push(rebuilt);
    }
    Some(diagnostics)
}

/// A `&'static str` for a recorded diagnostic code. `Diagnostic::code` is `&'static str` and
/// no table of every code exists, so each distinct code of a replay is leaked once: a few
/// bytes in a process that prints and exits.
fn intern(code: &str) -> &'static str {
    Box::leak(code.to_owned().into_boxed_str())
}

/// `--format json`'s diagnostics document, exactly as `print_diagnostics` prints it for a
/// compilation whose model yields `qos` (`tests/noop.rs` compares the bytes).
fn print_json(compilation: &Compilation, qos: Option<serde_json::Value>) {
    let n_errors = compilation
        .diagnostics
        .iter()
        .filter(|found| found.is_error())
        .count();
    let mut document = serde_json::json!({
        "ok": n_errors == 0,
        "errors": n_errors,
        "warnings": compilation.diagnostics.len() - n_errors,
        "diagnostics": compilation
            .diagnostics
            .iter()
            .map(|found| diagnostic::to_json(found, &compilation.sources))
            .collect::<Vec<_>>(),
    });
    if let (Some(qos), Some(fields)) = (qos, document.as_object_mut()) {
        fields.insert("qos".into(), qos);
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&document).unwrap_or_default()
    );
}

/// The identity of the running binary (it holds the emitters, the templates and the
/// built-in profiles): its device, inode, size, and modification and change times in
/// nanoseconds. Any write to the file changes its change time, which no program can set
/// (short of moving the system clock back), and a rebuilt or reinstalled binary is written
/// anew, so the identity changes whenever the program does. Hashing the bytes instead would
/// cost 15–35 ms per compile for the 17 MB release binary (0.45 s for a debug build), a
/// fifth of the no-op budget, for no case this misses. On Linux `/proc/self/exe` is the file
/// being run even if its path was replaced since.
fn binary_identity() -> Option<Vec<u8>> {
    #[cfg(target_os = "linux")]
    let meta = std::fs::metadata("/proc/self/exe").ok()?;
    #[cfg(not(target_os = "linux"))]
    let meta = std::fs::metadata(std::env::current_exe().ok()?).ok()?;
    identity_of(&meta)
}

#[cfg(unix)]
fn identity_of(meta: &std::fs::Metadata) -> Option<Vec<u8>> {
    use std::os::unix::fs::MetadataExt as _;
    let fields = [
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime() as u64,
        meta.mtime_nsec() as u64,
        meta.ctime() as u64,
        meta.ctime_nsec() as u64,
    ];
    Some(
        fields
            .iter()
            .flat_map(|field| field.to_le_bytes())
            .collect(),
    )
}

/// Without Unix metadata there is no change time to trust: no fingerprint.
#[cfg(not(unix))]
fn identity_of(_: &std::fs::Metadata) -> Option<Vec<u8>> {
    None
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}
