//! What the scaling emitters and the scaling checks agree on: a typed reading of a service's
//! resolved `autoscale` document, which autoscaler it gets, its replica range, its disruption
//! budget (declared or by the per-profile default rule), whether it gets a VPA, the resources
//! its pods really run with (LimitRange defaults applied) and its QoS class.
//!
//! Consumes: the model. Produces: plain values. Invariant: the emitters and
//! `check::platform::scaling` call these functions and never re-derive the same decision, so
//! what is checked is exactly what is emitted.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::{
    Disruption, Environment, IntOrPercent, LimitRange, Replicas, Service, Vpa, WorkloadKind,
};
use crate::quantity;

/// The CPU utilisation Kubernetes targets when an HPA lists no metric (autoscaling/v2
/// defaulting); manifold writes it out so the object says what it does.
pub const DEFAULT_CPU_UTILIZATION: u32 = 80;

/// A policy's `periodSeconds` when the spec gives none (the period of Kubernetes' own default
/// scaling policies).
pub const DEFAULT_PERIOD_SECONDS: u64 = 15;

/// The autoscaling of one service in one target, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Autoscale {
    /// minReplicas / minReplicaCount.
    pub min: u32,
    /// maxReplicas / maxReplicaCount.
    pub max: u32,
    /// Target average CPU utilisation, % of the request.
    pub cpu: Option<u32>,
    /// Target average memory utilisation, % of the request.
    pub memory: Option<u32>,
    /// Pods metrics: (metric, average value per pod), sorted by metric.
    pub per_pod: Vec<(String, String)>,
    /// Object metrics, in spec order.
    pub objects: Vec<ObjectMetric>,
    /// External metrics, in spec order.
    pub externals: Vec<ExternalMetric>,
    /// KEDA triggers, in spec order.
    pub queues: Vec<Queue>,
    /// scaleUp behaviour.
    pub scale_up: Option<Policy>,
    /// scaleDown behaviour.
    pub scale_down: Option<Policy>,
}

/// An Object metric (`object METRIC VALUE kind=… name=…`).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectMetric {
    /// Index in the `object` list (for origin pointers).
    pub index: usize,
    /// Metric name.
    pub metric: String,
    /// Target value (a quantity).
    pub value: String,
    /// `AverageValue` instead of `Value`.
    pub average: bool,
    /// describedObject kind.
    pub kind: String,
    /// describedObject name.
    pub name: String,
    /// describedObject apiVersion.
    pub api_version: Option<String>,
    /// Metric label selector.
    pub selector: BTreeMap<String, String>,
}

/// An External metric (`external METRIC VALUE`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalMetric {
    /// Index in the `external` list.
    pub index: usize,
    /// Metric name.
    pub metric: String,
    /// Target value.
    pub value: String,
    /// `AverageValue` instead of `Value`.
    pub average: bool,
    /// Metric label selector.
    pub selector: BTreeMap<String, String>,
}

/// A KEDA trigger (`queue TYPE props…`).
#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    /// Index in the `queue` list.
    pub index: usize,
    /// redis, rabbitmq, prometheus, kafka or aws-sqs.
    pub kind: String,
    /// Every other property, as text (`list`, `queue`, `depth`, `threshold`, `max-age`, ...).
    pub props: BTreeMap<String, String>,
    /// `average=` when written.
    pub average: Option<bool>,
}

impl Queue {
    /// A property's text.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }
}

/// One direction of the scaling behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// A Percent policy's value.
    pub percent: Option<u32>,
    /// A Pods policy's value.
    pub pods: Option<u32>,
    /// periodSeconds (the spec's `period`), when written.
    pub period: Option<u64>,
    /// stabilizationWindowSeconds.
    pub stabilize: Option<u64>,
    /// selectPolicy as Kubernetes spells it (Max, Min, Disabled).
    pub select: Option<&'static str>,
}

/// Which object scales a service horizontally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaler {
    /// A HorizontalPodAutoscaler.
    Hpa,
    /// A KEDA ScaledObject (which owns its own HPA): the service has queue triggers.
    Keda,
}

impl Autoscale {
    /// HPA or KEDA: KEDA exactly when there is a queue trigger, never both.
    pub fn scaler(&self) -> Scaler {
        if self.queues.is_empty() {
            Scaler::Hpa
        } else {
            Scaler::Keda
        }
    }

    /// The resource utilisation targets the autoscaler really uses: `("cpu", %)`,
    /// `("memory", %)`. An HPA with no metric at all scales on CPU at
    /// [`DEFAULT_CPU_UTILIZATION`], so that counts.
    pub fn utilization(&self) -> Vec<(&'static str, u32)> {
        let mut targets = Vec::new();
        if let Some(cpu) = self.cpu {
            targets.push(("cpu", cpu));
        }
        if let Some(memory) = self.memory {
            targets.push(("memory", memory));
        }
        if targets.is_empty() && !self.has_custom_metrics() && self.queues.is_empty() {
            targets.push(("cpu", DEFAULT_CPU_UTILIZATION));
        }
        targets
    }

