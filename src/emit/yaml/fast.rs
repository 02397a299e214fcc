//! A direct YAML writer for the documents the emitters build, byte for byte what
//! serde-saphyr writes for them with its default options.
//!
//! Consumes: a [`Value`]. Produces: the YAML text, or `None` when the document holds anything
//! outside the subset this writer is sure of; the caller then renders it with serde-saphyr.
//!
//! The subset: a non-empty mapping at the top; nested mappings and sequences (block style,
//! sequences flush with their key, empty ones as `{}` and `[]`); null, booleans and integers;
//! printable ASCII strings whose style
//! (plain or double-quoted) follows from a few sure rules below. Everything else (floats,
//! non-ASCII text, multi-line strings, which serde-saphyr writes as literal blocks, plain
//! strings over 80 characters except as mapping values (folded, `>-`), and strings whose
//! quoting would need its full YAML 1.1 resolver) makes the whole document fall back.
//!
//! Invariant: whenever this returns `Some`, the text equals serde-saphyr's. Debug builds
//! check that on every document they render (`super::document`), and the tests below hold
//! the two to agreement over random documents built from the characters that decide quoting.
//! Kubernetes documents are nearly all inside the subset, and this writer is several times
//! faster than serializing a `Value` through serde.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Longest plain string serde-saphyr writes on one line; it folds longer ones (`>-`).
const MAX_STRING: usize = 80;

/// Renders `value` as serde-saphyr would, or `None` outside the subset.
pub(super) fn document(value: &Value) -> Option<String> {
    let Value::Object(map) = value else {
        return None;
    };
    if map.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(512);
    write_map(&mut out, map, 0, false)?;
    Some(out)
}

/// Writes a non-empty mapping whose keys sit at column `indent`; with `inline`, the first key
/// follows a sequence dash already written on the current line.
fn write_map(
    out: &mut String,
    map: &Map<String, Value>,
    indent: usize,
    inline: bool,
) -> Option<()> {
    for (index, (key, value)) in map.iter().enumerate() {
        if index > 0 || !inline {
            pad(out, indent);
        }
        write_key(out, key)?;
        out.push(':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                write_map(out, inner, indent + 2, false)?;
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                write_seq(out, items, indent, false)?;
            }
            scalar => {
                out.push(' ');
                write_scalar(out, scalar, Some(indent + 2))?;
            }
        }
    }
    Some(())
}

/// Writes a non-empty sequence whose dashes sit at column `indent`; with `inline`, the first
/// dash follows another dash on the current line (a sequence inside a sequence).
fn write_seq(out: &mut String, items: &[Value], indent: usize, inline: bool) -> Option<()> {
    for (index, item) in items.iter().enumerate() {
        if index > 0 || !inline {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(inner) if !inner.is_empty() => write_map(out, inner, indent + 2, true)?,
            Value::Array(inner) if !inner.is_empty() => write_seq(out, inner, indent + 2, true)?,
            scalar => write_scalar(out, scalar, None)?,
        }
    }
    Some(())
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A scalar or an empty collection in value position, and the end of its line; a mapping
/// value gets the column its folded lines would be indented to.
fn write_scalar(out: &mut String, value: &Value, fold_column: Option<usize>) -> Option<()> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => {
            // Floats are formatted by serde-saphyr's own shortest-representation code.
            if let Some(integer) = number.as_i64() {
                write!(out, "{integer}").ok()?;
            } else {
                write!(out, "{}", number.as_u64()?).ok()?;
            }
        }
        Value::String(text) => match value_style(text)? {
            Style::Plain => out.push_str(text),
            Style::Quoted => quoted(out, text),
            Style::Long => return folded(out, text, fold_column?),
        },
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
    out.push('\n');
    Some(())
}

