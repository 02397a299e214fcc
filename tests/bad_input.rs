//! Bad input beyond the catalogue's specs (issue 10): paths that are not readable spec files,
//! very large and very deep inputs, and dependency cycles (which are allowed).
//!
//! Unreadable files: CI runs as root, for whom `chmod 000` blocks nothing, so the honest
//! unreadable paths are ones no user can read: a path through a regular file (`ENOTDIR`) and a
//! Unix socket (`open` fails with `ENXIO`). `chmod 000` is exercised too when the tests do not
//! run as root. (A FIFO is not refused: reading one waits for its writer, which is what
//! `manifold check <(…)` relies on.)

mod generated;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use manifold::diagnostic;
use manifold::pipeline::{self, Stop};

const BIN: &str = env!("CARGO_BIN_EXE_manifold");

fn manifold(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run manifold")
}

/// `check` and `compile` of `spec` both exit 1 with `message` on stderr, and write nothing.
fn assert_refused(spec: &Path, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for output in [
        manifold(&["check".as_ref(), spec.as_os_str()]),
        manifold(&[
            "check".as_ref(),
            spec.as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
        ]),
        manifold(&[
            "compile".as_ref(),
            spec.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ]),
    ] {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.status.code(), Some(1), "{}: {text}", spec.display());
        assert!(
            text.contains(message),
            "{}: expected {message:?} in {text}",
            spec.display()
        );
        assert!(text.contains("manifold::cli::io"), "{text}");
        assert!(!out.exists(), "{} was created", out.display());
    }
}

#[test]
fn issue_10_directory_instead_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    assert_refused(dir.path(), "is a directory; give the spec file itself");
}

#[test]
fn issue_10_unreadable_spec_files() {
    let dir = tempfile::tempdir().unwrap();
    // a path whose parent is a regular file: unreadable for root too
    let file = dir.path().join("platform.kdl");
    std::fs::write(&file, "platform a\n").unwrap();
    assert_refused(&file.join("platform.kdl"), "cannot read spec");
    // a missing file
    assert_refused(&dir.path().join("missing.kdl"), "cannot read spec");
    // a Unix socket: open(2) fails with ENXIO, for root too
    #[cfg(unix)]
    {
        let socket = dir.path().join("spec.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        assert_refused(&socket, "cannot read spec");
    }
    // not UTF-8
    let binary = dir.path().join("binary.kdl");
    std::fs::write(&binary, b"platform \xff\xfe {\n}\n").unwrap();
    assert_refused(&binary, "is not UTF-8 text (invalid byte at offset 9)");
    // mode 000, where that means something (not for root)
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.path().join("locked.kdl");
        std::fs::write(&locked, "platform a\n").unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read(&locked).is_err() {
            assert_refused(&locked, "cannot read spec");
        } else {
            eprintln!("running as root: mode 000 does not block reads, covered by the cases above");
        }
    }
}

#[test]
fn issue_10_empty_and_blank_files_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("empty.kdl", ""),
        ("blank.kdl", "\n \t\n"),
        ("comments.kdl", "// x\n/* y */\n"),
    ] {
        let spec = dir.path().join(name);
        std::fs::write(&spec, text).unwrap();
        let output = manifold(&["check".as_ref(), spec.as_os_str()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains("manifold::syntax::empty-spec"),
            "{name}: {stderr}"
        );
    }
}

/// Runs `f` on a thread with a 2 MiB stack (the default for spawned threads, smaller than
/// the main thread's 8 MiB), within `limit`.
fn bounded<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let started = Instant::now();
    let value = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .expect("no panic, no stack overflow");
    assert!(
        started.elapsed() < limit,
        "took {:?} (limit {limit:?})",
        started.elapsed()
    );
    value
}

