//! Schema validation: the JSON form against `schemas/platform.schema.json`, every error mapped
//! back to the KDL token that produced the offending value.
//!
//! Consumes: a [`Form`]. Produces: diagnostics with codes under `manifold::schema::`.
//! Invariant: the validator is built once per schema; each error becomes exactly one
//! diagnostic (an unknown-properties error becomes one per unknown property).

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::diagnostic::{Diagnostic, suggestion_help};
use crate::spec::schema::{self as spec_schema, properties};
use crate::spec::{Form, pointer_join};

/// Code: a property the schema does not allow.
pub const UNKNOWN_PROPERTY: &str = "manifold::schema::unknown-property";
/// Code: a required property or argument is missing.
pub const MISSING_PROPERTY: &str = "manifold::schema::missing-property";
/// Code: a value of the wrong type.
pub const INVALID_TYPE: &str = "manifold::schema::invalid-type";
/// Code: a value not among the allowed ones.
pub const INVALID_VALUE: &str = "manifold::schema::invalid-value";
/// Code: a number outside its range.
pub const OUT_OF_RANGE: &str = "manifold::schema::out-of-range";
/// Code: a string that does not have the required form.
pub const INVALID_FORMAT: &str = "manifold::schema::invalid-format";
/// Code: any other schema violation.
pub const INVALID: &str = "manifold::schema::invalid";

/// Which schema a form is validated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// A platform spec.
    Platform,
    /// A built-in profile.
    Profile,
}

/// Validates a form and returns one diagnostic per problem.
pub fn validate(form: &Form, document: Document) -> Vec<Diagnostic> {
    let (root, validator) = match document {
        Document::Platform => (spec_schema::platform_schema(), platform_validator()),
        Document::Profile => (spec_schema::profile_schema(), profile_validator()),
    };
    let mut diagnostics = Vec::new();
    for error in validator.iter_errors(&form.value) {
        let pointer = error.instance_path().as_str().to_owned();
        to_diagnostics(root, form, &pointer, error.kind(), &mut diagnostics);
    }
    crate::diagnostic::sort(&mut diagnostics);
    diagnostics
}

/// The pointers of values the schema rejected (not counting missing properties), so the
/// semantic checks can still run on the rest of the spec.
pub fn rejected_pointers(form: &Form) -> Vec<String> {
    let mut pointers: Vec<String> = platform_validator()
        .iter_errors(&form.value)
        .filter(|error| {
            !matches!(
                error.kind(),
                ValidationErrorKind::Required { .. } | ValidationErrorKind::MinProperties { .. }
            )
        })
        .flat_map(|error| {
            let pointer = error.instance_path().as_str().to_owned();
            match error.kind() {
                ValidationErrorKind::AdditionalProperties { unexpected }
                | ValidationErrorKind::UnevaluatedProperties { unexpected } => unexpected
                    .iter()
                    .map(|property| pointer_join(&pointer, property))
                    .collect(),
                ValidationErrorKind::PropertyNames { .. } => {
                    let root = spec_schema::platform_schema();
                    let allowed = allowed_names(root, &pointer);
                    match form.value.pointer(&pointer) {
                        Some(Value::Object(object)) => object
                            .keys()
                            .filter(|key| !allowed.contains(&key.as_str()))
                            .map(|key| pointer_join(&pointer, key))
                            .collect(),
                        _ => vec![pointer],
                    }
                }
                _ => vec![pointer],
            }
        })
        .collect();
    pointers.sort();
    pointers.dedup();
    pointers
}

fn platform_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::draft202012::new(spec_schema::platform_schema())
            .expect("the embedded platform schema compiles")
    })
}

fn profile_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::draft202012::new(spec_schema::profile_schema())
            .expect("the embedded profile schema compiles")
    })
}

