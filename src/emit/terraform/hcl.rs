//! HCL text: string literals that can never start an expression, identifiers, values rendered
//! from template data, and the layout `terraform fmt` writes.
//!
//! Invariants: [`quote`] is the only way a spec-derived string reaches the output (the
//! template formatter applies it to every interpolated string); [`format`] only changes
//! leading whitespace, the spaces before an attribute's `=` and blank lines, never a token, so
//! it cannot change what a file means.

use std::fmt::Write as _;

use minijinja::value::{Value, ValueKind};

/// Quotes `text` as an HCL string literal: `"` and `\` escaped, control characters written
/// as escapes (a newline becomes `\n`), and `${` / `%{` written `$${` / `%%{`, so the
/// value is read back exactly, as a literal, whatever it contains.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `text` is an HCL identifier (a Terraform resource or variable name).
pub fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A Terraform name for a spec name: the name itself when it is an identifier, else the name
/// with every other character replaced by `_`, prefixed with `_` when it starts with a digit.
pub fn identifier(name: &str) -> String {
    if is_identifier(name) {
        return name.to_owned();
    }
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}

/// Renders template data as an HCL expression: strings quoted, numbers and booleans as
/// they are, none as `null`, sequences as `[a, b]`, maps as a multi-line object with quoted
/// keys (indentation is left to [`format`]). Safe strings (already HCL) pass through.
pub fn render(value: &Value) -> Result<String, minijinja::Error> {
    if value.is_safe() {
        return Ok(value.to_string());
    }
    Ok(match value.kind() {
        ValueKind::Undefined | ValueKind::None => "null".to_owned(),
        ValueKind::Bool => if value.is_true() { "true" } else { "false" }.to_owned(),
        ValueKind::Number => value.to_string(),
        ValueKind::String => quote(value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items = value
                .try_iter()?
                .map(|item| render(&item))
                .collect::<Result<Vec<_>, _>>()?;
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map => {
            let mut entries = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                let key = match key.as_str() {
                    Some(text) => quote(text),
                    None => quote(&key.to_string()),
                };
                entries.push(format!("{key} = {}", render(&item)?));
            }
            if entries.is_empty() {
                "{}".to_owned()
            } else {
                format!("{{\n{}\n}}", entries.join("\n"))
            }
        }
        _ => {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("cannot write a {} value as HCL", value.kind()),
            ));
        }
    })
}

/// One line as the formatter sees it.
struct Line {
    /// The text without leading and trailing whitespace.
    text: String,
    /// Net change of open brackets over the line.
    net: i32,
    /// Byte offset of the attribute's `=`, when the line is `name = expression` with the
    /// expression complete on this line.
    assign: Option<usize>,
    /// Inside a heredoc: copied verbatim.
    verbatim: bool,
}

/// Lays HCL out as `terraform fmt` does: two spaces per open bracket, the `=` of consecutive
/// single-line attributes aligned, no trailing spaces, at most one blank line in a row, none
/// just inside a block's braces, and one newline at the end.
pub fn format(text: &str) -> String {
    let lines = scan(text);
    // Indentation, as hclwrite computes it: a line that opens brackets indents the following
    // lines one level; a line that closes brackets is dedented to the level it closes.
    let mut indents: Vec<i32> = Vec::new();
    let mut levels = Vec::with_capacity(lines.len());
    for line in &lines {
        if line.verbatim || line.text.is_empty() {
            levels.push(0);
            continue;
        }
        match line.net {
            net if net > 0 => {
                levels.push(indents.len());
                indents.push(net);
            }
            net if net < 0 => {
                let mut closed = -net;
                while closed > 0 {
                    let Some(last) = indents.last_mut() else {
                        break;
                    };
                    if closed >= *last {
                        closed -= *last;
                        indents.pop();
                    } else {
                        *last -= closed;
                        closed = 0;
                    }
                }
                levels.push(indents.len());
            }
            _ => levels.push(indents.len()),
        }
    }
    // Alignment: each run of consecutive attribute lines puts its `=` one space after the
    // longest name.
    let mut widths: Vec<Option<usize>> = vec![None; lines.len()];
    let mut start = 0;
    while start < lines.len() {
        if lines[start].assign.is_none() || lines[start].verbatim {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < lines.len() && lines[end].assign.is_some() && !lines[end].verbatim {
            end += 1;
        }
        let width = (start..end)
            .map(|index| lead_width(&lines[index], levels[index]))
            .max()
            .unwrap_or(0);
        for slot in &mut widths[start..end] {
            *slot = Some(width);
        }
        start = end;
    }
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        if line.verbatim {
            out.push(line.text.clone());
            continue;
        }
        if line.text.is_empty() {
            out.push(String::new());
            continue;
        }
        let indent = " ".repeat(2 * levels[index]);
        match (line.assign, widths[index]) {
            (Some(at), Some(width)) => {
                let lead = line.text[..at].trim_end();
                let rest = &line.text[at..];
                let pad = width - lead_width(line, levels[index]) + 1;
                out.push(format!("{indent}{lead}{}{rest}", " ".repeat(pad)));
            }
            _ => out.push(format!("{indent}{}", line.text)),
        }
    }
    tidy_blank_lines(&out, &lines)
}

