//! A fast reader for the plain subset of KDL v2 that platform specs are written in.
//!
//! Consumes: the text of a spec (or of one piece of it). Produces: the same
//! [`kdl::KdlDocument`] the `kdl` crate's parser builds, as far as manifold reads it (node
//! and property names, values, children, and the spans and value texts of each), or `None`.
//!
//! Why: the `kdl` crate's parser keeps every byte of formatting and builds an error context
//! per token; it was the slowest stage of a large compile and its documents the largest
//! allocation (docs/performance.md). This reader handles bare identifiers, quoted strings with
//! the common escapes, decimal integers and floats, `#true`/`#false`/`#null`, properties,
//! children blocks, `;` and `//` comments.
//!
//! Invariant: it never accepts text the `kdl` crate rejects, and never reads accepted text
//! differently. Anything outside the subset (raw and multi-line strings, type annotations,
//! slashdash and block comments, line continuations, other number forms, other keywords,
//! Unicode whitespace, newlines or control characters) and every error is `None`: the caller
//! then parses with the `kdl` crate, which also reports the errors. The differential tests
//! below hold both parsers to this over every spec in the repository and thousands of
//! mutations of them.

use kdl::{KdlDocument, KdlEntry, KdlEntryFormat, KdlIdentifier, KdlNode, KdlValue};

/// Parses `text`, or returns `None` when it is not in the subset (or not valid KDL).
pub(super) fn parse(text: &str) -> Option<KdlDocument> {
    if !text.chars().all(allowed_anywhere) {
        return None;
    }
    let mut reader = Reader {
        text: text.as_bytes(),
        at: 0,
    };
    let nodes = reader.nodes(false)?;
    let mut document = KdlDocument::new();
    *document.nodes_mut() = nodes;
    Some(document)
}

/// Characters the reader leaves to the `kdl` crate wherever they occur: control characters
/// other than tab, line feed and carriage return; the newlines and spaces of Unicode beyond
/// those; the direction controls and the byte-order mark (KDL's disallowed code points).
fn allowed_anywhere(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => true,
        '\u{0}'..='\u{1F}' | '\u{7F}'..='\u{A0}' => false,
        '\u{1680}' | '\u{2000}'..='\u{200F}' | '\u{2028}'..='\u{202F}' => false,
        '\u{205F}' | '\u{2066}'..='\u{2069}' | '\u{3000}' | '\u{FEFF}' => false,
        _ => true,
    }
}

