//! The `keda.sh/v1alpha1` ScaledObject of a service with queue triggers.
//!
//! Consumes: a service, its typed [`Autoscale`] and the target it runs in (for its namespace,
//! the names of the platform's services and the aws region). Produces: one object (decisions
//! in [`super`]). Also exposes [`fields`] (which properties each trigger type takes) and
//! [`services_read`] (which services a trigger connects to), for the checks and the
//! NetworkPolicies.

use serde_json::{Map, Value, json};

use super::plan::{Autoscale, Queue};
use crate::model::{CloudKind, Environment, Platform, Service, Target};

/// Where a ScaledObject is rendered.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The target's namespace.
    pub namespace: &'a str,
    /// The target (its services' names qualify addresses).
    pub target: &'a Target,
    /// The platform's aws region, for SQS queue URLs that do not name one.
    pub aws_region: Option<&'a str>,
}

impl<'a> Context<'a> {
    /// The context of a target.
    pub fn new(
        platform: &'a Platform,
        environment: &'a Environment,
        target: &'a Target,
    ) -> Context<'a> {
        Context {
            namespace: &environment.namespace,
            target,
            aws_region: platform
                .clouds
                .iter()
                .find(|cloud| cloud.kind == CloudKind::Aws)
                .and_then(|cloud| cloud.region.as_deref()),
        }
    }
}

/// The properties a trigger type takes: groups of which at least one member is required, and
/// every property it accepts besides `auth`, `average` and `max-age` (which all types take).
pub fn fields(kind: &str) -> (&'static [&'static [&'static str]], &'static [&'static str]) {
    match kind {
        "redis" => (
            &[&["list"], &["address", "host"]],
            &["list", "address", "host", "depth"],
        ),
        "rabbitmq" => (
            &[&["queue"], &["host", "auth"]],
            &["queue", "host", "depth"],
        ),
        "prometheus" => (
            &[&["server"], &["query"], &["threshold"]],
            &["server", "query", "threshold"],
        ),
        "kafka" => (
            &[&["server", "address"], &["topic"], &["consumer-group"]],
            &["server", "address", "topic", "consumer-group", "depth"],
        ),
        "aws-sqs" => (&[&["queue"]], &["queue", "depth"]),
        _ => (&[], &[]),
    }
}

/// Whether KEDA can measure the age of a trigger's oldest item (only SQS, through CloudWatch).
pub fn measures_age(kind: &str) -> bool {
    kind == "aws-sqs"
}

/// The ScaledObject of `service`.
pub fn object(service: &Service, autoscale: &Autoscale, context: &Context<'_>) -> Value {
    let mut spec = Map::new();
    spec.insert("scaleTargetRef".into(), super::workload_ref(service));
    spec.insert("minReplicaCount".into(), autoscale.min.into());
    spec.insert("maxReplicaCount".into(), autoscale.max.into());
    if let Some(behavior) = super::behavior(autoscale) {
        spec.insert(
            "advanced".into(),
            json!({ "horizontalPodAutoscalerConfig": { "behavior": behavior } }),
        );
    }
    spec.insert("triggers".into(), triggers(autoscale, context).into());
    crate::emit::resource(
        "keda.sh/v1alpha1",
        "ScaledObject",
        super::metadata(service, &service.name),
        spec,
    )
}

fn triggers(autoscale: &Autoscale, context: &Context<'_>) -> Vec<Value> {
    let mut triggers = Vec::new();
    for queue in &autoscale.queues {
        triggers.push(trigger(queue, context));
        if let Some(age) = age_trigger(queue, context) {
            triggers.push(age);
        }
    }
    for (resource, percent) in autoscale.utilization() {
        triggers.push(json!({ "type": resource, "metricType": "Utilization",
            "metadata": { "value": percent.to_string() } }));
    }
    triggers
}

fn trigger(queue: &Queue, context: &Context<'_>) -> Value {
    let mut metadata = Map::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            metadata.insert(key.into(), value.into());
        }
    };
    let prop = |key: &str| queue.get(key).map(str::to_owned);
    let qualified = |key: &str| queue.get(key).map(|text| qualify(text, context).0);
    let keda_type = match queue.kind.as_str() {
        "redis" => {
            put("address", qualified("address"));
            put("host", qualified("host"));
            put("listName", prop("list"));
            put("listLength", prop("depth"));
            "redis"
        }
        "rabbitmq" => {
            let host = qualified("host");
            let protocol = host.as_deref().map(|host| {
                if host.starts_with("http://") || host.starts_with("https://") {
                    "http"
                } else {
                    "amqp"
                }
            });
            put("protocol", protocol.map(str::to_owned));
            put("host", host);
            put("queueName", prop("queue"));
            if let Some(depth) = prop("depth") {
                put("mode", Some("QueueLength".to_owned()));
                put("value", Some(depth));
            }
            "rabbitmq"
        }
        "prometheus" => {
            put("serverAddress", qualified("server"));
            put("query", prop("query"));
            put("threshold", prop("threshold"));
            "prometheus"
        }
        "kafka" => {
            put(
                "bootstrapServers",
                qualified("server").or(qualified("address")),
            );
            put("consumerGroup", prop("consumer-group"));
            put("topic", prop("topic"));
            put("lagThreshold", prop("depth"));
            "kafka"
        }
        "aws-sqs" => {
            let url = prop("queue");
            put("queueURL", url.clone());
            put("queueLength", prop("depth"));
            put("awsRegion", sqs_region(url.as_deref(), context));
            "aws-sqs-queue"
        }
        other => other,
    };
    let mut trigger = Map::new();
    trigger.insert("type".into(), keda_type.into());
    if queue.average == Some(false) {
        trigger.insert("metricType".into(), "Value".into());
    }
    trigger.insert("metadata".into(), metadata.into());
    if let Some(auth) = queue.get("auth") {
        trigger.insert("authenticationRef".into(), json!({ "name": auth }));
    }
    trigger.into()
}

