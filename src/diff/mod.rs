//! The diff stage: what a new output tree changes, object by object, compared with an old one.
//!
//! Consumes: two trees of relative `/`-separated paths → bytes. The old one is whatever the
//! caller read (a directory, a git revision); the new one is usually a compilation's
//! [`crate::output::Tree`]. Produces: a [`Diff`], one [`Entry`] per changed Kubernetes object or
//! text file, which [`render`] turns into text, markdown or JSON.
//!
//! Matching rules:
//!
//! - A YAML file (`.yaml`, `.yml`) whose every document is a mapping with a string `apiVersion`
//!   and `kind` is read as objects. Every other file (HCL, README, a YAML file that is not
//!   Kubernetes objects) is compared as text, by path, with a unified line diff.
//! - An object's identity is its *target* (the nearest directory, at or above the file, that
//!   holds a `kustomization.yaml` in either tree; otherwise the file's own directory), its role
//!   (a strategic-merge patch named in the target's kustomization, or a resource), its API group
//!   (the `apiVersion` without its version), `kind`, `metadata.namespace` as written and
//!   `metadata.name`. The file it sits in is not part of it: a renamed or moved file holding the
//!   same object is no change, and a changed `apiVersion` is a field change.
//! - Inside an object, maps are compared key by key; lists whose items are all maps with a
//!   unique string `name` (containers, ports, env, volumes) are matched by name, and a new
//!   order of the same names is one "order" change; other lists are aligned with a sequence
//!   diff and compared by position.
//!
//! Invariants: pure (no I/O, no clock, no environment); the result depends only on the two
//! trees and is sorted; no secret value can reach a rendering: values under `data` and
//! `stringData` of a `Secret`, and `value`s of list items whose `name` looks secret
//! (`PASSWORD`, `TOKEN`, `SECRET`, `KEY`, …), are replaced by their size before they leave
//! this module, and secret-looking assignments are masked in text diffs.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

pub mod render;
mod text;
mod yaml;

/// A tree of files: relative `/`-separated paths to contents.
pub type Files = BTreeMap<String, Vec<u8>>;

/// Every difference between two trees, sorted by target (or path), kind, namespace and name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// The changed objects and files.
    pub entries: Vec<Entry>,
}

impl Diff {
    /// How many objects and files are added, changed and removed.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for entry in &self.entries {
            match entry.change() {
                Change::Added => summary.added += 1,
                Change::Changed => summary.changed += 1,
                Change::Removed => summary.removed += 1,
            }
        }
        summary
    }

    /// Whether the trees hold the same objects and text.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Counts of added, changed and removed objects and files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Objects and files only in the new tree.
    pub added: usize,
    /// Objects and files in both trees, with differences.
    pub changed: usize,
    /// Objects and files only in the old tree.
    pub removed: usize,
}

impl Summary {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added + self.changed + self.removed == 0
    }
}

impl std::fmt::Display for Summary {
    /// `3 to add, 2 to change, 1 to remove`, or `no changes`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return f.write_str("no changes");
        }
        write!(
            f,
            "{} to add, {} to change, {} to remove",
            self.added, self.changed, self.removed
        )
    }
}

/// How an object, a file or a field differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    /// Only in the new tree.
    Added,
    /// In both, different.
    Changed,
    /// Only in the old tree.
    Removed,
}

impl Change {
    /// `added`, `changed` or `removed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Changed => "changed",
            Change::Removed => "removed",
        }
    }

    /// `+`, `~` or `-`.
    pub fn sign(self) -> char {
        match self {
            Change::Added => '+',
            Change::Changed => '~',
            Change::Removed => '-',
        }
    }
}

/// One changed object or file.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A Kubernetes object (or a patch) of a YAML file.
    Object(ObjectChange),
    /// A file compared as text.
    File(FileChange),
}

impl Entry {
    /// How the entry changed.
    pub fn change(&self) -> Change {
        match self {
            Entry::Object(object) => object.change,
            Entry::File(file) => file.change,
        }
    }

    /// The target directory of an object, or the directory of a file (`.` at the top).
    pub fn target(&self) -> &str {
        match self {
            Entry::Object(object) => &object.target,
            Entry::File(file) => parent_dir(&file.path),
        }
    }
}