#[test]
fn issue_10_deep_nesting_is_an_error_not_a_stack_overflow() {
    for (open, close) in [
        ("a { ", "} "),
        ("/* ", "*/ "),
        ("/- a { ", "} "),
        ("(t)a { ", "} "),
    ] {
        let text = format!(
            "platform p\n{}{}\n",
            open.repeat(10_000),
            close.repeat(10_000)
        );
        let codes = bounded(Duration::from_secs(30), move || {
            let compilation = pipeline::compile("deep.kdl", &text, Stop::AfterEmit);
            assert!(compilation.tree.is_none());
            compilation
                .diagnostics
                .iter()
                .map(|d| d.code)
                .collect::<Vec<_>>()
        });
        assert_eq!(codes, [manifold::syntax::TOO_DEEP], "{open}");
    }
    // through the binary as well (the main thread; the process must not abort)
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("deep.kdl");
    std::fs::write(
        &spec,
        format!(
            "platform p {}{}\n",
            "{ a ".repeat(10_000),
            "}".repeat(10_000)
        ),
    )
    .unwrap();
    let output = manifold(&["check".as_ref(), spec.as_os_str()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("manifold::syntax::too-deep"), "{stderr}");
}

#[test]
fn issue_10_very_large_files() {
    // a valid spec of 1,500 services (about 400 KB): compiles completely
    let text = generated::spec(1_500, 1);
    assert!(text.len() > 350_000, "{}", text.len());
    let files = bounded(Duration::from_secs(240), move || {
        let compilation = pipeline::compile("large.kdl", &text, Stop::AfterEmit);
        assert!(
            !compilation.has_errors(),
            "{:?}",
            compilation.diagnostics.first()
        );
        compilation.tree.expect("a tree").len()
    });
    assert!(files > 10_000, "{files}");

    // 5 MB that are not a spec: a huge string, a huge comment, and many broken nodes; each is
    // reported (not hung on, not crashed on) in reasonable time
    let huge = "x".repeat(5 << 20);
    let cases = [
        format!("platform \"{huge}\"\n"),
        format!("/* {huge} */\nplatform p\n"),
        "service a { replicas 8Gi\n".repeat(200_000),
        "platform p\n".repeat(400_000),
    ];
    for (index, text) in cases.into_iter().enumerate() {
        let errors = bounded(Duration::from_secs(120), move || {
            let compilation = pipeline::compile("huge.kdl", &text, Stop::AfterEmit);
            assert!(compilation.tree.is_none());
            let sources = &compilation.sources;
            // every diagnostic still renders (JSON form: line and column lookups)
            for found in &compilation.diagnostics {
                let _ = diagnostic::to_json(found, sources);
            }
            compilation
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .count()
        });
        assert!(errors > 0, "case {index} reported no error");
    }
}

/// `calls` cycles are traffic patterns (a request from A to B, and a callback from B to A),
/// not dependency cycles: manifold orders nothing by them, so they are allowed. Each
/// direction opens its own NetworkPolicy rule; a service may call itself.
#[test]
fn issue_10_calls_cycles_are_allowed() {
    let text = r#"
platform shop {
    registry "ghcr.io/example"
}

cloud aws {
    region eu-west-1
    cluster shop-eks {
        kubernetes "1.31"
        node-pool general instance-type=t3.large min=2 max=6 desired=3
    }
}

environment dev profile=development {
    namespace shop-dev
    deploy-to aws
}

service a {
    image a tag="1.0.0"
    port http 8080
    calls b
    replicas 1
}

service b {
    image b tag="1.0.0"
    port http 8080
    calls c a
    replicas 1
}

service c {
    image c tag="1.0.0"
    port http 8080
    calls a c
    replicas 1
}
"#;
    let compilation = pipeline::compile("cycle.kdl", text, Stop::AfterEmit);
    let errors: Vec<_> = compilation
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| (d.code, d.message.clone()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let tree = compilation.tree.expect("a tree");
    let policies: String = tree
        .files()
        .iter()
        .filter(|(path, _)| path.contains("networkpolicy"))
        .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned())
        .collect();
    assert!(!policies.is_empty(), "no NetworkPolicy was emitted");
}
