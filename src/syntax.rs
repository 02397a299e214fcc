//! Syntax: KDL v2 text → `kdl::KdlDocument`, with syntax errors that point at the token.
//!
//! Consumes: one source file. Produces: the parsed document, or diagnostics.
//! Invariant: every syntax error points at the offending token, even when the `kdl` crate's
//! own span starts at the top of the document (we re-locate it with a small scanner that knows
//! the mistakes people actually make: bare values starting with a digit, `/` in bare strings,
//! KDL v1 keywords, unclosed strings and braces).

use kdl::KdlDocument;

use crate::diagnostic::Diagnostic;

mod fast;
use crate::source::{FileId, Span};

/// Diagnostic code for KDL syntax errors.
pub const SYNTAX_ERROR: &str = "manifold::syntax::invalid-kdl";

/// A parsed spec: its top-level nodes in order, in one or more pieces of the text, each
/// with the byte offset where it starts (the spans of a piece's nodes are relative to it).
#[derive(Debug)]
pub struct Document {
    pieces: Vec<(usize, KdlDocument)>,
}

impl Document {
    /// The pieces, in text order.
    pub fn pieces(&self) -> &[(usize, KdlDocument)] {
        &self.pieces
    }

    fn is_empty(&self) -> bool {
        self.pieces
            .iter()
            .all(|(_, piece)| piece.nodes().is_empty())
    }
}

/// A spec smaller than this is parsed in one piece.
const PIECE_SIZE: usize = 64 * 1024;

/// Parses `text` as KDL v2. On failure returns every syntax diagnostic the parser reported.
///
/// A large spec is cut at top-level node boundaries (see [`scan`]) and the pieces are parsed
/// in parallel; the `kdl` crate's parser is the slowest stage of a large compile. Cutting
/// between two top-level nodes cannot change what the nodes are, and when any piece fails the
/// whole text is parsed again, so the diagnostics are the same as without cutting.
pub fn parse(file: FileId, text: &str) -> Result<Document, Vec<Diagnostic>> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    parse_in(file, text, (text.len() / PIECE_SIZE).clamp(1, threads * 4))
}

/// [`parse`] in at most `pieces` pieces.
fn parse_in(file: FileId, text: &str, pieces: usize) -> Result<Document, Vec<Diagnostic>> {
    if text.trim().is_empty() {
        return Err(vec![
            Diagnostic::error(
                "manifold::syntax::empty-spec",
                Span::new(file, 0, 0),
                "the spec is empty",
            )
            .with_label("no nodes here")
            .with_help("start from `manifold init`, which writes a commented starter platform.kdl"),
        ]);
    }
    // issue 10: the `kdl` parser is recursive, so 10,000 nested `{` (or `/*`) overflowed the
    // stack and aborted the process (found by hand and by fuzzing). Refuse such text first.
    let boundaries = scan(file, text).map_err(|too_deep| vec![*too_deep])?;
    let ranges = cut(
        text.len(),
        boundaries.as_deref().unwrap_or_default(),
        pieces,
    );
    let in_pieces = if ranges.len() > 1 {
        let parsed = crate::parallel::map(&ranges, |range| {
            let piece = &text[range.clone()];
            fast::parse(piece).or_else(|| KdlDocument::parse_v2(piece).ok())
        });
        ranges
            .iter()
            .zip(parsed)
            .map(|(range, piece)| Some((range.start, piece?)))
            .collect::<Option<Vec<_>>>()
    } else {
        None
    };
    let document = match in_pieces {
        Some(pieces) => Document { pieces },
        None => Document {
            pieces: vec![(
                0,
                match fast::parse(text) {
                    Some(document) => document,
                    None => parse_whole(file, text)?,
                },
            )],
        },
    };
    if document.is_empty() {
        return Err(vec![
            Diagnostic::error(
                "manifold::syntax::empty-spec",
                Span::new(file, 0, 0),
                "the spec has no nodes",
            )
            .with_label("only comments here")
            .with_help("start from `manifold init`, which writes a commented starter platform.kdl"),
        ]);
    }
    Ok(document)
}

