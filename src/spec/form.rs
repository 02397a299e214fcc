//! KDL document → the spec's JSON form, guided by the schema's `x-kdl` annotations.
//!
//! Consumes: a parsed `KdlDocument` and an object schema. Produces: a `serde_json::Value`
//! (the JSON form the JSON Schema validates) plus a [`SpanMap`] from JSON pointers back to
//! KDL tokens, and diagnostics for nodes the schema does not know.
//! Invariant: every value in the JSON form has a span in the map, so every later diagnostic
//! can point at the token that produced it.

use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};
use serde_json::{Map, Number, Value};

use super::schema::{self, NodeRule, Shape};
use crate::diagnostic::{Diagnostic, suggestion_help};
use crate::source::{FileId, Span};

/// Code: a node the schema does not allow at this place.
pub const UNKNOWN_NODE: &str = "manifold::spec::unknown-node";
/// Code: a node that may appear once appears twice.
pub const DUPLICATE_NODE: &str = "manifold::spec::duplicate-node";
/// Code: two entries of a keyed collection share a name.
pub const DUPLICATE_NAME: &str = "manifold::spec::duplicate-name";
/// Code: the same property twice on one node.
pub const DUPLICATE_PROPERTY: &str = "manifold::spec::duplicate-property";
/// Code: a node has arguments, properties or children its shape does not take.
pub const UNEXPECTED_ENTRY: &str = "manifold::spec::unexpected-entry";
/// Code: a node lacks the argument that names it.
pub const MISSING_ARGUMENT: &str = "manifold::spec::missing-argument";
/// Code: a number that cannot be represented.
pub const INVALID_NUMBER: &str = "manifold::spec::invalid-number";

/// The spans of one JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spans {
    /// The value's own token (for objects: the node name, or the key argument of keyed items).
    pub value: Span,
    /// The name token: a property key or a node name.
    pub key: Span,
    /// The whole node, when the value came from a node.
    pub node: Span,
}

/// JSON pointer → spans, for every value of a JSON form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanMap {
    entries: crate::hash::FastMap<String, Spans>,
    file: Option<FileId>,
}

impl SpanMap {
    /// The spans of exactly this pointer.
    pub fn get(&self, pointer: &str) -> Option<&Spans> {
        self.entries.get(pointer)
    }

    /// The spans of this pointer, or of its nearest ancestor that has spans.
    pub fn locate(&self, pointer: &str) -> Spans {
        let mut current = pointer;
        loop {
            if let Some(spans) = self.entries.get(current) {
                return *spans;
            }
            match current.rfind('/') {
                Some(idx) => current = &current[..idx],
                None => {
                    let span = Span::new(self.file.unwrap_or(FileId(0)), 0, 0);
                    return Spans {
                        value: span,
                        key: span,
                        node: span,
                    };
                }
            }
        }
    }

    /// The token of the value at `pointer` (or its nearest ancestor).
    pub fn value(&self, pointer: &str) -> Span {
        self.locate(pointer).value
    }

    /// The name token at `pointer` (or its nearest ancestor).
    pub fn key(&self, pointer: &str) -> Span {
        self.locate(pointer).key
    }

    /// The file these spans belong to.
    pub fn file(&self) -> Option<FileId> {
        self.file
    }

    fn insert(&mut self, pointer: String, spans: Spans) {
        self.entries.insert(pointer, spans);
    }
}

/// A JSON form with its spans.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    /// The JSON form.
    pub value: Value,
    /// Pointer → KDL tokens.
    pub spans: SpanMap,
}

/// Appends one escaped JSON-pointer segment.
pub fn pointer_join(base: &str, segment: &str) -> String {
    let mut joined = String::with_capacity(base.len() + 1 + segment.len());
    joined.push_str(base);
    joined.push('/');
    if segment.contains(['~', '/']) {
        for character in segment.chars() {
            match character {
                '~' => joined.push_str("~0"),
                '/' => joined.push_str("~1"),
                other => joined.push(other),
            }
        }
    } else {
        joined.push_str(segment);
    }
    joined
}

