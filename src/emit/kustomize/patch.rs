//! Strategic-merge patches: the difference between a base object and the same object as a
//! target resolves it.
//!
//! Consumes: two renderings of one Kubernetes object (same kind and name), the base's and the
//! target's. Produces: the strategic-merge patch that kustomize applies to the first to get the
//! second, or nothing when they are equal.
//!
//! Invariants: applying the patch to the base yields the target exactly, for the objects this
//! module's merge-key table knows (the pod and Service lists manifold writes):
//! - a map key that differs is patched recursively; a key only the base has is set to `null`
//!   (the strategic-merge way to delete it);
//! - lists with a patch merge key (`containers`, `env`, `volumes` by `name`; `volumeMounts`
//!   by `mountPath`; container `ports` by `containerPort`; Service `ports` by `port`) are
//!   patched item by item, with `$patch: delete` items for entries only the base has;
//! - every other list (`command`, `args`, capabilities, `volumeClaimTemplates`, ...) is
//!   atomic in Kubernetes' schema and is replaced whole when it differs.
//!
//! A patch always carries `apiVersion`, `kind` and `metadata.name`, so kustomize can parse it
//! as a resource.

use serde_json::{Map, Value};

/// The patch turning `base` into `target`, or `None` when they are equal.
pub fn diff_object(base: &Value, target: &Value) -> Option<Value> {
    let Value::Object(changes) = diff(base, target, "")? else {
        return None;
    };
    let mut patch = Map::new();
    for key in ["apiVersion", "kind"] {
        if let Some(value) = base.get(key) {
            patch.insert(key.into(), value.clone());
        }
    }
    let mut metadata = Map::new();
    if let Some(name) = base.pointer("/metadata/name") {
        metadata.insert("name".into(), name.clone());
    }
    if let Some(Value::Object(changed)) = changes.get("metadata") {
        for (key, value) in changed {
            metadata.insert(key.clone(), value.clone());
        }
    }
    patch.insert("metadata".into(), metadata.into());
    for (key, value) in changes {
        if !matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            patch.insert(key, value);
        }
    }
    Some(patch.into())
}

/// The patch of one value; `field` is the key the value sits under (it picks merge keys).
fn diff(base: &Value, target: &Value, field: &str) -> Option<Value> {
    if base == target {
        return None;
    }
    match (base, target) {
        (Value::Object(base), Value::Object(target)) => diff_map(base, target),
        (Value::Array(base), Value::Array(target)) => match merge_key(field, base, target) {
            Some(key) => diff_keyed_list(base, target, key),
            None => Some(Value::Array(target.clone())),
        },
        _ => Some(target.clone()),
    }
}

fn diff_map(base: &Map<String, Value>, target: &Map<String, Value>) -> Option<Value> {
    let mut patch = Map::new();
    for (key, target_value) in target {
        let change = match base.get(key) {
            None => Some(target_value.clone()),
            Some(base_value) => diff(base_value, target_value, key),
        };
        if let Some(change) = change {
            patch.insert(key.clone(), change);
        }
    }
    for key in base.keys() {
        if !target.contains_key(key) {
            patch.insert(key.clone(), Value::Null);
        }
    }
    (!patch.is_empty()).then(|| patch.into())
}

fn diff_keyed_list(base: &[Value], target: &[Value], key: &str) -> Option<Value> {
    let mut items = Vec::new();
    for target_item in target {
        let id = target_item.get(key);
        match base.iter().find(|base_item| base_item.get(key) == id) {
            None => items.push(target_item.clone()),
            Some(base_item) => {
                if let Some(Value::Object(changes)) = diff(base_item, target_item, "") {
                    items.push(keyed_item(key, id, changes));
                }
            }
        }
    }
    for base_item in base {
        let id = base_item.get(key);
        if !target.iter().any(|target_item| target_item.get(key) == id) {
            let mut delete = Map::new();
            delete.insert("$patch".into(), "delete".into());
            items.push(keyed_item(key, id, delete));
        }
    }
    (!items.is_empty()).then(|| items.into())
}