/// The text `0..len` cut at up to `pieces - 1` of the `boundaries`, spread evenly by size.
fn cut(len: usize, boundaries: &[usize], pieces: usize) -> Vec<std::ops::Range<usize>> {
    let mut cuts = vec![0];
    for piece in 1..pieces {
        let wanted = len * piece / pieces;
        let at = boundaries.partition_point(|&boundary| boundary < wanted);
        if let Some(&boundary) = boundaries.get(at)
            && boundary > *cuts.last().unwrap_or(&0)
            && boundary < len
        {
            cuts.push(boundary);
        }
    }
    cuts.push(len);
    cuts.windows(2).map(|pair| pair[0]..pair[1]).collect()
}

/// Parses the whole text in one piece, with diagnostics that point at the mistake.
fn parse_whole(file: FileId, text: &str) -> Result<KdlDocument, Vec<Diagnostic>> {
    match KdlDocument::parse_v2(text) {
        Ok(document) => Ok(document),
        Err(error) => {
            let mistakes = scan_for_mistakes(text);
            if !mistakes.is_empty() {
                let mut diagnostics: Vec<Diagnostic> = mistakes
                    .into_iter()
                    .map(|mistake| {
                        Diagnostic::error(
                            mistake.code,
                            Span::new(file, mistake.span.0, mistake.span.1),
                            mistake.message,
                        )
                        .with_label(mistake.label)
                        .with_help(mistake.help)
                    })
                    .collect();
                crate::diagnostic::sort(&mut diagnostics);
                return Err(diagnostics);
            }
            let mut diagnostics: Vec<Diagnostic> = error
                .diagnostics
                .iter()
                .map(|kdl_diagnostic| {
                    let start = kdl_diagnostic.span.offset().min(text.len());
                    let len = kdl_diagnostic.span.len().min(text.len() - start);
                    let message = kdl_diagnostic.message.clone().unwrap_or_else(|| "invalid KDL".to_owned());
                    Diagnostic::error(SYNTAX_ERROR, Span::new(file, start, len), format!("invalid KDL: {}", lowercase_first(&message)))
                        .with_label(kdl_diagnostic.label.clone().unwrap_or_else(|| "here".to_owned()))
                        .with_help(kdl_diagnostic.help.clone().unwrap_or_else(|| {
                            "see docs/language.md; KDL v2 needs quotes around values that start with a digit or contain `/`".to_owned()
                        }))
                })
                .collect();
            if diagnostics.is_empty() {
                diagnostics.push(
                    Diagnostic::error(SYNTAX_ERROR, Span::new(file, 0, 0), "invalid KDL")
                        .with_label("here")
                        .with_help("see docs/language.md"),
                );
            }
            crate::diagnostic::sort(&mut diagnostics);
            Err(diagnostics)
        }
    }
}

/// Diagnostic code for blocks or block comments nested deeper than [`MAX_DEPTH`].
pub const TOO_DEEP: &str = "manifold::syntax::too-deep";

/// The deepest nesting of `{ }` blocks (and, separately, of `/* */` comments) a spec may
/// have. Real specs need about 5 levels; the limit keeps the `kdl` crate's recursive parser
/// far from the bottom of even a 2 MiB thread stack.
pub const MAX_DEPTH: usize = 64;