/// The columns before `=` on an attribute line: indentation plus the name.
fn lead_width(line: &Line, level: usize) -> usize {
    let at = line.assign.unwrap_or(0);
    2 * level + line.text[..at].trim_end().len()
}

/// Drops blank lines at the start and end, doubled ones, and those just inside braces;
/// heredoc lines (`lines[i].verbatim`) are kept as they are.
fn tidy_blank_lines(out: &[String], lines: &[Line]) -> String {
    let blank = |index: usize| out[index].is_empty() && !lines[index].verbatim;
    let mut kept: Vec<&str> = Vec::with_capacity(out.len());
    for (index, line) in out.iter().enumerate() {
        if blank(index) {
            let previous = kept.last().copied();
            let next = (index + 1..out.len())
                .find(|candidate| !blank(*candidate))
                .map(|candidate| out[candidate].as_str());
            let after_open = previous.is_none_or(|text| {
                text.ends_with('{') || text.ends_with('[') || text.ends_with('(') || text.is_empty()
            });
            let before_close = next.is_none_or(|text| {
                let text = text.trim_start();
                text.starts_with('}') || text.starts_with(']') || text.starts_with(')')
            });
            if after_open || before_close {
                continue;
            }
        }
        kept.push(line);
    }
    let mut text = kept.join("\n");
    text.push('\n');
    text
}

/// Splits text into lines, finding each line's bracket balance and attribute `=` outside
/// strings and comments, and marking heredoc bodies.
fn scan(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut heredoc: Option<String> = None;
    for raw in text.lines() {
        if let Some(marker) = &heredoc {
            // The body and the closing marker are kept exactly as written.
            if raw.trim() == marker {
                heredoc = None;
            }
            lines.push(Line {
                text: raw.trim_end().to_owned(),
                net: 0,
                assign: None,
                verbatim: true,
            });
            continue;
        }
        let trimmed = raw.trim();
        let analysis = analyse(trimmed);
        heredoc = analysis.heredoc;
        lines.push(Line {
            text: trimmed.to_owned(),
            net: analysis.net,
            assign: analysis.assign,
            verbatim: false,
        });
    }
    lines
}

/// What [`analyse`] finds on one line.
struct Analysis {
    net: i32,
    assign: Option<usize>,
    heredoc: Option<String>,
}

/// Where [`analyse`] is inside a line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    /// A quoted string.
    Text,
    /// An interpolation or directive inside a string, with its open braces.
    Template(u32),
}

