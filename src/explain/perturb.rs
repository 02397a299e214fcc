//! Differential provenance: change one token of the spec, a profile or the built-in defaults
//! in memory, compile again, and see which output fields change.
//!
//! Consumes: the JSON forms (with spans) of the spec, the profiles and the built-in defaults,
//! and the baseline output. Produces: per token, the perturbation that was applied and the
//! output fields it changed.
//!
//! Decisions:
//! - Perturbations are made on the JSON form, not the KDL text: no re-parse, and the span map
//!   stays valid. Each compile runs what `pipeline::compile_with` runs after parsing (checks,
//!   lowering, model checks, every emitter through `emit::emit_with`), so an emitter added later
//!   is traced without any change here.
//! - A perturbation must give a spec that compiles without errors; candidates are tried in
//!   order (another value of the schema's `enum`, a flipped boolean, a number ± 1, a string
//!   with its numbers incremented or a suffix, a renamed key with the references to it, and
//!   last the token removed) until one does. The first valid candidate that changes the output
//!   is kept; a token whose valid candidates change nothing has no effect.
//! - Tokens are independent, so they are compiled on every core; results are stored by token
//!   index, so the outcome never depends on scheduling.

use std::collections::{BTreeMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use super::fields::Rename;
use crate::check::schema::{Document, validate};
use crate::emit::Options;
use crate::output::Tree;
use crate::profiles::{DEFAULTS, Profile};
use crate::source::{FileId, Span};
use crate::spec::schema::{self as spec_schema};
use crate::spec::types::ProfileDocument;
use crate::spec::{Form, pointer_join};

/// The document a token is in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// The user's spec.
    Spec,
    /// A built-in profile, or the built-in defaults ([`DEFAULTS`]), by name.
    Profile(String),
}

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenKind {
    /// A value: `15`, `"1.4.2"`, `#true`, `production`.
    Value,
    /// A name the user chose: a service, an environment variable, a label key, a port.
    Name,
}

/// One perturbable token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Its document.
    pub source: Source,
    /// Its JSON pointer in that document's form (for a name: the entry it names).
    pub pointer: String,
    /// Value or name.
    pub kind: TokenKind,
    /// Where it is written.
    pub span: Span,
}

/// How a token's perturbation went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    /// The perturbation `to` compiled and changed the output.
    Changed {
        /// The new token text (or `(removed)`).
        to: String,
        /// What changed.
        diff: TreeDiff,
    },
    /// Valid perturbations compiled but changed no field of the output (they may add files).
    NoEffect {
        /// The last perturbation tried.
        to: String,
        /// Files it would add.
        added: Vec<String>,
    },
    /// No candidate gave a spec that compiles without errors.
    Unperturbable,
}

/// How a perturbed output differs from the baseline.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TreeDiff {
    /// Changed fields of files that still exist (file index, field index).
    pub fields: Vec<(u32, u32)>,
    /// Baseline files that no longer exist (file index).
    pub vanished: Vec<u32>,
    /// Files that are new.
    pub added: Vec<String>,
}

impl TreeDiff {
    /// Whether an existing file changed or disappeared.
    pub fn touches_baseline(&self) -> bool {
        !self.fields.is_empty() || !self.vanished.is_empty()
    }
}

/// What every compile shares.
pub struct Inputs<'a> {
    /// The spec's name (as `lower` records it).
    pub name: &'a str,
    /// The spec's file.
    pub file: FileId,
    /// The spec's JSON form.
    pub form: &'a Form,
    /// The profiles and the built-in defaults.
    pub profiles: &'a BTreeMap<String, Profile>,
    /// Emitter options (template overrides).
    pub options: &'a Options,
    /// The baseline model's `Debug` text: a perturbation that leaves the model as it was
    /// cannot change the output (emitters are functions of the model), so it is not emitted.
    pub model: &'a str,
}

/// The baseline output a perturbed compile is compared with.
pub trait Baseline: Sync {
    /// How `tree` differs from the baseline.
    fn diff(&self, tree: &Tree, rename: Option<&Rename>) -> TreeDiff;
}

/// Every token of a document, in document order.
pub fn tokens(form: &Form, source: &Source) -> Vec<Token> {
    let (root, object) = schema_of(source);
    let mut out = Vec::new();
    visit(form, source, root, Some(object), &form.value, "", &mut out);
    out
}