/// One pass over the text, skipping strings (quoted, multi-line and raw) and comments.
///
/// - `Err`: the first `{` or `/*` that opens level [`MAX_DEPTH`] + 1.
/// - `Ok(Some(boundaries))`: the top-level node boundaries, where [`parse`] may cut the
///   text: the start of a line that begins with a letter (a node name), a line comment or
///   nothing, when the last thing before it (past blank lines and comments) is the `}` that
///   closed a top-level node's block, so a newline since then ended that node. Escaped
///   newlines (`\`), slashdashes (`/-`), quoted names and type annotations never qualify;
///   they only mean fewer places to cut.
/// - `Ok(None)`: an unclosed string. A one-line one does not stop the depth check (the
///   parser goes on at the next line); one that runs to the end stops the scan (nothing
///   after it is parsed).
fn scan(file: FileId, text: &str) -> Result<Option<Vec<usize>>, Box<Diagnostic>> {
    let bytes = text.as_bytes();
    let (mut idx, mut braces, mut comments) = (0, 0usize, 0usize);
    let mut boundaries = Vec::new();
    // The last byte outside comments and whitespace (newlines included): when it is a
    // top-level `}`, a node's block closed, and the newline after it ended the node.
    let mut last = 0u8;
    let mut unclosed = false;
    let too_deep = |at: usize, what: &str| {
        Diagnostic::error(
            TOO_DEEP,
            Span::new(file, at, if what == "block" { 1 } else { 2 }),
            format!("{what}s are nested more than {MAX_DEPTH} levels deep"),
        )
        .with_label(format!("level {} starts here", MAX_DEPTH + 1))
        .with_help(format!(
            "a platform spec needs a handful of levels; manifold refuses more than {MAX_DEPTH} so that parsing cannot exhaust the stack"
        ))
    };
    while idx < bytes.len() {
        let rest = &bytes[idx..];
        if comments > 0 {
            if rest.starts_with(b"/*") {
                comments += 1;
                if comments > MAX_DEPTH {
                    return Err(Box::new(too_deep(idx, "block comment")));
                }
                idx += 2;
            } else if rest.starts_with(b"*/") {
                comments -= 1;
                idx += 2;
            } else {
                idx += 1;
            }
            continue;
        }
        match bytes[idx] {
            b'/' if rest.starts_with(b"//") => {
                idx += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            }
            b'/' if rest.starts_with(b"/*") => {
                comments = 1;
                idx += 2;
            }
            b'"' | b'#' => {
                let hashes = rest.iter().take_while(|&&b| b == b'#').count();
                if rest.get(hashes) != Some(&b'"') {
                    idx += hashes.max(1); // `#true`, `#null`, ...
                    continue;
                }
                let multiline = rest[hashes..].starts_with(b"\"\"\"");
                let open = hashes + if multiline { 3 } else { 1 };
                let mut close = rest[hashes..open].to_vec();
                close.extend(std::iter::repeat_n(b'#', hashes));
                let mut end = open;
                loop {
                    if end >= rest.len() {
                        return Ok(None); // unclosed string: the parser reports it
                    }
                    if hashes == 0 && rest[end] == b'\\' {
                        end += 2;
                    } else if rest[end..].starts_with(&close) {
                        end += close.len();
                        break;
                    } else if !multiline && rest[end] == b'\n' {
                        // An unclosed one-line string: the parser reports it and goes on at
                        // the next line, so the depth check goes on too; no splitting.
                        unclosed = true;
                        break;
                    } else {
                        end += 1;
                    }
                }
                idx += end;
                last = b'"';
            }
            b'{' => {
                braces += 1;
                if braces > MAX_DEPTH {
                    return Err(Box::new(too_deep(idx, "block")));
                }
                idx += 1;
                last = b'{';
            }
            b'}' => {
                braces = braces.saturating_sub(1);
                idx += 1;
                last = b'}';
            }
            b'\n' => {
                idx += 1;
                let next = &bytes[idx..];
                let between_nodes = next.first().is_some_and(u8::is_ascii_alphabetic)
                    || next.starts_with(b"//")
                    || next.starts_with(b"\n")
                    || next.starts_with(b"\r\n");
                if braces == 0 && last == b'}' && between_nodes {
                    boundaries.push(idx);
                }
            }
            b' ' | b'\t' | b'\r' => idx += 1,
            other => {
                idx += 1;
                last = other;
            }
        }
    }
    Ok((!unclosed).then_some(boundaries))
}

