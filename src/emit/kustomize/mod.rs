//! The Kustomize emitter: one base per service, one overlay per (environment, cloud) target.
//!
//! Consumes: the resolved [`Platform`]: `Platform::base` for the bases, every environment's
//! targets for the overlays. Produces: files under `kubernetes/`:
//!
//! ```text
//! kubernetes/base/<service>/          kustomization.yaml, serviceaccount.yaml,
//!                                     deployment.yaml | statefulset.yaml,
//!                                     service.yaml (when the service has ports),
//!                                     service-headless.yaml (stateful services)
//! kubernetes/overlays/<env>/<cloud>/  kustomization.yaml, namespace.yaml,
//!                                     resourcequota.yaml, limitrange.yaml, patches/*.yaml
//! ```
//!
//! Invariants: every overlay builds with `kubectl kustomize` into the complete set of objects
//! of its target; bases hold the service as the service layer defines it, and overlays hold
//! only what the target changes (see [`overlay`]); output depends only on the model.
//!
//! Decisions:
//! - Labels: base objects and pod templates carry `app.kubernetes.io/name`, `/instance`,
//!   `/version` (the image tag, when there is one), `/managed-by: manifold` and the service's
//!   own labels; overlays add the platform's labels, the environment's labels,
//!   `app.kubernetes.io/part-of` and `app.kubernetes.io/environment`. Selectors use only
//!   `name` and `instance`, so they never change between environments. No
//!   `app.kubernetes.io/component` label is written.
//! - The platform's annotations go on every base workload (they are the same in every target);
//!   the service's annotations go on its workload and its pod template.
//! - Workload details (rollout strategy, temporary directory, ...) are documented in
//!   [`workload`]; the patch strategy in [`overlay`] and [`patch`].

mod overlay;
mod patch;
pub(crate) mod workload;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::Files;
use super::yaml;
use crate::model::{Platform, Service};

/// The apiVersion of every `kustomization.yaml`.
const KUSTOMIZE_API_VERSION: &str = "kustomize.config.k8s.io/v1beta1";

/// Renders the bases and overlays of the platform. `extras` are overlay objects from the
/// other emitters (paths under `kubernetes/overlays/<env>/<cloud>/`), which the overlays list
/// as resources; they are not part of the result (the caller adds them to the tree itself,
/// so a large platform never holds two copies of them).
pub fn emit(platform: &Platform, extras: &Files) -> Files {
    // Bases and overlays are independent of each other: each is rendered into its own map
    // (in parallel), and the maps are merged in order.
    // A base's objects are built once: for its own files and for every overlay's patches.
    let objects = crate::parallel::map(&platform.base, workload::objects);
    let bases: Bases = platform
        .base
        .iter()
        .zip(&objects)
        .map(|(service, objects)| (service.name.as_str(), objects.as_slice()))
        .collect();
    let mut files = Files::new();
    let base_parts: Vec<_> = platform.base.iter().zip(&objects).collect();
    for part in crate::parallel::map(&base_parts, |(service, objects)| {
        let mut files = Files::new();
        emit_base(platform, service, objects, &mut files);
        files
    }) {
        files.extend(part);
    }
    let targets: Vec<_> = platform.targets().collect();
    for part in crate::parallel::map(&targets, |(environment, target)| {
        let mut files = Files::new();
        overlay::emit(platform, &bases, environment, target, extras, &mut files);
        files
    }) {
        files.extend(part);
    }
    files
}

/// Each base service's objects ([`workload::objects`]) by service name.
type Bases<'a> = BTreeMap<&'a str, &'a [workload::Object]>;

/// Adds the files of one service's base (its `objects`) to `files`.
fn emit_base(
    platform: &Platform,
    service: &Service,
    objects: &[workload::Object],
    files: &mut Files,
) {
    let dir = format!("kubernetes/base/{}", service.name);
    let mut resources = Vec::new();
    for mut object in objects.iter().cloned() {
        if matches!(object.file, "deployment.yaml" | "statefulset.yaml") {
            annotate(&mut object.value, &platform.annotations);
        }
        super::hardening::annotate(&mut object.value, super::hardening::Part::Complete);
        files.insert(format!("{dir}/{}", object.file), yaml_file(&object.value));
        resources.push(Value::from(object.file));
    }
    let kustomization = json!({
        "apiVersion": KUSTOMIZE_API_VERSION,
        "kind": "Kustomization",
        "resources": resources,
    });
    files.insert(
        format!("{dir}/kustomization.yaml"),
        yaml_file(&kustomization),
    );
}

/// Adds annotations to an object's metadata, keeping any it already has.
fn annotate(object: &mut Value, annotations: &BTreeMap<String, String>) {
    if annotations.is_empty() {
        return;
    }
    if let Some(existing) = super::annotations_mut(object) {
        for (key, value) in annotations {
            existing
                .entry(key.clone())
                .or_insert_with(|| Value::String(value.clone()));
        }
    }
}

/// Renders one YAML file.
fn yaml_file(value: &Value) -> String {
    yaml::document(value)
}

/// A map of strings as a JSON object of strings (quantities, label values, ...).
fn string_map(map: &BTreeMap<String, String>) -> Value {
    map.iter()
        .map(|(key, value)| (key.clone(), Value::String(value.clone())))
        .collect::<Map<String, Value>>()
        .into()
}