fn schema_of(source: &Source) -> (&'static Value, &'static Value) {
    match source {
        Source::Spec => {
            let root = spec_schema::platform_schema();
            (root, root)
        }
        Source::Profile(_) => {
            let root = spec_schema::profile_schema();
            (root, spec_schema::resolve(root, root))
        }
    }
}

fn visit(
    form: &Form,
    source: &Source,
    root: &'static Value,
    schema: Option<&'static Value>,
    value: &Value,
    pointer: &str,
    out: &mut Vec<Token>,
) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_pointer = pointer_join(pointer, key);
                let child_schema = schema.and_then(|schema| child_schema(root, schema, key));
                if schema.is_some_and(|schema| is_user_key(root, schema, key))
                    && let Some(spans) = form.spans.get(&child_pointer)
                    && spans.key.len > 0
                {
                    out.push(Token {
                        source: source.clone(),
                        pointer: child_pointer.clone(),
                        kind: TokenKind::Name,
                        span: spans.key,
                    });
                }
                visit(form, source, root, child_schema, child, &child_pointer, out);
            }
        }
        Value::Array(items) => {
            let item_schema = schema.and_then(|schema| items_schema(root, schema));
            for (idx, item) in items.iter().enumerate() {
                let child_pointer = pointer_join(pointer, &idx.to_string());
                visit(form, source, root, item_schema, item, &child_pointer, out);
            }
        }
        Value::Null => {}
        _ => {
            if pointer == "/profile/name" {
                return;
            }
            if let Some(spans) = form.spans.get(pointer)
                && spans.value.len > 0
            {
                out.push(Token {
                    source: source.clone(),
                    pointer: pointer.to_owned(),
                    kind: TokenKind::Value,
                    span: spans.value,
                });
            }
        }
    }
}

/// The schema of property `key` of an object schema (a declared property or
/// `additionalProperties`).
fn child_schema(root: &'static Value, schema: &'static Value, key: &str) -> Option<&'static Value> {
    if let Some((_, property)) = spec_schema::properties(root, schema)
        .into_iter()
        .find(|(name, _)| *name == key)
    {
        return Some(property);
    }
    additional(root, schema, 0)
}

fn items_schema(root: &'static Value, schema: &'static Value) -> Option<&'static Value> {
    let schema = spec_schema::resolve(root, schema);
    if let Some(items) = schema.get("items") {
        return Some(items);
    }
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|reference| root.pointer(reference.strip_prefix('#')?))
        .and_then(|target| items_schema(root, target))
}

/// `additionalProperties` of an object schema, through `$ref` and `allOf`.
fn additional(
    root: &'static Value,
    schema: &'static Value,
    depth: usize,
) -> Option<&'static Value> {
    if depth > 16 {
        return None;
    }
    if let Some(extra) = schema
        .get("additionalProperties")
        .filter(|extra| extra.is_object())
    {
        return Some(extra);
    }
    if let Some(target) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|reference| root.pointer(reference.strip_prefix('#')?))
        && let Some(extra) = additional(root, target, depth + 1)
    {
        return Some(extra);
    }
    schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|part| additional(root, part, depth + 1))
}

/// Whether `key` is a name the user chose (a key of a map or keyed collection) rather than a
/// property the schema declares.
fn is_user_key(root: &'static Value, schema: &'static Value, key: &str) -> bool {
    !spec_schema::properties(root, schema)
        .iter()
        .any(|(name, _)| *name == key)
        && additional(root, schema, 0).is_some()
}

/// The values a schema's `enum` (or `const`, or those of its `oneOf`/`anyOf` branches) allows.
fn enum_values(root: &'static Value, schema: &'static Value, depth: usize) -> Vec<Value> {
    if depth > 16 {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        out.extend(values.iter().cloned());
    }
    if let Some(value) = schema.get("const") {
        out.push(value.clone());
    }
    if let Some(target) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|reference| root.pointer(reference.strip_prefix('#')?))
    {
        out.extend(enum_values(root, target, depth + 1));
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for branch in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.extend(enum_values(root, branch, depth + 1));
        }
    }
    out
}

