//! The spec's JSON Schema (`schemas/platform.schema.json`), embedded, and the small amount of
//! schema walking the KDL → JSON conversion needs.
//!
//! Invariant: the schema is the single description of the language. Its `x-kdl` annotations
//! say how KDL nodes map onto JSON properties, so the converter, the validator, `manifold
//! schema` and the documentation can never disagree about which nodes exist.

use std::sync::OnceLock;

use serde_json::Value;

/// The schema text, exactly as shipped in `schemas/platform.schema.json`.
pub const PLATFORM_SCHEMA: &str = include_str!("../../schemas/platform.schema.json");

/// The parsed platform schema.
pub fn platform_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        serde_json::from_str(PLATFORM_SCHEMA).expect("the embedded platform schema is valid JSON")
    })
}

/// A schema whose root is the profile document (`overlays/*.kdl`), sharing the platform
/// schema's `$defs`.
pub fn profile_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let platform = platform_schema();
        serde_json::json!({
            "$schema": platform["$schema"],
            "$ref": "#/$defs/profileDocument",
            "$defs": platform["$defs"],
        })
    })
}

/// How KDL nodes map onto one JSON property (its `x-kdl` annotation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `node VALUE`: exactly one argument, which is the property's value.
    Scalar,
    /// `node A B C`: every argument, as a list; repeated nodes append.
    Values,
    /// `node k=v k2=v2`: the properties, as a map; repeated nodes merge.
    Map,
    /// `node ARGS… props… { children }`: one object.
    Object,
    /// `node KEY ARGS… props… { children }`: a map of objects keyed by the first argument.
    Keyed,
    /// `node ARGS… props… { children }`: one list item per node.
    List,
}

/// The KDL mapping of one JSON property.
#[derive(Debug, Clone, Copy)]
pub struct NodeRule<'s> {
    /// The JSON property name.
    pub key: &'s str,
    /// The KDL node name.
    pub node: &'s str,
    /// How the node maps.
    pub shape: Shape,
    /// Names of the positional arguments (for keyed nodes the first is the key).
    pub args: &'s [Value],
    /// The property's schema (for keyed and list, the item schema is inside it).
    pub schema: &'s Value,
}

/// Follows `$ref`s (`#/$defs/...` only) until a schema without one.
pub fn resolve<'s>(root: &'s Value, mut schema: &'s Value) -> &'s Value {
    for _ in 0..32 {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            return schema;
        };
        // A `$ref` with sibling properties is a composition; the caller reads both.
        if schema.get("properties").is_some() {
            return schema;
        }
        match lookup_ref(root, reference) {
            Some(target) => schema = target,
            None => return schema,
        }
    }
    schema
}

/// Every property an object schema allows, including those it pulls in through `$ref` and
/// `allOf`, in schema order.
pub fn properties<'s>(root: &'s Value, schema: &'s Value) -> Vec<(&'s str, &'s Value)> {
    let mut out = Vec::new();
    collect_properties(root, schema, &mut out, 0);
    out
}

/// The KDL node rules of an object schema.
pub fn node_rules<'s>(root: &'s Value, schema: &'s Value) -> Vec<NodeRule<'s>> {
    properties(root, schema)
        .into_iter()
        .filter_map(|(key, property)| {
            let annotation = property.get("x-kdl")?;
            let shape = match annotation.get("shape")?.as_str()? {
                "scalar" => Shape::Scalar,
                "values" => Shape::Values,
                "map" => Shape::Map,
                "object" => Shape::Object,
                "keyed" => Shape::Keyed,
                "list" => Shape::List,
                _ => return None,
            };
            Some(NodeRule {
                key,
                node: annotation
                    .get("node")
                    .and_then(Value::as_str)
                    .unwrap_or(key),
                shape,
                args: annotation
                    .get("args")
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice),
                schema: property,
            })
        })
        .collect()
}

/// The item schema of a keyed (`additionalProperties`) or list (`items`) property.
pub fn item_schema<'s>(root: &'s Value, property: &'s Value) -> &'s Value {
    let property = resolve(root, property);
    let item = property
        .get("additionalProperties")
        .or_else(|| property.get("items"))
        .unwrap_or(&Value::Null);
    resolve(root, item)
}

/// Names of the properties that are not KDL nodes (set with `name=value`) of an object schema.
pub fn plain_properties<'s>(root: &'s Value, schema: &'s Value) -> Vec<&'s str> {
    properties(root, schema)
        .into_iter()
        .filter(|(_, property)| property.get("x-kdl").is_none())
        .map(|(key, _)| key)
        .collect()
}

fn collect_properties<'s>(
    root: &'s Value,
    schema: &'s Value,
    out: &mut Vec<(&'s str, &'s Value)>,
    depth: usize,
) {
    if depth > 16 {
        return;
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str)
        && let Some(target) = lookup_ref(root, reference)
    {
        collect_properties(root, target, out, depth + 1);
    }
    if let Some(all_of) = schema.get("allOf").and_then(Value::as_array) {
        for part in all_of {
            collect_properties(root, part, out, depth + 1);
        }
    }
    if let Some(own) = schema.get("properties").and_then(Value::as_object) {
        for (key, property) in own {
            if let Some(slot) = out
                .iter_mut()
                .find(|(existing, _)| *existing == key.as_str())
            {
                slot.1 = property;
            } else {
                out.push((key.as_str(), property));
            }
        }
    }
}

fn lookup_ref<'s>(root: &'s Value, reference: &str) -> Option<&'s Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}
