//! `manifold explain`: where a generated value comes from (`PATH#FIELD`, or every field of a
//! file with `PATH`), and what a spec line affects (`--spec-line FILE:LINE`). The engine is
//! `manifold::explain`; this module reads the spec, runs the query and prints the report.
//!
//! Exit codes: 0 explained, 1 anything else (the spec has errors, the query names nothing,
//! the spec cannot be read).

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use manifold::diagnostic;
use manifold::explain::{self, Explainer, Index, Query, QueryError, Stats};
use manifold::pipeline;

use super::Format;

/// Arguments of `manifold explain`.
#[derive(Debug, Args)]
pub(super) struct ExplainArgs {
    /// The spec (default: ./platform.kdl). With a single argument and no --spec-line, that
    /// argument is the QUERY.
    #[arg(value_name = "SPEC")]
    spec: Option<String>,
    /// An output file (`kubernetes/overlays/prod/aws/hpa-api-gateway.yaml`: every field in one
    /// table), one field of it (`…#spec.maxReplicas`: the value and the chain of layers that
    /// set it), or every field under a prefix (`…#spec.metrics`).
    #[arg(value_name = "QUERY")]
    query: Option<String>,
    /// The reverse query: every output file and field the values on this line of the spec
    /// (or of a built-in profile, `overlays/production.kdl:12`) affect.
    #[arg(long, value_name = "FILE:LINE", conflicts_with = "query")]
    spec_line: Option<String>,
    /// How to print the report.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Directory of templates replacing built-in ones (as for `compile`).
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
    /// Trace again even when a saved trace of this spec exists (and save none).
    #[arg(long)]
    no_cache: bool,
}

/// Runs `manifold explain`.
pub(super) fn run(args: ExplainArgs) -> ExitCode {
    let ExplainArgs {
        spec,
        query,
        spec_line,
        format,
        templates,
        no_cache,
    } = args;
    // `explain QUERY` means the default spec; `explain SPEC --spec-line …` names the spec.
    let (spec, query) = match (spec, query, &spec_line) {
        (spec, Some(query), _) => (spec, Some(query)),
        (Some(query), None, None) => (None, Some(query)),
        (spec, None, _) => (spec, None),
    };
    let spec = spec.map_or_else(super::default_spec, PathBuf::from);
    if query.is_none() && spec_line.is_none() {
        return usage(
            "give an output file (PATH), a field (PATH#FIELD) or --spec-line FILE:LINE",
            format,
        );
    }
    let config = match templates.as_deref().map(super::read_templates).transpose() {
        Ok(templates) => pipeline::Config {
            templates: templates.unwrap_or_default(),
            ..pipeline::Config::default()
        },
        Err(error) => return super::environment_error(&error, format),
    };
    let text = match super::read_spec(&spec) {
        Ok(text) => text,
        Err(error) => return super::environment_error(&error, format),
    };
    let explainer = match Explainer::new(&spec.display().to_string(), &text, &config) {
        Ok(explainer) => explainer,
        Err(compilation) => {
            super::print_diagnostics(&compilation, format);
            if !compilation.has_errors() {
                eprintln!("error: the spec produced no output to explain");
            }
            return ExitCode::from(1);
        }
    };
    let warnings = explainer.compilation().diagnostics.len();
    if warnings > 0 {
        eprintln!("note: the spec has {warnings} warning(s); `manifold check` shows them");
    }
    match (query, spec_line) {
        (Some(query), _) => forward(&explainer, &query, format, !no_cache),
        (None, Some(line)) => reverse(&explainer, &line, format),
        (None, None) => ExitCode::from(1),
    }
}

/// `PATH`, `PATH#FIELD` or `PATH#PREFIX`.
fn forward(explainer: &Explainer, text: &str, format: Format, cache: bool) -> ExitCode {
    let query = match explainer.query(text) {
        Ok(query) => query,
        Err(error) => return query_error(&error, format),
    };
    let index = trace_all(explainer, cache);
    let reports = explainer.explain(&index, &query);
    let (file, prefix) = match &query {
        Query::Field { file, field } => (
            *file,
            Some(explainer.files()[*file].1.fields[*field].path.clone()),
        ),
        Query::Fields { file, prefix, .. } => (*file, prefix.clone()),
    };
    let path = &explainer.files()[file].0;
    let rendered = match format {
        Format::Json => {
            let document = serde_json::json!({
                "format": 1,
                "query": text,
                "file": path,
                "field": prefix,
                "fields": reports,
                "trace": index.stats(),
            });
            format!("{document:#}\n")
        }
        Format::Text => match (&query, reports.first()) {
            (Query::Field { .. }, Some(report)) => {
                let mut out = explain::field_text(report, explainer.sources(), color());
                out.push_str(&trace_line(&index.stats()));
                out
            }
            _ => {
                let title = match &prefix {
                    Some(prefix) => format!("{path}#{prefix}"),
                    None => path.clone(),
                };
                let mut out = explain::table_text(&title, &reports);
                out.push('\n');
                out.push_str(&trace_line(&index.stats()));
                out
            }
        },
    };
    print(&rendered)
}