/// A plain string over 80 characters as serde-saphyr folds it: `>-`, then the text cut at
/// single spaces into lines indented to `column`. Its cut rule is kept exactly, quirk
/// included: a line ends at the last space before the 81st character counted since the
/// previous cut was decided (not since the line began), and a stretch with no space in
/// reach ends the folding (the rest goes on one line). Runs of spaces fall back.
fn folded(out: &mut String, text: &str, column: usize) -> Option<()> {
    if text.contains("  ") {
        return None;
    }
    out.push_str(">-\n");
    let bytes = text.as_bytes();
    let (mut start, mut counted) = (0, 0);
    let mut last_space = None;
    for (index, &byte) in bytes.iter().enumerate() {
        if byte != b' ' && index > 0 && bytes[index - 1] == b' ' {
            last_space = Some(index - 1);
        }
        counted += 1;
        if counted > MAX_STRING {
            let Some(space) = last_space.take() else {
                break;
            };
            pad(out, column);
            out.push_str(&text[start..space]);
            out.push('\n');
            start = space + 1;
            counted = 0;
        }
    }
    pad(out, column);
    out.push_str(&text[start..]);
    out.push('\n');
    Some(())
}

/// A mapping key: plain when serde-saphyr's key rules surely allow it, quoted when they
/// surely do not; anything else falls back.
fn write_key(out: &mut String, key: &str) -> Option<()> {
    let bytes = key.as_bytes();
    let first = *bytes.first()?;
    if bytes.len() > MAX_STRING
        || !first.is_ascii_alphabetic()
        || !bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-'))
    {
        return None;
    }
    if is_reserved_word(key) {
        quoted(out, key);
    } else {
        out.push_str(key);
    }
    Some(())
}

enum Style {
    Plain,
    Quoted,
    /// Plain text over 80 characters, which serde-saphyr folds.
    Long,
}

/// How serde-saphyr writes a single-line string value, when the rules below decide it.
///
/// - The empty string, a YAML 1.1 boolean or null spelling, and (signed) digits and dots
///   (`8080`, `-1`, `1.25.0`, which YAML 1.1 reads as numbers) are quoted.
/// - Text starting with a letter or `/`, or with a digit, `.` or `-` when it holds a
///   character no YAML 1.1 number or timestamp can hold (`500m`, `50%`, `../base`,
///   `--interval`), is plain unless it
///   would end a key (`: `, a trailing `:`) or start a comment (` #`), which quotes it.
/// - Text starting with one of YAML's indicators (`*`, `&`, `!`, `@`, …) is quoted.
///
/// Plain text longer than 80 characters is [`Style::Long`]: serde-saphyr folds it (`>-`).
fn value_style(text: &str) -> Option<Style> {
    let bytes = text.as_bytes();
    let Some(&first) = bytes.first() else {
        return Some(Style::Quoted);
    };
    if !bytes.iter().all(|&b| (b' '..=b'~').contains(&b)) {
        return None;
    }
    let style = match first {
        b'a'..=b'z' | b'A'..=b'Z' | b'/' if is_reserved_word(text) => Style::Quoted,
        b'a'..=b'z' | b'A'..=b'Z' | b'/' => text_style(text)?,
        b'0'..=b'9' if is_digits_and_dots(bytes) => Style::Quoted,
        b'-' if bytes.get(1).is_some_and(u8::is_ascii_digit) && is_digits_and_dots(&bytes[1..]) => {
            Style::Quoted
        }
        // Command-line flags: `-c`, `--interval` (a dash then a space is a sequence entry).
        b'-' if bytes.len() > 1
            && bytes[1] != b' '
            && !text.starts_with("---")
            && !is_special_float(&text[1..])
            && !is_reserved_word(&text[1..])
            && bytes.iter().any(|&b| !is_number_byte(b)) =>
        {
            text_style(text)?
        }
        b'0'..=b'9' | b'.' if bytes.iter().any(|&b| !is_number_byte(b)) => {
            if text == "." || text.starts_with("...") || is_special_float(text) {
                return None;
            }
            text_style(text)?
        }
        // serde-saphyr single-quotes a lone `#` (and `.` and `-`, which fall back anyway).
        b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%'
        | b'@' | b'`'
            if !bytes.contains(&b' ') && text != "#" =>
        {
            Style::Quoted
        }
        _ => return None,
    };
    match style {
        Style::Plain if bytes.len() > MAX_STRING => Some(Style::Long),
        style => Some(style),
    }
}