struct Reader<'t> {
    text: &'t [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.text.get(self.at + ahead).copied()
    }

    /// Nodes up to the end of the text, or (`in_children`) up to and including the `}`.
    fn nodes(&mut self, in_children: bool) -> Option<Vec<KdlNode>> {
        let mut nodes = Vec::new();
        loop {
            self.line_space()?;
            match self.peek() {
                None if in_children => return None,
                None => return Some(nodes),
                Some(b'}') if in_children => {
                    self.at += 1;
                    return Some(nodes);
                }
                Some(_) => {}
            }
            nodes.push(self.node()?);
            // The node's terminator: a newline, `;`, a comment, the end, or the parent's `}`.
            match self.peek() {
                None => {}
                Some(b'}') => {}
                Some(b';') => self.at += 1,
                Some(b'\n' | b'\r') => self.newline(),
                Some(b'/') if self.peek_at(1) == Some(b'/') => self.comment(),
                Some(_) => return None,
            }
        }
    }

    /// Spaces, tabs, newlines and `//` comments between nodes.
    fn line_space(&mut self) -> Option<()> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.at += 1,
                Some(b'\n' | b'\r') => self.newline(),
                Some(b'/') if self.peek_at(1) == Some(b'/') => self.comment(),
                Some(b'/' | b';' | b'\\') => return None,
                _ => return Some(()),
            }
        }
    }

    fn spaces(&mut self) -> bool {
        let start = self.at;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
        self.at > start
    }

    fn newline(&mut self) {
        if self.peek() == Some(b'\r') && self.peek_at(1) == Some(b'\n') {
            self.at += 2;
        } else {
            self.at += 1;
        }
    }

    /// A `//` comment through its newline.
    fn comment(&mut self) {
        while let Some(byte) = self.peek() {
            if matches!(byte, b'\n' | b'\r') {
                self.newline();
                return;
            }
            self.at += 1;
        }
    }

    fn node(&mut self) -> Option<KdlNode> {
        let start = self.at;
        let name = self.string()?;
        if !self.terminated() {
            return None;
        }
        let mut node = KdlNode::new(identifier(name, start..self.at));
        loop {
            let spaced = self.spaces();
            match self.peek() {
                None | Some(b'\n' | b'\r' | b';' | b'}') => break,
                Some(b'/') if self.peek_at(1) == Some(b'/') => break,
                Some(b'{') => {
                    self.at += 1;
                    let mut children = KdlDocument::new();
                    *children.nodes_mut() = self.nodes(true)?;
                    node.set_children(children);
                    self.spaces();
                    break;
                }
                Some(_) if !spaced => return None,
                Some(_) => {
                    let entry = self.entry()?;
                    node.entries_mut().push(entry);
                }
            }
        }
        node.set_span(start..self.at);
        Some(node)
    }

    /// An argument or a property.
    fn entry(&mut self) -> Option<KdlEntry> {
        let start = self.at;
        if !(matches!(self.peek(), Some(b'"')) || self.starts_identifier()) {
            let value = self.value()?;
            return self.finish(KdlEntry::new(value), start, start);
        }
        let text = self.string()?;
        let key_end = self.at;
        self.spaces();
        if self.peek() != Some(b'=') {
            // A string argument, not a property's key.
            self.at = key_end;
            if !self.terminated() {
                return None;
            }
            return self.finish(KdlEntry::new(KdlValue::String(text)), start, start);
        }
        self.at += 1;
        self.spaces();
        let value_start = self.at;
        let value = self.value()?;
        let key = identifier(text, start..key_end);
        self.finish(KdlEntry::new_prop(key, value), start, value_start)
    }

    /// Gives an entry that ends here the span from `start` and, as the kdl crate does, the
    /// text of its value (from `value_start`).
    fn finish(&self, mut entry: KdlEntry, start: usize, value_start: usize) -> Option<KdlEntry> {
        entry.set_format(KdlEntryFormat {
            value_repr: self.slice(value_start)?.to_owned(),
            ..KdlEntryFormat::default()
        });
        entry.set_span(start..self.at);
        Some(entry)
    }

    fn slice(&self, start: usize) -> Option<&str> {
        std::str::from_utf8(&self.text[start..self.at]).ok()
    }

    /// A value: a string, a number or a keyword, followed by a value terminator.
    fn value(&mut self) -> Option<KdlValue> {
        let value = match self.peek()? {
            b'#' => self.keyword()?,
            b'0'..=b'9' | b'-' | b'+' | b'.' if !self.starts_identifier() => self.number()?,
            _ => KdlValue::String(self.string()?),
        };
        self.terminated().then_some(value)
    }

    /// Whether the next byte may end a value: space, newline, `;`, `}`, a comment, the end.
    fn terminated(&self) -> bool {
        match self.peek() {
            None | Some(b' ' | b'\t' | b'\n' | b'\r' | b';' | b'}') => true,
            Some(b'/') => self.peek_at(1) == Some(b'/'),
            Some(_) => false,
        }
    }

    fn keyword(&mut self) -> Option<KdlValue> {
        let rest = &self.text[self.at..];
        let (value, len) = if rest.starts_with(b"#true") {
            (KdlValue::Bool(true), 5)
        } else if rest.starts_with(b"#false") {
            (KdlValue::Bool(false), 6)
        } else if rest.starts_with(b"#null") {
            (KdlValue::Null, 5)
        } else {
            return None;
        };
        self.at += len;
        Some(value)
    }

    /// `-?[0-9]+` (an integer) or `-?[0-9]+\.[0-9]+` (a float); any other number form (a
    /// sign `+`, `_`, exponents, radix prefixes) is left to the `kdl` crate.
    fn number(&mut self) -> Option<KdlValue> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let digits = |reader: &mut Reader<'_>| {
            let from = reader.at;
            while matches!(reader.peek(), Some(b'0'..=b'9')) {
                reader.at += 1;
            }
            reader.at > from
        };
        if !digits(self) {
            return None;
        }
        let float = self.peek() == Some(b'.');
        if float {
            self.at += 1;
            if !digits(self) {
                return None;
            }
        }
        let text = self.slice(start)?;
        if float {
            text.parse::<f64>()
                .ok()
                .filter(|number| number.is_finite())
                .map(KdlValue::Float)
        } else {
            text.parse::<i128>().ok().map(KdlValue::Integer)
        }
    }

    /// Whether a bare identifier starts here (not a number, which starts with a digit, or
    /// with a sign or a dot followed by a digit).
    fn starts_identifier(&self) -> bool {
        let Some(first) = self.peek() else {
            return false;
        };
        if !identifier_byte(first) || first.is_ascii_digit() {
            return false;
        }
        match first {
            b'-' | b'+' => match self.peek_at(1) {
                Some(b'0'..=b'9') => false,
                Some(b'.') => !matches!(self.peek_at(2), Some(b'0'..=b'9')),
                _ => true,
            },
            b'.' => !matches!(self.peek_at(1), Some(b'0'..=b'9')),
            _ => true,
        }
    }

    /// The value of a bare identifier or a single-line quoted string. The caller checks what
    /// follows it.
    fn string(&mut self) -> Option<String> {
        let start = self.at;
        let value = if self.peek() == Some(b'"') {
            self.quoted()?
        } else {
            if !self.starts_identifier() {
                return None;
            }
            while self.peek().is_some_and(identifier_byte) {
                self.at += 1;
            }
            let text = self.slice(start)?;
            if matches!(text, "true" | "false" | "null" | "inf" | "-inf" | "nan") {
                return None;
            }
            text.to_owned()
        };
        Some(value)
    }

    /// A single-line quoted string with the escapes `\" \\ \b \f \n \r \t \s \u{…}`.
    fn quoted(&mut self) -> Option<String> {
        self.at += 1;
        if self.peek() == Some(b'"') && self.peek_at(1) == Some(b'"') {
            return None; // a multi-line string
        }
        let mut value = String::new();
        let mut run = self.at;
        loop {
            match self.peek()? {
                b'"' => {
                    value.push_str(std::str::from_utf8(&self.text[run..self.at]).ok()?);
                    self.at += 1;
                    return Some(value);
                }
                b'\n' | b'\r' => return None,
                b'\\' => {
                    value.push_str(std::str::from_utf8(&self.text[run..self.at]).ok()?);
                    self.at += 1;
                    let escaped = match self.peek()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'b' => '\u{8}',
                        b'f' => '\u{C}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b's' => ' ',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    // Past the escape's letter, or the `}` of `\u{…}`.
                    self.at += 1;
                    value.push(escaped);
                    run = self.at;
                }
                _ => self.at += 1,
            }
        }
    }

    /// `\u{…}` with one to six hex digits, after the `\`; leaves the reader on the `}`.
    fn unicode_escape(&mut self) -> Option<char> {
        if self.peek_at(1) != Some(b'{') {
            return None;
        }
        let digits_start = self.at + 2;
        let mut end = digits_start;
        while self.text.get(end).is_some_and(u8::is_ascii_hexdigit) {
            end += 1;
        }
        if end == digits_start || end - digits_start > 6 || self.text.get(end) != Some(&b'}') {
            return None;
        }
        let code =
            u32::from_str_radix(std::str::from_utf8(&self.text[digits_start..end]).ok()?, 16)
                .ok()?;
        let escaped = char::from_u32(code).filter(|c| allowed_anywhere(*c) && *c != '\u{0}')?;
        self.at = end;
        Some(escaped)
    }
}