/// A likely mistake found by [`scan_for_mistakes`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mistake {
    code: &'static str,
    span: (usize, usize),
    message: String,
    label: String,
    help: String,
}

/// Scans the text for every token a person most likely got wrong, in one pass. After an
/// unclosed string or comment the rest of the text cannot be read reliably, so scanning stops
/// there.
fn scan_for_mistakes(text: &str) -> Vec<Mistake> {
    let mut mistakes = Vec::new();
    let bytes = text.as_bytes();
    let mut idx = 0;
    let mut open_braces: Vec<usize> = Vec::new();
    while idx < bytes.len() {
        let byte = bytes[idx];
        match byte {
            b'/' if bytes.get(idx + 1) == Some(&b'/') => {
                while idx < bytes.len() && bytes[idx] != b'\n' {
                    idx += 1;
                }
                continue;
            }
            b'/' if bytes.get(idx + 1) == Some(&b'*') => {
                let start = idx;
                match text[idx + 2..].find("*/") {
                    Some(end) => idx += end + 4,
                    None => {
                        mistakes.push(Mistake {
                            code: SYNTAX_ERROR,
                            span: (start, 2),
                            message: "unclosed block comment".into(),
                            label: "this comment never ends".into(),
                            help: "close it with `*/`".into(),
                        });
                        return mistakes;
                    }
                }
                continue;
            }
            b'/' if bytes.get(idx + 1) == Some(&b'-') => {
                idx += 2;
                continue;
            }
            b'"' => {
                let start = idx;
                let multiline = text[idx..].starts_with("\"\"\"");
                let end = if multiline {
                    text[idx + 3..].find("\"\"\"").map(|end| idx + 3 + end + 3)
                } else {
                    find_string_end(bytes, idx + 1)
                };
                match end {
                    Some(end) => idx = end,
                    None => {
                        mistakes.push(Mistake {
                            code: SYNTAX_ERROR,
                            span: (start, 1),
                            message: "unclosed string".into(),
                            label: "this string is never closed".into(),
                            help: "add the closing `\"` on the same line".into(),
                        });
                        return mistakes;
                    }
                }
                continue;
            }
            b'{' => open_braces.push(idx),
            b'}' if open_braces.pop().is_none() => {
                mistakes.push(Mistake {
                    code: SYNTAX_ERROR,
                    span: (idx, 1),
                    message: "unmatched `}`".into(),
                    label: "nothing to close here".into(),
                    help: "remove this brace or add the `{` it should close".into(),
                });
            }
            _ if is_word_byte(byte) => {
                let start = idx;
                while idx < bytes.len() && is_word_byte(bytes[idx]) {
                    idx += 1;
                }
                // A `/` right after a word (not a comment) is part of the same bare value.
                while idx < bytes.len()
                    && bytes[idx] == b'/'
                    && !matches!(bytes.get(idx + 1), Some(b'/' | b'*' | b'-'))
                {
                    idx += 1;
                    while idx < bytes.len() && is_word_byte(bytes[idx]) {
                        idx += 1;
                    }
                }
                let word = &text[start..idx];
                let value = word.rsplit_once('=').map_or(word, |(_, value)| value);
                let value_start = idx - value.len();
                mistakes.extend(check_bare_value(value, value_start));
                continue;
            }
            _ => {}
        }
        idx += 1;
    }
    if let Some(&start) = open_braces.first() {
        mistakes.push(Mistake {
            code: SYNTAX_ERROR,
            span: (start, 1),
            message: "unclosed `{`".into(),
            label: "this block is never closed".into(),
            help: "add the matching `}`".into(),
        });
    }
    mistakes
}