/// Converts a document whose top level is described by `object_schema` (inside `root`).
pub fn convert(
    file: FileId,
    document: &crate::syntax::Document,
    root: &Value,
    object_schema: &Value,
) -> (Form, Vec<Diagnostic>) {
    let mut converter = Converter {
        file,
        base: 0,
        root,
        spans: SpanMap {
            entries: crate::hash::FastMap::default(),
            file: Some(file),
        },
        diagnostics: Vec::new(),
    };
    let whole = Span::new(file, 0, 0);
    converter.spans.insert(
        String::new(),
        Spans {
            value: whole,
            key: whole,
            node: whole,
        },
    );
    let mut object = Map::new();
    // The pieces' nodes in text order, as if they were one document.
    for (base, piece) in document.pieces() {
        converter.base = *base;
        converter.convert_children(piece, object_schema, "", &mut object);
    }
    (
        Form {
            value: Value::Object(object),
            spans: converter.spans,
        },
        converter.diagnostics,
    )
}

struct Converter<'s> {
    file: FileId,
    /// Where the piece being converted starts in the file (its spans are relative to it).
    base: usize,
    root: &'s Value,
    spans: SpanMap,
    diagnostics: Vec<Diagnostic>,
}

impl<'s> Converter<'s> {
    fn span(&self, source_span: miette::SourceSpan) -> Span {
        Span::new(
            self.file,
            self.base + source_span.offset(),
            source_span.len(),
        )
    }

    fn node_spans(&self, node: &KdlNode) -> Spans {
        let name = self.span(node.name().span());
        Spans {
            value: name,
            key: name,
            node: self.span(node.span()),
        }
    }

    fn convert_children(
        &mut self,
        document: &KdlDocument,
        object_schema: &'s Value,
        pointer: &str,
        object: &mut Map<String, Value>,
    ) {
        let rules = schema::node_rules(self.root, object_schema);
        for node in document.nodes() {
            let name = node.name().value();
            let Some(rule) = rules.iter().find(|rule| rule.node == name) else {
                let spans = self.node_spans(node);
                let plain = schema::plain_properties(self.root, object_schema);
                let mut help = suggestion_help(name, "node", rules.iter().map(|rule| rule.node));
                if plain.contains(&name) {
                    help = format!(
                        "`{name}` is a property here: write it as `{name}=VALUE` on the enclosing node"
                    );
                }
                self.diagnostics.push(
                    Diagnostic::error(UNKNOWN_NODE, spans.key, format!("unknown node `{name}`"))
                        .with_label("not allowed here")
                        .with_help(help),
                );
                continue;
            };
            self.convert_node(node, rule, pointer, object);
        }
    }

