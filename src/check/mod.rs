//! Checks: the JSON Schema, then the semantic rules no schema can express.
//!
//! Consumes: a converted spec [`Form`] and the built-in profiles. Produces: a [`CheckedSpec`]
//! (only when there is no error) and every diagnostic found, in one run.
//! Invariant: a [`CheckedSpec`] can only be built here, so `lower` never sees a spec that
//! failed a check.

pub mod platform;
pub mod schema;
mod semantic;

use std::collections::BTreeMap;

use crate::diagnostic::{self, Diagnostic};
use crate::profiles::Profile;
use crate::source::FileId;
use crate::spec::{Form, Spec};

/// Code: the typed spec could not be built from a form the schema accepted (a manifold bug).
pub const INTERNAL: &str = "manifold::internal::spec-shape";

/// A spec that passed every check, with what lowering needs to trace values back.
#[derive(Debug, Clone)]
pub struct CheckedSpec {
    /// The typed spec.
    pub spec: Spec,
    /// Its JSON form and spans.
    pub form: Form,
    /// The spec file.
    pub file: FileId,
    /// The built-in profiles by name.
    pub profiles: BTreeMap<String, Profile>,
}

/// Validates a converted spec. Returns the checked spec when no error was found, and all
/// diagnostics (warnings included) either way.
pub fn check(
    file: FileId,
    form: Form,
    profiles: BTreeMap<String, Profile>,
) -> (Option<CheckedSpec>, Vec<Diagnostic>) {
    let mut diagnostics = schema::validate(&form, schema::Document::Platform);
    if diagnostic::has_errors(&diagnostics) {
        // Report the semantic problems of the rest of the spec too, so one run shows
        // everything: drop the values the schema rejected and check what remains, when it
        // still forms a spec.
        let pruned = prune(&form.value, &schema::rejected_pointers(&form));
        if let Ok(spec) = serde_json::from_value::<Spec>(pruned) {
            let reported: Vec<(&str, crate::source::Span)> =
                diagnostics.iter().map(|d| (d.code, d.span)).collect();
            let semantic: Vec<Diagnostic> = semantic::check(&spec, &form, &profiles)
                .into_iter()
                .filter(|found| !reported.contains(&(found.code, found.span)))
                .collect();
            diagnostics.extend(semantic);
            diagnostic::sort(&mut diagnostics);
        }
        return (None, diagnostics);
    }
    // Read from the form in place: a copy of a large spec's form cost as much as reading it.
    let spec: Spec = match serde::Deserialize::deserialize(&form.value) {
        Ok(spec) => spec,
        Err(error) => {
            diagnostics.push(
                Diagnostic::error(INTERNAL, form.spans.value(""), format!("internal error: {error}"))
                    .with_label("here")
                    .with_help("this is a bug in manifold: the schema accepted a form the typed spec rejects; please report it with this spec"),
            );
            return (None, diagnostics);
        }
    };
    diagnostics.extend(semantic::check(&spec, &form, &profiles));
    diagnostic::sort(&mut diagnostics);
    if diagnostic::has_errors(&diagnostics) {
        return (None, diagnostics);
    }
    (
        Some(CheckedSpec {
            spec,
            form,
            file,
            profiles,
        }),
        diagnostics,
    )
}

/// A copy of `value` without the values at `pointers` (an array loses the whole array, so no
/// index shifts).
fn prune(value: &serde_json::Value, pointers: &[String]) -> serde_json::Value {
    let mut pruned = value.clone();
    for pointer in pointers {
        let mut target = pointer.as_str();
        // Remove the nearest enclosing object member.
        while let Some((parent, last)) = target.rsplit_once('/') {
            let last = last.replace("~1", "/").replace("~0", "~");
            match pruned.pointer_mut(parent) {
                Some(serde_json::Value::Object(map)) => {
                    map.remove(&last);
                    break;
                }
                Some(_) => target = parent,
                None => break,
            }
        }
    }
    pruned
}
