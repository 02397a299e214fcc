//! The no-op fingerprint of `manifold compile` (issue 9), through the real binary: a second
//! compile of the same inputs into an untouched directory replays the first one's diagnostics
//! and summary byte for byte without compiling, and any change to the inputs, the binary, the
//! output files, the manifest or the fingerprint itself sends it down the full path, which
//! repairs the output.
//!
//! `MANIFOLD_TRACE_FINGERPRINT=1` makes the binary say which path it took (one stderr line,
//! `manifold: fingerprint: ...`); the comparisons strip that line.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

const TRACE: &str = "manifold: fingerprint: ";

/// A spec with warnings (two `metrics-adapter` per ten services), compiled into `out`.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(
            dir.path().join("platform.kdl"),
            manifold::synth::generate(10, 7),
        )
        .expect("write the spec");
        Fixture { dir }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn out(&self, relative: &str) -> PathBuf {
        self.path("out").join(relative)
    }

    /// Runs `binary compile platform.kdl --out out ARGS` with the trace on.
    fn run_with(&self, binary: &Path, args: &[&str]) -> Run {
        let output = Command::new(binary)
            .args(["compile", "platform.kdl", "--out", "out"])
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("MANIFOLD_TRACE_FINGERPRINT", "1")
            .output()
            .expect("the manifold binary runs");
        Run::from(output)
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(Path::new(env!("CARGO_BIN_EXE_manifold")), args)
    }

    /// A path of the output (from the manifest) in a subdirectory.
    fn nested_file(&self) -> String {
        let manifest: serde_json::Value = serde_json::from_slice(
            &fs::read(self.out(".manifold/owned.json")).expect("read the manifest"),
        )
        .expect("the manifest is JSON");
        manifest["files"]
            .as_object()
            .expect("files")
            .keys()
            .find(|path| path.matches('/').count() >= 2 && path.ends_with(".yaml"))
            .expect("a nested YAML file")
            .clone()
    }
}

/// One run: exit code, stdout, stderr without the trace line, and the trace.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    trace: Vec<String>,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        let stderr = String::from_utf8(output.stderr).expect("UTF-8 stderr");
        let (trace, rest): (Vec<&str>, Vec<&str>) = stderr
            .split_inclusive('\n')
            .partition(|line| line.starts_with(TRACE));
        Run {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
            stderr: rest.concat(),
            trace: trace
                .iter()
                .map(|line| line.trim_end().trim_start_matches(TRACE).to_owned())
                .collect(),
        }
    }
}

impl Run {
    fn replayed(&self) -> bool {
        self.trace.iter().any(|line| line == "fresh, replaying")
    }

    /// Asserts the full path ran (for `reason`) and recorded a new fingerprint.
    fn assert_compiled(&self, reason: &str) {
        assert!(
            self.trace
                .first()
                .is_some_and(|line| line.starts_with("stale (") && line.contains(reason)),
            "expected a full compile because of {reason:?}: {self:#?}"
        );
        assert!(!self.replayed(), "{self:#?}");
    }

    fn assert_recorded(&self) {
        assert!(
            self.trace.iter().any(|line| line == "recorded"),
            "{self:#?}"
        );
    }
}

fn mtime(path: &Path) -> std::time::SystemTime {
    fs::metadata(path)
        .and_then(|meta| meta.modified())
        .expect("mtime")
}

#[test]
fn issue_9_a_noop_compile_replays_the_full_output_byte_for_byte() {
    for format in [&[][..], &["--format", "json"][..]] {
        let fx = Fixture::new();
        let first = fx.run(format);
        assert_eq!(first.code, Some(0), "{first:#?}");
        first.assert_compiled("no fingerprint");
        first.assert_recorded();
        assert!(
            first.stderr.contains("metrics-adapter") || first.stdout.contains("metrics-adapter"),
            "the fixture must have warnings to replay: {first:#?}"
        );
        let fingerprint = fx.out(".manifold/fingerprint");
        let recorded_at = mtime(&fingerprint);

        let fast = fx.run(format);
        assert!(fast.replayed(), "{fast:#?}");
        assert_eq!(
            mtime(&fingerprint),
            recorded_at,
            "the fast path writes nothing"
        );

        // The same no-op through the full path: without the fingerprint.
        fs::remove_file(&fingerprint).expect("remove the fingerprint");
        let full = fx.run(format);
        full.assert_compiled("no fingerprint");
        assert!(
            full.stderr.contains("0 file(s) changed") || full.stdout.contains("\"written\": []")
        );

        assert_eq!(fast.code, full.code);
        assert_eq!(fast.stdout, full.stdout, "stdout of {format:?}");
        assert_eq!(fast.stderr, full.stderr, "stderr of {format:?}");
    }
}