/// Bracket balance, attribute `=` and heredoc start of one trimmed line.
fn analyse(line: &str) -> Analysis {
    let bytes = line.as_bytes();
    let mut net = 0i32;
    let mut equals: Option<(usize, i32)> = None;
    let mut stack: Vec<Context> = Vec::new();
    let mut index = 0;
    let mut heredoc = None;
    while index < bytes.len() {
        let byte = bytes[index];
        if stack.last() == Some(&Context::Text) {
            match byte {
                b'\\' => index += 1,
                b'"' => {
                    stack.pop();
                }
                b'$' | b'%'
                    if bytes.get(index + 1) == Some(&byte)
                        && bytes.get(index + 2) == Some(&b'{') =>
                {
                    // `$${` / `%%{`: a literal.
                    index += 2;
                }
                b'$' | b'%' if bytes.get(index + 1) == Some(&b'{') => {
                    stack.push(Context::Template(0));
                    net += 1;
                    index += 1;
                }
                _ => {}
            }
            index += 1;
            continue;
        }
        match byte {
            b'"' => stack.push(Context::Text),
            b'#' => break,
            b'/' if matches!(bytes.get(index + 1), Some(b'/') | Some(b'*')) => break,
            b'{' | b'[' | b'(' => {
                net += 1;
                if byte == b'{'
                    && let Some(Context::Template(depth)) = stack.last_mut()
                {
                    *depth += 1;
                }
            }
            b'}' | b']' | b')' => {
                net -= 1;
                if byte == b'}' {
                    match stack.last_mut() {
                        Some(Context::Template(0)) => {
                            stack.pop();
                        }
                        Some(Context::Template(depth)) => *depth -= 1,
                        _ => {}
                    }
                }
            }
            b'<' if bytes.get(index + 1) == Some(&b'<') => {
                let rest = line[index + 2..].trim_start_matches('-');
                let marker: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect();
                if !marker.is_empty() && rest.len() == marker.len() {
                    heredoc = Some(marker);
                }
                break;
            }
            b'=' if equals.is_none() && index > 0 && stack.is_empty() => {
                let before = bytes[index - 1];
                let after = bytes.get(index + 1).copied();
                if !matches!(before, b'=' | b'!' | b'<' | b'>')
                    && !matches!(after, Some(b'=') | Some(b'>'))
                {
                    equals = Some((index, net));
                }
            }
            _ => {}
        }
        index += 1;
    }
    let assign = match equals {
        // The expression after `=` must be complete on this line.
        Some((at, before)) if net == before && heredoc.is_none() => Some(at),
        _ => None,
    };
    Analysis {
        net,
        assign,
        heredoc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_everything_that_could_start_an_expression() {
        assert_eq!(quote("plain"), "\"plain\"");
        assert_eq!(quote("${var.x}"), "\"$${var.x}\"");
        assert_eq!(
            quote("%{ if true }x%{ endif }"),
            "\"%%{ if true }x%%{ endif }\""
        );
        assert_eq!(quote("$${x}"), "\"$$${x}\"");
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("line\nnext\r\tend"), "\"line\\nnext\\r\\tend\"");
        assert_eq!(quote("bell\u{7}"), "\"bell\\u0007\"");
        assert_eq!(quote("$ { % {"), "\"$ { % {\"");
        assert_eq!(quote("cost $5 100%"), "\"cost $5 100%\"");
        assert_eq!(quote("ünïcödé"), "\"ünïcödé\"");
        assert_eq!(quote(""), "\"\"");
    }

    #[test]
    fn identifiers() {
        assert_eq!(identifier("general"), "general");
        assert_eq!(identifier("spot-pool"), "spot-pool");
        assert_eq!(identifier("1st"), "_1st");
        assert!(is_identifier("_1st"));
        assert!(!is_identifier("1st"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("a b"));
    }

    #[test]
    fn formats_indentation_and_alignment() {
        let input = "resource \"x\" \"y\" {\nname = \"a\"\nlonger_name = 1\n\ntags = {\n\"k\" = \"v\"\n\"key-two\" = \"w\"\n}\nblock {\nx = [\n\"a\",\n]\n}\n}\n";
        let expected = "resource \"x\" \"y\" {\n  name        = \"a\"\n  longer_name = 1\n\n  tags = {\n    \"k\"       = \"v\"\n    \"key-two\" = \"w\"\n  }\n  block {\n    x = [\n      \"a\",\n    ]\n  }\n}\n";
        assert_eq!(format(input), expected);
    }

    #[test]
    fn formatting_ignores_brackets_and_equals_in_strings_and_comments() {
        let input = "a = \"{[(=\"\nbb = \"${x[0]}\" # {\ncc = \"$${\"\n";
        assert_eq!(
            format(input),
            "a  = \"{[(=\"\nbb = \"${x[0]}\" # {\ncc = \"$${\"\n"
        );
    }

    #[test]
    fn formatting_keeps_heredocs() {
        let input = "x {\ny = <<EOT\n  keep  = me\nEOT\nz = 1\n}\n";
        assert_eq!(
            format(input),
            "x {\n  y = <<EOT\n  keep  = me\nEOT\n  z = 1\n}\n"
        );
    }

    #[test]
    fn formatting_keeps_blank_lines_in_heredocs() {
        let input = "x {\ny = <<-EOT\n\n\n  a\n\n  EOT\n}\n";
        assert_eq!(format(input), "x {\n  y = <<-EOT\n\n\n  a\n\n  EOT\n}\n");
    }

    #[test]
    fn formatting_drops_extra_blank_lines() {
        assert_eq!(
            format("\n\na {\n\nb = 1\n\n\nc = 2\n\n}\n\n"),
            "a {\n  b = 1\n\n  c = 2\n}\n"
        );
    }

    #[test]
    fn formatting_survives_garbage() {
        for input in [
            "}}}",
            "\"unterminated",
            "a = {",
            "<<",
            "= = =",
            "${",
            "é = ü",
        ] {
            let _ = format(input);
        }
    }
}
