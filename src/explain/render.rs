//! Text renderings of explain reports: one field with its chain (miette snippets), a table of
//! fields, and a spec line's blast radius. The JSON renderings are the report types' `serde`
//! forms (documented in README.md, "Explain").

use std::fmt::{self, Write as _};

use super::{FieldReport, LineReport, Role, TokenRef};
use crate::source::{Sources, Span};

/// One field: its value, then each token that determines it with a source snippet, highest
/// layer first, and the override chain.
pub fn field_text(report: &FieldReport, sources: &Sources, color: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}#{} = {}",
        report.file,
        report.field,
        value_text(&report.value)
    );
    out.push('\n');
    if report.sources.is_empty() {
        out.push_str(
            "  built-in: no token of the spec, the profiles or the built-in defaults changes this\n  \
             value; it is a constant of manifold's emitters (or of its lowering).\n",
        );
        return out;
    }
    for contribution in &report.sources {
        let (verb, label) = match contribution.role {
            Role::Set => ("set by", "sets it"),
            Role::Derived => ("derived from", "it is derived from this"),
            Role::Name => ("named by", "names it"),
            Role::Presence => continue,
        };
        let mut message = format!("{verb} {}", contribution.token.layer);
        if !contribution.token.setting.is_empty() {
            let _ = write!(message, ": {}", contribution.token.setting);
        }
        if let Some(model) = &contribution.model {
            let _ = write!(message, " (model: {model})");
        }
        let label = if contribution.perturbed_to.is_empty() {
            label.to_owned()
        } else {
            format!("{label} (as {} it changes)", contribution.perturbed_to)
        };
        out.push_str(&token_block(
            &contribution.token,
            &message,
            &label,
            sources,
            color,
        ));
        for below in &contribution.overrides {
            let mut message = format!("overrides {}", below.layer);
            if !below.setting.is_empty() {
                let _ = write!(message, ": {}", below.setting);
            }
            out.push_str(&token_block(below, &message, "overridden", sources, color));
        }
    }
    if let Some(first) = report
        .sources
        .iter()
        .find(|contribution| contribution.role == Role::Set)
    {
        let mut chain = vec![chain_link(&first.token)];
        chain.extend(first.overrides.iter().map(chain_link));
        let _ = writeln!(out, "chain: {}", chain.join(" ← "));
    }
    let presence: Vec<String> = report
        .sources
        .iter()
        .filter(|contribution| contribution.role == Role::Presence)
        .map(|contribution| {
            let mut text = format!("{} {}", short(&contribution.token), contribution.token.text);
            if !contribution.perturbed_to.is_empty() {
                let _ = write!(text, " (as {}: no such file)", contribution.perturbed_to);
            }
            text
        })
        .collect();
    if !presence.is_empty() {
        let _ = writeln!(out, "the file exists because of:");
        for line in presence {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

/// Fields as a table: path, value, origin (the first token and its chain).
pub fn table_text(title: &str, reports: &[FieldReport]) -> String {
    let rows: Vec<[String; 3]> = reports
        .iter()
        .map(|report| {
            [
                report.field.clone(),
                truncate(&value_text(&report.value), 32),
                origin_summary(report),
            ]
        })
        .collect();
    let width = |column: usize, header: &str| {
        rows.iter()
            .map(|row| row[column].chars().count())
            .chain([header.len()])
            .max()
            .unwrap_or(0)
    };
    let (field_width, value_width) = (width(0, "FIELD"), width(1, "VALUE"));
    let mut out = String::new();
    let _ = writeln!(out, "{title}: {} field(s)", reports.len());
    out.push('\n');
    let _ = writeln!(
        out,
        "{:field_width$}  {:value_width$}  ORIGIN",
        "FIELD", "VALUE"
    );
    for [field, value, origin] in rows {
        let line = format!("{field:field_width$}  {value:value_width$}  {origin}");
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// A spec line: its tokens and what each affects, then every affected file and field.
pub fn line_text(report: &LineReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}:{}", report.file, report.line);
    let _ = writeln!(out, "{:>5} │ {}", report.line, report.text.trim_end());
    out.push('\n');
    let several = report.tokens.len() > 1;
    for (position, token) in report.tokens.iter().enumerate() {
        let mut what = token.token.layer.clone();
        if !token.token.setting.is_empty() {
            let _ = write!(what, ": {}", token.token.setting);
        }
        if token.token.kind == "name" {
            what.push_str(" (name)");
        }
        let mut effect = match token.status {
            "changed" => format!(
                "affects {} field(s) (changed to {})",
                token.fields,
                token.perturbed_to.as_deref().unwrap_or("?")
            ),
            "no-effect" => format!(
                "changes no existing output field (changed to {})",
                token.perturbed_to.as_deref().unwrap_or("?")
            ),
            _ => "effect unknown: no change of it gives a spec that compiles".to_owned(),
        };
        if token.removes_files > 0 {
            let _ = write!(
                effect,
                "; without it {} file(s) are not generated",
                token.removes_files
            );
        }
        if !token.adds_files.is_empty() {
            let _ = write!(
                effect,
                "; changed, it adds {} file(s)",
                token.adds_files.len()
            );
        }
        let marker = if several {
            format!("[{}] ", marker(position))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  {marker}{} at {}:{}  {what}\n      {effect}",
            token.token.text, token.token.line, token.token.column
        );
    }
    out.push('\n');
    let total: usize = report.files.iter().map(|file| file.fields.len()).sum();
    if report.files.is_empty() {
        out.push_str("no output field depends on this line\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{total} field(s) in {} file(s) depend on this line:",
        report.files.len()
    );
    for file in &report.files {
        if file.whole_file.is_empty() {
            let _ = writeln!(out, "  {}", file.file);
        } else {
            let markers = if several {
                let markers: Vec<String> = file.whole_file.iter().map(|idx| marker(*idx)).collect();
                format!(" [{}]", markers.join(","))
            } else {
                String::new()
            };
            let _ = writeln!(out, "  {} (the whole file){markers}", file.file);
        }
        for field in &file.fields {
            let tokens = if several {
                let markers: Vec<String> = field.tokens.iter().map(|idx| marker(*idx)).collect();
                format!("  [{}]", markers.join(","))
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "    {} = {}{tokens}",
                field.field,
                truncate(&value_text(&field.value), 60)
            );
        }
    }
    out
}

fn marker(position: usize) -> String {
    let letter = (b'a' + (position % 26) as u8) as char;
    if position < 26 {
        letter.to_string()
    } else {
        format!("{letter}{}", position / 26)
    }
}

fn origin_summary(report: &FieldReport) -> String {
    let Some(first) = report.sources.first() else {
        return "built-in".to_owned();
    };
    let mut out = short(&first.token);
    for below in &first.overrides {
        let _ = write!(out, " ← {}", chain_link(below));
    }
    if report.sources.len() > 1 {
        let _ = write!(out, " (+{} more)", report.sources.len() - 1);
    }
    match first.role {
        Role::Set => {}
        Role::Name => out.insert_str(0, "name: "),
        Role::Derived => out.insert_str(0, "from "),
        Role::Presence => out.insert_str(0, "file from "),
    }
    out
}

fn short(token: &TokenRef) -> String {
    let mut out = token.layer.clone();
    if !token.setting.is_empty() {
        let _ = write!(out, " {}", token.setting);
    }
    let _ = write!(out, " ({})", location(token));
    out
}

fn chain_link(token: &TokenRef) -> String {
    format!("{} ({})", token.layer, location(token))
}

fn location(token: &TokenRef) -> String {
    if token.line == 0 {
        return "manifold's code".to_owned();
    }
    let file = token.file.rsplit('/').next().unwrap_or(&token.file);
    format!("{file}:{}:{}", token.line, token.column)
}

fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) if text.is_empty() => "\"\"".to_owned(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn truncate(text: &str, max: usize) -> String {
    let text = text.replace('\n', "\\n");
    if text.chars().count() <= max {
        return text;
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// A token with its snippet, rendered by miette like a diagnostic.
fn token_block(
    token: &TokenRef,
    message: &str,
    label: &str,
    sources: &Sources,
    color: bool,
) -> String {
    let Some(span) = token.span else {
        return format!(
            "  ☞ {message}: {} (a default in manifold's code)\n\n",
            token.text
        );
    };
    let file = sources.get(span.file);
    let snippet = Snippet {
        message: message.to_owned(),
        source: miette::NamedSource::new(file.name.clone(), file.text.to_string())
            .with_language("kdl"),
        span,
        label: label.to_owned(),
    };
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_context_lines(1)
        .with_width(100);
    let mut out = String::new();
    if handler.render_report(&mut out, &snippet).is_err() {
        out = format!(
            "  ☞ {message} at {}:{}:{}\n",
            token.file, token.line, token.column
        );
    }
    out.push('\n');
    out
}

#[derive(Debug)]
struct Snippet {
    message: String,
    source: miette::NamedSource<String>,
    span: Span,
    label: String,
}

impl fmt::Display for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Snippet {}

impl miette::Diagnostic for Snippet {
    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Advice)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(
            miette::LabeledSpan::new_primary_with_span(
                Some(self.label.clone()),
                (self.span.start, self.span.len),
            ),
        )))
    }
}
