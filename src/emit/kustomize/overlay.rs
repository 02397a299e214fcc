//! One overlay directory: `kubernetes/overlays/<env>/<cloud>/`.
//!
//! Consumes: the platform (for its labels and its bases), one environment and one of its
//! targets. Produces: `kustomization.yaml`, `namespace.yaml`, `resourcequota.yaml` (when the
//! environment has a quota), `limitrange.yaml` (when it has a non-empty limit range) and
//! `patches/*.yaml`.
//!
//! Invariants: `kubectl kustomize` on the directory builds the complete set of objects of the
//! target; every object gets the platform's and the environment's labels,
//! `app.kubernetes.io/part-of: <platform>` and `app.kubernetes.io/environment: <env>` (through
//! kustomize's `labels` field, templates included, selectors untouched, so selectors stay
//! stable across environments).
//!
//! Decisions:
//! - Patches hold exactly the differences between the target's objects and the base's: the
//!   same builder renders both and [`super::patch`] computes the strategic-merge patch, so
//!   an overlay states only what this target changes (replicas, resources, env, security
//!   contexts, the storage class of claim templates, ...) and a patch file exists only when
//!   it changes something. `kubectl kustomize` shows the effective objects.
//! - The workload's patch is `patches/<service>.yaml`; patches of the service's other objects
//!   are `patches/<service>.<base file stem>.yaml` (service names have no dots, so the two
//!   never collide).
//! - Patch entries name only their `path`: each patch carries its object's `apiVersion`,
//!   `kind` and `metadata.name`, which is how kustomize matches a strategic-merge patch. A
//!   `target:` selector is deliberately not written: kustomize (5.5) then ignores the `null`
//!   deletion directives under `metadata` (a removed label came out as the string `"null"`).
//! - Argo CD sync waves (`argocd.argoproj.io/sync-wave`): the Namespace is wave `-2`, the
//!   ResourceQuota and LimitRange `-1` (constants in [`crate::emit::argocd`]); workloads stay
//!   in wave 0, so the namespace and its guardrails exist before any pod is admitted.
//! - Image changes go through kustomize's `images:` field (name = the base's repository),
//!   never through patches.
//! - A target service without a base (the model guarantees there is none) is left out rather
//!   than pointing at a missing directory.

use serde_json::{Map, Value, json};

use super::patch::diff_object;
use super::workload::{self, Object};
use super::{KUSTOMIZE_API_VERSION, string_map, yaml_file};
use crate::emit::Files;
use crate::emit::argocd::{SYNC_WAVE, WAVE_GUARDRAILS, WAVE_NAMESPACE};
use crate::model::{Environment, Image, LimitRange, Platform, Service, Target};

/// Adds the files of one target's overlay to `files`. `extras` holds objects other emitters
/// produced for overlays (scaling, policies, routing): every one of them under this
/// target's directory is added to `files` and listed in the overlay's `resources`.
pub fn emit(
    platform: &Platform,
    bases: &super::Bases<'_>,
    environment: &Environment,
    target: &Target,
    extras: &Files,
    files: &mut Files,
) {
    let dir = format!(
        "kubernetes/overlays/{}/{}",
        environment.name,
        target.cloud.as_str()
    );
    let mut resources = vec![Value::from("namespace.yaml")];
    files.insert(
        format!("{dir}/namespace.yaml"),
        yaml_file(&namespace(environment)),
    );
    let mut images = Vec::new();
    let mut patches = Vec::new();
    for service in &target.services {
        let Some(base) = platform.base_service(&service.name) else {
            continue;
        };
        resources.push(format!("../../../base/{}", service.name).into());
        // A service with versions that run other images (Istio canaries) carries its image
        // change in its patch: an `images:` entry would retag those versions' Deployments too.
        let retag = crate::emit::istio::view::variants(service).is_empty();
        if retag && let Some(image) = image_override(&base.image, &service.image) {
            images.push(image);
        }
        let base_objects = bases
            .get(service.name.as_str())
            .copied()
            .unwrap_or_default();
        for (path, mut patch) in patches_of(base, base_objects, service, retag) {
            crate::emit::hardening::annotate(&mut patch, crate::emit::hardening::Part::Patch);
            files.insert(format!("{dir}/{path}"), yaml_file(&patch));
            patches.push(json!({ "path": path }));
        }
    }
    if !environment.quota.is_empty() {
        resources.push("resourcequota.yaml".into());
        files.insert(
            format!("{dir}/resourcequota.yaml"),
            yaml_file(&resource_quota(environment)),
        );
    }
    if let Some(limit_range) = environment.limit_range.as_ref().and_then(|range| {
        let items = limit_items(range);
        (!items.is_empty()).then(|| limit_range_object(environment, items))
    }) {
        resources.push("limitrange.yaml".into());
        files.insert(format!("{dir}/limitrange.yaml"), yaml_file(&limit_range));
    }
    let prefix = format!("{dir}/");
    // The extras are listed, not copied: the caller moves them into the tree.
    for path in extras.range(prefix.clone()..).map(|(path, _)| path) {
        let Some(relative) = path.strip_prefix(&prefix) else {
            break;
        };
        resources.push(relative.into());
    }
    let mut kustomization = Map::new();
    kustomization.insert("apiVersion".into(), KUSTOMIZE_API_VERSION.into());
    kustomization.insert("kind".into(), "Kustomization".into());
    kustomization.insert("namespace".into(), environment.namespace.clone().into());
    kustomization.insert("resources".into(), resources.into());
    kustomization.insert(
        "labels".into(),
        json!([{ "pairs": common_labels(platform, environment),
            "includeSelectors": false, "includeTemplates": true }]),
    );
    if !images.is_empty() {
        kustomization.insert("images".into(), images.into());
    }
    if !patches.is_empty() {
        kustomization.insert("patches".into(), patches.into());
    }
    files.insert(
        format!("{dir}/kustomization.yaml"),
        yaml_file(&kustomization.into()),
    );
}

