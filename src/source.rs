//! Source files and spans: the spec the user wrote and the built-in profiles.
//!
//! Consumes: file names and their text. Produces: [`FileId`]s and line/column lookups.
//! Invariant: a [`Span`] is a byte range into exactly one [`SourceFile`]; nothing here reads
//! the filesystem.

use std::sync::{Arc, OnceLock};

/// Identifies one file in a [`Sources`] set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// The file the range belongs to.
    pub file: FileId,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Length in bytes (may be zero for a point).
    pub len: usize,
}

impl Span {
    /// A span covering `start..start + len` in `file`.
    pub fn new(file: FileId, start: usize, len: usize) -> Span {
        Span { file, start, len }
    }

    /// The byte offset one past the end.
    pub fn end(&self) -> usize {
        self.start + self.len
    }
}

/// One source text with the name shown in diagnostics.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user gave it, or `<builtin>/overlays/production.kdl` for embedded files.
    pub name: String,
    /// The full text.
    pub text: Arc<str>,
    line_starts: Vec<usize>,
    /// Line starts as miette counts lines (`\n`, `\r\n` and a lone `\r` each end one),
    /// built on first use by [`SourceFile::render_lines`].
    render_lines: OnceLock<Arc<[usize]>>,
}

impl SourceFile {
    /// The 1-based line and 1-based column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line_idx = match self.line_starts.binary_search(&offset) {
            Ok(idx) => idx,
            Err(idx) => idx - 1,
        };
        let line_start = self.line_starts[line_idx];
        let column = self.text[line_start..floor_char_boundary(&self.text, offset)]
            .chars()
            .count();
        (line_idx + 1, column + 1)
    }

    /// The text of the 1-based line `line` without its newline.
    pub fn line_text(&self, line: usize) -> &str {
        let start = self
            .line_starts
            .get(line - 1)
            .copied()
            .unwrap_or(self.text.len());
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    /// The byte offset of the start of every line, counting lines as miette's renderer does
    /// (`\n`, `\r\n` and a lone `\r` each end one); the first entry is 0. Built once per file
    /// and shared, so rendering many diagnostics never rescans the text.
    pub fn render_lines(&self) -> Arc<[usize]> {
        self.render_lines
            .get_or_init(|| {
                let bytes = self.text.as_bytes();
                let mut starts = vec![0];
                for (idx, byte) in bytes.iter().enumerate() {
                    let ends_line = match byte {
                        b'\n' => true,
                        b'\r' => bytes.get(idx + 1) != Some(&b'\n'),
                        _ => false,
                    };
                    if ends_line {
                        starts.push(idx + 1);
                    }
                }
                starts.into()
            })
            .clone()
    }

    /// The byte offset where the 1-based `line` starts, if the file has that line.
    pub fn line_start(&self, line: usize) -> Option<usize> {
        self.line_starts.get(line.checked_sub(1)?).copied()
    }
}

/// Every source file a compilation reads.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    /// An empty set.
    pub fn new() -> Sources {
        Sources::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<Arc<str>>) -> FileId {
        let text: Arc<str> = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(idx, _)| idx + 1));
        let file_id = FileId(self.files.len() as u32);
        self.files.push(SourceFile {
            name: name.into(),
            text,
            line_starts,
            render_lines: OnceLock::new(),
        });
        file_id
    }

    /// The file behind an id.
    pub fn get(&self, file_id: FileId) -> &SourceFile {
        &self.files[file_id.0 as usize]
    }

    /// All files, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(idx, file)| (FileId(idx as u32), file))
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}
