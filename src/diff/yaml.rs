//! The semantic diff of two versions of one Kubernetes object.
//!
//! Consumes: the old and new documents (as JSON values) and the object's `kind`.
//! Produces: the [`FieldChange`]s, in document order, with secret values already redacted.
//!
//! Invariant: a value under `data` or `stringData` of a `Secret`, or the `value` of a list
//! item whose `name` looks secret, never leaves this module except as its size.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use similar::{Algorithm, DiffOp, capture_diff_slices};

use super::{FieldChange, FieldKind, Shown};

/// The field changes between two versions of an object of kind `kind`.
pub(crate) fn diff_object(old: &Value, new: &Value, kind: &str) -> Vec<FieldChange> {
    let mut walker = Walker {
        secret: kind == "Secret",
        path: Vec::new(),
        changes: Vec::new(),
    };
    walker.walk(old, new);
    walker.changes
}

/// Whether a variable or key name looks like it holds a secret.
pub(crate) fn looks_secret(name: &str) -> bool {
    const WORDS: [&str; 9] = [
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "TOKEN",
        "SECRET",
        "KEY",
        "CREDENTIAL",
        "PRIVATE",
        "AUTH",
    ];
    let upper = name.to_ascii_uppercase();
    WORDS.iter().any(|word| upper.contains(word))
}

/// One step of a field path.
#[derive(Debug, Clone)]
enum Segment {
    /// A map key.
    Key(String),
    /// A list item matched by its `name`.
    Name(String),
    /// A list item matched by position.
    Index(usize),
}

struct Walker {
    /// Whether the object is a `Secret`.
    secret: bool,
    path: Vec<Segment>,
    changes: Vec<FieldChange>,
}

impl Walker {
    fn walk(&mut self, old: &Value, new: &Value) {
        if old == new {
            return;
        }
        match (old, new) {
            (Value::Object(before), Value::Object(after)) => {
                for (key, value) in before {
                    self.path.push(Segment::Key(key.clone()));
                    match after.get(key) {
                        Some(other) => self.walk(value, other),
                        None => self.record(FieldKind::Removed, Some(value), None),
                    }
                    self.path.pop();
                }
                for (key, value) in after {
                    if !before.contains_key(key) {
                        self.path.push(Segment::Key(key.clone()));
                        self.record(FieldKind::Added, None, Some(value));
                        self.path.pop();
                    }
                }
            }
            (Value::Array(before), Value::Array(after)) => {
                match (item_names(before), item_names(after)) {
                    (Some(old_names), Some(new_names)) => {
                        self.walk_named(before, after, &old_names, &new_names);
                    }
                    _ => self.walk_positional(before, after),
                }
            }
            _ => self.record(FieldKind::Changed, Some(old), Some(new)),
        }
    }

    /// Lists whose items are matched by name.
    fn walk_named(
        &mut self,
        before: &[Value],
        after: &[Value],
        old_names: &[&str],
        new_names: &[&str],
    ) {
        let old_set: BTreeSet<&str> = old_names.iter().copied().collect();
        let new_set: BTreeSet<&str> = new_names.iter().copied().collect();
        let old_order: Vec<&str> = old_names
            .iter()
            .copied()
            .filter(|n| new_set.contains(n))
            .collect();
        let new_order: Vec<&str> = new_names
            .iter()
            .copied()
            .filter(|n| old_set.contains(n))
            .collect();
        if old_order != new_order {
            let names = |order: &[&str]| {
                Shown::Value(Value::Array(
                    order.iter().map(|name| Value::from(*name)).collect(),
                ))
            };
            self.changes.push(FieldChange {
                path: render_path(&self.path),
                kind: FieldKind::Reordered,
                old: Some(names(&old_order)),
                new: Some(names(&new_order)),
            });
        }
        let by_name: BTreeMap<&str, &Value> = new_names.iter().copied().zip(after).collect();
        for (name, item) in old_names.iter().copied().zip(before) {
            self.path.push(Segment::Name(name.to_owned()));
            match by_name.get(name) {
                Some(other) => self.walk(item, other),
                None => self.record(FieldKind::Removed, Some(item), None),
            }
            self.path.pop();
        }
        for (name, item) in new_names.iter().copied().zip(after) {
            if !old_set.contains(name) {
                self.path.push(Segment::Name(name.to_owned()));
                self.record(FieldKind::Added, None, Some(item));
                self.path.pop();
            }
        }
    }

