//! Command-line interface: argument parsing, reading the spec, printing diagnostics, and
//! calling the output writer.
//!
//! Exit codes: 0 success (warnings allowed), 1 the spec has errors (or warnings, under
//! `--deny warnings`), the output is stale (`--check`), or the environment failed (unreadable
//! spec, unwritable output). `diff` (`cli/diff.rs`) exits like `kubectl diff`: 1 for changes
//! with `--exit-code`, 2 on errors.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use manifold::diagnostic::{self, Diagnostic};
use manifold::pipeline::{self, Compilation, Stop};

mod commit;
mod diff;
mod explain;
mod fingerprint;

/// manifold: compile one KDL platform spec into Kustomize, Terraform and ArgoCD files.
#[derive(Debug, Parser)]
#[command(name = "manifold", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a commented starter platform.kdl into DIR (default: the current directory).
    Init {
        /// Directory to create the spec in.
        dir: Option<PathBuf>,
    },
    /// Parse, validate and check a spec; writes nothing.
    Check {
        /// The spec (default: ./platform.kdl).
        spec: Option<PathBuf>,
        /// Output format for diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Treat warnings as errors: `--deny warnings` exits 1 on any warning (and `compile`
        /// writes nothing), for CI.
        #[arg(long, value_enum, value_name = "KIND")]
        deny: Vec<Deny>,
    },
    /// Compile a spec into an output tree.
    Compile {
        /// The spec (default: ./platform.kdl).
        spec: Option<PathBuf>,
        /// The output directory.
        #[arg(long, short)]
        out: PathBuf,
        /// Compare with the tree on disk instead of writing; exit 1 when it differs.
        #[arg(long)]
        check: bool,
        /// Output format for diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Directory of templates replacing built-in ones: a `.j2` file with a built-in
        /// template's relative path (e.g. terraform/aws/main.tf.j2) replaces it.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
        /// Treat warnings as errors: `--deny warnings` exits 1 on any warning (and `compile`
        /// writes nothing), for CI.
        #[arg(long, value_enum, value_name = "KIND")]
        deny: Vec<Deny>,
    },
    /// Show what compiling the spec would change, object by object.
    ///
    /// Compares with an output directory (--against) or with a git revision (--repo). Exit
    /// codes: 0 no change (or changes without --exit-code), 1 changes with --exit-code, 2 errors.
    Diff(diff::DiffArgs),
    /// Write the output into a GitOps repository and commit it.
    ///
    /// Commits only the files manifold owns there, and only if something changed; refuses when
    /// the output directory has uncommitted changes. Exit codes: 0 committed or nothing to
    /// commit, 1 errors.
    Commit(commit::CommitArgs),
    /// Show where a generated value comes from, or what a spec line affects.
    ///
    /// `explain [SPEC] PATH#FIELD`: the value and the spec, profile and built-in-default lines
    /// that set it, highest layer first. `explain [SPEC] PATH`: every field of the file with its
    /// origin. `explain [SPEC] --spec-line FILE:LINE`: every output file and field the line
    /// affects. Exit codes: 0 explained, 1 errors.
    Explain(explain::ExplainArgs),
    /// Print the spec's JSON Schema (draft 2020-12).
    Schema,
}

/// What `--deny` turns into errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Deny {
    /// Every warning.
    Warnings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Human-readable reports.
    Text,
    /// One JSON document on stdout.
    Json,
}

/// Parses the arguments and runs the command.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Init { dir } => init(dir.as_deref().unwrap_or(Path::new("."))),
        Command::Check { spec, format, deny } => {
            let spec = spec.unwrap_or_else(default_spec);
            match compile_file(&spec, Stop::AfterChecks) {
                Ok(mut compilation) => {
                    deny_diagnostics(&mut compilation, &deny);
                    print_diagnostics(&compilation, format);
                    if compilation.has_errors() {
                        ExitCode::from(1)
                    } else {
                        if format == Format::Text {
                            eprintln!("{}: ok", spec.display());
                        }
                        ExitCode::SUCCESS
                    }
                }
                Err(error) => environment_error(&error, format),
            }
        }
        Command::Compile {
            spec,
            out,
            check,
            format,
            templates,
            deny,
        } => {
            let spec = spec.unwrap_or_else(default_spec);
            if !check {
                return compile_and_write(&spec, &out, format, templates.as_deref(), &deny);
            }
            let compilation = match compile_to_tree(&spec, templates.as_deref(), &deny) {
                Ok(compilation) => compilation,
                Err(error) => return environment_error(&error, format),
            };
            print_diagnostics(&compilation, format);
            let Some(tree) = compilation.tree.as_ref() else {
                return ExitCode::from(1);
            };
            check_tree(tree, &out, format)
        }
        Command::Diff(args) => diff::run(args),
        Command::Commit(args) => commit::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Schema => {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(manifold::spec::schema::PLATFORM_SCHEMA.as_bytes());
            ExitCode::SUCCESS
        }
    }
}