/// Plain, or quoted where a plain scalar would end a key or start a comment; `None` for
/// trailing spaces (a plain scalar loses them).
fn text_style(text: &str) -> Option<Style> {
    if text.ends_with(' ') {
        None
    } else if text.ends_with(':') || text.contains(": ") || text.contains(" #") {
        Some(Style::Quoted)
    } else {
        Some(Style::Plain)
    }
}

fn is_digits_and_dots(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b.is_ascii_digit() || b == b'.')
}

/// Every byte a YAML 1.1 number (decimal, `0x`/`0o`/`0b`, exponent, base 60, `_` separators)
/// or timestamp (`2001-12-14t21:59:43.10Z`, `2001-12-14 21:59:43,1 +5`) can hold, apart from
/// `.inf` and `.nan`.
fn is_number_byte(byte: u8) -> bool {
    byte.is_ascii_digit() || b"abcdefABCDEFxXoObBtTZ+-._:, ".contains(&byte)
}

fn is_special_float(text: &str) -> bool {
    text.eq_ignore_ascii_case(".inf") || text.eq_ignore_ascii_case(".nan")
}

/// Words a YAML 1.1 reader takes for a boolean, a null or a special float.
fn is_reserved_word(text: &str) -> bool {
    const WORDS: [&str; 12] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf", "~",
    ];
    text.len() <= 5 && WORDS.iter().any(|word| text.eq_ignore_ascii_case(word))
}