    /// Other lists: a sequence diff aligns equal items; replaced runs are compared pairwise.
    fn walk_positional(&mut self, before: &[Value], after: &[Value]) {
        let old_keys: Vec<String> = before.iter().map(Value::to_string).collect();
        let new_keys: Vec<String> = after.iter().map(Value::to_string).collect();
        for op in capture_diff_slices(Algorithm::Myers, &old_keys, &new_keys) {
            match op {
                DiffOp::Equal { .. } => {}
                DiffOp::Delete {
                    old_index, old_len, ..
                } => self.removed_items(before, old_index, old_len),
                DiffOp::Insert {
                    new_index, new_len, ..
                } => self.added_items(after, new_index, new_len),
                DiffOp::Replace {
                    old_index,
                    old_len,
                    new_index,
                    new_len,
                } => {
                    let paired = old_len.min(new_len);
                    for offset in 0..paired {
                        self.path.push(Segment::Index(new_index + offset));
                        self.walk(&before[old_index + offset], &after[new_index + offset]);
                        self.path.pop();
                    }
                    self.removed_items(before, old_index + paired, old_len - paired);
                    self.added_items(after, new_index + paired, new_len - paired);
                }
            }
        }
    }

    fn removed_items(&mut self, before: &[Value], start: usize, len: usize) {
        for (index, item) in before.iter().enumerate().skip(start).take(len) {
            self.path.push(Segment::Index(index));
            self.record(FieldKind::Removed, Some(item), None);
            self.path.pop();
        }
    }

    fn added_items(&mut self, after: &[Value], start: usize, len: usize) {
        for (index, item) in after.iter().enumerate().skip(start).take(len) {
            self.path.push(Segment::Index(index));
            self.record(FieldKind::Added, None, Some(item));
            self.path.pop();
        }
    }

    fn record(&mut self, kind: FieldKind, old: Option<&Value>, new: Option<&Value>) {
        let change = FieldChange {
            path: render_path(&self.path),
            kind,
            old: old.map(|value| self.shown(value)),
            new: new.map(|value| self.shown(value)),
        };
        self.changes.push(change);
    }

    /// A value at the current path as it may be shown.
    fn shown(&self, value: &Value) -> Shown {
        if self.in_secret_data() || self.at_secret_value() {
            return match value {
                Value::Object(_) | Value::Array(_) => {
                    Shown::Value(redact_all(value, self.base64()))
                }
                _ => Shown::Redacted {
                    bytes: secret_size(value, self.base64()),
                },
            };
        }
        Shown::Value(redact_named_values(value))
    }

    /// Whether the path is `data…` or `stringData…` of a Secret.
    fn in_secret_data(&self) -> bool {
        self.secret
            && matches!(self.path.first(), Some(Segment::Key(key)) if key == "data" || key == "stringData")
    }

    /// Whether the values below the path are base64 (`data` of a Secret).
    fn base64(&self) -> bool {
        self.secret && matches!(self.path.first(), Some(Segment::Key(key)) if key == "data")
    }

    /// Whether the path goes through `[NAME].value` for a secret-looking NAME.
    fn at_secret_value(&self) -> bool {
        self.path.windows(2).any(|pair| {
            matches!(pair, [Segment::Name(name), Segment::Key(key)] if key == "value" && looks_secret(name))
        })
    }
}

/// The names of a list's items, when every item is a map with a string `name` and the names
/// are unique. An empty list qualifies (so adding the first container is matched by name).
fn item_names(items: &[Value]) -> Option<Vec<&str>> {
    let names: Vec<&str> = items
        .iter()
        .map(|item| item.as_object()?.get("name")?.as_str())
        .collect::<Option<_>>()?;
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    (unique.len() == names.len()).then_some(names)
}

/// Every scalar below `value` replaced by its size (for a Secret's `data` map and the like).
fn redact_all(value: &Value, base64: bool) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| (key.clone(), redact_all(item, base64)))
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| redact_all(item, base64)).collect())
        }
        scalar => placeholder(secret_size(scalar, base64)),
    }
}

/// `value` with the `value` of every map whose `name` looks secret replaced by its size.
fn redact_named_values(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let secret_name = map
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(looks_secret);
            Value::Object(
                map.iter()
                    .map(|(key, item)| {
                        let item = if secret_name && key == "value" {
                            placeholder(secret_size(item, false))
                        } else {
                            redact_named_values(item)
                        };
                        (key.clone(), item)
                    })
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(redact_named_values).collect()),
        scalar => scalar.clone(),
    }
}

/// What a redacted scalar is shown as inside a larger value.
fn placeholder(bytes: usize) -> Value {
    Value::from(format!("(redacted, {bytes} bytes)"))
}

/// The size of a secret scalar: decoded bytes of base64 text, bytes of other text, bytes of
/// the JSON form of anything else.
fn secret_size(value: &Value, base64: bool) -> usize {
    match value {
        Value::String(text) if base64 => base64_decoded_len(text),
        Value::String(text) => text.len(),
        other => other.to_string().len(),
    }
}