/// `--spec-line FILE:LINE`.
fn reverse(explainer: &Explainer, text: &str, format: Format) -> ExitCode {
    let Some((file, line)) = text
        .rsplit_once(':')
        .and_then(|(file, line)| Some((file, line.trim().parse::<usize>().ok()?)))
    else {
        return usage(
            &format!("--spec-line wants FILE:LINE (e.g. platform.kdl:80), not `{text}`"),
            format,
        );
    };
    let (file_id, tokens) = match explainer.line_tokens(file, line) {
        Ok(found) => found,
        Err(error) => return query_error(&error, format),
    };
    let index = explainer.trace(&tokens);
    let report = explainer.line_report(&index, file_id, line, &tokens);
    let rendered = match format {
        Format::Json => {
            let mut document = serde_json::json!({ "format": 1 });
            if let (Some(fields), Ok(serde_json::Value::Object(line))) =
                (document.as_object_mut(), serde_json::to_value(&report))
            {
                fields.extend(line);
                fields.insert(
                    "trace".into(),
                    serde_json::to_value(index.stats()).unwrap_or_default(),
                );
            }
            format!("{document:#}\n")
        }
        Format::Text => explain::line_text(&report),
    };
    print(&rendered)
}

/// Every token's trace: the saved one when this binary already traced this very spec (same
/// name, text, templates and output), else a new one, saved for the next query. The cache is
/// `$MANIFOLD_CACHE_DIR`, else `$XDG_CACHE_HOME/manifold/explain`, else
/// `~/.cache/manifold/explain`; any failure to read or write it only costs the time.
fn trace_all(explainer: &Explainer, cache: bool) -> Index {
    let Some(path) = cache.then(|| cache_file(explainer)).flatten() else {
        return explainer.trace_all();
    };
    if let Some(index) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|json| explainer.load_trace(&json))
    {
        return index;
    }
    let index = explainer.trace_all();
    if let Some(dir) = path.parent()
        && std::fs::create_dir_all(dir).is_ok()
    {
        // Write then rename, so a concurrent query never reads half a file.
        let partial = path.with_extension(format!("{}.tmp", std::process::id()));
        if std::fs::write(&partial, index.to_json()).is_ok()
            && std::fs::rename(&partial, &path).is_err()
        {
            let _ = std::fs::remove_file(&partial);
        }
    }
    index
}

/// The cache file of this spec and this binary (its version, size and modification time
/// stand for the built-in profiles and the emitters).
fn cache_file(explainer: &Explainer) -> Option<PathBuf> {
    use sha2::{Digest, Sha256};
    let dir = match std::env::var_os("MANIFOLD_CACHE_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("XDG_CACHE_HOME")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?
            .join("manifold")
            .join("explain"),
    };
    let exe = std::env::current_exe().ok()?;
    let metadata = std::fs::metadata(exe).ok()?;
    let modified = metadata
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    let mut hash = Sha256::new();
    hash.update(env!("CARGO_PKG_VERSION").as_bytes());
    hash.update(metadata.len().to_le_bytes());
    hash.update(modified.as_nanos().to_le_bytes());
    hash.update(explainer.fingerprint().as_bytes());
    let key: String = hash
        .finalize()
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Some(dir.join(format!("{key}.json")))
}

fn trace_line(stats: &Stats) -> String {
    format!(
        "({} value(s) of the spec, the profiles and the built-in defaults perturbed: {} change the output, {} do not, {} cannot be changed and stay valid)\n",
        stats.tokens, stats.changed, stats.no_effect, stats.unperturbable
    )
}

fn print(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1),
    }
}

/// A query that names nothing: its diagnostic (with the closest existing file or field).
fn query_error(error: &QueryError, format: Format) -> ExitCode {
    match format {
        Format::Text => {
            let report = diagnostic::report(&error.diagnostic, &error.sources);
            let mut rendered = String::new();
            if super::report_handler()
                .render_report(&mut rendered, &report)
                .is_err()
            {
                rendered = format!("error: {}", error.diagnostic.message);
            }
            eprintln!("{rendered}");
        }
        Format::Json => {
            let document = serde_json::json!({
                "ok": false,
                "errors": 1,
                "warnings": 0,
                "diagnostics": [diagnostic::to_json(&error.diagnostic, &error.sources)],
            });
            println!("{document:#}");
        }
    }
    ExitCode::from(1)
}

fn usage(message: &str, format: Format) -> ExitCode {
    super::fail(
        &anyhow::anyhow!("{message}"),
        format,
        "manifold::cli::usage",
        "see `manifold explain --help`",
    )
}

/// Colour for stdout: only on a terminal, never with `NO_COLOR` set.
fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
        && std::io::stdout().is_terminal()
}