/// The schema at a pointer of a document.
fn schema_at(source: &Source, pointer: &str) -> Option<&'static Value> {
    let (root, object) = schema_of(source);
    let mut schema = object;
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        let items = items_schema(root, schema).filter(|_| segment.parse::<usize>().is_ok());
        schema = match items {
            Some(items) => items,
            None => child_schema(root, schema, &segment)?,
        };
    }
    Some(schema)
}

/// One way to perturb a token.
#[derive(Debug, Clone)]
struct Mutation {
    edits: Vec<Edit>,
    rename: Option<Rename>,
    to: String,
}

#[derive(Debug, Clone)]
enum Edit {
    Set(String, Value),
    Delete(String),
    RenameKey(String, String),
}

/// The candidate perturbations of a token, in the order they are tried.
fn candidates(token: &Token, document: &Value) -> Vec<Mutation> {
    let mut out = Vec::new();
    let Some(current) = document.pointer(&token.pointer) else {
        return out;
    };
    match token.kind {
        TokenKind::Value => {
            let mut seen: HashSet<String> = HashSet::new();
            seen.insert(current.to_string());
            // `renames`: the new text stands for the old one in the output (a free-form string
            // given a suffix), so paths and names with the old text are matched under the new
            // one; not for another value of an `enum` or another declared name (`in prod` →
            // `in dev` points at something else, whose files are not this one's).
            let mut set = |value: Value, renames: bool, out: &mut Vec<Mutation>| {
                if !seen.insert(value.to_string()) {
                    return;
                }
                let rename = match (current, &value) {
                    (Value::String(old), Value::String(new)) if renames && old.len() >= 2 => {
                        Some(Rename {
                            old: old.clone(),
                            new: new.clone(),
                        })
                    }
                    _ => None,
                };
                out.push(Mutation {
                    edits: vec![Edit::Set(token.pointer.clone(), value.clone())],
                    rename,
                    to: display(&value),
                });
            };
            if let Some(schema) = schema_at(&token.source, &token.pointer) {
                let (root, _) = schema_of(&token.source);
                for value in enum_values(root, schema, 0) {
                    set(value, false, &mut out);
                }
            }
            match current {
                Value::Bool(flag) => set(Value::Bool(!flag), true, &mut out),
                Value::Number(number) => {
                    if let Some(int) = number.as_i64() {
                        set(Value::from(int + 1), true, &mut out);
                        if int > 0 {
                            set(Value::from(int - 1), true, &mut out);
                        }
                        set(Value::from(int + 2), true, &mut out);
                    } else if let Some(float) = number.as_f64() {
                        set(Value::from(float + 1.0), true, &mut out);
                        set(Value::from(float / 2.0), true, &mut out);
                    }
                }
                Value::String(text) => {
                    // A name of something declared elsewhere: another of its kind.
                    for other in siblings_of(&token.source, document, text) {
                        set(Value::from(other), false, &mut out);
                    }
                    for (step, last_only) in [(1, false), (1, true), (-1, true), (-1, false)] {
                        set(
                            Value::from(step_numbers(text, step, last_only)),
                            true,
                            &mut out,
                        );
                    }
                    for suffix in ["z", "-z", "Z", "0"] {
                        set(Value::from(format!("{text}{suffix}")), true, &mut out);
                    }
                    set(Value::from(format!("z{text}")), true, &mut out);
                }
                _ => {}
            }
            out.push(Mutation {
                edits: vec![Edit::Delete(token.pointer.clone())],
                rename: None,
                to: "(removed)".to_owned(),
            });
        }
        TokenKind::Name => {
            let Some((_, key)) = token.pointer.rsplit_once('/') else {
                return out;
            };
            let key = key.replace("~1", "/").replace("~0", "~");
            let references = references(&token.source, document, &key, &token.pointer);
            // Keys from a fixed set (`probe readiness`, `cloud aws`): another key of the set.
            let parent = token
                .pointer
                .rsplit_once('/')
                .map_or("", |(parent, _)| parent);
            let allowed = schema_at(&token.source, parent)
                .and_then(|schema| schema.get("propertyNames"))
                .map(|names| {
                    let (root, _) = schema_of(&token.source);
                    enum_values(root, names, 0)
                });
            let present = document.pointer(parent).and_then(Value::as_object);
            let new_keys: Vec<String> = match allowed {
                Some(allowed) => allowed
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|name| present.is_none_or(|map| !map.contains_key(*name)))
                    .map(str::to_owned)
                    .collect(),
                None => ["z", "-z", "Z", "_Z", "9"]
                    .iter()
                    .map(|suffix| format!("{key}{suffix}"))
                    .collect(),
            };
            for with_references in [false, true] {
                if with_references && references.is_empty() {
                    break;
                }
                for new_key in &new_keys {
                    let new_key = new_key.clone();
                    let mut edits = vec![Edit::RenameKey(token.pointer.clone(), new_key.clone())];
                    if with_references {
                        edits.extend(references.iter().map(|pointer| {
                            Edit::Set(pointer.clone(), Value::from(new_key.clone()))
                        }));
                    }
                    out.push(Mutation {
                        edits,
                        rename: Some(Rename {
                            old: key.clone(),
                            new: new_key.clone(),
                        }),
                        to: new_key,
                    });
                }
            }
        }
    }
    out
}