#[test]
fn issue_9_a_changed_spec_compiles_in_full() {
    let fx = Fixture::new();
    fx.run(&[]).assert_recorded();
    let spec = fx.path("platform.kdl");
    let mut text = fs::read(&spec).expect("read");
    text.push(b'\n');
    fs::write(&spec, text).expect("write");
    let run = fx.run(&[]);
    run.assert_compiled("different inputs");
    run.assert_recorded();
    assert!(fx.run(&[]).replayed());
}

#[test]
fn issue_9_an_edited_deleted_or_touched_output_file_is_repaired() {
    let fx = Fixture::new();
    fx.run(&[]).assert_recorded();
    let nested = fx.nested_file();
    let path = fx.out(&nested);
    let generated = fs::read(&path).expect("read");

    // Edited, same size.
    let mut edited = generated.clone();
    edited[0] = if edited[0] == b'#' { b'%' } else { b'#' };
    fs::write(&path, &edited).expect("edit");
    let run = fx.run(&[]);
    run.assert_compiled(&nested);
    assert!(run.stderr.contains("1 file(s) changed"), "{run:#?}");
    assert_eq!(fs::read(&path).expect("read"), generated);
    assert!(fx.run(&[]).replayed());

    // Deleted.
    fs::remove_file(&path).expect("delete");
    let run = fx.run(&[]);
    run.assert_compiled(&nested);
    assert_eq!(fs::read(&path).expect("read"), generated);
    assert!(fx.run(&[]).replayed());

    // Touched: same bytes, new times (rewriting the file changes its mtime and ctime).
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::write(&path, &generated).expect("touch");
    let run = fx.run(&[]);
    run.assert_compiled(&nested);
    assert!(run.stderr.contains("0 file(s) changed"), "{run:#?}");
    assert!(fx.run(&[]).replayed());

    // A file at the top level.
    fs::write(fx.out("README.md"), "mine\n").expect("edit");
    let run = fx.run(&[]);
    run.assert_compiled("README.md");
    assert_ne!(fs::read(fx.out("README.md")).expect("read"), b"mine\n");
}

#[test]
fn issue_9_a_replaced_directory_or_edited_state_compiles_in_full() {
    let fx = Fixture::new();
    fx.run(&[]).assert_recorded();
    let nested = fx.nested_file();
    let dir = nested.rsplit_once('/').expect("nested").0.to_owned();

    // A directory moved away and a copy put in its place: same bytes, other inodes.
    let original = fx.out(&dir);
    let moved = fx.path("moved");
    fs::rename(&original, &moved).expect("move");
    fs::create_dir(&original).expect("create");
    for entry in fs::read_dir(&moved).expect("list") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            fs::copy(entry.path(), original.join(entry.file_name())).expect("copy");
        }
    }
    let run = fx.run(&[]);
    run.assert_compiled("changed");
    assert!(fx.run(&[]).replayed());

    // The manifest edited (a valid manifest with other bytes): rewritten.
    let manifest = fx.out(".manifold/owned.json");
    let generated = fs::read(&manifest).expect("read");
    let mut edited = generated.clone();
    edited.push(b'\n');
    fs::write(&manifest, &edited).expect("edit");
    fx.run(&[]).assert_compiled("the manifest changed");
    assert_eq!(fs::read(&manifest).expect("read"), generated);
    assert!(fx.run(&[]).replayed());

    // The .gitignore edited: restored.
    let gitignore = fx.out(".manifold/.gitignore");
    fs::write(&gitignore, "*\n").expect("edit");
    fx.run(&[]).assert_compiled(".gitignore");
    assert_eq!(
        fs::read_to_string(&gitignore).expect("read"),
        manifold::output::GITIGNORE
    );
    assert!(fx.run(&[]).replayed());

    // A journal of an interrupted write: the full path rolls it forward.
    fs::write(fx.out(".manifold/journal.json"), "garbage").expect("journal");
    let run = fx.run(&[]);
    run.assert_compiled("interrupted write");
    assert_eq!(
        run.code,
        Some(1),
        "an unreadable journal is an error: {run:#?}"
    );
    fs::remove_file(fx.out(".manifold/journal.json")).expect("remove");
    assert!(fx.run(&[]).replayed());
}