/// The labels the overlay adds to every object.
fn common_labels(platform: &Platform, environment: &Environment) -> Map<String, Value> {
    let mut labels = Map::new();
    for (key, value) in platform.labels.iter().chain(&environment.labels) {
        labels.insert(key.clone(), value.clone().into());
    }
    labels.insert(
        "app.kubernetes.io/part-of".into(),
        platform.name.clone().into(),
    );
    labels.insert(
        "app.kubernetes.io/environment".into(),
        environment.name.clone().into(),
    );
    labels
}

/// The `images:` entry retargeting the base's image, when the target's differs.
fn image_override(base: &Image, target: &Image) -> Option<Value> {
    if (&base.repository, &base.tag, &base.digest)
        == (&target.repository, &target.tag, &target.digest)
    {
        return None;
    }
    let mut entry = Map::new();
    entry.insert("name".into(), base.repository.clone().into());
    if target.repository != base.repository {
        entry.insert("newName".into(), target.repository.clone().into());
    }
    if let Some(tag) = &target.tag {
        entry.insert("newTag".into(), tag.clone().into());
    }
    if let Some(digest) = &target.digest {
        entry.insert("digest".into(), digest.clone().into());
    }
    Some(entry.into())
}

/// The patches of one service: (path in the overlay, patch). With `retag`, image changes are
/// left out (the overlay's `images:` field carries them).
fn patches_of(
    base: &Service,
    base_objects: &[Object],
    service: &Service,
    retag: bool,
) -> Vec<(String, Value)> {
    let mut target_objects = workload::objects(service);
    let base_image = base.image.reference();
    for object in &mut target_objects {
        if retag {
            keep_image(&mut object.value, &base_image);
        }
    }
    let mut patches = Vec::new();
    for base_object in base_objects {
        let Some(target_object) = target_objects
            .iter()
            .find(|object| object.file == base_object.file)
        else {
            continue;
        };
        let Some(patch) = diff_object(&base_object.value, &target_object.value) else {
            continue;
        };
        patches.push((patch_path(&base.name, base_object), patch));
    }
    patches
}

fn patch_path(service: &str, object: &Object) -> String {
    let stem = object.file.trim_end_matches(".yaml");
    if matches!(stem, "deployment" | "statefulset") {
        format!("patches/{service}.yaml")
    } else {
        format!("patches/{service}.{stem}.yaml")
    }
}

/// Sets every container image of a workload to the base's, so image changes stay out of
/// patches (the `images:` field carries them).
pub(super) fn keep_image(object: &mut Value, image: &str) {
    if let Some(Value::Array(containers)) = object.pointer_mut("/spec/template/spec/containers") {
        for container in containers {
            if let Some(slot) = container.get_mut("image") {
                *slot = image.into();
            }
        }
    }
}

fn namespace(environment: &Environment) -> Value {
    let mut labels = Map::new();
    let levels = &environment.pod_security;
    for (mode, level) in [
        ("enforce", &levels.enforce),
        ("audit", &levels.audit),
        ("warn", &levels.warn),
    ] {
        let key = format!("pod-security.kubernetes.io/{mode}");
        labels.insert(key.clone(), level.clone().into());
        labels.insert(format!("{key}-version"), "latest".into());
    }
    match environment.mesh.mode.as_str() {
        "sidecar" => {
            labels.insert("istio-injection".into(), "enabled".into());
        }
        "ambient" => {
            labels.insert("istio.io/dataplane-mode".into(), "ambient".into());
        }
        _ => {}
    }
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": environment.namespace, "labels": labels,
            "annotations": { SYNC_WAVE: WAVE_NAMESPACE } },
    })
}

fn resource_quota(environment: &Environment) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": { "name": format!("{}-quota", environment.name),
            "annotations": { SYNC_WAVE: WAVE_GUARDRAILS } },
        "spec": { "hard": string_map(&environment.quota) },
    })
}

fn limit_range_object(environment: &Environment, items: Vec<Value>) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": { "name": format!("{}-limits", environment.name),
            "annotations": { SYNC_WAVE: WAVE_GUARDRAILS } },
        "spec": { "limits": items },
    })
}

fn limit_items(range: &LimitRange) -> Vec<Value> {
    let mut items = Vec::new();
    let mut container = Map::new();
    for (key, values) in [
        ("default", &range.default),
        ("defaultRequest", &range.default_request),
        ("min", &range.min),
        ("max", &range.max),
    ] {
        if !values.is_empty() {
            container.insert(key.into(), string_map(values));
        }
    }
    if !container.is_empty() {
        let mut item = Map::new();
        item.insert("type".into(), "Container".into());
        item.extend(container);
        items.push(item.into());
    }
    if let Some(storage) = &range.max_storage {
        items.push(json!({ "type": "PersistentVolumeClaim", "max": { "storage": storage } }));
    }
    items
}