/// The string leaves that name `key` elsewhere in the document (`calls`, `in ENV`,
/// `cluster aws=NAME`, `node-pool NAME`, ...): equal strings whose schema has no `enum`.
fn references(source: &Source, document: &Value, key: &str, named: &str) -> Vec<String> {
    let mut out = Vec::new();
    collect_references(source, document, "", key, named, &mut out);
    out
}

fn collect_references(
    source: &Source,
    value: &Value,
    pointer: &str,
    key: &str,
    named: &str,
    out: &mut Vec<String>,
) {
    match value {
        Value::Object(map) => {
            for (child_key, child) in map {
                let child_pointer = pointer_join(pointer, child_key);
                if child_pointer == named {
                    continue;
                }
                collect_references(source, child, &child_pointer, key, named, out);
            }
        }
        Value::Array(items) => {
            for (idx, item) in items.iter().enumerate() {
                collect_references(
                    source,
                    item,
                    &pointer_join(pointer, &idx.to_string()),
                    key,
                    named,
                    out,
                );
            }
        }
        Value::String(text) if text == key => {
            let constrained = schema_at(source, pointer).is_some_and(|schema| {
                let (root, _) = schema_of(source);
                !enum_values(root, schema, 0).is_empty()
            });
            if !constrained {
                out.push(pointer.to_owned());
            }
        }
        _ => {}
    }
}

/// The other keys of the maps that have `name` as a key (`redis` in `calls` → the other
/// services), when those keys are names the user chose.
fn siblings_of(source: &Source, document: &Value, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    collect_siblings(source, document, "", name, &mut out);
    out
}

fn collect_siblings(
    source: &Source,
    value: &Value,
    pointer: &str,
    name: &str,
    out: &mut Vec<String>,
) {
    match value {
        Value::Object(map) => {
            if map.contains_key(name)
                && let Some(schema) = schema_at(source, pointer)
            {
                let (root, _) = schema_of(source);
                if is_user_key(root, schema, name) {
                    out.extend(map.keys().filter(|key| *key != name).cloned());
                }
            }
            for (key, child) in map {
                if child.is_object() {
                    collect_siblings(source, child, &pointer_join(pointer, key), name, out);
                }
            }
        }
        Value::Array(items) => {
            for (idx, item) in items.iter().enumerate() {
                collect_siblings(
                    source,
                    item,
                    &pointer_join(pointer, &idx.to_string()),
                    name,
                    out,
                );
            }
        }
        _ => {}
    }
}