fn check_bare_value(value: &str, start: usize) -> Option<Mistake> {
    if value.is_empty() || value.starts_with('#') || value.starts_with('"') {
        return None;
    }
    let quote_help =
        format!("KDL v2 bare strings cannot start with a digit or contain `/`: write \"{value}\"");
    if matches!(value, "true" | "false" | "null") {
        return Some(Mistake {
            code: SYNTAX_ERROR,
            span: (start, value.len()),
            message: format!("`{value}` is KDL v1 syntax"),
            label: "not a KDL v2 keyword".into(),
            help: format!("KDL v2 writes it as `#{value}` (or \"{value}\" for the string)"),
        });
    }
    if value.contains('/') {
        return Some(Mistake {
            code: SYNTAX_ERROR,
            span: (start, value.len()),
            message: format!("`{value}` must be quoted"),
            label: "bare string with `/`".into(),
            help: quote_help,
        });
    }
    let first = value.as_bytes()[0];
    let starts_numeric = first.is_ascii_digit()
        || ((first == b'-' || first == b'+' || first == b'.')
            && value.as_bytes().get(1).is_some_and(u8::is_ascii_digit));
    let digits = value.trim_start_matches(['-', '+']).replace('_', "");
    if starts_numeric
        && is_kdl_number(value)
        && digits.chars().all(|c| c.is_ascii_digit())
        && digits.parse::<i128>().is_err()
    {
        return Some(Mistake {
            code: "manifold::spec::invalid-number",
            span: (start, value.len()),
            message: "this number is too large".into(),
            label: "cannot be represented".into(),
            help: "use a value between -9223372036854775808 and 9223372036854775807".into(),
        });
    }
    if starts_numeric && !is_kdl_number(value) {
        return Some(Mistake {
            code: SYNTAX_ERROR,
            span: (start, value.len()),
            message: format!("`{value}` must be quoted"),
            label: "starts like a number but is not one".into(),
            help: quote_help,
        });
    }
    None
}

