//! The catalogue of bad specs: every `tests/bad/*.kdl` file is a small spec with one or more
//! mistakes, and its leading comments say exactly which diagnostics manifold must report:
//!
//! ```text
//! // expect: manifold::spec::unknown-service at 21:11
//! // expect-warning: manifold::spec::stateful-without-storage at 9:10
//! ```
//!
//! Lines and columns are 1-based and columns count characters; each position is the first
//! character of the offending token. The set of `(code, line, column)` of the error
//! diagnostics must equal the `expect` lines exactly. Warnings are only compared when the file
//! lists at least one `expect-warning` line; then they must match exactly too.
//!
//! Every mismatch of every file is collected and reported at once, so one run shows the whole
//! state of the catalogue.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;

use manifold::diagnostic::{self, Severity};
use manifold::pipeline::{self, Stop};

/// The catalogue must keep at least this many files.
const MIN_CASES: usize = 60;

/// The code of the diagnostic for a spec without nodes.
const EMPTY_SPEC: &str = "manifold::syntax::empty-spec";

/// One reported or expected diagnostic: code and 1-based position.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Found {
    code: String,
    line: usize,
    column: usize,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}:{}", self.code, self.line, self.column)
    }
}

/// What a catalogue file's header promises.
#[derive(Debug, Default)]
struct Expectations {
    errors: BTreeSet<Found>,
    /// `None` when the file lists no warning: warnings are then not compared.
    warnings: Option<BTreeSet<Found>>,
}

/// One case: a name (the path, or a description for built-in cases), its text and header.
struct Case {
    name: String,
    text: String,
    expected: Result<Expectations, String>,
}

fn catalogue_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("bad")
}

/// The catalogue files, sorted by name.
fn catalogue_files() -> Vec<PathBuf> {
    let dir = catalogue_dir();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| {
            entry
                .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
                .path()
        })
        .filter(|path| path.extension().is_some_and(|ext| ext == "kdl"))
        .collect();
    files.sort();
    files
}

/// The name a file is compiled under (and shown in the report): `tests/bad/<file>`.
fn case_name(path: &Path) -> String {
    let file = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    format!("tests/bad/{file}")
}

/// Parses `CODE at LINE:COLUMN`.
fn parse_found(text: &str) -> Result<Found, String> {
    let (code, position) = text
        .trim()
        .rsplit_once(" at ")
        .ok_or_else(|| format!("`{text}` is not `CODE at LINE:COLUMN`"))?;
    let (line, column) = position
        .split_once(':')
        .ok_or_else(|| format!("`{position}` is not `LINE:COLUMN`"))?;
    let number = |part: &str| {
        part.trim()
            .parse::<usize>()
            .ok()
            .filter(|value| *value > 0)
            .ok_or_else(|| format!("`{part}` in `{text}` is not a 1-based number"))
    };
    let code = code.trim();
    if !code.starts_with("manifold::") || code.contains(char::is_whitespace) {
        return Err(format!("`{code}` is not a manifold diagnostic code"));
    }
    Ok(Found {
        code: code.to_owned(),
        line: number(line)?,
        column: number(column)?,
    })
}

/// Reads the `expect` lines of the leading comment block. An `expect` line anywhere else, or a
/// malformed one, is an error, so a typo cannot silently drop an expectation.
fn parse_header(text: &str) -> Result<Expectations, String> {
    let mut expectations = Expectations::default();
    let mut in_header = true;
    for (idx, raw_line) in text.lines().enumerate() {
        let line = raw_line.trim();
        let comment = line.strip_prefix("//").map(str::trim);
        in_header = in_header && comment.is_some();
        let Some(comment) = comment.filter(|comment| comment.starts_with("expect")) else {
            continue;
        };
        if !in_header {
            return Err(format!(
                "line {}: `expect` lines belong in the leading comment block",
                idx + 1
            ));
        }
        if let Some(rest) = comment.strip_prefix("expect-warning:") {
            expectations
                .warnings
                .get_or_insert_with(BTreeSet::new)
                .insert(parse_found(rest).map_err(|error| format!("line {}: {error}", idx + 1))?);
        } else if let Some(rest) = comment.strip_prefix("expect:") {
            expectations
                .errors
                .insert(parse_found(rest).map_err(|error| format!("line {}: {error}", idx + 1))?);
        } else {
            return Err(format!(
                "line {}: `{comment}` is neither `expect:` nor `expect-warning:`",
                idx + 1
            ));
        }
    }
    if expectations.errors.is_empty() {
        return Err("the header lists no `// expect: CODE at LINE:COLUMN` line".to_owned());
    }
    Ok(expectations)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Compiles one case and returns every way it differs from its expectations.
fn check_case(name: &str, text: &str, expected: &Expectations) -> Vec<String> {
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        pipeline::compile(name, text, Stop::AfterEmit)
    }));
    let compilation = match result {
        Ok(compilation) => compilation,
        Err(payload) => return vec![format!("manifold panicked: {}", panic_message(&*payload))],
    };
    let mut problems = Vec::new();
    if !compilation.has_errors() {
        problems.push("the compilation reported no error".to_owned());
    }
    if compilation.tree.is_some() {
        problems.push("an output tree was produced (it would have been written)".to_owned());
    }
    let mut errors = BTreeSet::new();
    let mut warnings = BTreeSet::new();
    let mut messages: BTreeMap<Found, Vec<String>> = BTreeMap::new();
    for found in &compilation.diagnostics {
        let json = diagnostic::to_json(found, &compilation.sources);
        let key = Found {
            code: json.code.to_owned(),
            line: json.line,
            column: json.column,
        };
        if json.file != name {
            problems.push(format!("`{key}` points into another file: {}", json.file));
        }
        if found.label.trim().is_empty() {
            problems.push(format!("`{key}` has an empty label"));
        }
        if found.help.trim().is_empty() {
            problems.push(format!("`{key}` has an empty help"));
        }
        messages
            .entry(key.clone())
            .or_default()
            .push(json.message.clone());
        match found.severity {
            Severity::Error => errors.insert(key),
            Severity::Warning => warnings.insert(key),
        };
    }
    compare("error", &expected.errors, &errors, &messages, &mut problems);
    if let Some(expected_warnings) = &expected.warnings {
        compare(
            "warning",
            expected_warnings,
            &warnings,
            &messages,
            &mut problems,
        );
    }
    problems
}