/// An item of a keyed list: the merge key first, then the changes.
fn keyed_item(key: &str, id: Option<&Value>, changes: Map<String, Value>) -> Value {
    let mut item = Map::new();
    if let Some(id) = id {
        item.insert(key.into(), id.clone());
    }
    for (field, value) in changes {
        if field != key {
            item.insert(field, value);
        }
    }
    item.into()
}

/// The patch merge key of a list, when Kubernetes' schema gives it one and every item has it.
fn merge_key(field: &str, base: &[Value], target: &[Value]) -> Option<&'static str> {
    let key = match field {
        "containers" | "initContainers" | "env" | "volumes" | "imagePullSecrets" => "name",
        "volumeMounts" => "mountPath",
        "ports" if has_key(base, target, "containerPort") => "containerPort",
        "ports" => "port",
        _ => return None,
    };
    has_key(base, target, key).then_some(key)
}

fn has_key(base: &[Value], target: &[Value], key: &str) -> bool {
    base.iter().chain(target).all(|item| {
        item.get(key)
            .is_some_and(|id| id.is_string() || id.is_number())
    })
}

/// Applies a patch the way kustomize's strategic merge does, for the directives [`diff_object`]
/// writes; the tests check `apply(base, diff(base, target)) == target` with it.
#[cfg(test)]
pub(super) fn apply(base: &Value, patch: &Value, field: &str) -> Value {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            let mut merged = base.clone();
            for (key, change) in patch {
                match (merged.get(key), change) {
                    (_, Value::Null) => {
                        merged.remove(key);
                    }
                    (Some(current), _) => {
                        let value = apply(current, change, key);
                        merged.insert(key.clone(), value);
                    }
                    (None, _) => {
                        merged.insert(key.clone(), change.clone());
                    }
                }
            }
            merged.into()
        }
        (Value::Array(base), Value::Array(patch)) => match merge_key(field, base, patch) {
            Some(key) => apply_keyed_list(base, patch, key),
            None => patch.clone().into(),
        },
        _ => patch.clone(),
    }
}

#[cfg(test)]
fn apply_keyed_list(base: &[Value], patch: &[Value], key: &str) -> Value {
    let mut merged = base.to_vec();
    for item in patch {
        let id = item.get(key);
        let position = merged.iter().position(|current| current.get(key) == id);
        let delete = item.get("$patch") == Some(&Value::from("delete"));
        match (position, delete) {
            (Some(position), true) => {
                merged.remove(position);
            }
            (Some(position), false) => merged[position] = apply(&merged[position], item, ""),
            (None, false) => merged.push(item.clone()),
            (None, true) => {}
        }
    }
    merged.into()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(container: Value) -> Value {
        json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "web" },
            "spec": { "template": { "spec": { "containers": [container] } } } })
    }

    #[test]
    fn equal_objects_need_no_patch() {
        let object = deployment(json!({ "name": "web", "image": "nginx" }));
        assert_eq!(diff_object(&object, &object), None);
    }

    #[test]
    fn keyed_lists_are_patched_by_item() {
        let base = deployment(json!({ "name": "web", "args": ["a"],
            "env": [{ "name": "A", "value": "1" }, { "name": "B", "value": "2" }] }));
        let target = deployment(json!({ "name": "web", "args": ["a", "b"],
            "env": [{ "name": "A", "value": "3" }, { "name": "C", "value": "4" }] }));
        let patch = diff_object(&base, &target);
        let expected = json!({ "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": "web" },
            "spec": { "template": { "spec": { "containers": [{ "name": "web",
                "args": ["a", "b"],
                "env": [{ "name": "A", "value": "3" }, { "name": "C", "value": "4" },
                    { "name": "B", "$patch": "delete" }] }] } } } });
        assert_eq!(patch, Some(expected));
    }

    #[test]
    fn removed_keys_are_nulled() {
        let base = json!({ "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": "web", "labels": { "a": "1", "b": "2" } },
            "spec": { "replicas": 2 } });
        let target = json!({ "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": "web", "labels": { "a": "1" } }, "spec": {} });
        let expected = json!({ "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": "web", "labels": { "b": null } },
            "spec": { "replicas": null } });
        assert_eq!(diff_object(&base, &target), Some(expected));
    }
}