/// The CloudWatch trigger on the age of an SQS queue's oldest message, for `max-age`.
fn age_trigger(queue: &Queue, context: &Context<'_>) -> Option<Value> {
    if !measures_age(&queue.kind) {
        return None;
    }
    let seconds = crate::quantity::duration_seconds(queue.get("max-age")?)?;
    let url = queue.get("queue")?;
    let name = url.trim_end_matches('/').rsplit('/').next().unwrap_or(url);
    let mut metadata = Map::new();
    metadata.insert("namespace".into(), "AWS/SQS".into());
    metadata.insert("metricName".into(), "ApproximateAgeOfOldestMessage".into());
    metadata.insert("dimensionName".into(), "QueueName".into());
    metadata.insert("dimensionValue".into(), name.into());
    metadata.insert("metricStat".into(), "Maximum".into());
    metadata.insert("targetMetricValue".into(), seconds.to_string().into());
    metadata.insert("minMetricValue".into(), "0".into());
    if let Some(region) = sqs_region(Some(url), context) {
        metadata.insert("awsRegion".into(), region.into());
    }
    let mut trigger = Map::new();
    trigger.insert("type".into(), "aws-cloudwatch".into());
    trigger.insert("metricType".into(), "Value".into());
    trigger.insert("metadata".into(), metadata.into());
    if let Some(auth) = queue.get("auth") {
        trigger.insert("authenticationRef".into(), json!({ "name": auth }));
    }
    Some(trigger.into())
}

/// The region of an SQS queue URL (`https://sqs.REGION.amazonaws.com/...`), else the
/// platform's aws region.
fn sqs_region(url: Option<&str>, context: &Context<'_>) -> Option<String> {
    let host = url.map(|url| split_address(url).host);
    let from_url = host.and_then(|host| {
        let mut labels = host.split('.');
        (labels.next() == Some("sqs"))
            .then(|| labels.next())
            .flatten()
            .map(str::to_owned)
    });
    from_url.or_else(|| context.aws_region.map(str::to_owned))
}

/// An address split into `scheme://`, `user@`, host and the rest (`:port/path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address<'t> {
    /// `scheme://` or empty.
    pub scheme: &'t str,
    /// `user[:password]@` or empty.
    pub userinfo: &'t str,
    /// The host.
    pub host: &'t str,
    /// `:port/path...` or empty.
    pub rest: &'t str,
}

/// Splits one address (not a comma-separated list).
pub fn split_address(text: &str) -> Address<'_> {
    let (scheme, after_scheme) = match text.find("://") {
        Some(at) => text.split_at(at + 3),
        None => ("", text),
    };
    let authority_end = after_scheme.find('/').unwrap_or(after_scheme.len());
    let (userinfo, host_and_rest) = match after_scheme[..authority_end].rfind('@') {
        Some(at) => after_scheme.split_at(at + 1),
        None => ("", after_scheme),
    };
    let host_end = host_and_rest
        .find([':', '/'])
        .unwrap_or(host_and_rest.len());
    let (host, rest) = host_and_rest.split_at(host_end);
    Address {
        scheme,
        userinfo,
        host,
        rest,
    }
}

/// Qualifies the hosts of an address (or a comma-separated list of them) that name one of the
/// target's services: `redis:6379` → `redis.<namespace>.svc:6379`. Returns the text and the
/// services it names (qualified already or not).
pub fn qualify(text: &str, context: &Context<'_>) -> (String, Vec<String>) {
    let mut named = Vec::new();
    let parts: Vec<String> = text
        .split(',')
        .map(|part| {
            let trimmed = part.trim();
            let address = split_address(trimmed);
            match service_named(address.host, context) {
                Some((service, bare)) => {
                    named.push(service.to_owned());
                    if bare {
                        format!(
                            "{}{}{}.{}.svc{}",
                            address.scheme,
                            address.userinfo,
                            service,
                            context.namespace,
                            address.rest
                        )
                    } else {
                        trimmed.to_owned()
                    }
                }
                None => trimmed.to_owned(),
            }
        })
        .collect();
    (parts.join(","), named)
}

/// The service a host names: `svc` (bare: `true`) or `svc.<namespace>[.svc[.…]]`.
fn service_named<'h>(host: &'h str, context: &Context<'_>) -> Option<(&'h str, bool)> {
    let mut labels = host.split('.');
    let first = labels.next()?;
    super::find(context.target, first)?;
    match labels.next() {
        None => Some((first, true)),
        Some(namespace) if namespace == context.namespace => {
            let rest: Vec<&str> = labels.collect();
            let in_cluster = rest.is_empty() || rest.first() == Some(&"svc");
            in_cluster.then_some((first, false))
        }
        Some(_) => None,
    }
}

/// The services of the target a service's KEDA triggers connect to (for NetworkPolicies).
pub fn services_read(autoscale: &Autoscale, context: &Context<'_>) -> Vec<String> {
    let mut names = Vec::new();
    for queue in &autoscale.queues {
        for key in ["address", "host", "server"] {
            if let Some(text) = queue.get(key) {
                names.extend(qualify(text, context).1);
            }
        }
    }
    names.sort();
    names.dedup();
    names
}