/// A node or property name with its token's span.
fn identifier(name: String, span: std::ops::Range<usize>) -> KdlIdentifier {
    let mut identifier = KdlIdentifier::from(name);
    identifier.set_span(span);
    identifier
}

/// ASCII bytes of a bare identifier (KDL's identifier characters, without `=`); any other
/// byte, non-ASCII included, ends it (and a non-ASCII one then fails the terminator check).
fn identifier_byte(byte: u8) -> bool {
    byte.is_ascii_graphic()
        && !matches!(
            byte,
            b'\\' | b'/' | b'(' | b')' | b'{' | b'}' | b'[' | b']' | b';' | b'"' | b'#' | b'='
        )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use kdl::{KdlDocument, KdlNode};

    /// What manifold reads of a document: every node's name, name span and span, every
    /// entry's name (and its span), value, span and value text, and the children, recursively.
    fn reading(nodes: &[KdlNode], out: &mut Vec<String>) {
        for node in nodes {
            out.push(format!(
                "node {:?} {:?} {:?} children={}",
                node.name().value(),
                node.name().span(),
                node.span(),
                node.children().is_some()
            ));
            for entry in node.entries() {
                out.push(format!(
                    "  entry {:?} {:?} {:?} {:?} {:?}",
                    entry
                        .name()
                        .map(|name| (name.value().to_owned(), name.span())),
                    entry.value(),
                    entry.span(),
                    entry
                        .format()
                        .map(|format| format.value_repr.trim().to_owned()),
                    entry.ty()
                ));
            }
            if let Some(children) = node.children() {
                out.push("{".into());
                reading(children.nodes(), out);
                out.push("}".into());
            }
        }
    }

    fn read(document: &KdlDocument) -> Vec<String> {
        let mut out = Vec::new();
        reading(document.nodes(), &mut out);
        out
    }

    /// The invariant: whatever the fast reader accepts, the `kdl` crate accepts and reads
    /// alike. Returns whether the fast reader accepted the text.
    fn agrees(text: &str, what: &str) -> bool {
        let Some(fast) = super::parse(text) else {
            return false;
        };
        let reference = match KdlDocument::parse_v2(text) {
            Ok(reference) => reference,
            Err(error) => {
                panic!("{what}: the fast reader accepts what kdl rejects ({error:?}):\n{text}")
            }
        };
        let (fast, reference) = (read(&fast), read(&reference));
        if fast != reference {
            let at = fast
                .iter()
                .zip(&reference)
                .position(|(a, b)| a != b)
                .unwrap_or(fast.len().min(reference.len()));
            panic!(
                "{what}: read differently at line {at} of the reading:\n  fast: {:?}\n  kdl:  {:?}\n{text}",
                fast.get(at),
                reference.get(at)
            );
        }
        true
    }

    /// Every spec, profile and bad spec in the repository.
    fn corpus() -> Vec<(String, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["examples", "overlays", "templates", "tests"] {
            for entry in walkdir::WalkDir::new(root.join(dir)).sort_by_file_name() {
                let Ok(entry) = entry else { continue };
                let path = entry.path();
                if path.extension().is_some_and(|ext| ext == "kdl")
                    && let Ok(text) = std::fs::read_to_string(path)
                {
                    files.push((path.display().to_string(), text));
                }
            }
        }
        files.push(("synth 23".into(), crate::synth::generate(23, 7)));
        files
    }

    #[test]
    fn agrees_with_kdl_on_every_spec_in_the_repository() {
        let corpus = corpus();
        assert!(corpus.len() > 100, "only {} specs found", corpus.len());
        let mut accepted = 0;
        for (name, text) in &corpus {
            if agrees(text, name) {
                accepted += 1;
            }
        }
        // The examples, the profiles and generated specs are plain KDL: the fast path is
        // what they take (a regression here is a slowdown, not a bug).
        for (name, text) in &corpus {
            let plain = name.contains("examples/")
                || name.contains("overlays/")
                || name.starts_with("synth");
            assert!(
                !plain || super::parse(text).is_some(),
                "{name} left the fast path"
            );
        }
        assert!(accepted > 20, "only {accepted} specs took the fast path");
    }

    #[test]
    fn agrees_with_kdl_on_mutations() {
        // A small deterministic generator: no dependency, same cases on every run.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        const PIECES: [&str; 34] = [
            " ", "\t", "\n", "\r\n", "\r", ";", "{", "}", "=", "\"", "\\", "/", "//", "/*", "#",
            "#true", "#null", "#inf", "-", "+", ".", "0", "7", "1.5", "1e3", "a", "x=1", "\"a b\"",
            "\\u{41}", "\\n", "é", "\u{a0}", "(t)", "/-",
        ];
        let corpus = corpus();
        let mut accepted = 0;
        for round in 0..4000 {
            let (name, text) = &corpus[next(corpus.len())];
            let mut text = text.clone();
            for _ in 0..1 + next(3) {
                let mut at = next(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                match next(3) {
                    0 => text.insert_str(at, PIECES[next(PIECES.len())]),
                    1 => {
                        let mut end = (at + 1 + next(4)).min(text.len());
                        while !text.is_char_boundary(end) {
                            end -= 1;
                        }
                        text.replace_range(at..end, "");
                    }
                    _ => text.replace_range(at..at, PIECES[next(PIECES.len())]),
                }
            }
            if agrees(&text, &format!("mutation {round} of {name}")) {
                accepted += 1;
            }
        }
        assert!(
            accepted > 500,
            "only {accepted} mutations took the fast path"
        );
    }

    #[test]
    fn reads_each_form_of_the_subset() {
        let text = "a\nb 1 -2 3.25 -0.5 #true #false #null x \"q\\\"\\\\\\n\\t\\s\\u{e9}\"\n\
                    c key=value k2 = 7 \"quoted key\"=\"v\" { d; e f=#null }\n\
                    g {\n  // a comment\n  h\r\n}   \n-i .j +k 0755 // trailing\n\"node name\" \"é\"\n";
        assert!(agrees(text, "the subset"), "left the fast path");
        for outside in [
            "a #\"raw\"#",
            "a \"\"\"\nm\n\"\"\"",
            "(t)a",
            "a (t)1",
            "/-a",
            "a /* c */ b",
            "a \\\n b",
            "a 0x1F",
            "a 1e3",
            "a 1_000",
            "a +1",
            "a #inf",
            "a\u{a0}b",
            "\u{feff}a",
        ] {
            assert!(
                super::parse(outside).is_none(),
                "{outside:?} is outside the subset"
            );
        }
        for invalid in [
            "a 8Gi",
            "a /health",
            "a true",
            "a \"open",
            "a {",
            "a }",
            "a=1",
            "a b=",
            ";",
        ] {
            assert!(super::parse(invalid).is_none(), "{invalid:?} is not KDL");
            assert!(!agrees(invalid, "invalid"));
        }
    }
}