fn default_spec() -> PathBuf {
    PathBuf::from("platform.kdl")
}

/// Applies `--deny`: with `warnings`, every warning becomes an error (shown and counted as
/// one) and a compilation with any keeps no tree, so nothing is written.
fn deny_diagnostics(compilation: &mut Compilation, deny: &[Deny]) {
    if !deny.contains(&Deny::Warnings) {
        return;
    }
    for found in &mut compilation.diagnostics {
        found.severity = diagnostic::Severity::Error;
    }
    if compilation.has_errors() {
        compilation.tree = None;
    }
}

/// Compiles a spec file to its tree, as `compile`, `diff` and `commit` do: with the
/// `--templates` directory's overrides, and `--deny` applied (a denied warning keeps no
/// tree). Errors are about the files, not the spec's contents.
fn compile_to_tree(
    spec: &Path,
    templates: Option<&Path>,
    deny: &[Deny],
) -> anyhow::Result<Compilation> {
    let config = pipeline::Config {
        templates: templates
            .map(read_templates)
            .transpose()?
            .unwrap_or_default(),
        ..pipeline::Config::default()
    };
    let mut compilation = compile_file_with(spec, Stop::AfterEmit, &config)?;
    deny_diagnostics(&mut compilation, deny);
    Ok(compilation)
}

/// Reads and compiles a spec file. Errors are about the file, not its contents.
fn compile_file(spec: &Path, stop: Stop) -> anyhow::Result<Compilation> {
    compile_file_with(spec, stop, &pipeline::Config::default())
}

/// Reads the `.j2` files under a `--templates` directory: relative path (with `/`) →
/// override. Other files are ignored.
fn read_templates(
    dir: &Path,
) -> anyhow::Result<BTreeMap<String, manifold::emit::TemplateOverride>> {
    if !dir.is_dir() {
        anyhow::bail!(
            "templates directory {} does not exist or is not a directory",
            dir.display()
        );
    }
    let mut templates = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|error| {
            anyhow::anyhow!("cannot read templates directory {}: {error}", dir.display())
        })?;
        let path = entry.path();
        if !entry.file_type().is_file() || path.extension().is_none_or(|ext| ext != "j2") {
            continue;
        }
        let relative = path.strip_prefix(dir).unwrap_or(path);
        let name = relative
            .components()
            .map(|part| part.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let text = std::fs::read_to_string(path)
            .map_err(|error| anyhow::anyhow!("cannot read template {}: {error}", path.display()))?;
        templates.insert(
            name,
            manifold::emit::TemplateOverride {
                path: path.display().to_string(),
                text,
            },
        );
    }
    Ok(templates)
}

/// Reads a spec file as UTF-8 text. Errors are about the file, not its contents.
fn read_spec(spec: &Path) -> anyhow::Result<String> {
    if spec.is_dir() {
        anyhow::bail!(
            "{} is a directory; give the spec file itself (e.g. {}/platform.kdl)",
            spec.display(),
            spec.display()
        );
    }
    let bytes = std::fs::read(spec)
        .map_err(|error| anyhow::anyhow!("cannot read spec {}: {error}", spec.display()))?;
    String::from_utf8(bytes).map_err(|error| {
        anyhow::anyhow!(
            "spec {} is not UTF-8 text (invalid byte at offset {})",
            spec.display(),
            error.utf8_error().valid_up_to()
        )
    })
}

