//! Diagnostics: problems in the user's spec, each pointing at the exact token.
//!
//! Consumes: spans from [`crate::source`]. Produces: [`Diagnostic`] values that every stage
//! accumulates, and their two renderings (miette's human report and a stable JSON form).
//! Invariant: every diagnostic has a stable `code`, a primary span, a label and a help text;
//! stages never stop at the first problem.

use std::fmt;

use serde::Serialize;

use crate::source::{Sources, Span};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Compilation fails; nothing is written.
    Error,
    /// Reported, but compilation goes on.
    Warning,
}

/// A secondary location that explains the primary one (for example the first definition of a
/// duplicated name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say there.
    pub text: String,
}

/// One problem found in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable identifier such as `manifold::spec::unknown-service`; scripts match on it.
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// One line, lowercase start, no trailing period.
    pub message: String,
    /// The token the problem is about.
    pub span: Span,
    /// The text shown under the primary token.
    pub label: String,
    /// Further locations, in the same file as `span`.
    pub related: Vec<Label>,
    /// What to do about it.
    pub help: String,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            span,
            label: String::new(),
            related: Vec::new(),
            help: String::new(),
        }
    }

    /// A warning at `span`.
    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    /// Sets the label shown under the primary token.
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    /// Sets the help text.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = help.into();
        self
    }

    /// Adds a secondary location (ignored when it lies in another file).
    pub fn with_related(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        if span.file == self.span.file {
            self.related.push(Label {
                span,
                text: text.into(),
            });
        }
        self
    }

    /// Adds a secondary location when there is one.
    pub fn with_related_opt(self, span: Option<Span>, text: impl Into<String>) -> Diagnostic {
        match span {
            Some(span) => self.with_related(span, text),
            None => self,
        }
    }

    /// Whether this diagnostic fails the compilation.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Whether any diagnostic in `diagnostics` is an error.
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}

/// Sorts diagnostics by file, position and code so output order never depends on the order
/// checks ran in, and drops exact duplicates.
pub fn sort(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.sort_by(|a, b| {
        (a.span.file, a.span.start, a.code, &a.message).cmp(&(
            b.span.file,
            b.span.start,
            b.code,
            &b.message,
        ))
    });
    diagnostics.dedup();
}

/// The JSON form of a diagnostic (`--format json`); field names are a stable contract.
#[derive(Debug, Clone, Serialize)]
pub struct JsonDiagnostic {
    /// Stable code.
    pub code: &'static str,
    /// `error` or `warning`.
    pub severity: Severity,
    /// The message.
    pub message: String,
    /// File name as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The label under the token.
    pub label: String,
    /// What to do.
    pub help: String,
}

/// Converts a diagnostic to its JSON form.
pub fn to_json(diagnostic: &Diagnostic, sources: &Sources) -> JsonDiagnostic {
    let file = sources.get(diagnostic.span.file);
    let (line, column) = file.line_col(diagnostic.span.start);
    JsonDiagnostic {
        code: diagnostic.code,
        severity: diagnostic.severity,
        message: diagnostic.message.clone(),
        file: file.name.clone(),
        line,
        column,
        label: diagnostic.label.clone(),
        help: diagnostic.help.clone(),
    }
}

/// A diagnostic bound to its source text, ready for miette's report handlers.
#[derive(Debug)]
pub struct Report {
    diagnostic: Diagnostic,
    source: miette::NamedSource<String>,
}

/// Binds a diagnostic to its source so miette can render it.
pub fn report(diagnostic: &Diagnostic, sources: &Sources) -> Report {
    let file = sources.get(diagnostic.span.file);
    Report {
        diagnostic: diagnostic.clone(),
        source: miette::NamedSource::new(file.name.clone(), file.text.to_string())
            .with_language("kdl"),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diagnostic.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        if self.diagnostic.help.is_empty() {
            None
        } else {
            Some(Box::new(&self.diagnostic.help))
        }
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let primary = miette::LabeledSpan::new_primary_with_span(
            Some(self.diagnostic.label.clone()).filter(|label| !label.is_empty()),
            (self.diagnostic.span.start, self.diagnostic.span.len),
        );
        let related = self.diagnostic.related.iter().map(|label| {
            miette::LabeledSpan::new_with_span(
                Some(label.text.clone()),
                (label.span.start, label.span.len),
            )
        });
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
}

/// The closest candidate to `word` by edit distance, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(word, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, candidate)| candidate)
}

/// `help` text for an unknown name: "did you mean `x`?" plus the list of valid names.
pub fn suggestion_help<'a>(
    word: &str,
    what: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    let mut names: Vec<&str> = candidates.clone().into_iter().collect();
    names.sort_unstable();
    names.dedup();
    let list = if names.is_empty() {
        format!("no {what} is declared")
    } else {
        format!(
            "known {what}s: {}",
            names
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    match did_you_mean(word, names.iter().copied()) {
        Some(best) => format!("did you mean `{best}`? {list}"),
        None => list,
    }
}

/// Levenshtein distance in characters (for "did you mean" suggestions).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b_chars: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b_chars.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1; b_chars.len() + 1];
        for (j, b_char) in b_chars.iter().enumerate() {
            let cost = usize::from(a_char != *b_char);
            current[j + 1] = (previous[j] + cost)
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        previous = current;
    }
    previous[b_chars.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("autoscael", ["autoscale", "replicas"]),
            Some("autoscale")
        );
        assert_eq!(did_you_mean("zzz", ["autoscale", "replicas"]), None);
    }
}
