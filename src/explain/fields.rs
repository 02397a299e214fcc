//! Output fields: every file of an output tree as a list of named scalar fields, and which of
//! them another version of the file changes.
//!
//! Consumes: a file's path and bytes. Produces: [`FileFields`] (the fields, in file order) and,
//! given a second version of the file, the indices of the fields it changes.
//!
//! Naming (documented in README.md, "Explain"):
//! - YAML and JSON: every scalar (and every empty map or list) is a field. Map keys are joined
//!   with `.`; a key containing `.`, `[`, `]`, `"`, `#` or whitespace is written `["key"]`.
//!   A list whose items are all maps with distinct `name`s is indexed by name
//!   (`containers[api-gateway].image`), any other list by position (`egress[1].ports[0].port`).
//!   A file of several documents prefixes each path with the document's position (`[1].spec`).
//! - Terraform (`.tf`): every line that carries something is a field, named after its block
//!   path (`resource.aws_eks_node_group.general.scaling_config.desired_size`; a block header
//!   is named after its labels, a repeated sibling block gets `[N]`, list items `key[N]`);
//!   comment lines are `L<line>`.
//! - Any other file: each non-blank line is a field `L<line>`.
//! - `L<line>` also addresses the field on that line of any text (non-YAML) file.
//!
//! Comparison: YAML and JSON documents are compared value by value (named list items by
//! name, other lists aligned with a sequence diff, so one inserted item does not change the
//! fields after it); text files line by line, with a sequence diff. A `rename` (old text → new
//! text) lets renamed keys and list items be matched with their new names, so only the fields
//! whose values actually changed count (plus the fields under a renamed map key).

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use similar::{Algorithm, DiffOp, capture_diff_slices};

/// How a file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// YAML (one or more documents).
    Yaml,
    /// JSON.
    Json,
    /// Terraform (HCL, laid out as `terraform fmt` does).
    Hcl,
    /// Any other text: one field per line.
    Text,
}

/// One scalar field of an output file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's path in the file (see the module documentation).
    pub path: String,
    /// The value as text (strings unquoted; `{}`/`[]` for empty containers; for text files the
    /// line, trimmed).
    pub value: String,
    /// The value as JSON, for structured files.
    pub json: Option<Value>,
    /// First and last 1-based line, for text files.
    pub lines: Option<(usize, usize)>,
}

/// Every field of one output file.
#[derive(Debug, Clone)]
pub struct FileFields {
    /// How the file was read.
    pub format: Format,
    /// The fields, in file order.
    pub fields: Vec<Field>,
    by_path: HashMap<String, usize>,
    parsed: Parsed,
}

#[derive(Debug, Clone)]
enum Parsed {
    /// YAML or JSON documents.
    Documents(Vec<Value>),
    /// Text: for each line, the field it belongs to.
    Lines {
        lines: Vec<String>,
        owner: Vec<Option<usize>>,
    },
}

/// A renaming to apply when matching a changed file's keys, names and paths: the perturbed
/// token's old text and new text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    /// The text before.
    pub old: String,
    /// The text after.
    pub new: String,
}

impl Rename {
    /// `text` with the renaming applied, when it contains the old text.
    pub fn apply(&self, text: &str) -> Option<String> {
        (!self.old.is_empty() && text.contains(&self.old))
            .then(|| text.replace(&self.old, &self.new))
    }
}

impl FileFields {
    /// Reads one file. Never fails: what does not parse as its format is read as text.
    pub fn read(path: &str, bytes: &[u8]) -> FileFields {
        let text = String::from_utf8_lossy(bytes);
        let format = format_of(path);
        let structured = match format {
            Format::Yaml => serde_saphyr::from_multiple::<Value>(&text).ok(),
            Format::Json => serde_json::from_str::<Value>(&text).ok().map(|v| vec![v]),
            Format::Hcl | Format::Text => None,
        };
        match structured {
            Some(documents) => {
                let mut fields = Vec::new();
                let several = documents.len() > 1;
                for (idx, document) in documents.iter().enumerate() {
                    let mut path = if several {
                        format!("[{idx}]")
                    } else {
                        String::new()
                    };
                    walk(document, &mut path, &mut fields);
                }
                FileFields::new(format, fields, Parsed::Documents(documents))
            }
            None => {
                let format = if format == Format::Hcl {
                    Format::Hcl
                } else {
                    Format::Text
                };
                let lines: Vec<String> = text.lines().map(str::to_owned).collect();
                let (fields, owner) = if format == Format::Hcl {
                    hcl_fields(&lines)
                } else {
                    line_fields(&lines)
                };
                FileFields::new(format, fields, Parsed::Lines { lines, owner })
            }
        }
    }

