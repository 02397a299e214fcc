//! Renderings of a [`Diff`]: text for a terminal, markdown for a pull-request comment, JSON for
//! scripts.
//!
//! Consumes: a [`Diff`] (secret values already replaced by their sizes).
//! Produces: strings; printing them is the caller's business.
//!
//! The JSON form (`format` 1) is a stable contract:
//!
//! ```json
//! {
//!   "format": 1,
//!   "summary": { "added": 1, "changed": 2, "removed": 1 },
//!   "changes": [
//!     {
//!       "type": "object",
//!       "change": "changed",
//!       "target": "kubernetes/base/api",
//!       "apiVersion": "apps/v1", "kind": "Deployment", "namespace": null, "name": "api",
//!       "patch": false,
//!       "oldPath": "kubernetes/base/api/deployment.yaml",
//!       "newPath": "kubernetes/base/api/deployment.yaml",
//!       "fields": [
//!         { "path": "spec.replicas", "change": "changed", "old": 2, "new": 3 },
//!         { "path": "data.password", "change": "changed", "redacted": true, "oldBytes": 7, "newBytes": 9 }
//!       ]
//!     },
//!     { "type": "file", "change": "changed", "path": "README.md", "diff": "--- a/README.md\n…" }
//!   ]
//! }
//! ```
//!
//! `change` is `added`, `changed` or `removed` (fields may also be `reordered`, with `old` and
//! `new` the names in their old and new order); `old` is absent for added fields and `new` for
//! removed ones; `oldPath`/`newPath` are `null` on the side where the object does not exist;
//! `fields` is empty for added and removed objects. A redacted field has `redacted: true` and
//! the sizes in bytes instead of `old`/`new`; secret values nested in a larger value appear as
//! the string `"(redacted, N bytes)"`.
//!
//! Invariant: deterministic: the same diff always renders to the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{Change, Diff, Entry, FieldChange, FieldKind, ObjectChange, Shown};

/// The default size cap of [`markdown`]: GitHub refuses comments over 65,536 characters.
pub const MARKDOWN_LIMIT: usize = 60_000;

/// The diff for a terminal: one group per target directory, one line per added or removed
/// object, field paths with old → new values for changed objects, unified diffs for text
/// files, and the summary line. `color` adds ANSI colours.
pub fn text(diff: &Diff, color: bool) -> String {
    let paint = Paint { color };
    let mut out = String::new();
    let mut current: Option<&str> = None;
    for entry in &diff.entries {
        let target = entry.target();
        if current != Some(target) {
            let _ = writeln!(out, "{}", paint.bold(target));
            current = Some(target);
        }
        match entry {
            Entry::Object(object) => {
                let mut line = format!("{} {}", object.change.sign(), object.label());
                if object.change != Change::Changed {
                    let path = object
                        .new_path
                        .as_deref()
                        .or(object.old_path.as_deref())
                        .unwrap_or_default();
                    let _ = write!(line, " ({})", relative_to(path, target));
                }
                let _ = writeln!(out, "  {}", paint.change(object.change, &line));
                for field in &object.fields {
                    let _ = writeln!(out, "      {}", paint.field(field.kind, &field_line(field)));
                }
            }
            Entry::File(file) => {
                let line = format!("{} {}", file.change.sign(), relative_to(&file.path, target));
                let _ = writeln!(out, "  {}", paint.change(file.change, &line));
                for line in file.diff.lines() {
                    let _ = writeln!(out, "      {}", paint.diff_line(line));
                }
            }
        }
    }
    if !diff.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "{}", diff.summary());
    out
}

/// The diff for a pull-request comment: a heading with the summary, a table of added, changed
/// and removed objects per target and kind, one line per added or removed object, and a
/// collapsible section per changed object or file. Blocks that would take the comment past
/// `limit` bytes are left out, and a note says how many.
pub fn markdown(diff: &Diff, limit: usize) -> String {
    let summary = diff.summary();
    let mut out = format!("### manifold diff: {summary}\n\n");
    if diff.is_empty() {
        out.push_str("The generated output is unchanged.\n");
        return out;
    }
    out.push_str(&table(diff, limit / 2));
    out.push('\n');

    const TRAILER_RESERVE: usize = 400;
    let total = diff.entries.len();
    let mut shown = 0;
    for entry in &diff.entries {
        let block = markdown_block(entry);
        if out.len() + block.len() + TRAILER_RESERVE > limit {
            break;
        }
        out.push_str(&block);
        out.push('\n');
        shown += 1;
    }
    if shown < total {
        let _ = writeln!(
            out,
            "> **Truncated:** {} of {total} changes are not shown (this comment is capped at {limit} bytes). Run `manifold diff` locally, or use `--format json`, to see everything.",
            total - shown
        );
    }
    out
}