/// Which object this is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId {
    /// `apiVersion` (of the new object; of the old one when it was removed).
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace` as written in the document, if any.
    pub namespace: Option<String>,
    /// `metadata.name` (empty for objects without one, such as a `Kustomization`).
    pub name: String,
}

impl std::fmt::Display for ObjectId {
    /// `Deployment api`, `Role shop/reader`, `Kustomization`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.kind)?;
        match (&self.namespace, self.name.is_empty()) {
            (Some(namespace), _) => write!(f, " {namespace}/{}", self.name),
            (None, false) => write!(f, " {}", self.name),
            (None, true) => Ok(()),
        }
    }
}

/// A changed object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectChange {
    /// The directory the object belongs to: the nearest kustomization directory at or above its
    /// file (`kubernetes/overlays/prod/aws`), else the file's directory (`.` at the top).
    pub target: String,
    /// Which object.
    pub id: ObjectId,
    /// Whether the document is a strategic-merge patch named by the target's kustomization.
    pub patch: bool,
    /// How it changed.
    pub change: Change,
    /// The file holding it in the old tree.
    pub old_path: Option<String>,
    /// The file holding it in the new tree.
    pub new_path: Option<String>,
    /// The field changes (only for [`Change::Changed`]), in document order.
    pub fields: Vec<FieldChange>,
}

impl ObjectChange {
    /// `Deployment api`, with ` (patch)` for a patch.
    pub fn label(&self) -> String {
        if self.patch {
            format!("{} (patch)", self.id)
        } else {
            self.id.to_string()
        }
    }
}

/// One changed field of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    /// `spec.template.spec.containers[api].env[LOG_LEVEL].value`: keys joined with `.` (quoted
    /// in `["…"]` when they hold other characters than letters, digits, `_` and `-`), list items
    /// matched by name as `[name]`, other list items by position as `[0]`.
    pub path: String,
    /// What happened to the field.
    pub kind: FieldKind,
    /// The old value (for removed and changed fields, and the old order of a reordered list).
    pub old: Option<Shown>,
    /// The new value (for added and changed fields, and the new order of a reordered list).
    pub new: Option<Shown>,
}

/// What happened to a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FieldKind {
    /// The field or list item is new.
    Added,
    /// The value differs.
    Changed,
    /// The field or list item is gone.
    Removed,
    /// A list matched by name holds the same names in another order.
    Reordered,
}

impl FieldKind {
    /// `added`, `changed`, `removed` or `reordered`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Added => "added",
            FieldKind::Changed => "changed",
            FieldKind::Removed => "removed",
            FieldKind::Reordered => "reordered",
        }
    }
}

/// A value as it may be shown.
#[derive(Debug, Clone, PartialEq)]
pub enum Shown {
    /// The value (already redacted inside: secret values below it are replaced by
    /// `"(redacted, N bytes)"`).
    Value(Value),
    /// A secret value: only its size is shown.
    Redacted {
        /// Its size in bytes (decoded, for the base64 `data` of a Secret).
        bytes: usize,
    },
}

/// A file compared as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The relative path.
    pub path: String,
    /// How it changed.
    pub change: Change,
    /// A unified diff (`--- a/PATH`, `+++ b/PATH`, hunks) with secret-looking values masked, or
    /// a one-line note for binary files.
    pub diff: String,
}

/// Compares two trees. Paths under `.manifold/` (manifold's own state) are ignored.
pub fn diff(old: &Files, new: &Files) -> Diff {
    let targets: BTreeSet<&str> = old
        .keys()
        .chain(new.keys())
        .filter(|path| is_kustomization(path))
        .map(|path| parent_dir(path))
        .collect();
    let old_side = collect(old, &targets);
    let new_side = collect(new, &targets);

    let mut entries = Vec::new();
    for (key, before) in &old_side.objects {
        match new_side.objects.get(key) {
            Some(after) => {
                let fields = yaml::diff_object(&before.value, &after.value, &after.id.kind);
                if !fields.is_empty() {
                    entries.push(object_entry(
                        key,
                        Change::Changed,
                        Some(before),
                        Some(after),
                        fields,
                    ));
                }
            }
            None => entries.push(object_entry(
                key,
                Change::Removed,
                Some(before),
                None,
                Vec::new(),
            )),
        }
    }
    for (key, after) in &new_side.objects {
        if !old_side.objects.contains_key(key) {
            entries.push(object_entry(
                key,
                Change::Added,
                None,
                Some(after),
                Vec::new(),
            ));
        }
    }
    for (path, before) in &old_side.texts {
        match new_side.texts.get(path) {
            Some(after) if after == before => {}
            Some(after) => {
                entries.push(file_entry(path, Change::Changed, Some(before), Some(after)))
            }
            None => entries.push(file_entry(path, Change::Removed, Some(before), None)),
        }
    }
    for (path, after) in &new_side.texts {
        if !old_side.texts.contains_key(path) {
            entries.push(file_entry(path, Change::Added, None, Some(after)));
        }
    }
    entries.sort_by_key(sort_key);
    Diff { entries }
}

/// The directory part of a path (`.` for a file at the top).
pub(crate) fn parent_dir(path: &str) -> &str {
    match path.rfind('/') {
        Some(index) => &path[..index],
        None => ".",
    }
}

/// Identity of an object within one tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    target: String,
    patch: bool,
    group: String,
    kind: String,
    namespace: Option<String>,
    name: String,
    /// 0 for the first object with this identity in a tree, 1 for a second one, ….
    occurrence: usize,
}

/// One object as read from a tree.
struct Object {
    id: ObjectId,
    path: String,
    value: Value,
}

/// A tree split into objects and text files.
#[derive(Default)]
struct Side<'a> {
    objects: BTreeMap<Key, Object>,
    texts: BTreeMap<&'a str, &'a [u8]>,
}

fn collect<'a>(files: &'a Files, targets: &BTreeSet<&str>) -> Side<'a> {
    let patches = patch_files(files);
    let mut side = Side::default();
    for (path, bytes) in files {
        if path.starts_with(".manifold/") {
            continue;
        }
        let documents = if is_yaml(path) {
            parse_objects(bytes)
        } else {
            None
        };
        let Some(documents) = documents else {
            side.texts.insert(path, bytes);
            continue;
        };
        let target = target_of(path, targets);
        for value in documents {
            let id = object_id(&value);
            let mut key = Key {
                target: target.to_owned(),
                patch: patches.contains(path.as_str()),
                group: group_of(&id.api_version).to_owned(),
                kind: id.kind.clone(),
                namespace: id.namespace.clone(),
                name: id.name.clone(),
                occurrence: 0,
            };
            while side.objects.contains_key(&key) {
                key.occurrence += 1;
            }
            side.objects.insert(
                key,
                Object {
                    id,
                    path: path.clone(),
                    value,
                },
            );
        }
    }
    side
}

/// Parses a YAML file as Kubernetes objects: `None` unless every non-empty document is a
/// mapping with a string `apiVersion` and `kind`.
fn parse_objects(bytes: &[u8]) -> Option<Vec<Value>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let documents: Vec<Value> = serde_saphyr::from_str_multiple(text).ok()?;
    let objects: Vec<Value> = documents.into_iter().filter(|doc| !doc.is_null()).collect();
    let all_objects = objects.iter().all(|doc| {
        doc.get("apiVersion").is_some_and(Value::is_string)
            && doc.get("kind").is_some_and(Value::is_string)
    });
    all_objects.then_some(objects)
}

fn object_id(value: &Value) -> ObjectId {
    let text = |field: Option<&Value>| field.and_then(Value::as_str).map(str::to_owned);
    let metadata = value.get("metadata");
    ObjectId {
        api_version: text(value.get("apiVersion")).unwrap_or_default(),
        kind: text(value.get("kind")).unwrap_or_default(),
        namespace: text(metadata.and_then(|m| m.get("namespace"))),
        name: text(metadata.and_then(|m| m.get("name"))).unwrap_or_default(),
    }
}

/// The API group of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// The nearest kustomization directory at or above `path`, else its directory.
fn target_of<'t>(path: &'t str, targets: &BTreeSet<&str>) -> &'t str {
    let mut dir = parent_dir(path);
    loop {
        if targets.contains(dir) {
            return dir;
        }
        match dir.rfind('/') {
            Some(index) => dir = &dir[..index],
            None if dir != "." && targets.contains(".") => return ".",
            None => return parent_dir(path),
        }
    }
}

/// The files named as strategic-merge patches by the kustomizations of a tree.
fn patch_files(files: &Files) -> BTreeSet<String> {
    let mut patches = BTreeSet::new();
    for (path, bytes) in files {
        if !is_kustomization(path) {
            continue;
        }
        let Some(kustomization) = std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| serde_saphyr::from_str::<Value>(text).ok())
        else {
            continue;
        };
        let dir = parent_dir(path);
        let mut named = |relative: &str| {
            if let Some(joined) = join_relative(dir, relative) {
                patches.insert(joined);
            }
        };
        for item in list(&kustomization, "patches") {
            if let Some(relative) = item.get("path").and_then(Value::as_str) {
                named(relative);
            }
        }
        for item in list(&kustomization, "patchesStrategicMerge") {
            if let Some(relative) = item.as_str() {
                named(relative);
            }
        }
    }
    patches
}

fn list<'v>(value: &'v Value, key: &str) -> &'v [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// `dir` joined with a relative path, `.` and `..` resolved; `None` if it leaves the tree.
fn join_relative(dir: &str, relative: &str) -> Option<String> {
    let mut parts: Vec<&str> = if dir == "." {
        Vec::new()
    } else {
        dir.split('/').collect()
    };
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            _ => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

fn is_kustomization(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    matches!(
        name,
        "kustomization.yaml" | "kustomization.yml" | "Kustomization"
    )
}

fn object_entry(
    key: &Key,
    change: Change,
    before: Option<&Object>,
    after: Option<&Object>,
    fields: Vec<FieldChange>,
) -> Entry {
    let id = after
        .or(before)
        .map(|object| object.id.clone())
        .unwrap_or(ObjectId {
            api_version: String::new(),
            kind: key.kind.clone(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
        });
    Entry::Object(ObjectChange {
        target: key.target.clone(),
        id,
        patch: key.patch,
        change,
        old_path: before.map(|object| object.path.clone()),
        new_path: after.map(|object| object.path.clone()),
        fields,
    })
}

fn file_entry(path: &str, change: Change, before: Option<&[u8]>, after: Option<&[u8]>) -> Entry {
    Entry::File(FileChange {
        path: path.to_owned(),
        change,
        diff: text::unified(path, before, after),
    })
}

/// Sorts objects and files of one directory together: by target, then objects before files,
/// then kind, namespace, name, patches after resources.
fn sort_key(entry: &Entry) -> (String, u8, String, Option<String>, String, bool) {
    match entry {
        Entry::Object(object) => (
            object.target.clone(),
            0,
            object.id.kind.clone(),
            object.id.namespace.clone(),
            object.id.name.clone(),
            object.patch,
        ),
        Entry::File(file) => (
            parent_dir(&file.path).to_owned(),
            1,
            file.path.clone(),
            None,
            String::new(),
            false,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> Files {
        entries
            .iter()
            .map(|(path, text)| ((*path).to_owned(), text.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn targets_are_the_nearest_kustomization_directory() {
        let targets: BTreeSet<&str> = ["k/overlays/prod/aws", "k/base/api"].into_iter().collect();
        assert_eq!(
            target_of("k/overlays/prod/aws/patches/api.yaml", &targets),
            "k/overlays/prod/aws"
        );
        assert_eq!(
            target_of("k/base/api/deployment.yaml", &targets),
            "k/base/api"
        );
        assert_eq!(target_of("argocd/appproject.yaml", &targets), "argocd");
        assert_eq!(target_of("README.md", &targets), ".");
    }

    #[test]
    fn join_relative_resolves_dots_and_refuses_to_escape() {
        assert_eq!(
            join_relative("a/b", "patches/x.yaml").as_deref(),
            Some("a/b/patches/x.yaml")
        );
        assert_eq!(
            join_relative("a/b", "../c.yaml").as_deref(),
            Some("a/c.yaml")
        );
        assert_eq!(join_relative(".", "./c.yaml").as_deref(), Some("c.yaml"));
        assert_eq!(join_relative("a", "../../c.yaml"), None);
    }

    #[test]
    fn patches_and_resources_with_the_same_name_are_different_objects() {
        let kustomization = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\npatches:\n- path: patches/api.yaml\n";
        let old = files(&[
            ("o/kustomization.yaml", kustomization),
            (
                "o/patches/api.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 2\n",
            ),
            (
                "o/api.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 1\n",
            ),
        ]);
        let mut new = old.clone();
        new.insert(
            "o/patches/api.yaml".into(),
            b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 3\n".to_vec(),
        );
        let diff = diff(&old, &new);
        assert_eq!(diff.entries.len(), 1);
        let Entry::Object(object) = &diff.entries[0] else {
            panic!("an object change");
        };
        assert!(object.patch);
        assert_eq!(object.label(), "Deployment api (patch)");
    }

    #[test]
    fn yaml_that_is_not_objects_is_text() {
        let old = files(&[("config.yaml", "a: 1\n")]);
        let new = files(&[("config.yaml", "a: 2\n")]);
        let diff = diff(&old, &new);
        assert!(matches!(&diff.entries[..], [Entry::File(file)] if file.diff.contains("+a: 2")));
    }

    #[test]
    fn a_changed_api_version_is_a_field_change_of_the_same_object() {
        let old = files(&[(
            "x/hpa.yaml",
            "apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: api\n",
        )]);
        let new = files(&[(
            "x/hpa.yaml",
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: api\n",
        )]);
        let diff = diff(&old, &new);
        assert_eq!(
            diff.summary(),
            Summary {
                added: 0,
                changed: 1,
                removed: 0
            }
        );
    }

    #[test]
    fn manifold_state_is_ignored() {
        let old = files(&[(".manifold/owned.json", "{}")]);
        let new = Files::new();
        assert!(diff(&old, &new).is_empty());
    }
}