    fn new(format: Format, mut fields: Vec<Field>, parsed: Parsed) -> FileFields {
        let mut by_path = HashMap::new();
        for (idx, field) in fields.iter_mut().enumerate() {
            if by_path.contains_key(&field.path) {
                // Paths are unique within a file; a clash (unusual text layouts) gets a suffix.
                let mut n = 2;
                while by_path.contains_key(&format!("{}#{n}", field.path)) {
                    n += 1;
                }
                field.path = format!("{}#{n}", field.path);
            }
            by_path.insert(field.path.clone(), idx);
        }
        FileFields {
            format,
            fields,
            by_path,
            parsed,
        }
    }

    /// The index of the field with exactly this path, or on this `L<line>` of a text file.
    pub fn find(&self, path: &str) -> Option<usize> {
        if let Some(idx) = self.by_path.get(path) {
            return Some(*idx);
        }
        if let Parsed::Lines { owner, .. } = &self.parsed {
            let line: usize = path.strip_prefix('L')?.parse().ok()?;
            return owner.get(line.checked_sub(1)?).copied().flatten();
        }
        // A named list item may also be addressed by position: `containers[0].image`.
        let Parsed::Documents(documents) = &self.parsed else {
            return None;
        };
        let several = documents.len() > 1;
        let mut pairs = Vec::new();
        for (idx, document) in documents.iter().enumerate() {
            let mut named = if several {
                format!("[{idx}]")
            } else {
                String::new()
            };
            let mut positional = named.clone();
            alias_walk(document, &mut named, &mut positional, &mut pairs);
        }
        let (named, _) = pairs
            .into_iter()
            .find(|(_, positional)| positional == path)?;
        self.by_path.get(&named).copied()
    }

    /// The indices of the fields at or under `prefix` (`spec.metrics[0]`, `metadata`).
    pub fn under(&self, prefix: &str) -> Vec<usize> {
        self.fields
            .iter()
            .enumerate()
            .filter(|(_, field)| is_under(&field.path, prefix))
            .map(|(idx, _)| idx)
            .collect()
    }

    /// The fields another version of this file changes (or loses). `rename` is tried for keys,
    /// names and lines that are missing.
    pub fn changed(&self, bytes: &[u8], rename: Option<&Rename>) -> Vec<usize> {
        let text = String::from_utf8_lossy(bytes);
        let mut out = HashSet::new();
        match &self.parsed {
            Parsed::Documents(before) => {
                let after = match self.format {
                    Format::Json => serde_json::from_str::<Value>(&text).ok().map(|v| vec![v]),
                    _ => serde_saphyr::from_multiple::<Value>(&text).ok(),
                };
                let Some(after) = after else {
                    return (0..self.fields.len()).collect();
                };
                let several = before.len() > 1;
                let mut paths = Vec::new();
                for (idx, document) in before.iter().enumerate() {
                    let mut path = if several {
                        format!("[{idx}]")
                    } else {
                        String::new()
                    };
                    match after.get(idx) {
                        Some(new) => compare(document, new, &mut path, rename, &mut paths),
                        None => leaves(document, &mut path, &mut paths),
                    }
                }
                for path in paths {
                    if let Some(idx) = self.by_path.get(&path) {
                        out.insert(*idx);
                    }
                }
            }
            Parsed::Lines { lines, owner } => {
                let new_lines: Vec<&str> = text.lines().collect();
                let old_lines: Vec<&str> = lines.iter().map(String::as_str).collect();
                for op in capture_diff_slices(Algorithm::Myers, &old_lines, &new_lines) {
                    let (start, len) = match op {
                        DiffOp::Delete {
                            old_index, old_len, ..
                        }
                        | DiffOp::Replace {
                            old_index, old_len, ..
                        } => (old_index, old_len),
                        DiffOp::Equal { .. } | DiffOp::Insert { .. } => continue,
                    };
                    for line in start..start + len {
                        if let Some(Some(idx)) = owner.get(line) {
                            out.insert(*idx);
                        }
                    }
                }
            }
        }
        let mut out: Vec<usize> = out.into_iter().collect();
        out.sort_unstable();
        out
    }