/// The decoded length of base64 text (whitespace ignored).
fn base64_decoded_len(text: &str) -> usize {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let padding = digits.iter().rev().take_while(|&&b| b == b'=').count();
    (digits.len() / 4 * 3 + (digits.len() % 4 * 3 / 4)).saturating_sub(padding)
}

/// `spec.template.spec.containers[api].env[LOG_LEVEL].value`.
fn render_path(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) if is_plain(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Key(key) => {
                out.push('[');
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(']');
            }
            Segment::Name(name) if is_plain_name(name) => {
                out.push('[');
                out.push_str(name);
                out.push(']');
            }
            Segment::Name(name) => {
                out.push('[');
                out.push_str(&Value::from(name.as_str()).to_string());
                out.push(']');
            }
            Segment::Index(index) => {
                out.push('[');
                out.push_str(&index.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// Keys written bare after a `.`.
fn is_plain(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
}

/// Item names written bare inside `[…]`: anything but digits only, brackets, quotes and spaces.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.bytes().all(|b| b.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lines(old: Value, new: Value, kind: &str) -> Vec<String> {
        diff_object(&old, &new, kind)
            .into_iter()
            .map(|change| {
                let show = |shown: Option<Shown>| match shown {
                    None => "-".to_owned(),
                    Some(Shown::Value(value)) => value.to_string(),
                    Some(Shown::Redacted { bytes }) => format!("<{bytes} bytes>"),
                };
                format!(
                    "{} {} {} {}",
                    change.kind.as_str(),
                    change.path,
                    show(change.old),
                    show(change.new)
                )
            })
            .collect()
    }

    #[test]
    fn named_items_are_matched_by_name() {
        let old = json!({"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]});
        let new = json!({"env": [{"name": "B", "value": "3"}, {"name": "A", "value": "1"}]});
        assert_eq!(
            lines(old, new, "Deployment"),
            [
                "reordered env [\"A\",\"B\"] [\"B\",\"A\"]",
                "changed env[B].value \"2\" \"3\""
            ]
        );
    }

    #[test]
    fn other_lists_are_aligned_then_compared_by_position() {
        let old = json!({"resources": ["a.yaml", "b.yaml", "c.yaml"]});
        let new = json!({"resources": ["a.yaml", "x.yaml", "b.yaml", "c.yaml"]});
        assert_eq!(
            lines(old, new, "Kustomization"),
            ["added resources[1] - \"x.yaml\""]
        );
        let old = json!({"args": ["--a", "1"]});
        let new = json!({"args": ["--a", "2"]});
        assert_eq!(
            lines(old, new, "Deployment"),
            ["changed args[1] \"1\" \"2\""]
        );
    }

    #[test]
    fn keys_with_dots_are_quoted() {
        let old = json!({"metadata": {"labels": {"app.kubernetes.io/version": "1"}}});
        let new = json!({"metadata": {"labels": {"app.kubernetes.io/version": "2"}}});
        assert_eq!(
            lines(old, new, "Service"),
            ["changed metadata.labels[\"app.kubernetes.io/version\"] \"1\" \"2\""]
        );
    }

    #[test]
    fn secret_values_are_replaced_by_their_size() {
        let old = json!({"data": {"password": "aHVudGVyMg=="}, "stringData": {"token": "abc"}});
        let new = json!({"data": {"password": "c3dvcmRmaXNo"}, "stringData": {"token": "abcd"}});
        assert_eq!(
            lines(old, new, "Secret"),
            [
                "changed data.password <7 bytes> <9 bytes>",
                "changed stringData.token <3 bytes> <4 bytes>"
            ]
        );
        let old = json!({});
        let new = json!({"data": {"password": "aHVudGVyMg=="}});
        assert_eq!(
            lines(old, new, "Secret"),
            ["added data - {\"password\":\"(redacted, 7 bytes)\"}"]
        );
    }

    #[test]
    fn secret_looking_env_values_are_masked() {
        let old = json!({"env": [{"name": "API_TOKEN", "value": "old-token"}]});
        let new = json!({"env": [{"name": "API_TOKEN", "value": "new-token!"}, {"name": "DB_PASSWORD", "value": "pw"}]});
        assert_eq!(
            lines(old, new, "Deployment"),
            [
                "changed env[API_TOKEN].value <9 bytes> <10 bytes>",
                "added env[DB_PASSWORD] - {\"name\":\"DB_PASSWORD\",\"value\":\"(redacted, 2 bytes)\"}"
            ]
        );
    }

    #[test]
    fn base64_sizes() {
        assert_eq!(base64_decoded_len(""), 0);
        assert_eq!(base64_decoded_len("YQ=="), 1);
        assert_eq!(base64_decoded_len("YWI="), 2);
        assert_eq!(base64_decoded_len("YWJj"), 3);
        assert_eq!(base64_decoded_len("YWJjZA"), 4);
    }
}