fn to_diagnostics(
    root: &Value,
    form: &Form,
    pointer: &str,
    kind: &ValidationErrorKind,
    out: &mut Vec<Diagnostic>,
) {
    let name = last_segment(pointer);
    let schema = schema_at(root, pointer).map(|schema| spec_schema::resolve(root, schema));
    match kind {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            let allowed: Vec<&str> = schema
                .map(|schema| {
                    properties(root, schema)
                        .into_iter()
                        .map(|(key, _)| key)
                        .collect()
                })
                .unwrap_or_default();
            for property in unexpected {
                let span = form.spans.key(&pointer_join(pointer, property));
                out.push(
                    Diagnostic::error(
                        UNKNOWN_PROPERTY,
                        span,
                        format!("unknown property `{property}` on `{}`", display_name(name)),
                    )
                    .with_label("not allowed here")
                    .with_help(suggestion_help(
                        property,
                        "property",
                        allowed.iter().copied(),
                    )),
                );
            }
        }
        ValidationErrorKind::Required { property } => {
            let property = property.as_str().unwrap_or_default();
            let span = form.spans.key(pointer);
            let help = match schema
                .and_then(|schema| {
                    properties(root, schema)
                        .into_iter()
                        .find(|(key, _)| *key == property)
                })
                .and_then(|(_, property_schema)| property_schema.get("x-kdl"))
            {
                Some(annotation) => format!(
                    "add a `{}` node inside `{}`",
                    annotation
                        .get("node")
                        .and_then(Value::as_str)
                        .unwrap_or(property),
                    display_name(name)
                ),
                None => format!(
                    "give `{}` its `{property}` (as an argument or `{property}=...`; see `manifold schema`)",
                    display_name(name)
                ),
            };
            let subject = if pointer.is_empty() {
                "the spec".to_owned()
            } else {
                format!("`{}`", display_name(name))
            };
            out.push(
                Diagnostic::error(
                    MISSING_PROPERTY,
                    span,
                    format!("{subject} is missing `{property}`"),
                )
                .with_label(format!("`{property}` missing"))
                .with_help(help),
            );
        }
        ValidationErrorKind::Type { kind } => {
            out.push(
                Diagnostic::error(
                    INVALID_TYPE,
                    form.spans.value(pointer),
                    format!("`{name}` has the wrong type"),
                )
                .with_label(format!("expected {}", describe_type(kind)))
                .with_help(description_or(
                    schema,
                    "see `manifold schema` for the expected form",
                )),
            );
        }
        ValidationErrorKind::Enum { options } => {
            let options: Vec<&str> = options
                .as_array()
                .map(|list| list.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let found = form
                .value
                .pointer(pointer)
                .map(render_value)
                .unwrap_or_default();
            let mut help = format!(
                "expected one of: {}",
                options
                    .iter()
                    .map(|option| format!("`{option}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(best) =
                crate::diagnostic::did_you_mean(found.trim_matches('`'), options.iter().copied())
            {
                help = format!("did you mean `{best}`? {help}");
            }
            out.push(
                Diagnostic::error(
                    INVALID_VALUE,
                    form.spans.value(pointer),
                    format!("{found} is not a valid `{name}`"),
                )
                .with_label("not allowed")
                .with_help(help),
            );
        }
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit } => {
            out.push(out_of_range(
                form, pointer, name, schema, "small", "at least", limit,
            ));
        }
        ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => {
            out.push(out_of_range(
                form, pointer, name, schema, "large", "at most", limit,
            ));
        }
        ValidationErrorKind::Pattern { pattern } => {
            out.push(
                Diagnostic::error(
                    INVALID_FORMAT,
                    form.spans.value(pointer),
                    format!("`{name}` does not have the expected form"),
                )
                .with_label("invalid form")
                .with_help(description_or(
                    schema,
                    &format!("it must match `{pattern}`"),
                )),
            );
        }
        ValidationErrorKind::PropertyNames { .. } => {
            let allowed = allowed_names(root, pointer);
            if let Some(Value::Object(object)) = form.value.pointer(pointer) {
                for key in object.keys().filter(|key| !allowed.contains(&key.as_str())) {
                    out.push(
                        Diagnostic::error(
                            INVALID_VALUE,
                            form.spans.value(&pointer_join(pointer, key)),
                            format!("`{key}` is not a valid name here"),
                        )
                        .with_label("not allowed")
                        .with_help(suggestion_help(
                            key,
                            "name",
                            allowed.iter().copied(),
                        )),
                    );
                }
            }
        }
        ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::AnyOf { .. } => {
            out.push(
                Diagnostic::error(
                    INVALID_VALUE,
                    form.spans.value(pointer),
                    format!("`{name}` has an invalid value"),
                )
                .with_label("invalid")
                .with_help(description_or(
                    schema,
                    "see `manifold schema` for the expected form",
                )),
            );
        }
        ValidationErrorKind::MinItems { .. } | ValidationErrorKind::MinProperties { .. } => {
            out.push(
                Diagnostic::error(
                    MISSING_PROPERTY,
                    form.spans.key(pointer),
                    format!("`{name}` is empty"),
                )
                .with_label("needs at least one entry")
                .with_help(description_or(
                    schema,
                    &format!("declare at least one `{name}` entry"),
                )),
            );
        }
        ValidationErrorKind::UniqueItems => {
            let items = form.value.pointer(pointer).and_then(Value::as_array);
            let duplicate = items.and_then(|items| {
                (1..items.len()).find(|idx| items[..*idx].contains(&items[*idx]))
            });
            let span = match duplicate {
                Some(idx) => form.spans.value(&pointer_join(pointer, &idx.to_string())),
                None => form.spans.key(pointer),
            };
            out.push(
                Diagnostic::error(INVALID_VALUE, span, format!("`{name}` lists a value twice"))
                    .with_label("duplicate values")
                    .with_help("list each value once"),
            );
        }
        other => {
            out.push(
                Diagnostic::error(
                    INVALID,
                    form.spans.value(pointer),
                    format!("`{name}` is invalid: {}", other.keyword()),
                )
                .with_label("invalid")
                .with_help(description_or(
                    schema,
                    "see `manifold schema` for the expected form",
                )),
            );
        }
    }
}

fn out_of_range(
    form: &Form,
    pointer: &str,
    name: &str,
    schema: Option<&Value>,
    too: &str,
    bound: &str,
    limit: &Value,
) -> Diagnostic {
    Diagnostic::error(
        OUT_OF_RANGE,
        form.spans.value(pointer),
        format!("`{name}` is too {too}"),
    )
    .with_label(format!("must be {bound} {limit}"))
    .with_help(description_or(
        schema,
        &format!("use a value {bound} {limit}"),
    ))
}

/// The names a `propertyNames` enum allows for the object at `pointer`.
fn allowed_names<'s>(root: &'s Value, pointer: &str) -> Vec<&'s str> {
    schema_at(root, pointer)
        .map(|schema| spec_schema::resolve(root, schema))
        .and_then(|schema| schema.pointer("/propertyNames/enum"))
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The schema that describes the value at `pointer`, following properties, additional
/// properties and items.
fn schema_at<'s>(root: &'s Value, pointer: &str) -> Option<&'s Value> {
    let mut schema = root;
    if pointer.is_empty() {
        return Some(schema);
    }
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        let properties = properties(root, schema);
        if let Some((_, property)) = properties.iter().find(|(key, _)| *key == segment) {
            schema = property;
            continue;
        }
        let resolved = spec_schema::resolve(root, schema);
        schema = resolved
            .get("additionalProperties")
            .filter(|value| value.is_object())
            .or_else(|| resolved.get("items"))?;
    }
    Some(schema)
}