#[test]
fn issue_9_options_templates_and_the_binary_are_part_of_the_key() {
    let fx = Fixture::new();
    fx.run(&[]).assert_recorded();

    // --deny warnings: the full path, which refuses the warnings and writes nothing.
    let denied = fx.run(&["--deny", "warnings"]);
    denied.assert_compiled("different inputs");
    assert_eq!(denied.code, Some(1), "{denied:#?}");
    assert!(
        fx.run(&[]).replayed(),
        "a failed compile leaves the fingerprint"
    );

    // --format json.
    fx.run(&["--format", "json"])
        .assert_compiled("different inputs");

    // A template override: the same text as the built-in one, then a changed one.
    let builtin = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/templates/terraform/aws/versions.tf.j2"
    ))
    .expect("read the built-in template");
    let templates = fx.path("templates/terraform/aws");
    fs::create_dir_all(&templates).expect("mkdir");
    fs::write(templates.join("versions.tf.j2"), &builtin).expect("write");
    let args = ["--templates", "templates"];
    fx.run(&args).assert_compiled("different inputs");
    assert!(fx.run(&args).replayed());
    fs::write(
        templates.join("versions.tf.j2"),
        format!("# overridden\n{builtin}"),
    )
    .expect("write");
    let run = fx.run(&args);
    run.assert_compiled("different inputs");
    assert!(!run.stderr.contains(" 0 file(s) changed"), "{run:#?}");
    assert!(fx.run(&args).replayed());
    // A new .j2 file is part of the set (an unknown template is an error).
    fs::write(templates.join("extra.tf.j2"), "x").expect("write");
    let run = fx.run(&args);
    run.assert_compiled("different inputs");
    assert_eq!(run.code, Some(1), "{run:#?}");
    fs::remove_file(templates.join("extra.tf.j2")).expect("remove");
    assert!(fx.run(&args).replayed());

    // Another binary: the same program with one more byte at the end (an ELF file runs the
    // same with trailing bytes).
    let other = fx.path("manifold-other");
    let mut bytes = fs::read(env!("CARGO_BIN_EXE_manifold")).expect("read the binary");
    bytes.push(0);
    let install = |bytes: &[u8]| {
        fs::write(&other, bytes).expect("write the copy");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&other, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    };
    install(&bytes);
    let run = fx.run_with(&other, &args);
    run.assert_compiled("different inputs or binary");
    assert!(fx.run_with(&other, &args).replayed());
    // Rebuilt in place (the same path and inode, written again): another binary.
    std::thread::sleep(std::time::Duration::from_millis(20));
    bytes.push(0);
    install(&bytes);
    fx.run_with(&other, &args)
        .assert_compiled("different inputs or binary");
    fx.run(&args).assert_compiled("different inputs or binary");
}

#[test]
fn issue_9_a_corrupt_or_forged_fingerprint_compiles_in_full() {
    let fx = Fixture::new();
    fx.run(&[]).assert_recorded();
    let fingerprint = fx.out(".manifold/fingerprint");
    let recorded = fs::read_to_string(&fingerprint).expect("read");

    // Garbage.
    fs::write(&fingerprint, "garbage\n").expect("write");
    let run = fx.run(&[]);
    run.assert_compiled("corrupt fingerprint");
    run.assert_recorded();
    assert_eq!(run.code, Some(0));
    assert!(fx.run(&[]).replayed());

    // Truncated.
    fs::write(&fingerprint, &recorded[..recorded.len() / 2]).expect("write");
    fx.run(&[]).assert_compiled("corrupt fingerprint");

    // Another key with a valid checksum (what another binary or other inputs record).
    let body = recorded
        .rsplit_once("sha256 ")
        .expect("a checksum line")
        .0
        .to_owned();
    let key_at = body.find("\nkey ").expect("a key line") + 5;
    let mut forged = body.clone();
    let flipped = if &forged[key_at..key_at + 1] == "0" {
        "1"
    } else {
        "0"
    };
    forged.replace_range(key_at..key_at + 1, flipped);
    let checksum: String = Sha256::digest(forged.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    fs::write(&fingerprint, format!("{forged}sha256 {checksum}\n")).expect("write");
    // Parsed (the checksum holds), then refused for its key.
    fx.run(&[]).assert_compiled("different inputs or binary");
    assert!(fx.run(&[]).replayed());
}

#[test]
fn issue_9_a_held_write_lock_is_reported_as_before() {
    let fx = Fixture::new();
    fx.run(&[]).assert_recorded();
    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(fx.out(".manifold/lock"))
        .expect("open the lock");
    lock.try_lock().expect("take the write lock");
    let run = fx.run(&[]);
    run.assert_compiled("locked by a writer");
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("another manifold process is writing"),
        "{run:#?}"
    );
    drop(lock);
    assert!(fx.run(&[]).replayed());
}