    /// Whether Pods, Object or External metrics are declared.
    pub fn has_custom_metrics(&self) -> bool {
        !self.per_pod.is_empty() || !self.objects.is_empty() || !self.externals.is_empty()
    }
}

/// The typed autoscaling of a service, `None` when its replicas are fixed.
pub fn autoscale(service: &Service) -> Option<Autoscale> {
    let Replicas::Autoscaled { min, max } = service.replicas else {
        return None;
    };
    static NONE: Value = Value::Null;
    let document = service.autoscale.as_ref().unwrap_or(&NONE);
    let percent = |key: &str| {
        document
            .get(key)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    let per_pod = document
        .get("per-pod")
        .and_then(Value::as_object)
        .map(|metrics| {
            metrics
                .iter()
                .filter_map(|(metric, target)| Some((metric.clone(), text(target.get("value")?))))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let items = |key: &str| -> Vec<(usize, serde_json::Map<String, Value>)> {
        document
            .get(key)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(index, item)| Some((index, item.as_object()?.clone())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let objects = items("object")
        .into_iter()
        .map(|(index, item)| ObjectMetric {
            index,
            metric: field(&item, "metric"),
            value: field(&item, "value"),
            average: item.get("average").and_then(Value::as_bool) == Some(true),
            kind: field(&item, "kind"),
            name: field(&item, "name"),
            api_version: item.get("api-version").map(text),
            selector: selector(&item),
        })
        .collect();
    let externals = items("external")
        .into_iter()
        .map(|(index, item)| ExternalMetric {
            index,
            metric: field(&item, "metric"),
            value: field(&item, "value"),
            average: item.get("average").and_then(Value::as_bool) == Some(true),
            selector: selector(&item),
        })
        .collect();
    let queues = items("queue")
        .into_iter()
        .map(|(index, item)| Queue {
            index,
            kind: field(&item, "type"),
            props: item
                .iter()
                .filter(|(key, _)| !matches!(key.as_str(), "type" | "average"))
                .map(|(key, value)| (key.clone(), text(value)))
                .collect(),
            average: item.get("average").and_then(Value::as_bool),
        })
        .collect();
    Some(Autoscale {
        min,
        max,
        cpu: percent("cpu"),
        memory: percent("memory"),
        per_pod,
        objects,
        externals,
        queues,
        scale_up: document.get("scale-up").map(policy),
        scale_down: document.get("scale-down").map(policy),
    })
}

fn policy(value: &Value) -> Policy {
    let number = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    let seconds = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .and_then(quantity::duration_seconds)
    };
    Policy {
        percent: number("percent"),
        pods: number("pods"),
        period: seconds("period"),
        stabilize: seconds("stabilize"),
        select: value
            .get("select")
            .and_then(Value::as_str)
            .map(|select| match select {
                "min" => "Min",
                "disabled" => "Disabled",
                _ => "Max",
            }),
    }
}

/// A JSON scalar as text (numbers and booleans as written).
pub fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn field(item: &serde_json::Map<String, Value>, key: &str) -> String {
    item.get(key).map(text).unwrap_or_default()
}

fn selector(item: &serde_json::Map<String, Value>) -> BTreeMap<String, String> {
    item.get("selector")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(key, value)| (key.clone(), text(value)))
                .collect()
        })
        .unwrap_or_default()
}

/// The smallest and largest replica count a service can run with in a target.
pub fn replica_range(service: &Service) -> (u32, u32) {
    match service.replicas {
        Replicas::Fixed(count) => (count, count),
        Replicas::Autoscaled { min, max } => (min, max),
    }
}

/// A disruption budget and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// minAvailable or maxUnavailable.
    pub disruption: Disruption,
    /// Declared by the spec (`disruption`), rather than by the default rule.
    pub declared: bool,
}

/// The PodDisruptionBudget a service gets in an environment, `None` for none.
///
/// The rule (documented in `emit::scaling`): nothing when the environment's `pdb` is off; a
/// declared `disruption` as written (the checks warn when it can never allow an eviction);
/// nothing when the workload can only ever run one replica (a default budget could only
/// block drains); otherwise stateful services get `maxUnavailable: 1` (one
/// member at a time, which keeps a quorum), services with ports `minAvailable: 1` when they
/// never run fewer than two replicas and `maxUnavailable: 1` when they may run one, and
/// services without ports (workers) `maxUnavailable: 50%` (seed 002).
pub fn budget(environment: &Environment, service: &Service) -> Option<Budget> {
    if !environment.pdb {
        return None;
    }
    if let Some(disruption) = &service.disruption {
        return Some(Budget {
            disruption: disruption.clone(),
            declared: true,
        });
    }
    let (min, max) = replica_range(service);
    if max <= 1 {
        return None;
    }
    let disruption = if service.kind == WorkloadKind::Stateful {
        Disruption::MaxUnavailable(IntOrPercent::Int(1))
    } else if service.ports.is_empty() {
        Disruption::MaxUnavailable(IntOrPercent::Percent("50%".to_owned()))
    } else if min >= 2 {
        Disruption::MinAvailable(IntOrPercent::Int(1))
    } else {
        Disruption::MaxUnavailable(IntOrPercent::Int(1))
    };
    Some(Budget {
        disruption,
        declared: false,
    })
}