    /// Every field, all of them changed (a file that disappeared).
    pub fn all(&self) -> Vec<usize> {
        (0..self.fields.len()).collect()
    }
}

/// The format a path is read in.
pub fn format_of(path: &str) -> Format {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        Format::Yaml
    } else if name.ends_with(".json") {
        Format::Json
    } else if name.ends_with(".tf") || name.ends_with(".tfvars") || name.ends_with(".hcl") {
        Format::Hcl
    } else {
        Format::Text
    }
}

/// Whether `path` is `prefix` or lies under it.
pub fn is_under(path: &str, prefix: &str) -> bool {
    if prefix.is_empty() || path == prefix {
        return true;
    }
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// Pairs every leaf's path with the same path written with positions only.
fn alias_walk(
    value: &Value,
    named: &mut String,
    positional: &mut String,
    out: &mut Vec<(String, String)>,
) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let (n, p) = (named.len(), positional.len());
                push_key(named, key);
                push_key(positional, key);
                alias_walk(child, named, positional, out);
                named.truncate(n);
                positional.truncate(p);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let names = list_names(items);
            for (idx, item) in items.iter().enumerate() {
                let (n, p) = (named.len(), positional.len());
                match &names {
                    Some(names) => named.push_str(&format!("[{}]", names[idx])),
                    None => named.push_str(&format!("[{idx}]")),
                }
                positional.push_str(&format!("[{idx}]"));
                alias_walk(item, named, positional, out);
                named.truncate(n);
                positional.truncate(p);
            }
        }
        _ => out.push((named.clone(), positional.clone())),
    }
}

/// Appends a map key to a path.
pub fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && !key
            .chars()
            .any(|c| matches!(c, '.' | '[' | ']' | '"' | '#' | '\\') || c.is_whitespace());
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push_str("[\"");
        path.push_str(&key.replace('\\', "\\\\").replace('"', "\\\""));
        path.push_str("\"]");
    }
}

/// The names of a list's items when every item is a map with a distinct, simple `name`.
fn list_names(items: &[Value]) -> Option<Vec<&str>> {
    let mut seen = HashSet::new();
    let mut names = Vec::with_capacity(items.len());
    for item in items {
        let name = item.get("name")?.as_str()?;
        let simple = !name.is_empty()
            && !name.chars().all(|c| c.is_ascii_digit())
            && !name
                .chars()
                .any(|c| matches!(c, '[' | ']' | '"' | '#') || c.is_whitespace());
        if !simple || !seen.insert(name) {
            return None;
        }
        names.push(name);
    }
    Some(names)
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "null".to_owned(),
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        other => other.to_string(),
    }
}

/// Every leaf (scalar or empty container) of `value`, as fields.
fn walk(value: &Value, path: &mut String, out: &mut Vec<Field>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let len = path.len();
                push_key(path, key);
                walk(child, path, out);
                path.truncate(len);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let names = list_names(items);
            for (idx, item) in items.iter().enumerate() {
                let len = path.len();
                match &names {
                    Some(names) => path.push_str(&format!("[{}]", names[idx])),
                    None => path.push_str(&format!("[{idx}]")),
                }
                walk(item, path, out);
                path.truncate(len);
            }
        }
        _ => out.push(Field {
            path: path.clone(),
            value: scalar_text(value),
            json: Some(value.clone()),
            lines: None,
        }),
    }
}

/// The paths of every leaf of `value`.
fn leaves(value: &Value, path: &mut String, out: &mut Vec<String>) {
    let mut fields = Vec::new();
    walk(value, path, &mut fields);
    out.extend(fields.into_iter().map(|field| field.path));
}