    fn convert_node(
        &mut self,
        node: &KdlNode,
        rule: &NodeRule<'s>,
        pointer: &str,
        object: &mut Map<String, Value>,
    ) {
        let spans = self.node_spans(node);
        let key_pointer = pointer_join(pointer, rule.key);
        match rule.shape {
            Shape::Scalar => {
                if self.reject_duplicate(object, rule, node, &key_pointer) {
                    return;
                }
                self.reject_children(node, "takes a single value and no block");
                let mut args = node.entries().iter().filter(|entry| entry.name().is_none());
                for entry in node.entries().iter().filter(|entry| entry.name().is_some()) {
                    self.unexpected(
                        entry,
                        &format!("`{}` takes a single value, not properties", rule.node),
                    );
                }
                let Some(first) = args.next() else {
                    self.diagnostics.push(
                        Diagnostic::error(
                            MISSING_ARGUMENT,
                            spans.key,
                            format!("`{}` needs a value", rule.node),
                        )
                        .with_label("value missing")
                        .with_help(format!("write `{} VALUE`", rule.node)),
                    );
                    return;
                };
                for extra in args {
                    self.unexpected(extra, &format!("`{}` takes exactly one value", rule.node));
                }
                if let Some(value) = self.value(first) {
                    let value_span = self.span(first.span());
                    self.spans.insert(
                        key_pointer.clone(),
                        Spans {
                            value: value_span,
                            key: spans.key,
                            node: spans.node,
                        },
                    );
                    object.insert(rule.key.to_owned(), value);
                }
            }
            Shape::Values => {
                self.reject_children(node, "takes a list of values and no block");
                let list = object
                    .entry(rule.key.to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !self.spans.entries.contains_key(&key_pointer) {
                    self.spans.insert(key_pointer.clone(), spans);
                }
                let mut items = Vec::new();
                for entry in node.entries() {
                    if entry.name().is_some() {
                        self.unexpected(
                            entry,
                            &format!("`{}` takes values, not properties", rule.node),
                        );
                        continue;
                    }
                    if let Some(value) = self.value(entry) {
                        items.push((value, self.span(entry.span())));
                    }
                }
                if let Value::Array(list) = list {
                    for (value, value_span) in items {
                        self.spans.insert(
                            pointer_join(&key_pointer, &list.len().to_string()),
                            Spans {
                                value: value_span,
                                key: value_span,
                                node: spans.node,
                            },
                        );
                        list.push(value);
                    }
                }
            }
            Shape::Map => {
                self.reject_children(node, "takes `key=value` properties and no block");
                if !self.spans.entries.contains_key(&key_pointer) {
                    self.spans.insert(key_pointer.clone(), spans);
                }
                let mut entries = Vec::new();
                for entry in node.entries() {
                    match entry.name() {
                        None => self.unexpected(
                            entry,
                            &format!("`{}` takes `key=value` properties", rule.node),
                        ),
                        Some(_) => entries.push(entry),
                    }
                }
                let map = object
                    .entry(rule.key.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                let mut converted = Vec::new();
                for entry in entries {
                    if let Some(value) = self.value(entry) {
                        converted.push((entry, value));
                    }
                }
                if let Value::Object(map) = map {
                    for (entry, value) in converted {
                        let Some(name) = entry.name() else { continue };
                        let entry_pointer = pointer_join(&key_pointer, name.value());
                        let entry_spans = self.prop_spans(entry, spans.node);
                        if map.contains_key(name.value()) {
                            let first = self.spans.get(&entry_pointer).map(|spans| spans.key);
                            self.diagnostics.push(
                                Diagnostic::error(
                                    DUPLICATE_PROPERTY,
                                    entry_spans.key,
                                    format!("`{}` is set twice in `{}`", name.value(), rule.node),
                                )
                                .with_label("set again here")
                                .with_help("keep one of the two values")
                                .with_related_opt(first, "first set here"),
                            );
                            continue;
                        }
                        self.spans.insert(entry_pointer, entry_spans);
                        map.insert(name.value().to_owned(), value);
                    }
                }
            }
            Shape::Object => {
                if self.reject_duplicate(object, rule, node, &key_pointer) {
                    return;
                }
                self.spans.insert(key_pointer.clone(), spans);
                let item_schema = schema::resolve(self.root, rule.schema);
                let value = self.convert_object(node, item_schema, rule.args, &key_pointer);
                object.insert(rule.key.to_owned(), Value::Object(value));
            }
            Shape::Keyed => {
                let Some((key_entry, key)) = self.key_argument(node, rule) else {
                    return;
                };
                let map = object
                    .entry(rule.key.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !self.spans.entries.contains_key(&key_pointer) {
                    self.spans.insert(key_pointer.clone(), spans);
                }
                let item_pointer = pointer_join(&key_pointer, &key);
                let key_span = self.span(key_entry.span());
                if let Value::Object(map) = map
                    && map.contains_key(&key)
                {
                    let first = self.spans.get(&item_pointer).map(|spans| spans.value);
                    self.diagnostics.push(
                        Diagnostic::error(
                            DUPLICATE_NAME,
                            key_span,
                            format!("{} `{key}` is declared twice", rule.node),
                        )
                        .with_label("second declaration")
                        .with_help(format!(
                            "rename one of them or merge the two `{}` blocks",
                            rule.node
                        ))
                        .with_related_opt(first, "first declared here"),
                    );
                    return;
                }
                self.spans.insert(
                    item_pointer.clone(),
                    Spans {
                        value: key_span,
                        key: key_span,
                        node: spans.node,
                    },
                );
                let item_schema = schema::item_schema(self.root, rule.schema);
                let rest_args = rule.args.get(1..).unwrap_or(&[]);
                let value =
                    self.convert_object_skipping(node, item_schema, rest_args, &item_pointer, 1);
                if let Some(Value::Object(map)) = object.get_mut(rule.key) {
                    map.insert(key, Value::Object(value));
                }
            }
            Shape::List => {
                let list = object
                    .entry(rule.key.to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                let idx = list.as_array().map_or(0, Vec::len);
                if !self.spans.entries.contains_key(&key_pointer) {
                    self.spans.insert(key_pointer.clone(), spans);
                }
                let item_pointer = pointer_join(&key_pointer, &idx.to_string());
                self.spans.insert(item_pointer.clone(), spans);
                let item_schema = schema::item_schema(self.root, rule.schema);
                let value = self.convert_object(node, item_schema, rule.args, &item_pointer);
                if let Some(Value::Array(list)) = object.get_mut(rule.key) {
                    list.push(Value::Object(value));
                }
            }
        }
    }

    fn convert_object(
        &mut self,
        node: &KdlNode,
        object_schema: &'s Value,
        arg_names: &[Value],
        pointer: &str,
    ) -> Map<String, Value> {
        self.convert_object_skipping(node, object_schema, arg_names, pointer, 0)
    }

    /// Builds an object from a node: positional arguments (after `skip`) named by
    /// `arg_names`, properties verbatim, children converted through the schema.
    fn convert_object_skipping(
        &mut self,
        node: &KdlNode,
        object_schema: &'s Value,
        arg_names: &[Value],
        pointer: &str,
        skip: usize,
    ) -> Map<String, Value> {
        let node_span = self.span(node.span());
        let mut object = Map::new();
        let mut arg_idx = 0;
        for entry in node.entries() {
            match entry.name() {
                None => {
                    if arg_idx < skip {
                        arg_idx += 1;
                        continue;
                    }
                    let Some(name) = arg_names.get(arg_idx - skip).and_then(Value::as_str) else {
                        let takes = match arg_names.len() + skip {
                            0 => "no values".to_owned(),
                            1 => "one value".to_owned(),
                            n => format!("{n} values"),
                        };
                        self.unexpected(
                            entry,
                            &format!(
                                "`{}` takes {takes}; use `name=value` for the rest",
                                node.name().value()
                            ),
                        );
                        arg_idx += 1;
                        continue;
                    };
                    arg_idx += 1;
                    if let Some(value) = self.value(entry) {
                        let value_span = self.span(entry.span());
                        self.spans.insert(
                            pointer_join(pointer, name),
                            Spans {
                                value: value_span,
                                key: value_span,
                                node: node_span,
                            },
                        );
                        object.insert(name.to_owned(), value);
                    }
                }
                Some(key) => {
                    let entry_pointer = pointer_join(pointer, key.value());
                    let entry_spans = self.prop_spans(entry, node_span);
                    if object.contains_key(key.value()) {
                        let first = self.spans.get(&entry_pointer).map(|spans| spans.key);
                        self.diagnostics.push(
                            Diagnostic::error(
                                DUPLICATE_PROPERTY,
                                entry_spans.key,
                                format!(
                                    "`{}` is set twice on `{}`",
                                    key.value(),
                                    node.name().value()
                                ),
                            )
                            .with_label("set again here")
                            .with_help("keep one of the two values")
                            .with_related_opt(first, "first set here"),
                        );
                        continue;
                    }
                    if let Some(value) = self.value(entry) {
                        self.spans.insert(entry_pointer, entry_spans);
                        object.insert(key.value().to_owned(), value);
                    }
                }
            }
        }
        if let Some(children) = node.children() {
            let mut child_object = Map::new();
            self.convert_children(children, object_schema, pointer, &mut child_object);
            for (key, value) in child_object {
                if object.contains_key(&key) {
                    let span = self.spans.key(&pointer_join(pointer, &key));
                    self.diagnostics.push(
                        Diagnostic::error(
                            DUPLICATE_PROPERTY,
                            span,
                            format!("`{key}` is set both as a property and as a child node"),
                        )
                        .with_label("set again here")
                        .with_help("keep one of the two"),
                    );
                    continue;
                }
                object.insert(key, value);
            }
        }
        object
    }

    fn key_argument<'n>(
        &mut self,
        node: &'n KdlNode,
        rule: &NodeRule<'s>,
    ) -> Option<(&'n KdlEntry, String)> {
        let spans = self.node_spans(node);
        let key_name = rule.args.first().and_then(Value::as_str).unwrap_or("name");
        let Some(entry) = node.entries().iter().find(|entry| entry.name().is_none()) else {
            self.diagnostics.push(
                Diagnostic::error(
                    MISSING_ARGUMENT,
                    spans.key,
                    format!("`{}` needs a {key_name}", rule.node),
                )
                .with_label(format!("{key_name} missing"))
                .with_help(format!(
                    "write `{} {}`",
                    rule.node,
                    key_name.to_uppercase()
                )),
            );
            return None;
        };
        let key = match entry.value() {
            KdlValue::String(text) => text.clone(),
            KdlValue::Integer(number) => number.to_string(),
            _ => {
                self.diagnostics.push(
                    Diagnostic::error(
                        MISSING_ARGUMENT,
                        self.span(entry.span()),
                        format!("the {key_name} of `{}` must be a string", rule.node),
                    )
                    .with_label("not a string")
                    .with_help(format!("write `{} \"{key_name}\"`", rule.node)),
                );
                return None;
            }
        };
        Some((entry, key))
    }

    fn prop_spans(&self, entry: &KdlEntry, node_span: Span) -> Spans {
        let whole = self.span(entry.span());
        let key = entry.name().map_or(whole, |name| self.span(name.span()));
        let key = if key.len == 0 || key.start < whole.start {
            Span::new(
                self.file,
                whole.start,
                entry.name().map_or(0, |name| name.value().len()),
            )
        } else {
            key
        };
        // The value token ends the entry; whitespace may surround the `=`.
        let value_len = entry
            .format()
            .map(|format| format.value_repr.trim().len())
            .filter(|len| *len > 0 && *len <= whole.len)
            .unwrap_or_else(|| whole.end().saturating_sub(key.end() + 1));
        let value = Span::new(self.file, whole.end() - value_len, value_len);
        Spans {
            value,
            key,
            node: node_span,
        }
    }

    fn value(&mut self, entry: &KdlEntry) -> Option<Value> {
        match entry.value() {
            KdlValue::String(text) => Some(Value::String(text.clone())),
            KdlValue::Bool(flag) => Some(Value::Bool(*flag)),
            KdlValue::Null => Some(Value::Null),
            KdlValue::Integer(number) => match i64::try_from(*number) {
                Ok(number) => Some(Value::Number(number.into())),
                Err(_) => {
                    self.invalid_number(entry, "is too large");
                    None
                }
            },
            // A whole float (`2.0`, `1e2`) is the integer JSON Schema already takes it for:
            // kept as a float, the schema would accept it for an integer field and the typed
            // spec would then reject it (an internal error instead of a value).
            KdlValue::Float(number) if number.fract() == 0.0 && number.abs() < 9.2e18 => {
                Some(Value::Number((*number as i64).into()))
            }
            KdlValue::Float(number) => match Number::from_f64(*number) {
                Some(number) => Some(Value::Number(number)),
                None => {
                    self.invalid_number(entry, "is not a finite number");
                    None
                }
            },
        }
    }

    fn invalid_number(&mut self, entry: &KdlEntry, what: &str) {
        let span = self.span(entry.span());
        self.diagnostics.push(
            Diagnostic::error(INVALID_NUMBER, span, format!("this number {what}"))
                .with_label("cannot be represented")
                .with_help("use a value between -9223372036854775808 and 9223372036854775807"),
        );
    }

    fn unexpected(&mut self, entry: &KdlEntry, why: &str) {
        let span = self.span(entry.span());
        self.diagnostics.push(
            Diagnostic::error(UNEXPECTED_ENTRY, span, why.to_owned())
                .with_label("unexpected")
                .with_help("see the node's form in docs/language.md, or run `manifold schema`"),
        );
    }

    fn reject_children(&mut self, node: &KdlNode, why: &str) {
        if let Some(children) = node.children() {
            let span = self.span(children.span());
            self.diagnostics.push(
                Diagnostic::error(
                    UNEXPECTED_ENTRY,
                    span,
                    format!("`{}` {why}", node.name().value()),
                )
                .with_label("unexpected block")
                .with_help("remove the `{ ... }` block"),
            );
        }
    }

    fn reject_duplicate(
        &mut self,
        object: &Map<String, Value>,
        rule: &NodeRule<'s>,
        node: &KdlNode,
        key_pointer: &str,
    ) -> bool {
        if !object.contains_key(rule.key) {
            return false;
        }
        let spans = self.node_spans(node);
        let first = self.spans.get(key_pointer).map(|spans| spans.key);
        self.diagnostics.push(
            Diagnostic::error(
                DUPLICATE_NODE,
                spans.key,
                format!("`{}` appears twice", rule.node),
            )
            .with_label("second occurrence")
            .with_help(format!(
                "`{}` may appear once here; merge the two",
                rule.node
            ))
            .with_related_opt(first, "first occurrence"),
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::pointer_join;

    #[test]
    fn pointer_segments_are_escaped() {
        assert_eq!(pointer_join("", "services"), "/services");
        assert_eq!(pointer_join("/env", "a/b~c"), "/env/a~1b~0c");
        assert_eq!(pointer_join("/x", ""), "/x/");
        assert_eq!(pointer_join("/x", "é/~"), "/x/é~1~0");
    }
}
