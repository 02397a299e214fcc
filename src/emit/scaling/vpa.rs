//! The `autoscaling.k8s.io/v1` VerticalPodAutoscaler of a service (when [`super::plan::vpa`]
//! says it gets one).
//!
//! Consumes: a service and its resolved [`Vpa`]. Produces: one object with `updatePolicy`
//! and, when any bound or control is set, one container policy for the service's container
//! (named after the service, as the Kustomize emitter names it).

use serde_json::{Map, Value, json};

use crate::model::{Service, Vpa};

/// The VerticalPodAutoscaler of `service`.
pub fn object(service: &Service, vpa: &Vpa) -> Value {
    let mut spec = Map::new();
    spec.insert("targetRef".into(), super::workload_ref(service));
    spec.insert("updatePolicy".into(), json!({ "updateMode": vpa.mode }));
    let mut policy = Map::new();
    for (key, bounds) in [("minAllowed", &vpa.min), ("maxAllowed", &vpa.max)] {
        if !bounds.is_empty() {
            policy.insert(
                key.into(),
                bounds
                    .iter()
                    .map(|(resource, value)| (resource.clone(), Value::String(value.clone())))
                    .collect::<Map<String, Value>>()
                    .into(),
            );
        }
    }
    if !vpa.controlled_resources.is_empty() {
        policy.insert(
            "controlledResources".into(),
            json!(vpa.controlled_resources),
        );
    }
    if let Some(values) = &vpa.controlled_values {
        policy.insert("controlledValues".into(), values.clone().into());
    }
    if !policy.is_empty() {
        let mut container = Map::new();
        container.insert("containerName".into(), service.name.clone().into());
        container.extend(policy);
        spec.insert(
            "resourcePolicy".into(),
            json!({ "containerPolicies": [container] }),
        );
    }
    crate::emit::resource(
        "autoscaling.k8s.io/v1",
        "VerticalPodAutoscaler",
        super::metadata(service, &service.name),
        spec,
    )
}