/// Reads and compiles a spec file with `config`. Errors are about the file, not its contents.
fn compile_file_with(
    spec: &Path,
    stop: Stop,
    config: &pipeline::Config,
) -> anyhow::Result<Compilation> {
    let text = read_spec(spec)?;
    Ok(pipeline::compile_with(
        &spec.display().to_string(),
        &text,
        stop,
        config,
    ))
}

fn environment_error(error: &anyhow::Error, format: Format) -> ExitCode {
    fail(
        error,
        format,
        "manifold::cli::io",
        "check the path and permissions",
    )
}

/// Reports an error that is not about the spec's contents (a file, a lock, a repository) in
/// the chosen format and returns exit code 1.
fn fail(error: &anyhow::Error, format: Format, code: &str, help: &str) -> ExitCode {
    match format {
        Format::Text => eprintln!("error[{code}]: {error:#}"),
        Format::Json => {
            let document = serde_json::json!({
                "ok": false,
                "errors": 1,
                "warnings": 0,
                "diagnostics": [{
                    "code": code,
                    "severity": "error",
                    "message": format!("{error:#}"),
                    "file": null,
                    "line": null,
                    "column": null,
                    "label": "",
                    "help": help,
                }],
            });
            println!("{document:#}");
        }
    }
    ExitCode::from(1)
}

fn print_diagnostics(compilation: &Compilation, format: Format) {
    match format {
        Format::Text => {
            let handler = report_handler();
            let mut stderr = std::io::stderr().lock();
            for found in &compilation.diagnostics {
                let report = diagnostic::report(found, &compilation.sources);
                let mut rendered = String::new();
                if handler.render_report(&mut rendered, &report).is_err() {
                    rendered = fallback_render(found, compilation);
                }
                let _ = writeln!(stderr, "{rendered}");
            }
            let n_errors = compilation
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .count();
            let n_warnings = compilation.diagnostics.len() - n_errors;
            if n_errors > 0 {
                let _ = writeln!(
                    stderr,
                    "error: {n_errors} error(s), {n_warnings} warning(s); nothing was written"
                );
            }
        }
        Format::Json => {
            let n_errors = compilation
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .count();
            let document = serde_json::json!({
                "ok": n_errors == 0,
                "errors": n_errors,
                "warnings": compilation.diagnostics.len() - n_errors,
                "diagnostics": compilation
                    .diagnostics
                    .iter()
                    .map(|found| diagnostic::to_json(found, &compilation.sources))
                    .collect::<Vec<_>>(),
            });
            // The QoS class of every service per target, once the spec lowered to a model.
            let mut document = document;
            if let (Some(platform), Some(fields)) =
                (compilation.platform.as_ref(), document.as_object_mut())
            {
                fields.insert(
                    "qos".into(),
                    serde_json::to_value(manifold::check::platform::scaling::qos(platform))
                        .unwrap_or_default(),
                );
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&document).unwrap_or_default()
            );
        }
    }
}

fn fallback_render(found: &Diagnostic, compilation: &Compilation) -> String {
    let json = diagnostic::to_json(found, &compilation.sources);
    format!(
        "{}[{}]: {} at {}:{}:{}\n  help: {}",
        match found.severity {
            diagnostic::Severity::Error => "error",
            diagnostic::Severity::Warning => "warning",
        },
        json.code,
        json.message,
        json.file,
        json.line,
        json.column,
        json.help
    )
}

fn report_handler() -> miette::GraphicalReportHandler {
    let color = std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
        && std::io::stderr().is_terminal();
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    miette::GraphicalReportHandler::new_themed(theme)
        .with_context_lines(1)
        .with_width(100)
}