/// The paths of the leaves of `before` that `after` changes or lacks.
fn compare(
    before: &Value,
    after: &Value,
    path: &mut String,
    rename: Option<&Rename>,
    out: &mut Vec<String>,
) {
    match (before, after) {
        (Value::Object(old), Value::Object(new)) if !old.is_empty() => {
            for (key, child) in old {
                let len = path.len();
                push_key(path, key);
                match new.get(key) {
                    Some(new_child) => compare(child, new_child, path, rename, out),
                    // A renamed key: what is under it now has a name that came from the token.
                    None => leaves(child, path, out),
                }
                path.truncate(len);
            }
        }
        (Value::Array(old), Value::Array(new)) if !old.is_empty() => {
            compare_lists(old, new, path, rename, out);
        }
        _ => {
            if before != after {
                leaves(before, path, out);
            }
        }
    }
}

fn compare_lists(
    old: &[Value],
    new: &[Value],
    path: &mut String,
    rename: Option<&Rename>,
    out: &mut Vec<String>,
) {
    if let Some(names) = list_names(old) {
        let by_name: HashMap<&str, &Value> = new
            .iter()
            .filter_map(|item| Some((item.get("name")?.as_str()?, item)))
            .collect();
        for (item, name) in old.iter().zip(names) {
            let len = path.len();
            path.push_str(&format!("[{name}]"));
            let renamed = rename.and_then(|rename| rename.apply(name));
            let found = by_name
                .get(name)
                .or_else(|| renamed.as_deref().and_then(|name| by_name.get(name)));
            match found {
                Some(new_item) => compare(item, new_item, path, rename, out),
                None => leaves(item, path, out),
            }
            path.truncate(len);
        }
        return;
    }
    let index = |path: &mut String, idx: usize| path.push_str(&format!("[{idx}]"));
    if old.len() == new.len() {
        for (idx, (item, new_item)) in old.iter().zip(new).enumerate() {
            let len = path.len();
            index(path, idx);
            compare(item, new_item, path, rename, out);
            path.truncate(len);
        }
        return;
    }
    let old_keys: Vec<String> = old.iter().map(Value::to_string).collect();
    let new_keys: Vec<String> = new.iter().map(Value::to_string).collect();
    for op in capture_diff_slices(Algorithm::Myers, &old_keys, &new_keys) {
        match op {
            DiffOp::Equal { .. } | DiffOp::Insert { .. } => {}
            DiffOp::Delete {
                old_index, old_len, ..
            } => {
                for (idx, item) in old.iter().enumerate().skip(old_index).take(old_len) {
                    let len = path.len();
                    index(path, idx);
                    leaves(item, path, out);
                    path.truncate(len);
                }
            }
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                for offset in 0..old_len {
                    let len = path.len();
                    index(path, old_index + offset);
                    match (offset < new_len).then(|| &new[new_index + offset]) {
                        Some(new_item) => {
                            compare(&old[old_index + offset], new_item, path, rename, out);
                        }
                        None => leaves(&old[old_index + offset], path, out),
                    }
                    path.truncate(len);
                }
            }
        }
    }
}

/// Text: each non-blank line is a field `L<line>`.
fn line_fields(lines: &[String]) -> (Vec<Field>, Vec<Option<usize>>) {
    let mut fields = Vec::new();
    let mut owner = Vec::with_capacity(lines.len());
    for (idx, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            owner.push(None);
            continue;
        }
        owner.push(Some(fields.len()));
        fields.push(Field {
            path: format!("L{}", idx + 1),
            value: line.trim().to_owned(),
            json: None,
            lines: Some((idx + 1, idx + 1)),
        });
    }
    (fields, owner)
}

/// One open block, map or list of a Terraform file.
struct Frame {
    path: String,
    list: Option<(String, usize)>,
    children: HashMap<String, usize>,
}