fn compare(
    what: &str,
    expected: &BTreeSet<Found>,
    actual: &BTreeSet<Found>,
    messages: &BTreeMap<Found, Vec<String>>,
    problems: &mut Vec<String>,
) {
    if expected == actual {
        return;
    }
    let mut text = format!("{what}s differ");
    let _ = write!(text, "\n      expected:");
    if expected.is_empty() {
        let _ = write!(text, " (none)");
    }
    for found in expected {
        let mark = if actual.contains(found) { "  " } else { "- " };
        let _ = write!(text, "\n        {mark}{found}");
    }
    let _ = write!(text, "\n      actual:");
    if actual.is_empty() {
        let _ = write!(text, " (none)");
    }
    for found in actual {
        let mark = if expected.contains(found) { "  " } else { "+ " };
        let message = messages
            .get(found)
            .map(|messages| messages.join(" / "))
            .unwrap_or_default();
        let _ = write!(text, "\n        {mark}{found}  ({message})");
    }
    problems.push(text);
}

/// Every catalogue file, plus the two empty texts a file header cannot express.
fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = catalogue_files()
        .into_iter()
        .map(|path| {
            let name = case_name(&path);
            match std::fs::read_to_string(&path) {
                Ok(text) => Case {
                    expected: parse_header(&text),
                    name,
                    text,
                },
                Err(error) => Case {
                    name,
                    text: String::new(),
                    expected: Err(format!("cannot read the file as UTF-8 text: {error}")),
                },
            }
        })
        .collect();
    for (name, text) in [
        ("<empty text>", ""),
        ("<whitespace-only text>", " \n\t\n  \n"),
    ] {
        let mut errors = BTreeSet::new();
        errors.insert(Found {
            code: EMPTY_SPEC.to_owned(),
            line: 1,
            column: 1,
        });
        cases.push(Case {
            name: name.to_owned(),
            text: text.to_owned(),
            expected: Ok(Expectations {
                errors,
                warnings: None,
            }),
        });
    }
    cases
}

#[test]
fn every_bad_spec_reports_exactly_its_expected_diagnostics() {
    let cases = cases();
    let n_files = catalogue_files().len();
    let mut report = String::new();
    let mut n_failed = 0;
    if n_files < MIN_CASES {
        let _ = writeln!(
            report,
            "the catalogue has {n_files} files in tests/bad/; it must keep at least {MIN_CASES}\n"
        );
    }
    for case in &cases {
        let problems = match &case.expected {
            Ok(expected) => check_case(&case.name, &case.text, expected),
            Err(error) => vec![format!("bad header: {error}")],
        };
        if problems.is_empty() {
            continue;
        }
        n_failed += 1;
        let _ = writeln!(report, "{}", case.name);
        for problem in problems {
            let _ = writeln!(report, "    {problem}");
        }
        let _ = writeln!(report);
    }
    assert!(
        report.is_empty(),
        "bad-spec catalogue: {n_failed} of {} cases failed (`-` expected but not reported, `+` reported but not expected)\n\n{report}",
        cases.len()
    );
}

/// Catalogue files, by the name after their number, that the binary is run on.
const CLI_CASES: &[&str] = &[
    "syntax-unquoted-quantity",
    "duplicate-service",
    "port-out-of-range",
    "calls-unknown-service",
    "many-semantic-errors",
    "stateful-warning-with-error",
];

#[test]
fn compile_exits_1_and_writes_nothing_for_bad_specs() {
    let binary = env!("CARGO_BIN_EXE_manifold");
    let files = catalogue_files();
    let mut report = String::new();
    for wanted in CLI_CASES {
        let suffix = format!("-{wanted}.kdl");
        let Some(path) = files.iter().find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().ends_with(&suffix))
        }) else {
            let _ = writeln!(
                report,
                "{wanted}: no tests/bad/NN{suffix} in the catalogue\n"
            );
            continue;
        };
        let name = case_name(path);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let out = dir.path().join("out");
        let output = Command::new(binary)
            .arg("compile")
            .arg(path)
            .arg("--out")
            .arg(&out)
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|error| panic!("cannot run {binary}: {error}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        let mut problems = Vec::new();
        if output.status.code() != Some(1) {
            problems.push(format!("exit status {}, expected 1", output.status));
        }
        if out.exists() {
            problems.push(format!("{} was created", out.display()));
        }
        if !stderr.contains("nothing was written") {
            problems.push("stderr does not say that nothing was written".to_owned());
        }
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Ok(expected) = parse_header(&text) {
            for found in &expected.errors {
                if !stderr.contains(found.code.as_str()) {
                    problems.push(format!("stderr does not mention `{}`", found.code));
                }
            }
        }
        if !problems.is_empty() {
            let _ = writeln!(report, "{name}");
            for problem in problems {
                let _ = writeln!(report, "    {problem}");
            }
            let _ = writeln!(report, "    stderr:\n{stderr}\n");
        }
    }
    assert!(
        report.is_empty(),
        "`manifold compile` on bad specs:\n\n{report}"
    );
}