/// The diff as the documented JSON document (see the module documentation), pretty-printed,
/// with a trailing newline.
pub fn json(diff: &Diff) -> String {
    let summary = diff.summary();
    let changes: Vec<Value> = diff.entries.iter().map(entry_json).collect();
    let document = json!({
        "format": 1,
        "summary": {
            "added": summary.added,
            "changed": summary.changed,
            "removed": summary.removed,
        },
        "changes": changes,
    });
    format!("{document:#}\n")
}

/// One field change as a line: `~ spec.replicas: 2 → 3`.
pub fn field_line(field: &FieldChange) -> String {
    let sign = match field.kind {
        FieldKind::Added => '+',
        FieldKind::Removed => '-',
        FieldKind::Changed | FieldKind::Reordered => '~',
    };
    let old = field.old.as_ref().map(shown_text).unwrap_or_default();
    let new = field.new.as_ref().map(shown_text).unwrap_or_default();
    match field.kind {
        FieldKind::Added => format!("{sign} {}: {new}", field.path),
        FieldKind::Removed => format!("{sign} {}: {old}", field.path),
        FieldKind::Changed => format!("{sign} {}: {old} → {new}", field.path),
        FieldKind::Reordered => {
            let names = |shown: Option<&Shown>| match shown {
                Some(Shown::Value(Value::Array(items))) => items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map_or_else(|| item.to_string(), str::to_owned)
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => String::new(),
            };
            format!(
                "{sign} {}: order {} → {}",
                field.path,
                names(field.old.as_ref()),
                names(field.new.as_ref())
            )
        }
    }
}

fn shown_text(shown: &Shown) -> String {
    match shown {
        Shown::Value(value) => value.to_string(),
        Shown::Redacted { bytes } => format!("(redacted, {bytes} bytes)"),
    }
}

/// `path` relative to `target` when it lies inside it.
fn relative_to<'p>(path: &'p str, target: &str) -> &'p str {
    if target == "." {
        return path;
    }
    path.strip_prefix(target)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(path)
}

/// The summary table, rows by target and kind; rows past `limit` bytes are summed up in one.
fn table(diff: &Diff, limit: usize) -> String {
    let mut rows: BTreeMap<(&str, String), [usize; 3]> = BTreeMap::new();
    for entry in &diff.entries {
        let kind = match entry {
            Entry::Object(object) if object.patch => format!("{} (patch)", object.id.kind),
            Entry::Object(object) => object.id.kind.clone(),
            Entry::File(_) => "file".to_owned(),
        };
        let counts = rows.entry((entry.target(), kind)).or_default();
        match entry.change() {
            Change::Added => counts[0] += 1,
            Change::Changed => counts[1] += 1,
            Change::Removed => counts[2] += 1,
        }
    }
    let mut out = String::from(
        "| Target | Kind | Added | Changed | Removed |\n| --- | --- | ---: | ---: | ---: |\n",
    );
    let n_rows = rows.len();
    for (index, ((target, kind), [added, changed, removed])) in rows.into_iter().enumerate() {
        let row = format!(
            "| `{}` | {} | {added} | {changed} | {removed} |\n",
            table_cell(target),
            table_cell(&kind)
        );
        if out.len() + row.len() > limit {
            let _ = writeln!(out, "| … | {} more rows | | | |", n_rows - index);
            break;
        }
        out.push_str(&row);
    }
    out
}

