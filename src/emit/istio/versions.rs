//! The Deployment of a version that runs another image than the service's own workload (a
//! canary).
//!
//! Consumes: the platform (annotations), the environment (replica floor), the target's
//! service and one of its [`view::variants`]. Produces: an `apps/v1` Deployment named
//! `<service>-<version>`.
//!
//! Invariants: the Deployment is the service's own, rendered by the same builder the
//! Kustomize emitter uses, so it runs with the same container, probes, environment, security
//! context and service account; only its name, image tag, `version` label (selector and
//! pods) and replica count differ. Its pods keep `app.kubernetes.io/name` and `/instance`,
//! so the service's Kubernetes Service (and the policies selecting on those labels) cover
//! them, and DestinationRule subsets tell the versions apart by `version`.
//!
//! Decision: the base Deployment's selector is left as it is (it is immutable, and adding a
//! canary must not force re-creating the workload). That selector also matches the canary's
//! pods; Kubernetes keeps the two apart through owner references and `pod-template-hash`,
//! but an autoscaler of the main workload averages over the canary's pods too.

use serde_json::{Map, Value};

use super::view::{self, Version};
use crate::emit::kustomize::workload;
use crate::model::{Environment, Platform, Replicas, Service, WorkloadKind};

/// The name of a version's Deployment.
pub fn name(service: &Service, version: &Version) -> String {
    format!("{}-{}", service.name, version.name)
}

/// The Deployment of one version of a stateless service.
pub fn deployment(
    platform: &Platform,
    environment: &Environment,
    service: &Service,
    version: &Version,
) -> Value {
    let mut variant = service.clone();
    if let Some(tag) = &version.tag {
        variant.image.tag = Some(tag.clone());
        variant.image.digest = None;
    }
    let replicas = version
        .replicas
        .unwrap_or_else(|| u64::from(environment.replica_floor.max(1)));
    variant.replicas = Replicas::Fixed(u32::try_from(replicas).unwrap_or(u32::MAX));
    // Only a Deployment's pods join a version's subset (a stateful service gets none).
    if variant.kind != WorkloadKind::Stateless {
        return Value::Null;
    }
    let mut deployment = workload::deployment(&variant);
    let label = |value: &mut Value, pointer: &str| {
        if let Some(Value::Object(labels)) = value.pointer_mut(pointer) {
            labels.insert(view::VERSION_LABEL.into(), version.name.clone().into());
        }
    };
    label(&mut deployment, "/metadata/labels");
    label(&mut deployment, "/spec/selector/matchLabels");
    label(&mut deployment, "/spec/template/metadata/labels");
    if let Some(Value::Object(metadata)) = deployment.get_mut("metadata") {
        metadata.insert("name".into(), name(service, version).into());
        if !platform.annotations.is_empty() {
            let annotations = metadata
                .entry("annotations")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(annotations) = annotations {
                for (key, value) in &platform.annotations {
                    annotations
                        .entry(key.clone())
                        .or_insert_with(|| Value::String(value.clone()));
                }
            }
        }
    }
    deployment
}