/// Terraform: fields named after their block path (see the module documentation).
fn hcl_fields(lines: &[String]) -> (Vec<Field>, Vec<Option<usize>>) {
    let mut fields: Vec<Field> = Vec::new();
    let mut owner: Vec<Option<usize>> = vec![None; lines.len()];
    let mut stack: Vec<Frame> = vec![Frame {
        path: String::new(),
        list: None,
        children: HashMap::new(),
    }];
    let mut idx = 0;
    while idx < lines.len() {
        let line = lines[idx].trim();
        let number = idx + 1;
        let add = |fields: &mut Vec<Field>,
                   owner: &mut Vec<Option<usize>>,
                   path: String,
                   value: String,
                   last: usize| {
            for slot in owner.iter_mut().take(last + 1).skip(idx) {
                *slot = Some(fields.len());
            }
            fields.push(Field {
                path,
                value,
                json: None,
                lines: Some((number, last + 1)),
            });
        };
        if line.is_empty() {
            idx += 1;
            continue;
        }
        if line.starts_with('#') || line.starts_with("//") {
            add(
                &mut fields,
                &mut owner,
                format!("L{number}"),
                line.to_owned(),
                idx,
            );
            idx += 1;
            continue;
        }
        if matches!(line.chars().next(), Some('}' | ']' | ')')) {
            if stack.len() > 1 {
                stack.pop();
            }
            idx += 1;
            continue;
        }
        let top = stack.len() - 1;
        // Items of a list spread over lines.
        if let Some((key, next)) = &mut stack[top].list {
            let path = format!("{key}[{next}]");
            *next += 1;
            let value = line.trim_end_matches(',').to_owned();
            add(&mut fields, &mut owner, path, value, idx);
            idx += 1;
            continue;
        }
        let parent = stack[top].path.clone();
        if let Some((key, rest)) = split_attribute(line) {
            let mut path = parent.clone();
            push_key(&mut path, &key);
            let rest = rest.trim();
            if rest == "{" {
                stack.push(Frame {
                    path,
                    list: None,
                    children: HashMap::new(),
                });
                idx += 1;
                continue;
            }
            if rest.ends_with('[') || rest.ends_with("([") {
                stack.push(Frame {
                    path: parent,
                    list: Some((path_key(&stack[top].path, &key), 0)),
                    children: HashMap::new(),
                });
                idx += 1;
                continue;
            }
            // Heredocs and expressions spread over lines belong to the attribute.
            let mut last = idx;
            if let Some(marker) = rest.strip_prefix("<<-").or_else(|| rest.strip_prefix("<<")) {
                let marker = marker.trim();
                while last + 1 < lines.len() && lines[last + 1].trim() != marker {
                    last += 1;
                }
                last = (last + 1).min(lines.len() - 1);
            } else {
                let mut depth = open_depth(rest);
                while depth > 0 && last + 1 < lines.len() {
                    last += 1;
                    depth += open_depth(lines[last].trim());
                }
            }
            let value = lines[idx..=last]
                .iter()
                .map(|line| line.trim())
                .collect::<Vec<_>>()
                .join(" ");
            let value = value
                .split_once('=')
                .map_or(value.clone(), |(_, v)| v.trim().to_owned());
            add(&mut fields, &mut owner, path, value, last);
            idx = last + 1;
            continue;
        }
        // A block header: `resource "type" "name" {`, `lifecycle {`, `data "x" "y" {}`.
        let (header, opens) = match line.strip_suffix("{}") {
            Some(header) => (header, false),
            None => match line.strip_suffix('{') {
                Some(header) => (header, true),
                None => {
                    add(
                        &mut fields,
                        &mut owner,
                        format!("L{number}"),
                        line.to_owned(),
                        idx,
                    );
                    idx += 1;
                    continue;
                }
            },
        };
        let labels: Vec<String> = header
            .split_whitespace()
            .map(|label| label.trim_matches('"').to_owned())
            .collect();
        let mut name = String::new();
        for label in &labels {
            push_key(&mut name, label);
        }
        let seen = stack[top].children.entry(name.clone()).or_insert(0);
        if *seen > 0 {
            name = format!("{name}[{seen}]");
        }
        *seen += 1;
        let path = if parent.is_empty() {
            name
        } else if name.starts_with('[') {
            format!("{parent}{name}")
        } else {
            format!("{parent}.{name}")
        };
        add(&mut fields, &mut owner, path.clone(), line.to_owned(), idx);
        if opens {
            stack.push(Frame {
                path,
                list: None,
                children: HashMap::new(),
            });
        }
        idx += 1;
    }
    (fields, owner)
}