fn markdown_block(entry: &Entry) -> String {
    match entry {
        Entry::Object(object) if object.change != Change::Changed => {
            let path = object
                .new_path
                .as_deref()
                .or(object.old_path.as_deref())
                .unwrap_or_default();
            format!(
                "- `{}` **{}** {} in `{}` (`{}`)\n",
                object.change.sign(),
                html_escape(&object.label()),
                object.change.as_str(),
                table_cell(&object.target),
                table_cell(path)
            )
        }
        Entry::Object(object) => {
            let body: String = object
                .fields
                .iter()
                .map(|field| field_line(field) + "\n")
                .collect();
            details(object_summary(object), &body)
        }
        Entry::File(file) => details(
            format!(
                "<code>{}</code> file <code>{}</code> {}",
                file.change.sign(),
                html_escape(&file.path),
                file.change.as_str()
            ),
            &file.diff,
        ),
    }
}

fn object_summary(object: &ObjectChange) -> String {
    format!(
        "<code>~</code> <b>{}</b> changed in <code>{}</code> ({} field{})",
        html_escape(&object.label()),
        html_escape(&object.target),
        object.fields.len(),
        if object.fields.len() == 1 { "" } else { "s" }
    )
}

/// A collapsible section holding a `diff` code block.
fn details(summary: String, body: &str) -> String {
    let fence = "`".repeat(longest_backtick_run(body).max(2) + 1);
    let mut body = body.to_owned();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    format!("<details>\n<summary>{summary}</summary>\n\n{fence}diff\n{body}{fence}\n\n</details>\n")
}

fn longest_backtick_run(text: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text inside a table cell's code span: no pipes, no backticks, no newlines.
fn table_cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('`', "'")
        .replace('\n', " ")
}

fn entry_json(entry: &Entry) -> Value {
    match entry {
        Entry::Object(object) => json!({
            "type": "object",
            "change": object.change.as_str(),
            "target": object.target,
            "apiVersion": object.id.api_version,
            "kind": object.id.kind,
            "namespace": object.id.namespace,
            "name": object.id.name,
            "patch": object.patch,
            "oldPath": object.old_path,
            "newPath": object.new_path,
            "fields": object.fields.iter().map(field_json).collect::<Vec<_>>(),
        }),
        Entry::File(file) => json!({
            "type": "file",
            "change": file.change.as_str(),
            "path": file.path,
            "diff": file.diff,
        }),
    }
}

fn field_json(field: &FieldChange) -> Value {
    let mut object = serde_json::Map::new();
    object.insert("path".into(), Value::from(field.path.as_str()));
    object.insert("change".into(), Value::from(field.kind.as_str()));
    let redacted = matches!(field.old, Some(Shown::Redacted { .. }))
        || matches!(field.new, Some(Shown::Redacted { .. }));
    if redacted {
        object.insert("redacted".into(), Value::Bool(true));
    }
    for (name, bytes_name, shown) in [
        ("old", "oldBytes", &field.old),
        ("new", "newBytes", &field.new),
    ] {
        match shown {
            Some(Shown::Value(value)) => {
                object.insert(name.into(), value.clone());
            }
            Some(Shown::Redacted { bytes }) => {
                object.insert(bytes_name.into(), Value::from(*bytes));
            }
            None => {}
        }
    }
    Value::Object(object)
}

/// ANSI colours, or none.
struct Paint {
    color: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn bold(&self, text: &str) -> String {
        self.wrap("1", text)
    }

    fn change(&self, change: Change, text: &str) -> String {
        match change {
            Change::Added => self.wrap("32", text),
            Change::Changed => self.wrap("33", text),
            Change::Removed => self.wrap("31", text),
        }
    }

    fn field(&self, kind: FieldKind, text: &str) -> String {
        match kind {
            FieldKind::Added => self.wrap("32", text),
            FieldKind::Removed => self.wrap("31", text),
            FieldKind::Changed | FieldKind::Reordered => self.wrap("33", text),
        }
    }

    fn diff_line(&self, line: &str) -> String {
        if line.starts_with("+++") || line.starts_with("---") {
            self.bold(line)
        } else if line.starts_with('+') {
            self.wrap("32", line)
        } else if line.starts_with('-') {
            self.wrap("31", line)
        } else if line.starts_with("@@") {
            self.wrap("36", line)
        } else {
            line.to_owned()
        }
    }
}
