//! Templates: the built-in ones (embedded in the binary) and the user's overrides
//! (`manifold compile --templates DIR`: a file in DIR with a built-in template's relative
//! name replaces it).
//!
//! Consumes: override texts the caller read (emitters never touch the filesystem). Produces:
//! the text to use for each template, and [`TemplateError`], which the pipeline turns into a
//! diagnostic pointing at the template's line.
//! Invariant: a template that fails to parse or render yields an error, never a panic and
//! never a partial tree.

use std::collections::BTreeMap;

use crate::diagnostic::Diagnostic;
use crate::source::{Sources, Span};

/// A template a user supplied in place of a built-in one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateOverride {
    /// The file, as shown to the user (`my-templates/terraform/aws/main.tf.j2`).
    pub path: String,
    /// Its text.
    pub text: String,
}

/// What emitters need besides the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Overrides by template name, the path relative to `templates/`
    /// (`terraform/aws/main.tf.j2`).
    pub templates: BTreeMap<String, TemplateOverride>,
}

impl Options {
    /// The text of template `name`: the user's override, else the built-in text.
    pub fn text<'a>(&'a self, name: &str, builtin: &'a str) -> &'a str {
        self.templates
            .get(name)
            .map_or(builtin, |found| found.text.as_str())
    }
}

/// A template failed to parse or render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// The template's name (`terraform/aws/main.tf.j2`).
    pub name: String,
    /// The user's file when the template was overridden; `None` for a built-in template.
    pub path: Option<String>,
    /// The template's text.
    pub text: String,
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// What went wrong.
    pub message: String,
}

/// Every built-in template that can be overridden: name → text.
pub fn builtin() -> impl Iterator<Item = (&'static str, &'static str)> {
    super::terraform::TEMPLATES.iter().copied()
}

/// Whether `name` is a built-in template.
pub fn is_builtin(name: &str) -> bool {
    builtin().any(|(known, _)| known == name)
}

/// Builds a [`TemplateError`] from a minijinja error about template `name`.
pub fn error(
    name: &str,
    options: &Options,
    builtin: &str,
    error: &minijinja::Error,
) -> TemplateError {
    let mut message = match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    };
    // Errors raised while rendering another template name that one.
    if let Some(other) = error.name()
        && other != name
    {
        message = format!("{message} (in `{other}`)");
    }
    TemplateError {
        name: name.to_owned(),
        path: options.templates.get(name).map(|found| found.path.clone()),
        text: options.text(name, builtin).to_owned(),
        line: error.line(),
        message,
    }
}

/// Code: a template does not parse or render.
pub const INVALID: &str = "manifold::template::invalid";
/// Code: a file in the templates directory has no built-in template of its name.
pub const UNKNOWN: &str = "manifold::template::unknown";

/// The diagnostic for a template error, pointing at the template's line (the template is
/// added to `sources`).
pub fn diagnostic(error: &TemplateError, sources: &mut Sources) -> Diagnostic {
    let shown = error
        .path
        .clone()
        .unwrap_or_else(|| format!("templates/{} (built-in)", error.name));
    let file = sources.add(shown.clone(), error.text.clone());
    let span = error
        .line
        .and_then(|line| line_span(&error.text, line))
        .map_or(Span::new(file, 0, 0), |(start, len)| {
            Span::new(file, start, len)
        });
    let help = match &error.path {
        Some(path) => format!(
            "fix `{path}`, or delete it to use the built-in template; templates see the variables listed in docs/language.md (\"Terraform templates\")"
        ),
        None => "this is a bug in manifold's built-in template; please report it".to_owned(),
    };
    Diagnostic::error(
        INVALID,
        span,
        format!("template `{}` failed: {}", error.name, error.message),
    )
    .with_label("here")
    .with_help(help)
}

/// The diagnostic for an override that replaces no built-in template.
pub fn unknown(name: &str, found: &TemplateOverride, sources: &mut Sources) -> Diagnostic {
    let file = sources.add(found.path.clone(), found.text.clone());
    let known: Vec<&str> = builtin().map(|(known, _)| known).collect();
    let suggestion = crate::diagnostic::did_you_mean(name, known.iter().copied());
    Diagnostic::error(
        UNKNOWN,
        Span::new(file, 0, 0),
        format!("`{name}` in the templates directory replaces no built-in template"),
    )
    .with_label("unknown template")
    .with_help(match suggestion {
        Some(text) => format!("did you mean `{text}`? overrides use the built-in template's path"),
        None => format!(
            "overrides use a built-in template's path relative to the directory: {}",
            known.join(", ")
        ),
    })
}

/// Byte offset and length of line `line` (1-based), without its indentation.
fn line_span(text: &str, line: usize) -> Option<(usize, usize)> {
    let mut offset = 0;
    for (index, content) in text.split_inclusive('\n').enumerate() {
        if index + 1 == line {
            let body = content.trim_end_matches(['\n', '\r']);
            let indent = body.len() - body.trim_start().len();
            return Some((offset + indent, body.trim().len()));
        }
        offset += content.len();
    }
    None
}
