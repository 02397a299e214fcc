//! The `policy/v1` PodDisruptionBudget of a service (when [`super::plan::budget`] says it
//! gets one).
//!
//! Consumes: a service, its [`Budget`] and whether the target's cluster knows
//! `unhealthyPodEvictionPolicy` (Kubernetes 1.27 or later). Produces: one object selecting the
//! service's pods by their selector labels.

use serde_json::{Map, Value, json};

use super::plan::Budget;
use crate::model::{Disruption, IntOrPercent, Platform, Service, Target};

/// The first Kubernetes minor version with `unhealthyPodEvictionPolicy` on by default.
const EVICTION_POLICY_SINCE: u32 = 27;

/// The PodDisruptionBudget of `service`.
pub fn object(service: &Service, budget: &Budget, eviction_policy: bool) -> Value {
    let mut spec = Map::new();
    let (key, value) = match &budget.disruption {
        Disruption::MinAvailable(value) => ("minAvailable", value),
        Disruption::MaxUnavailable(value) => ("maxUnavailable", value),
    };
    spec.insert(key.into(), int_or_percent(value));
    spec.insert(
        "selector".into(),
        json!({ "matchLabels": super::selector(service) }),
    );
    if eviction_policy {
        spec.insert("unhealthyPodEvictionPolicy".into(), "AlwaysAllow".into());
    }
    crate::emit::resource(
        "policy/v1",
        "PodDisruptionBudget",
        super::metadata(service, &service.name),
        spec,
    )
}

/// Whether the target's cluster runs Kubernetes 1.27 or later.
pub fn supports_eviction_policy(platform: &Platform, target: &Target) -> bool {
    platform
        .clouds
        .iter()
        .filter(|cloud| cloud.kind == target.cloud)
        .flat_map(|cloud| &cloud.clusters)
        .find(|cluster| cluster.name == target.cluster)
        .and_then(|cluster| cluster.kubernetes.strip_prefix("1."))
        .and_then(|minor| minor.parse::<u32>().ok())
        .is_some_and(|minor| minor >= EVICTION_POLICY_SINCE)
}

fn int_or_percent(value: &IntOrPercent) -> Value {
    match value {
        IntOrPercent::Int(count) => (*count).into(),
        IntOrPercent::Percent(text) => text.clone().into(),
    }
}
