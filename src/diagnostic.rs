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
    source: miette::NamedSource<IndexedSource>,
}

/// Binds a diagnostic to its source so miette can render it. Cheap: the text and its line
/// index are shared, not copied.
pub fn report(diagnostic: &Diagnostic, sources: &Sources) -> Report {
    let file = sources.get(diagnostic.span.file);
    let source = IndexedSource {
        text: file.text.clone(),
        line_starts: file.render_lines(),
    };
    Report {
        diagnostic: diagnostic.clone(),
        source: miette::NamedSource::new(file.name.clone(), source).with_language("kdl"),
    }
}

/// A source text for miette that finds a span's lines through a line index.
///
/// miette's own sources (`str`, `[u8]`) scan from the start of the text for every span, so
/// rendering n diagnostics of a large spec cost n × its size (200 warnings on a 1 MB spec
/// took longer than compiling it). This one hands miette only the text from a few lines
/// before the span, then shifts the line numbers and offsets back, so the rendering is the
/// same byte for byte (`tests` below compares the two on every span of a text).
#[derive(Debug, Clone)]
pub struct IndexedSource {
    text: std::sync::Arc<str>,
    /// [`crate::source::SourceFile::render_lines`] of `text`.
    line_starts: std::sync::Arc<[usize]>,
}

impl miette::SourceCode for IndexedSource {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let offset = span.offset();
        if offset > self.text.len() {
            return Err(miette::MietteError::OutOfBounds);
        }
        // The span's line, then one line more than the context before it, so that miette
        // sees the same preceding lines it would see in the whole text.
        let line = self
            .line_starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1);
        let first = line.saturating_sub(context_lines_before + 1);
        let window_start = self.line_starts[first];
        let window: &'a [u8] = &self.text.as_bytes()[window_start..];
        let shifted = miette::SourceSpan::new((offset - window_start).into(), span.len());
        let contents = window.read_span(&shifted, context_lines_before, context_lines_after)?;
        let found = contents.span();
        Ok(Box::new(miette::MietteSpanContents::new(
            contents.data(),
            miette::SourceSpan::new((found.offset() + window_start).into(), found.len()),
            contents.line() + first,
            contents.column(),
            contents.line_count() + first,
        )))
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

    /// What miette reads for a span, as comparable data.
    fn contents(
        source: &dyn miette::SourceCode,
        span: miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Option<(Vec<u8>, usize, usize, usize, usize, usize)> {
        let found = source.read_span(&span, before, after).ok()?;
        Some((
            found.data().to_vec(),
            found.span().offset(),
            found.span().len(),
            found.line(),
            found.column(),
            found.line_count(),
        ))
    }

    #[test]
    fn indexed_source_reads_what_miette_reads() {
        let text = "a\nbb\r\nccc\rdddd\n\n\r\nlast line é\nx\r\n\r\ntail";
        let mut sources = Sources::new();
        let file = sources.add("t.kdl", text);
        let indexed = IndexedSource {
            text: sources.get(file).text.clone(),
            line_starts: sources.get(file).render_lines(),
        };
        let bytes = text.as_bytes();
        // Spans inside the text (miette's own source panics on some spans past the end).
        for start in 0..=text.len() {
            for len in (0..4).filter(|len| start + len <= text.len()) {
                for (before, after) in [(0, 0), (1, 1), (2, 2), (3, 0), (0, 3)] {
                    let span = miette::SourceSpan::new(start.into(), len);
                    assert_eq!(
                        contents(&indexed, span, before, after),
                        contents(&bytes, span, before, after),
                        "span {start}+{len}, context {before}/{after}"
                    );
                }
            }
        }
    }
}