/// `compile` without `--check`: reads the templates and the spec (in that order, as
/// [`compile_to_tree`] does), replays the recorded result when the output directory's
/// fingerprint says nothing changed since the same inputs were compiled (see
/// `cli/fingerprint.rs`), and otherwise compiles, writes, and records a new fingerprint.
fn compile_and_write(
    spec: &Path,
    out: &Path,
    format: Format,
    templates_dir: Option<&Path>,
    deny: &[Deny],
) -> ExitCode {
    let templates = match templates_dir.map(read_templates).transpose() {
        Ok(templates) => templates.unwrap_or_default(),
        Err(error) => return environment_error(&error, format),
    };
    let text = match read_spec(spec) {
        Ok(text) => text,
        Err(error) => return environment_error(&error, format),
    };
    let config = pipeline::Config {
        templates,
        ..pipeline::Config::default()
    };
    let spec_name = spec.display().to_string();
    let key = fingerprint::key(&fingerprint::Inputs {
        spec,
        text: &text,
        templates_dir,
        templates: &config.templates,
        deny,
        format,
    });
    if let Some(key) = &key
        && let Some(code) = fingerprint::replay(out, key, &spec_name, &text, format)
    {
        return code;
    }
    let mut compilation = pipeline::compile_with(&spec_name, &text, Stop::AfterEmit, &config);
    deny_diagnostics(&mut compilation, deny);
    print_diagnostics(&compilation, format);
    let Some(tree) = compilation.tree.as_ref() else {
        return ExitCode::from(1);
    };
    let record =
        key.and_then(|key| fingerprint::record(key, &compilation, &spec_name, &text, format));
    let code = write_tree(tree, out, format, record.as_ref());
    // The process exits next: freeing the model and the tree, hundreds of thousands of
    // allocations for a large platform, would only delay that (the OS takes the memory back).
    std::mem::forget(compilation);
    code
}

/// Writes the tree (recording `record` with it, when given) and prints the summary.
fn write_tree(
    tree: &manifold::output::Tree,
    out: &Path,
    format: Format,
    record: Option<&manifold::output::Record>,
) -> ExitCode {
    let written = match record {
        Some(record) => {
            manifold::output::write_recorded(tree, out, record).map(|(report, failure)| {
                match failure {
                    Some(reason) => fingerprint::trace(&format!("not recorded: {reason}")),
                    None => fingerprint::trace("recorded"),
                }
                report
            })
        }
        None => manifold::output::write(tree, out),
    };
    match written {
        Ok(report) => print_written(&report, out, format),
        Err(error) => environment_error(&error, format),
    }
}

/// Prints the summary of a write (the text line, or the JSON document) and returns success.
fn print_written(report: &manifold::output::WriteReport, out: &Path, format: Format) -> ExitCode {
    if format == Format::Text {
        eprintln!(
            "wrote {}: {} file(s) changed, {} unchanged, {} removed",
            out.display(),
            report.written.len(),
            report.unchanged,
            report.removed.len()
        );
    } else {
        let document = serde_json::json!({
            "ok": true,
            "out": out.display().to_string(),
            "written": report.written,
            "unchanged": report.unchanged,
            "removed": report.removed,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        );
    }
    ExitCode::SUCCESS
}

fn check_tree(tree: &manifold::output::Tree, out: &Path, format: Format) -> ExitCode {
    match manifold::output::check(tree, out) {
        Ok(drift) => {
            if format == Format::Text {
                if drift.is_empty() {
                    eprintln!("{} is up to date", out.display());
                } else {
                    let mut stdout = std::io::stdout().lock();
                    for item in &drift {
                        let _ = writeln!(stdout, "{item}");
                    }
                    eprintln!(
                        "{} is stale: {} file(s) differ; run `manifold compile --out {}`",
                        out.display(),
                        drift.len(),
                        out.display()
                    );
                }
            } else {
                let document = serde_json::json!({
                    "ok": drift.is_empty(),
                    "out": out.display().to_string(),
                    "differences": drift.iter().map(|item| serde_json::json!({
                        "path": item.path,
                        "kind": item.kind.to_string(),
                    })).collect::<Vec<_>>(),
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&document).unwrap_or_default()
                );
            }
            if drift.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(error) => environment_error(&error, format),
    }
}

fn init(dir: &Path) -> ExitCode {
    let path = dir.join("platform.kdl");
    if path.exists() {
        eprintln!(
            "error[manifold::cli::exists]: {} already exists; manifold init never overwrites a file",
            path.display()
        );
        return ExitCode::from(1);
    }
    let result = std::fs::create_dir_all(dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut file| file.write_all(STARTER.as_bytes()))
    });
    match result {
        Ok(()) => {
            eprintln!(
                "wrote {}; next: manifold check {} && manifold compile {} --out out",
                path.display(),
                path.display(),
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "error[manifold::cli::io]: cannot write {}: {error}",
                path.display()
            );
            ExitCode::from(1)
        }
    }
}

/// The starter spec `manifold init` writes.
const STARTER: &str = include_str!("../templates/init.kdl");