/// How many pods a budget lets the eviction API take down when `replicas` pods are healthy.
/// Percentages round up, as the disruption controller rounds them.
pub fn allowed_disruptions(disruption: &Disruption, replicas: u32) -> u32 {
    match disruption {
        Disruption::MinAvailable(value) => replicas.saturating_sub(scaled(value, replicas)),
        Disruption::MaxUnavailable(value) => scaled(value, replicas).min(replicas),
    }
}

/// A count or percentage of `replicas` pods, percentages rounded up.
pub fn scaled(value: &IntOrPercent, replicas: u32) -> u32 {
    match value {
        IntOrPercent::Int(count) => *count,
        IntOrPercent::Percent(text) => {
            let percent: u64 = text.trim_end_matches('%').parse().unwrap_or(0);
            let scaled = (percent * u64::from(replicas)).div_ceil(100);
            u32::try_from(scaled).unwrap_or(u32::MAX)
        }
    }
}

/// The VPA a service gets: any mode other than `Off`, and `Off` (recommendations only) when
/// the spec asked for it; the built-in profiles' `vpa mode=off` emits nothing, so clusters
/// without the VPA CRDs are never made to need them.
pub fn vpa(service: &Service) -> Option<&Vpa> {
    let vpa = service.vpa.as_ref()?;
    (vpa.mode != "Off" || vpa.written).then_some(vpa)
}

/// The resources the pods of a service run with once admission applied the namespace's
/// LimitRange: base units (cores, bytes) by resource name (`cpu`, `memory`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effective {
    /// Requests.
    pub requests: BTreeMap<&'static str, f64>,
    /// Limits.
    pub limits: BTreeMap<&'static str, f64>,
    /// Which values came from the LimitRange rather than the service.
    pub defaulted: Vec<&'static str>,
}

/// The effective CPU and memory of a service's container: its own values, else the
/// LimitRange's (`default` for limits; `defaultRequest`, else the limit, for requests; a
/// LimitRange `max` without `default` is the default limit, as the API server defaults it).
pub fn effective_resources(service: &Service, limit_range: Option<&LimitRange>) -> Effective {
    let mut effective = Effective::default();
    for resource in ["cpu", "memory"] {
        let own = |map: &BTreeMap<String, String>| {
            map.get(resource)
                .and_then(|text| quantity::parse(text))
                .map(|q| q.value)
        };
        let from_range = |map: &BTreeMap<String, String>| own(map);
        let default_limit = limit_range
            .and_then(|range| from_range(&range.default).or_else(|| from_range(&range.max)));
        let default_request = limit_range
            .and_then(|range| from_range(&range.default_request))
            .or(default_limit);
        let own_limit = own(&service.resources.limits);
        let own_request = own(&service.resources.requests);
        let limit = own_limit.or(default_limit);
        let request = own_request.or(own_limit).or(default_request);
        if own_limit.is_none() && limit.is_some() {
            effective.defaulted.push(resource);
        }
        if let Some(limit) = limit {
            effective.limits.insert(resource, limit);
        }
        if let Some(request) = request {
            effective.requests.insert(resource, request);
        }
    }
    effective
}

/// A pod's QoS class.
pub fn qos_class(effective: &Effective) -> &'static str {
    if effective.requests.is_empty() && effective.limits.is_empty() {
        return "BestEffort";
    }
    let guaranteed = ["cpu", "memory"].iter().all(|resource| {
        match (
            effective.requests.get(resource),
            effective.limits.get(resource),
        ) {
            (Some(request), Some(limit)) => (request - limit).abs() < f64::EPSILON * limit.max(1.0),
            _ => false,
        }
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_up_like_the_disruption_controller() {
        let half = Disruption::MaxUnavailable(IntOrPercent::Percent("50%".into()));
        assert_eq!(allowed_disruptions(&half, 1), 1);
        assert_eq!(allowed_disruptions(&half, 3), 2);
        let one = Disruption::MinAvailable(IntOrPercent::Int(1));
        assert_eq!(allowed_disruptions(&one, 1), 0);
        assert_eq!(allowed_disruptions(&one, 3), 2);
        let all = Disruption::MinAvailable(IntOrPercent::Percent("100%".into()));
        assert_eq!(allowed_disruptions(&all, 4), 0);
        let none = Disruption::MaxUnavailable(IntOrPercent::Int(0));
        assert_eq!(allowed_disruptions(&none, 5), 0);
    }

    #[test]
    fn qos_classes() {
        let mut effective = Effective::default();
        assert_eq!(qos_class(&effective), "BestEffort");
        effective.requests.insert("cpu", 0.5);
        effective.limits.insert("cpu", 1.0);
        assert_eq!(qos_class(&effective), "Burstable");
        effective.requests.insert("cpu", 1.0);
        effective.requests.insert("memory", 1024.0);
        effective.limits.insert("memory", 1024.0);
        assert_eq!(qos_class(&effective), "Guaranteed");
    }
}