/// The text with every run of digits (only the last one with `last_only`) moved by `step`
/// (runs at zero stay when stepping down).
fn step_numbers(text: &str, step: i8, last_only: bool) -> String {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let bytes = text.as_bytes();
    let mut idx = 0;
    while idx < bytes.len() {
        if bytes[idx].is_ascii_digit() {
            let start = idx;
            while idx < bytes.len() && bytes[idx].is_ascii_digit() {
                idx += 1;
            }
            runs.push((start, idx));
        } else {
            idx += 1;
        }
    }
    if last_only && runs.len() > 1 {
        runs.drain(..runs.len() - 1);
    }
    let mut out = String::with_capacity(text.len() + 2);
    let mut last = 0;
    for (start, end) in runs {
        out.push_str(&text[last..start]);
        let digits = &text[start..end];
        let moved = match digits.parse::<u128>() {
            Ok(number) if step > 0 => Some(number + 1),
            Ok(number) if number > 0 => Some(number - 1),
            _ => None,
        };
        match moved {
            Some(number) => {
                // Keep the width of leading zeros: "09" → "10", "007" → "008".
                let text = number.to_string();
                let width = if digits.starts_with('0') {
                    digits.len()
                } else {
                    text.len()
                };
                out.push_str(&format!("{text:0>width$}"));
            }
            None => out.push_str(digits),
        }
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

fn display(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{text:?}"),
        Value::Bool(true) => "#true".to_owned(),
        Value::Bool(false) => "#false".to_owned(),
        other => other.to_string(),
    }
}

fn apply(document: &mut Value, edit: &Edit) -> bool {
    match edit {
        Edit::Set(pointer, value) => match document.pointer_mut(pointer) {
            Some(slot) => {
                *slot = value.clone();
                true
            }
            None => false,
        },
        Edit::Delete(pointer) | Edit::RenameKey(pointer, _) => {
            let Some((parent, last)) = pointer.rsplit_once('/') else {
                return false;
            };
            let last = last.replace("~1", "/").replace("~0", "~");
            match document.pointer_mut(parent) {
                Some(Value::Object(map)) => match edit {
                    Edit::RenameKey(_, new_key) => {
                        if map.contains_key(new_key) {
                            return false;
                        }
                        let Some(index) = map.keys().position(|key| *key == last) else {
                            return false;
                        };
                        let Some(value) = map.shift_remove(&last) else {
                            return false;
                        };
                        map.shift_insert(index, new_key.clone(), value);
                        true
                    }
                    _ => map.shift_remove(&last).is_some(),
                },
                Some(Value::Array(items)) => match (edit, last.parse::<usize>()) {
                    (Edit::Delete(_), Ok(index)) if index < items.len() => {
                        items.remove(index);
                        true
                    }
                    _ => false,
                },
                _ => false,
            }
        }
    }
}

/// The result of compiling a mutation.
enum Compiled {
    /// Errors (or a stage panicked): not a valid perturbation.
    Invalid,
    /// Valid, and the model is the baseline's.
    Same,
    /// Valid; the output.
    Tree(Tree),
}

/// Compiles with one mutation applied.
fn compile(inputs: &Inputs, source: &Source, mutation: &Mutation) -> Compiled {
    let mut form = inputs.form.clone();
    let mut profiles = inputs.profiles.clone();
    match source {
        Source::Spec => {
            for edit in &mutation.edits {
                if !apply(&mut form.value, edit) {
                    return Compiled::Invalid;
                }
            }
        }
        Source::Profile(name) => {
            let Some(profile) = profiles.get_mut(name) else {
                return Compiled::Invalid;
            };
            for edit in &mutation.edits {
                if !apply(&mut profile.form.value, edit) {
                    return Compiled::Invalid;
                }
            }
            let mut named = profile.form.clone();
            if name == DEFAULTS.0
                && let Some(slot) = named.value.pointer_mut("/profile/name")
            {
                *slot = Value::from(crate::profiles::BUILTIN[0].0);
            }
            if crate::diagnostic::has_errors(&validate(&named, Document::Profile)) {
                return Compiled::Invalid;
            }
            match serde_json::from_value::<ProfileDocument>(profile.form.value.clone()) {
                Ok(document) => profile.settings = document.profile.settings,
                Err(_) => return Compiled::Invalid,
            }
        }
    }
    let (checked, _) = crate::check::check(inputs.file, form, profiles);
    let Some(checked) = checked else {
        return Compiled::Invalid;
    };
    catch_unwind(AssertUnwindSafe(|| {
        let platform = crate::lower::lower(&checked, inputs.name);
        if format!("{platform:?}") == inputs.model {
            return Compiled::Same;
        }
        let mesh = crate::emit::istio::Mesh::build(&platform, true);
        let diagnostics = crate::check::platform::check(&platform, inputs.file, &mesh);
        if crate::diagnostic::has_errors(&diagnostics) {
            return Compiled::Invalid;
        }
        match crate::emit::emit_with(&platform, mesh, inputs.options) {
            Ok(tree) => Compiled::Tree(tree),
            Err(_) => Compiled::Invalid,
        }
    }))
    .unwrap_or(Compiled::Invalid)
}

/// One token's outcome and what it cost.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Traced {
    /// What the perturbation did.
    pub outcome: Outcome,
    /// Candidates tried (each one a check, and a full compile when the checks passed).
    pub attempts: u32,
}