fn is_kdl_number(value: &str) -> bool {
    let digits = value.trim_start_matches(['-', '+']).replace('_', "");
    if let Some(hex) = digits.strip_prefix("0x") {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(oct) = digits.strip_prefix("0o") {
        return !oct.is_empty() && oct.chars().all(|c| ('0'..='7').contains(&c));
    }
    if let Some(bin) = digits.strip_prefix("0b") {
        return !bin.is_empty() && bin.chars().all(|c| c == '0' || c == '1');
    }
    digits.parse::<f64>().is_ok() && !digits.contains(['i', 'n', 'N', 'I'])
}

fn is_word_byte(byte: u8) -> bool {
    !byte.is_ascii_whitespace()
        && !matches!(
            byte,
            b'\\' | b'/' | b'(' | b')' | b'{' | b'}' | b';' | b'[' | b']' | b'"'
        )
}

fn find_string_end(bytes: &[u8], mut idx: usize) -> Option<usize> {
    while idx < bytes.len() {
        match bytes[idx] {
            b'\\' => idx += 2,
            b'"' => return Some(idx + 1),
            b'\n' => return None,
            _ => idx += 1,
        }
    }
    None
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The form and diagnostics of `text` parsed in at most `pieces` pieces.
    fn form_in(text: &str, pieces: usize) -> (usize, Option<crate::spec::Form>, Vec<Diagnostic>) {
        let root = crate::spec::schema::platform_schema();
        match parse_in(FileId(0), text, pieces) {
            Ok(document) => {
                let (form, diagnostics) =
                    crate::spec::form::convert(FileId(0), &document, root, root);
                (document.pieces().len(), Some(form), diagnostics)
            }
            Err(diagnostics) => (0, None, diagnostics),
        }
    }

    #[test]
    fn cutting_a_spec_into_pieces_changes_nothing() {
        let texts = [
            crate::synth::generate(30, 7),
            include_str!("../examples/webshop/platform.kdl").to_owned(),
            include_str!("../examples/voiceassist/platform.kdl").to_owned(),
            // CRLF, comments after `}`, a slashdashed node, an escaped newline, a raw string
            // with braces and a newline, a quoted node name.
            "platform name=a {\r\n}\r\nservice a { image \"x:1\" } // c\n/-\nservice b {}\nservice c \\\n  { image \"y:1\" }\nservice d { command #\"}\nservice e {\"# }\n\"service\" f {}\nservice g {}\n".to_owned(),
            // An error in a later piece: the diagnostics are those of the whole text.
            "platform name=a {}\nservice a {}\nservice b { replicas 1x }\nservice c {}\n".to_owned(),
        ];
        for text in &texts {
            let (one, whole, whole_diagnostics) = form_in(text, 1);
            assert!(one <= 1);
            let mut cut_somewhere = false;
            for pieces in [2, 3, 7, 1000] {
                let (count, form, diagnostics) = form_in(text, pieces);
                cut_somewhere |= count > 1;
                assert_eq!(form, whole, "{pieces} pieces of {text:?}");
                assert_eq!(diagnostics, whole_diagnostics, "{pieces} pieces");
            }
            if whole.is_some() {
                assert!(cut_somewhere, "no boundary found in {text:?}");
            }
        }
    }

    #[test]
    fn boundaries_are_after_top_level_blocks_only() {
        let text = "a {\n  b {\n  }\nc\n}\nd {}\n/- e {}\nf \"}\"\ng {} // x\nh {} \\\ni {}\n\n// j\nk {}\n/-\nl {}\n";
        let boundaries = scan(FileId(0), text).unwrap().unwrap();
        let starts: Vec<&str> = boundaries.iter().map(|&at| &text[at..at + 1]).collect();
        assert_eq!(starts, ["d", "f", "h", "\n", "/", "k"]);
        assert_eq!(scan(FileId(0), "a \"open\nb {}\nc\n").unwrap(), None);
    }

    fn locate(text: &str) -> (usize, String) {
        let diagnostics = parse(FileId(0), text).unwrap_err();
        (diagnostics[0].span.start, diagnostics[0].message.clone())
    }

    #[test]
    fn points_at_unquoted_quantity() {
        let text = "service a {\n  storage 8Gi\n}\n";
        assert_eq!(locate(text).0, text.find("8Gi").unwrap());
    }

    #[test]
    fn points_at_unquoted_path() {
        let text = "service a {\n  probe readiness http=/health\n}\n";
        assert_eq!(locate(text).0, text.find("/health").unwrap());
    }

    #[test]
    fn points_at_v1_boolean() {
        let text = "cluster a {\n  endpoint private=true\n}\n";
        let (start, message) = locate(text);
        assert_eq!(start, text.find("true").unwrap());
        assert!(message.contains("v1"));
    }

    #[test]
    fn issue_10_deep_nesting_is_refused_before_parsing() {
        for (open, close, token) in [
            ("{ a ", "}", "{"),
            ("/* ", "*/ ", "/*"),
            ("/- { a ", "}", "{"),
        ] {
            let text = format!("a {}{}", open.repeat(10_000), close.repeat(10_000));
            let diagnostics = parse(FileId(0), &text).unwrap_err();
            assert_eq!(diagnostics.len(), 1);
            assert_eq!(diagnostics[0].code, TOO_DEEP);
            let level_65 = text.match_indices(token).nth(MAX_DEPTH).unwrap().0;
            assert_eq!(diagnostics[0].span.start, level_65);
        }
        // braces inside strings, raw strings and comments do not count
        let braces = "{".repeat(200);
        let text = format!(
            "a \"{braces}\" #\"{braces}\"# ##\"\"\"\n{braces}\n\"\"\"## // {braces}\nb {{ c; }}\n"
        );
        assert!(scan(FileId(0), &text).is_ok());
        assert!(
            parse(
                FileId(0),
                &format!("{}{}", "a {".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH))
            )
            .is_ok()
        );
    }

    #[test]
    fn points_at_unclosed_brace() {
        let text = "service a {\n  replicas 2\n";
        assert_eq!(locate(text).0, text.find('{').unwrap());
    }
}
