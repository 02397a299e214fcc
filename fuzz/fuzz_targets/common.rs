//! What both fuzz targets check on every compilation, besides "no panic, no abort, no hang".

use manifold::diagnostic;
use manifold::pipeline::Compilation;

/// Diagnostics rendered through miette per input (rendering copies the source each time, so
/// an input with thousands of errors would otherwise be slow for no gain in coverage).
const RENDERED: usize = 8;

/// The input as UTF-8 text (the CLI refuses other bytes before the pipeline sees them).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// The invariants of ARCHITECTURE.md that hold for any input: every diagnostic has a code
/// (never `manifold::internal::*`), a label, a help text and a span inside its file on
/// character boundaries; no tree without a
/// model; no tree next to an error. Then renders diagnostics as the CLI does, text and JSON.
pub fn check(compilation: &Compilation) {
    for found in &compilation.diagnostics {
        let file = compilation.sources.get(found.span.file);
        let end = found.span.start + found.span.len;
        assert!(
            end <= file.text.len()
                && file.text.is_char_boundary(found.span.start)
                && file.text.is_char_boundary(end),
            "{}: span {}+{} outside {} or not on a character boundary",
            found.code,
            found.span.start,
            found.span.len,
            file.name
        );
        assert!(found.code.starts_with("manifold::"), "code {}", found.code);
        // an internal error is manifold admitting a bug: the checks let through an input the
        // later stages cannot take (e.g. a number the schema accepts and the typed spec not)
        assert!(
            !found.code.starts_with("manifold::internal::"),
            "{} at {}: {}",
            found.code,
            found.span.start,
            found.message
        );
        assert!(
            !found.label.trim().is_empty(),
            "{}: empty label",
            found.code
        );
        assert!(!found.help.trim().is_empty(), "{}: empty help", found.code);
        let _ = diagnostic::to_json(found, &compilation.sources);
    }
    if compilation.tree.is_some() {
        assert!(
            !compilation.has_errors(),
            "a tree was produced next to errors"
        );
        assert!(compilation.platform.is_some(), "a tree without a model");
    }
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_context_lines(1)
            .with_width(100);
    for found in compilation.diagnostics.iter().take(RENDERED) {
        let report = diagnostic::report(found, &compilation.sources);
        let mut rendered = String::new();
        let _ = handler.render_report(&mut rendered, &report);
    }
}