fn last_segment(pointer: &str) -> &str {
    match pointer.rsplit('/').next() {
        Some("") | None => "spec",
        Some(segment) => segment,
    }
}

fn display_name(name: &str) -> &str {
    match name {
        "services" => "service",
        "environments" => "environment",
        "clouds" => "cloud",
        other => other,
    }
}

fn render_value(value: &Value) -> String {
    match value {
        Value::String(text) => format!("`{text}`"),
        other => other.to_string(),
    }
}

fn describe_type(kind: &jsonschema::error::TypeKind) -> String {
    match kind {
        jsonschema::error::TypeKind::Single(single) => type_name(&single.to_string()),
        jsonschema::error::TypeKind::Multiple(multiple) => {
            let names: Vec<String> = multiple
                .iter()
                .map(|kind| type_name(&kind.to_string()))
                .collect();
            names.join(" or ")
        }
    }
}

fn type_name(json_type: &str) -> String {
    match json_type {
        "string" => "a string (quoted when it starts with a digit or has `/`)".into(),
        "integer" => "a whole number".into(),
        "number" => "a number".into(),
        "boolean" => "#true or #false".into(),
        "object" => "a block".into(),
        "array" => "a list of values".into(),
        other => other.into(),
    }
}

fn description_or(schema: Option<&Value>, fallback: &str) -> String {
    schema
        .and_then(|schema| schema.get("description"))
        .and_then(Value::as_str)
        .map(|description| format!("expected {description}"))
        .unwrap_or_else(|| fallback.to_owned())
}