fn path_key(parent: &str, key: &str) -> String {
    let mut path = parent.to_owned();
    push_key(&mut path, key);
    path
}

/// `key = rest` (the key may be quoted); `None` for anything else.
fn split_attribute(line: &str) -> Option<(String, String)> {
    let (key, rest) = if let Some(quoted) = line.strip_prefix('"') {
        let end = quoted.find('"')?;
        let key = &quoted[..end];
        let rest = quoted[end + 1..].trim_start();
        (key.to_owned(), rest.strip_prefix('=')?)
    } else {
        let end = line.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))?;
        let key = &line[..end];
        if key.is_empty() {
            return None;
        }
        let rest = line[end..].trim_start();
        let rest = rest.strip_prefix('=')?;
        if rest.starts_with('=') {
            return None;
        }
        (key.to_owned(), rest)
    };
    Some((key, rest.to_owned()))
}

/// How many brackets a line opens minus how many it closes, outside strings.
fn open_depth(text: &str) -> i32 {
    let mut depth = 0;
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            '#' => break,
            _ => {}
        }
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_fields_name_lists_by_name_and_quote_dotted_keys() {
        let text = "metadata:\n  labels:\n    app.kubernetes.io/name: api\nspec:\n  containers:\n  - name: api\n    env:\n    - name: A\n      value: \"1\"\n  volumes: []\n  egress:\n  - port: 1\n";
        let fields = FileFields::read("x.yaml", text.as_bytes());
        let paths: Vec<&str> = fields.fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "metadata.labels[\"app.kubernetes.io/name\"]",
                "spec.containers[api].name",
                "spec.containers[api].env[A].name",
                "spec.containers[api].env[A].value",
                "spec.volumes",
                "spec.egress[0].port",
            ]
        );
        assert_eq!(fields.find("spec.containers[0].env[0].value"), Some(3));
    }

    #[test]
    fn yaml_changes_follow_names_and_alignment() {
        // (Not `y`: YAML 1.1 reads it as a boolean.)
        let before = "items:\n- a\n- b\n- c\nlist:\n- name: x\n  v: 1\n- name: w\n  v: 2\n";
        let after = "items:\n- a\n- c\nlist:\n- name: w\n  v: 3\n- name: x\n  v: 1\n";
        let fields = FileFields::read("x.yaml", before.as_bytes());
        let changed: Vec<&str> = fields
            .changed(after.as_bytes(), None)
            .into_iter()
            .map(|idx| fields.fields[idx].path.as_str())
            .collect();
        assert_eq!(changed, ["items[1]", "list[w].v"]);
    }

    #[test]
    fn renamed_items_are_matched_by_their_new_name() {
        let before = "c:\n- name: api\n  image: x\n  port: 1\n";
        let after = "c:\n- name: apiz\n  image: x\n  port: 1\n";
        let fields = FileFields::read("x.yaml", before.as_bytes());
        let rename = Rename {
            old: "api".into(),
            new: "apiz".into(),
        };
        let changed = fields.changed(after.as_bytes(), Some(&rename));
        assert_eq!(changed, [0]);
    }

    #[test]
    fn terraform_fields_follow_blocks() {
        let text = "# header\nresource \"aws_eks_node_group\" \"general\" {\n  name = \"g\"\n  scaling_config {\n    min_size = 1\n  }\n  tags = {\n    \"k8s.io/x\" = \"owned\"\n  }\n  list = [\n    \"a\",\n  ]\n  depends_on = [x]\n}\n";
        let fields = FileFields::read("main.tf", text.as_bytes());
        let paths: Vec<&str> = fields.fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "L1",
                "resource.aws_eks_node_group.general",
                "resource.aws_eks_node_group.general.name",
                "resource.aws_eks_node_group.general.scaling_config",
                "resource.aws_eks_node_group.general.scaling_config.min_size",
                "resource.aws_eks_node_group.general.tags[\"k8s.io/x\"]",
                "resource.aws_eks_node_group.general.list[0]",
                "resource.aws_eks_node_group.general.depends_on",
            ]
        );
        let after = text.replace("min_size = 1", "min_size = 2");
        assert_eq!(fields.changed(after.as_bytes(), None), [4]);
        assert_eq!(fields.find("L5"), Some(4));
    }
}