/// A double-quoted scalar of printable ASCII: only `"` and `\` need escapes.
fn quoted(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        if matches!(ch, '"' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::document;

    /// serde-saphyr's rendering, the reference.
    fn reference(value: &Value) -> String {
        serde_saphyr::to_string(value).expect("a JSON value serializes")
    }

    #[test]
    fn layout_matches_serde_saphyr() {
        let cases = [
            json!({"a": {"b": 1, "c": [1, 2]}, "d": [], "e": {}}),
            json!({"s": [{"a": 1, "b": {"c": 2}}, {"x": [1, {"y": 2}]}, [1, 2], [[1], []], {},
                [], null, {"m": {"n": {}}}]}),
            json!({"k": [{"a": [{"b": 1}], "c": {"d": [1]}}], "t": true, "f": false}),
            json!({"i": -3, "u": 18446744073709551615u64, "z": 0}),
            json!({"a": {"long": "word ".repeat(40).trim_end(), "token": "x".repeat(81)},
                "s": [{"long": format!("{} {}", "x".repeat(79), "y ".repeat(50).trim_end())}]}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web",
                "labels": {"app.kubernetes.io/name": "web"}}, "spec": {"replicas": 3}}),
        ];
        for case in cases {
            assert_eq!(document(&case).as_deref(), Some(reference(&case).as_str()));
        }
    }

    #[test]
    fn quoting_matches_serde_saphyr() {
        let strings = [
            "",
            "*",
            "1",
            "8080",
            "1.25.0",
            "1.",
            "yes",
            "On",
            "NULL",
            "~",
            "a:b",
            "a: b",
            "a:",
            "x#y",
            "x #y",
            "500m",
            "256Mi",
            "30s",
            "a b",
            "http://x.y/z",
            "/health",
            "*.example.com",
            "@latest",
            "say \"hi\"",
            "back\\slash",
            "#comment",
            "!tag",
            "& anchor",
            "0x1f",
            "1e3",
            "12:30",
            "2026-12-02",
            "9Gi",
            "1m0s",
        ];
        for text in strings {
            let value = json!({ "value": text, "list": [text] });
            if let Some(fast) = document(&value) {
                assert_eq!(fast, reference(&value), "{text:?}");
            }
        }
        // The common Kubernetes spellings are inside the subset.
        for text in [
            "",
            "8080",
            "yes",
            "500m",
            "a b",
            "http://x.y/z",
            "*",
            "/health",
        ] {
            assert!(
                document(&json!({ "v": text })).is_some(),
                "{text:?} fell back"
            );
        }
    }

    #[test]
    fn outside_the_subset_falls_back() {
        for value in [
            json!({"ratio": 0.5}),
            json!({"text": "two\nlines"}),
            json!({"text": "é"}),
            json!({"list": ["x".repeat(81)]}),
            json!({"text": format!("{}  {}", "x".repeat(50), "y".repeat(50))}),
            json!({"1": "digit key"}),
            json!({"a:b": "colon key"}),
            json!({}),
            json!([1, 2]),
            json!("scalar"),
        ] {
            assert_eq!(document(&value), None, "{value}");
        }
    }

    /// A small deterministic generator (xorshift), so failures reproduce.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: u64) -> usize {
            usize::try_from(self.next() % bound).unwrap_or(0)
        }

        /// Strings made of the characters and words that decide YAML quoting.
        fn string(&mut self) -> String {
            const PIECES: [&str; 46] = [
                "a",
                "Z",
                "m",
                "e",
                "x",
                "0",
                "1",
                "9",
                ".",
                "-",
                "_",
                "/",
                ":",
                ": ",
                " ",
                "#",
                " #",
                "*",
                "&",
                "!",
                "@",
                "%",
                "`",
                "'",
                "\"",
                "\\",
                ",",
                "[",
                "]",
                "{",
                "}",
                "yes",
                "no",
                "on",
                "null",
                "true",
                "Gi",
                "2026-12-02",
                "---",
                "~",
                "...",
                "inf",
                "T",
                "+",
                "5xx,connect-failure",
                "a long annotation: with a colon, and words",
            ];
            let pieces = self.below(6);
            (0..pieces)
                .map(|_| PIECES[self.below(PIECES.len() as u64)])
                .collect()
        }

        /// Words and single spaces, up to 200 characters: the strings serde-saphyr folds.
        fn sentence(&mut self) -> String {
            const WORDS: [&str; 8] = [
                "a",
                "the",
                "spec",
                "secretKeyRef",
                "(never",
                "values);",
                "CKV_K8S_43=the",
                "registry.example.com/platform/a-long-image-name-without-any-space-in-reach:v1",
            ];
            let words = 1 + self.below(40);
            let mut sentence = String::from("Word");
            for _ in 0..words {
                // Now and then a run of two spaces, which makes the document fall back.
                sentence.push_str(if self.below(100) == 0 { "  " } else { " " });
                sentence.push_str(WORDS[self.below(WORDS.len() as u64)]);
            }
            sentence
        }

        /// Mostly key-like strings (a letter, then name characters), sometimes anything.
        fn key(&mut self) -> String {
            const NAME: [&str; 10] = ["a", "Z", "m", "y", "n", "0", ".", "-", "_", "/"];
            if self.below(5) == 0 {
                return self.string();
            }
            let length = 1 + self.below(4);
            let mut key = String::from(["a", "y", "n", "on", "Off"][self.below(5)]);
            for _ in 1..length {
                key.push_str(NAME[self.below(NAME.len() as u64)]);
            }
            key
        }

        fn map(&mut self, depth: usize) -> Value {
            let entries = if depth == 0 {
                1 + self.below(4)
            } else {
                self.below(4)
            };
            Value::Object(
                (0..entries)
                    .map(|_| (self.key(), self.value(depth + 1)))
                    .collect(),
            )
        }

        fn value(&mut self, depth: usize) -> Value {
            let kind = if depth > 3 {
                self.below(4)
            } else {
                self.below(7)
            };
            match kind {
                0 => Value::String(self.string()),
                1 => json!(self.next() as i64 >> self.below(64)),
                2 => [Value::Null, Value::Bool(true), Value::Bool(false)][self.below(3)].clone(),
                3 => Value::String(self.sentence()),
                4 | 5 => self.map(depth),
                _ => {
                    let items = self.below(4);
                    Value::Array((0..items).map(|_| self.value(depth + 1)).collect())
                }
            }
        }
    }

    #[test]
    fn random_documents_match_serde_saphyr() {
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        let (mut fast_path, mut total) = (0, 0);
        for _ in 0..50_000 {
            let value = random.map(0);
            total += 1;
            if let Some(fast) = document(&value) {
                fast_path += 1;
                assert_eq!(fast, reference(&value), "{value}");
            }
        }
        // The generator must keep exercising the fast path, or this test proves nothing.
        assert!(
            fast_path * 5 > total,
            "{fast_path} of {total} took the fast path"
        );
    }
}
