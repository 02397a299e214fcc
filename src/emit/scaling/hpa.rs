//! The `autoscaling/v2` HorizontalPodAutoscaler of a service without queue triggers.
//!
//! Consumes: a service and its typed [`Autoscale`]. Produces: one object (decisions in
//! [`super`]): metrics in the order cpu, memory, Pods (by metric name), Object, External
//! (spec order), then `behavior`.

use serde_json::{Map, Value, json};

use super::plan::{Autoscale, ExternalMetric, ObjectMetric};
use crate::model::Service;

/// The HorizontalPodAutoscaler of `service`.
pub fn object(service: &Service, autoscale: &Autoscale) -> Value {
    let mut spec = Map::new();
    spec.insert("scaleTargetRef".into(), super::workload_ref(service));
    spec.insert("minReplicas".into(), autoscale.min.into());
    spec.insert("maxReplicas".into(), autoscale.max.into());
    spec.insert("metrics".into(), metrics(autoscale).into());
    if let Some(behavior) = super::behavior(autoscale) {
        spec.insert("behavior".into(), behavior);
    }
    crate::emit::resource(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        super::metadata(service, &service.name),
        spec,
    )
}

fn metrics(autoscale: &Autoscale) -> Vec<Value> {
    let mut metrics: Vec<Value> = autoscale
        .utilization()
        .into_iter()
        .map(|(resource, percent)| {
            json!({ "type": "Resource", "resource": { "name": resource,
                "target": { "type": "Utilization", "averageUtilization": percent } } })
        })
        .collect();
    for (metric, value) in &autoscale.per_pod {
        metrics.push(
            json!({ "type": "Pods", "pods": { "metric": { "name": metric },
            "target": { "type": "AverageValue", "averageValue": value } } }),
        );
    }
    metrics.extend(autoscale.objects.iter().map(object_metric));
    metrics.extend(autoscale.externals.iter().map(external_metric));
    metrics
}

fn object_metric(metric: &ObjectMetric) -> Value {
    let mut described = Map::new();
    if let Some(api_version) = &metric.api_version {
        described.insert("apiVersion".into(), api_version.clone().into());
    }
    described.insert("kind".into(), metric.kind.clone().into());
    described.insert("name".into(), metric.name.clone().into());
    json!({ "type": "Object", "object": {
        "describedObject": described,
        "metric": metric_identifier(&metric.metric, &metric.selector),
        "target": target(&metric.value, metric.average),
    } })
}

fn external_metric(metric: &ExternalMetric) -> Value {
    json!({ "type": "External", "external": {
        "metric": metric_identifier(&metric.metric, &metric.selector),
        "target": target(&metric.value, metric.average),
    } })
}

fn metric_identifier(name: &str, selector: &std::collections::BTreeMap<String, String>) -> Value {
    let mut identifier = Map::new();
    identifier.insert("name".into(), name.into());
    if !selector.is_empty() {
        identifier.insert(
            "selector".into(),
            json!({ "matchLabels": selector.iter()
                .map(|(key, value)| (key.clone(), Value::String(value.clone())))
                .collect::<Map<String, Value>>() }),
        );
    }
    identifier.into()
}

fn target(value: &str, average: bool) -> Value {
    if average {
        json!({ "type": "AverageValue", "averageValue": value })
    } else {
        json!({ "type": "Value", "value": value })
    }
}