/// Perturbs one token.
pub fn run(inputs: &Inputs, token: &Token, baseline: &dyn Baseline) -> Traced {
    let document = match &token.source {
        Source::Spec => &inputs.form.value,
        Source::Profile(name) => match inputs.profiles.get(name) {
            Some(profile) => &profile.form.value,
            None => {
                return Traced {
                    outcome: Outcome::Unperturbable,
                    attempts: 0,
                };
            }
        },
    };
    let mut valid = 0;
    let mut attempts = 0;
    let mut last: Option<(String, Vec<String>)> = None;
    for mutation in candidates(token, document) {
        attempts += 1;
        let diff = match compile(inputs, &token.source, &mutation) {
            Compiled::Invalid => continue,
            Compiled::Same => TreeDiff::default(),
            Compiled::Tree(tree) => baseline.diff(&tree, mutation.rename.as_ref()),
        };
        valid += 1;
        if diff.touches_baseline() {
            return Traced {
                outcome: Outcome::Changed {
                    to: mutation.to,
                    diff,
                },
                attempts,
            };
        }
        if last.as_ref().is_none_or(|(_, added)| added.is_empty()) {
            last = Some((mutation.to, diff.added));
        }
        if valid >= 2 {
            break;
        }
    }
    let outcome = match last {
        Some((to, added)) => Outcome::NoEffect { to, added },
        None => Outcome::Unperturbable,
    };
    Traced { outcome, attempts }
}

/// Perturbs every token, on every available core; results in token order.
pub fn run_all(inputs: &Inputs, tokens: &[Token], baseline: &dyn Baseline) -> Vec<Traced> {
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(tokens.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Traced>>> = Mutex::new(vec![None; tokens.len()]);
    let work = || {
        loop {
            let idx = next.fetch_add(1, Ordering::Relaxed);
            let Some(token) = tokens.get(idx) else {
                break;
            };
            let traced = run(inputs, token, baseline);
            if let Ok(mut results) = results.lock() {
                results[idx] = Some(traced);
            }
        }
    };
    if workers > 1 {
        std::thread::scope(|scope| {
            for _ in 0..workers {
                // A thread that cannot be created leaves its share to the others and to the
                // loop below.
                let _ = std::thread::Builder::new()
                    .stack_size(16 << 20)
                    .spawn_scoped(scope, work);
            }
        });
    }
    work();
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|traced| {
            traced.unwrap_or(Traced {
                outcome: Outcome::Unperturbable,
                attempts: 0,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_strings_are_bumped() {
        assert_eq!(step_numbers("500m..2", 1, false), "501m..3");
        assert_eq!(step_numbers("500m..2", -1, false), "499m..1");
        assert_eq!(step_numbers("1.31", 1, true), "1.32");
        assert_eq!(step_numbers("09", 1, false), "10");
        assert_eq!(step_numbers("007", 1, false), "008");
        assert_eq!(step_numbers("0 2 * * *", 1, false), "1 3 * * *");
        assert_eq!(step_numbers("0..1", -1, false), "0..0");
        assert_eq!(step_numbers("none", 1, false), "none");
    }

    #[test]
    fn keys_move_in_place() {
        let mut value = serde_json::json!({"env": {"A": 1, "B": 2, "C": 3}});
        assert!(apply(
            &mut value,
            &Edit::RenameKey("/env/B".into(), "BZ".into())
        ));
        assert_eq!(value.to_string(), r#"{"env":{"A":1,"BZ":2,"C":3}}"#);
        assert!(apply(&mut value, &Edit::Delete("/env/A".into())));
        assert_eq!(value.to_string(), r#"{"env":{"BZ":2,"C":3}}"#);
    }
}
