//! Scaling and resource-governance checks over the resolved model: what no schema and no
//! single spec block can tell, because it needs every layer applied and every service of a
//! namespace or cluster in view.
//!
//! Consumes: the [`Platform`] and the decisions of [`crate::emit::scaling::plan`] (so what is
//! checked is exactly what is emitted). Produces: diagnostics at the spec tokens recorded in
//! the values' origins; a finding shared by several targets is reported once, with the targets
//! listed (`(in staging/aws, prod/aws)`).
//!
//! | code | severity | fires when |
//! |------|----------|-----------|
//! | `manifold::scaling::vpa-hpa-conflict` | error | a VPA in mode Auto, Recreate, Initial or InPlaceOrRecreate controls cpu or memory while the HPA (or KEDA) scales on that resource's utilisation |
//! | `manifold::scaling::pdb-blocks-eviction` | warning | a PodDisruptionBudget allows no eviction at the smallest replica count |
//! | `manifold::scaling::quota-exceeded` | error | Σ(max replicas × requests, limits, pods) exceeds the environment's ResourceQuota |
//! | `manifold::scaling::quota-needs-resources` | error | a quota limits a resource a service's pods neither set nor get from the LimitRange |
//! | `manifold::scaling::node-capacity` | warning | Σ(max replicas × requests, pods) of every target on a cluster exceeds its node pools at their maximum |
//! | `manifold::scaling::unknown-instance-type` | warning | a node pool's machine is not in the instance table, so its capacity is not checked |
//! | `manifold::scaling::limit-range` | error | a container's limit is above the LimitRange `max` or its request below `min` (pods are rejected) |
//! | `manifold::scaling::limit-ratio` | warning | a limit is more than 4× its request (seed 002: 1–4×) |
//! | `manifold::scaling::metrics-adapter` | warning | an HPA uses Pods, Object or External metrics, which need a metrics adapter |
//! | `manifold::scaling::missing-request` | error | an autoscaler targets cpu/memory utilisation of pods that request none |
//! | `manifold::scaling::invalid-behavior` | error | a scaling policy period outside 1 s–30 min or a stabilisation window over 1 h |
//! | `manifold::scaling::mixed-metrics` | error | queue triggers (KEDA) together with Pods, Object or External metrics |
//! | `manifold::scaling::invalid-trigger` | error | a queue trigger lacks what its type needs, or sets a property its type ignores |
//! | `manifold::scaling::trigger-credentials` | error | a trigger address carries `user:password@` |
//! | `manifold::scaling::queue-age-unsupported` | warning | `max-age` on a trigger whose scaler cannot measure age |
//!
//! Decisions:
//! - HPA bounds (min > max, min < 1) and `replicas` next to `autoscale` are spec-level rules
//!   (`manifold::spec::invalid-replica-bounds`, `manifold::spec::replicas-conflict`); after
//!   lowering a service has either a fixed count or bounds, never both, and the replica floor
//!   keeps max ≥ min, so they are not repeated here.
//! - Capacity counts each service at its maximum replicas (a fixed count is its own maximum)
//!   with the resources its pods really get: its own, else the namespace's LimitRange
//!   defaults. The Deployments the Istio emitter adds for a service's versions (canaries)
//!   count too, at their replicas. It does not count rollout surge (25% of a Deployment),
//!   injected sidecars or DaemonSets; the help says so.
//! - Node capacity sums every target deployed to one cluster (environments share nodes). A
//!   service that names a `node-pool` of that cluster counts against that pool; the others
//!   against the pools without a `NoSchedule`/`NoExecute` taint (the spec's intent: the
//!   Kustomize workloads do not yet carry node selectors or tolerations). Allocatable capacity
//!   comes from [`super::instances`].
//! - The QoS class of every service in every target is computed by [`qos`] for
//!   `manifold check --format json`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{instances, origin_span};
use crate::diagnostic::Diagnostic;
use crate::emit::scaling::keda;
use crate::emit::scaling::plan::{self, Autoscale, Effective, Scaler};
use crate::model::{CloudKind, Disruption, Environment, IntOrPercent, Platform, Service, Target};
use crate::source::{FileId, Span};
use crate::spec::pointer_join as join;

/// Code: a VPA that resizes what the HPA scales on.
pub const VPA_HPA_CONFLICT: &str = "manifold::scaling::vpa-hpa-conflict";
/// Code: a disruption budget that never allows an eviction.
pub const PDB_BLOCKS_EVICTION: &str = "manifold::scaling::pdb-blocks-eviction";
/// Code: the quota cannot hold the declared maximum.
pub const QUOTA_EXCEEDED: &str = "manifold::scaling::quota-exceeded";
/// Code: a quota-limited resource the pods do not set.
pub const QUOTA_NEEDS_RESOURCES: &str = "manifold::scaling::quota-needs-resources";
/// Code: the node pools cannot hold the declared maximum.
pub const NODE_CAPACITY: &str = "manifold::scaling::node-capacity";
/// Code: a machine type not in the instance table.
pub const UNKNOWN_INSTANCE_TYPE: &str = "manifold::scaling::unknown-instance-type";
/// Code: resources outside the LimitRange.
pub const LIMIT_RANGE: &str = "manifold::scaling::limit-range";
/// Code: limit/request ratio above 4.
pub const LIMIT_RATIO: &str = "manifold::scaling::limit-ratio";
/// Code: custom metrics need an adapter.
pub const METRICS_ADAPTER: &str = "manifold::scaling::metrics-adapter";
/// Code: utilisation target without a request.
pub const MISSING_REQUEST: &str = "manifold::scaling::missing-request";
/// Code: scaling behaviour Kubernetes rejects.
pub const INVALID_BEHAVIOR: &str = "manifold::scaling::invalid-behavior";
/// Code: queue triggers with custom metrics.
pub const MIXED_METRICS: &str = "manifold::scaling::mixed-metrics";
/// Code: a queue trigger KEDA cannot use.
pub const INVALID_TRIGGER: &str = "manifold::scaling::invalid-trigger";
/// Code: credentials written into a trigger.
pub const TRIGGER_CREDENTIALS: &str = "manifold::scaling::trigger-credentials";
/// Code: `max-age` KEDA cannot measure.
pub const QUEUE_AGE_UNSUPPORTED: &str = "manifold::scaling::queue-age-unsupported";

/// The largest limit/request ratio seed 002 recommends.
const MAX_LIMIT_RATIO: f64 = 4.0;
/// The longest `periodSeconds` Kubernetes accepts.
const MAX_PERIOD_SECONDS: u64 = 1800;
/// The longest `stabilizationWindowSeconds` Kubernetes accepts.
const MAX_STABILIZATION_SECONDS: u64 = 3600;

/// Runs the scaling rules.
pub fn check(platform: &Platform, spec_file: FileId) -> Vec<Diagnostic> {
    let mut found = Findings::default();
    let mut per_target_errors = Vec::new();
    for environment in &platform.environments {
        for target in &environment.targets {
            let where_ = format!("{}/{}", environment.name, target.cloud.as_str());
            let context = Context {
                environment,
                target,
                spec_file,
            };
            for service in &target.services {
                service_rules(&context, service, &mut found, &where_);
            }
            per_target_errors.extend(quota_rules(&context));
        }
    }
    let mut diagnostics = found.finish();
    diagnostics.extend(per_target_errors);
    diagnostics.extend(node_rules(platform, spec_file));
    diagnostics
}

/// One service's QoS class in one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Qos {
    /// Environment name.
    pub environment: String,
    /// Cloud name.
    pub cloud: String,
    /// Service name.
    pub service: String,
    /// Guaranteed, Burstable or BestEffort.
    pub class: &'static str,
}

/// The QoS class of every service in every target (LimitRange defaults applied), sorted by
/// environment, cloud and service.
pub fn qos(platform: &Platform) -> Vec<Qos> {
    let mut classes = Vec::new();
    for environment in &platform.environments {
        for target in &environment.targets {
            for service in &target.services {
                let effective =
                    plan::effective_resources(service, environment.limit_range.as_ref());
                classes.push(Qos {
                    environment: environment.name.clone(),
                    cloud: target.cloud.as_str().to_owned(),
                    service: service.name.clone(),
                    class: plan::qos_class(&effective),
                });
            }
        }
    }
    classes
}

struct Context<'a> {
    environment: &'a Environment,
    target: &'a Target,
    spec_file: FileId,
}

impl Context<'_> {
    fn span(&self, service: &Service, pointers: &[&str]) -> Span {
        origin_span(&service.origins, pointers, self.spec_file)
    }

    fn effective(&self, service: &Service) -> Effective {
        plan::effective_resources(service, self.environment.limit_range.as_ref())
    }
}

/// Diagnostics that several targets may share, reported once with the targets listed.
#[derive(Default)]
struct Findings {
    items: Vec<(Diagnostic, Vec<String>)>,
}

impl Findings {
    fn add(&mut self, diagnostic: Diagnostic, where_: &str) {
        match self
            .items
            .iter_mut()
            .find(|(known, _)| known == &diagnostic)
        {
            Some((_, targets)) => {
                if !targets.iter().any(|known| known == where_) {
                    targets.push(where_.to_owned());
                }
            }
            None => self.items.push((diagnostic, vec![where_.to_owned()])),
        }
    }

    fn finish(self) -> Vec<Diagnostic> {
        self.items
            .into_iter()
            .map(|(mut diagnostic, targets)| {
                diagnostic.message = format!("{} (in {})", diagnostic.message, targets.join(", "));
                diagnostic
            })
            .collect()
    }
}

fn service_rules(context: &Context<'_>, service: &Service, found: &mut Findings, where_: &str) {
    let autoscale = plan::autoscale(service);
    if let Some(autoscale) = &autoscale {
        vpa_conflict(context, service, autoscale, found, where_);
        missing_request(context, service, autoscale, found, where_);
        metrics_adapter(context, service, autoscale, found, where_);
        behavior(context, service, autoscale, found, where_);
        triggers(context, service, autoscale, found, where_);
    }
    disruption(context, service, found, where_);
    limit_ratio(context, service, found, where_);
    limit_range(context, service, found, where_);
}

fn limit_range(context: &Context<'_>, service: &Service, found: &mut Findings, where_: &str) {
    let Some(range) = context.environment.limit_range.as_ref() else {
        return;
    };
    let effective = context.effective(service);
    let environment = &context.environment.name;
    for resource in ["cpu", "memory"] {
        let bound = |map: &BTreeMap<String, String>| {
            map.get(resource)
                .and_then(|text| crate::quantity::parse(text))
        };
        let resource_span =
            context.span(service, &[&format!("/resources/{resource}"), "/resources"]);
        let mut violations = Vec::new();
        if let Some(max) = bound(&range.max)
            && let Some(limit) = effective.limits.get(resource)
            && *limit > max.value * (1.0 + 1e-9)
        {
            violations.push((
                format!(
                    "{resource} limit {} is above the LimitRange max {}",
                    amount(resource, *limit),
                    max.text
                ),
                format!("max-{resource}"),
            ));
        }
        if let Some(min) = bound(&range.min)
            && let Some(request) = effective.requests.get(resource)
            && *request < min.value * (1.0 - 1e-9)
        {
            violations.push((
                format!(
                    "{resource} request {} is below the LimitRange min {}",
                    amount(resource, *request),
                    min.text
                ),
                format!("min-{resource}"),
            ));
        }
        for (what, key) in violations {
            let range_span = origin_span(
                &context.environment.origins,
                &[&format!("/limit-range/{key}"), "/limit-range"],
                context.spec_file,
            );
            found.add(
                Diagnostic::error(
                    LIMIT_RANGE,
                    resource_span,
                    format!("the {what} of {environment}: `{}` cannot start there", service.name),
                )
                .with_label("rejected by the LimitRange")
                .with_related(range_span, format!("`{key}` here"))
                .with_help(format!(
                    "the LimitRanger admission plugin rejects every pod of `{}`: change its `resources {resource}=…` (for example in `in {environment} {{ … }}`), or `limit-range {key}=…`",
                    service.name
                )),
                where_,
            );
        }
    }
}

fn vpa_conflict(
    context: &Context<'_>,
    service: &Service,
    autoscale: &Autoscale,
    found: &mut Findings,
    where_: &str,
) {
    let Some(vpa) = plan::vpa(service) else {
        return;
    };
    if vpa.mode == "Off" {
        return;
    }
    let controlled: Vec<&str> = if vpa.controlled_resources.is_empty() {
        vec!["cpu", "memory"]
    } else {
        vpa.controlled_resources
            .iter()
            .map(String::as_str)
            .collect()
    };
    let targets = autoscale.utilization();
    let clashing: Vec<&str> = targets
        .iter()
        .map(|(resource, _)| *resource)
        .filter(|resource| controlled.contains(resource))
        .collect();
    let Some(first) = clashing.first() else {
        return;
    };
    let scaler = match autoscale.scaler() {
        Scaler::Hpa => "HPA",
        Scaler::Keda => "KEDA ScaledObject",
    };
    let list = clashing.join(" and ");
    let other: Vec<&str> = ["cpu", "memory"]
        .into_iter()
        .filter(|resource| !clashing.contains(resource))
        .collect();
    let mut help = format!(
        "the VPA changes the {list} requests the {scaler}'s utilisation is a percentage of, so the two fight (seed 004: never both on the same metric); set `vpa mode=off` to keep its recommendations only"
    );
    if let Some(other) = other.first() {
        help.push_str(&format!(
            ", or let it manage {other} only with `controlled-resources {other}`"
        ));
    }
    help.push_str(", or scale on other metrics");
    let autoscale_pointer = format!("/autoscale/{first}");
    found.add(
        Diagnostic::error(
            VPA_HPA_CONFLICT,
            context.span(service, &["/vpa/mode", "/vpa"]),
            format!(
                "the VPA of `{}` (mode {}) resizes {list} while its {scaler} scales on {list} utilisation",
                service.name, vpa.mode
            ),
        )
        .with_label(format!("VPA mode {}", vpa.mode))
        .with_related(
            context.span(service, &[&autoscale_pointer, "/autoscale"]),
            format!("{scaler} scales on {first} here"),
        )
        .with_help(help),
        where_,
    );
}

fn missing_request(
    context: &Context<'_>,
    service: &Service,
    autoscale: &Autoscale,
    found: &mut Findings,
    where_: &str,
) {
    let effective = context.effective(service);
    for (resource, percent) in autoscale.utilization() {
        if effective.requests.contains_key(resource) {
            continue;
        }
        let pointer = format!("/autoscale/{resource}");
        found.add(
            Diagnostic::error(
                MISSING_REQUEST,
                context.span(service, &[&pointer, "/autoscale/replicas", "/autoscale"]),
                format!(
                    "`{}` scales on {resource} utilisation ({percent}%) but its pods request no {resource}",
                    service.name
                ),
            )
            .with_label(format!("{percent}% of no request"))
            .with_help(format!(
                "utilisation is a percentage of the request, so the autoscaler cannot compute it: set `resources {resource}=\"REQUEST..LIMIT\"` on `{}` (or in `defaults`), or a `limit-range default-request-{resource}=…` for the environment",
                service.name
            )),
            where_,
        );
    }
}

fn metrics_adapter(
    context: &Context<'_>,
    service: &Service,
    autoscale: &Autoscale,
    found: &mut Findings,
    where_: &str,
) {
    if autoscale.scaler() != Scaler::Hpa || !autoscale.has_custom_metrics() {
        return;
    }
    let mut named = Vec::new();
    let mut pointers = Vec::new();
    for (metric, _) in &autoscale.per_pod {
        named.push(format!("Pods `{metric}`"));
        pointers.push(join("/autoscale/per-pod", metric));
    }
    for object in &autoscale.objects {
        named.push(format!("Object `{}`", object.metric));
        pointers.push(format!("/autoscale/object/{}", object.index));
    }
    for external in &autoscale.externals {
        named.push(format!("External `{}`", external.metric));
        pointers.push(format!("/autoscale/external/{}", external.index));
    }
    let apis = match (
        !autoscale.per_pod.is_empty() || !autoscale.objects.is_empty(),
        !autoscale.externals.is_empty(),
    ) {
        (true, true) => "custom.metrics.k8s.io and external.metrics.k8s.io",
        (true, false) => "custom.metrics.k8s.io",
        _ => "external.metrics.k8s.io",
    };
    let pointer_refs: Vec<&str> = pointers.iter().map(String::as_str).collect();
    found.add(
        Diagnostic::warning(
            METRICS_ADAPTER,
            context.span(service, &pointer_refs),
            format!(
                "the HPA of `{}` scales on custom metrics ({}), which need a metrics adapter",
                service.name,
                named.join(", ")
            ),
        )
        .with_label("served by a metrics adapter, not by metrics-server")
        .with_help(format!(
            "these metrics come from the {apis} API: install an adapter that serves them (prometheus-adapter, seed 002 \"Custom Metrics Setup\"; or a cloud provider's adapter), otherwise the HPA reports them as <unknown> and scales on its other metrics only"
        )),
        where_,
    );
}

fn behavior(
    context: &Context<'_>,
    service: &Service,
    autoscale: &Autoscale,
    found: &mut Findings,
    where_: &str,
) {
    for (key, policy) in [
        ("scale-up", &autoscale.scale_up),
        ("scale-down", &autoscale.scale_down),
    ] {
        let Some(policy) = policy else { continue };
        if let Some(period) = policy.period
            && !(1..=MAX_PERIOD_SECONDS).contains(&period)
        {
            let pointer = format!("/autoscale/{key}/period");
            found.add(
                Diagnostic::error(
                    INVALID_BEHAVIOR,
                    context.span(service, &[&pointer]),
                    format!("`{key}` period of `{}` is {period} s", service.name),
                    )
                .with_label("outside 1 s–30 min")
                .with_help(format!("Kubernetes accepts a scaling policy's periodSeconds from 1 to {MAX_PERIOD_SECONDS} (30 min); use a period such as `period=\"5m\"`")),
                where_,
            );
        }
        if let Some(window) = policy.stabilize
            && window > MAX_STABILIZATION_SECONDS
        {
            let pointer = format!("/autoscale/{key}/stabilize");
            found.add(
                Diagnostic::error(
                    INVALID_BEHAVIOR,
                    context.span(service, &[&pointer]),
                    format!(
                        "`{key}` stabilisation window of `{}` is {window} s",
                        service.name
                    ),
                )
                .with_label("longer than 1 h")
                .with_help(format!("Kubernetes accepts a stabilizationWindowSeconds of at most {MAX_STABILIZATION_SECONDS} (1 h)")),
                where_,
            );
        }
    }
}

fn triggers(
    context: &Context<'_>,
    service: &Service,
    autoscale: &Autoscale,
    found: &mut Findings,
    where_: &str,
) {
    if autoscale.queues.is_empty() {
        return;
    }
    if autoscale.has_custom_metrics() {
        let mut pointers: Vec<String> = autoscale
            .per_pod
            .iter()
            .map(|(metric, _)| join("/autoscale/per-pod", metric))
            .collect();
        pointers.extend(
            autoscale
                .objects
                .iter()
                .map(|object| format!("/autoscale/object/{}", object.index)),
        );
        pointers.extend(
            autoscale
                .externals
                .iter()
                .map(|external| format!("/autoscale/external/{}", external.index)),
        );
        let refs: Vec<&str> = pointers.iter().map(String::as_str).collect();
        found.add(
            Diagnostic::error(
                MIXED_METRICS,
                context.span(service, &refs),
                format!(
                    "`{}` has queue triggers and Pods, Object or External metrics",
                    service.name
                ),
            )
            .with_label("not expressible in a KEDA ScaledObject")
            .with_related(
                context.span(service, &["/autoscale/queue/0", "/autoscale/queue"]),
                "queue trigger: the service is scaled by KEDA",
            )
            .with_help("queue triggers make KEDA own the workload's HPA, and a ScaledObject has no Pods, Object or External metrics: express the metric as a trigger (`queue prometheus server=… query=… threshold=…`) or drop the queue triggers to get a plain HPA"),
            where_,
        );
    }
    for queue in &autoscale.queues {
        let item = format!("/autoscale/queue/{}", queue.index);
        let (required, accepted) = keda::fields(&queue.kind);
        for group in required {
            if group.iter().any(|key| queue.get(key).is_some()) {
                continue;
            }
            let wanted = group
                .iter()
                .map(|key| format!("`{key}=`"))
                .collect::<Vec<_>>()
                .join(" or ");
            found.add(
                Diagnostic::error(
                    INVALID_TRIGGER,
                    context.span(service, &[&format!("{item}/type"), &item]),
                    format!(
                        "the {} trigger of `{}` has no {wanted}",
                        queue.kind, service.name
                    ),
                )
                .with_label(format!("needs {wanted}"))
                .with_help(trigger_help(&queue.kind)),
                where_,
            );
        }
        for key in queue.props.keys() {
            let common = matches!(key.as_str(), "auth" | "max-age");
            if common || accepted.contains(&key.as_str()) {
                continue;
            }
            found.add(
                Diagnostic::error(
                    INVALID_TRIGGER,
                    context.span(service, &[&format!("{item}/{key}"), &item]),
                    format!(
                        "`{key}` does not apply to a {} trigger (`{}`)",
                        queue.kind, service.name
                    ),
                )
                .with_label("ignored by this trigger type")
                .with_help(trigger_help(&queue.kind)),
                where_,
            );
        }
        for key in ["address", "host", "server", "queue"] {
            let Some(text) = queue.get(key) else { continue };
            let leaked = text
                .split(',')
                .any(|part| keda::split_address(part.trim()).userinfo.contains(':'));
            if leaked {
                found.add(
                    Diagnostic::error(
                        TRIGGER_CREDENTIALS,
                        context.span(service, &[&format!("{item}/{key}"), &item]),
                        format!(
                            "the {} trigger of `{}` has a password in `{key}`",
                            queue.kind, service.name
                        ),
                    )
                    .with_label("user:password@ in the spec")
                    .with_help("credentials never go into the spec or the generated tree: create a KEDA TriggerAuthentication that reads them from a Secret and reference it with `auth=NAME`"),
                    where_,
                );
            }
        }
        if queue.get("max-age").is_some() && !keda::measures_age(&queue.kind) {
            found.add(
                Diagnostic::warning(
                    QUEUE_AGE_UNSUPPORTED,
                    context.span(service, &[&format!("{item}/max-age"), &item]),
                    format!(
                        "KEDA's {} scaler cannot measure the age of the oldest item; `max-age` of `{}` is not emitted",
                        queue.kind, service.name
                    ),
                )
                .with_label("not measurable by this trigger")
                .with_help("only aws-sqs exposes the oldest message's age (CloudWatch ApproximateAgeOfOldestMessage); elsewhere publish the age as a metric and add `queue prometheus server=… query=\"max(…)\" threshold=SECONDS average=#false`, then remove `max-age`"),
                where_,
            );
        }
    }
}

fn trigger_help(kind: &str) -> String {
    let (required, accepted) = keda::fields(kind);
    let required = required
        .iter()
        .map(|group| {
            group
                .iter()
                .map(|key| format!("`{key}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let accepted = accepted
        .iter()
        .map(|key| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "a {kind} trigger needs {required}; it takes {accepted}, and every trigger takes `auth`, `average` and `max-age`"
    )
}

fn disruption(context: &Context<'_>, service: &Service, found: &mut Findings, where_: &str) {
    let Some(budget) = plan::budget(context.environment, service) else {
        return;
    };
    let (min, _) = plan::replica_range(service);
    let smallest = min.max(1);
    if plan::allowed_disruptions(&budget.disruption, smallest) > 0 {
        return;
    }
    let (field, value) = match &budget.disruption {
        Disruption::MinAvailable(value) => ("minAvailable", value),
        Disruption::MaxUnavailable(value) => ("maxUnavailable", value),
    };
    let value_text = match value {
        IntOrPercent::Int(count) => count.to_string(),
        IntOrPercent::Percent(text) => text.clone(),
    };
    let required = plan::scaled(value, smallest);
    let arithmetic = match &budget.disruption {
        Disruption::MinAvailable(_) => format!(
            "at {smallest} replica(s), minAvailable {value_text} keeps {required} pod(s) up: allowed disruptions = max(0, {smallest} − {required}) = 0"
        ),
        Disruption::MaxUnavailable(_) => {
            format!("maxUnavailable {value_text} allows 0 disruptions at {smallest} replica(s)")
        }
    };
    let pointers = match &budget.disruption {
        Disruption::MinAvailable(_) => ["/disruption/min-available", "/disruption"],
        Disruption::MaxUnavailable(_) => ["/disruption/max-unavailable", "/disruption"],
    };
    found.add(
        Diagnostic::warning(
            PDB_BLOCKS_EVICTION,
            context.span(service, &pointers),
            format!(
                "the PodDisruptionBudget of `{}` never allows an eviction at its smallest size ({field} {value_text}, {smallest} replica(s))",
                service.name
            ),
        )
        .with_label(format!("{field} {value_text}"))
        .with_related(
            context.span(service, &["/autoscale/replicas/min", "/autoscale/replicas", "/replicas"]),
            format!("at least {smallest} replica(s)"),
        )
        .with_help(format!(
            "{arithmetic}, so `kubectl drain` waits forever on the nodes running it (seed 002: \"Node Drain Blocked by PDB\"); use `disruption max-unavailable=1`, or keep more replicas than `min-available`"
        )),
        where_,
    );
}

fn limit_ratio(context: &Context<'_>, service: &Service, found: &mut Findings, where_: &str) {
    for resource in ["cpu", "memory"] {
        let parse = |map: &BTreeMap<String, String>| {
            map.get(resource)
                .and_then(|text| crate::quantity::parse(text))
        };
        let (Some(request), Some(limit)) = (
            parse(&service.resources.requests),
            parse(&service.resources.limits),
        ) else {
            continue;
        };
        if request.value <= 0.0 {
            continue;
        }
        let ratio = limit.value / request.value;
        if ratio <= MAX_LIMIT_RATIO + 1e-9 {
            continue;
        }
        let pointer = format!("/resources/{resource}");
        found.add(
            Diagnostic::warning(
                LIMIT_RATIO,
                context.span(service, &[&pointer, "/resources"]),
                format!(
                    "the {resource} limit of `{}` is {}× its request ({}..{})",
                    service.name,
                    number(ratio),
                    request.text,
                    limit.text
                ),
            )
            .with_label(format!("{}× request", number(ratio)))
            .with_help(format!(
                "{} ÷ {} = {}; seed 002 sets limits 1–4× requests: a larger gap lets pods burst far beyond what the scheduler reserved, so nodes overcommit and pods get throttled or OOM-killed under load; raise the request or lower the limit",
                limit.text,
                request.text,
                number(ratio)
            )),
            where_,
        );
    }
}

/// One quota line: the Kubernetes key, the spec's key, which resource and side.
const QUOTA_LINES: &[(&str, &str, &str, Side)] = &[
    ("requests.cpu", "requests-cpu", "cpu", Side::Request),
    (
        "requests.memory",
        "requests-memory",
        "memory",
        Side::Request,
    ),
    ("limits.cpu", "limits-cpu", "cpu", Side::Limit),
    ("limits.memory", "limits-memory", "memory", Side::Limit),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Request,
    Limit,
}

fn quota_rules(context: &Context<'_>) -> Vec<Diagnostic> {
    let environment = context.environment;
    let mut diagnostics = Vec::new();
    let where_ = format!("{}/{}", environment.name, context.target.cloud.as_str());
    let quota_span = |key: &str| {
        origin_span(
            &environment.origins,
            &[&format!("/quota/{key}"), "/quota"],
            context.spec_file,
        )
    };
    for (kubernetes_key, spec_key, resource, side) in QUOTA_LINES {
        let Some(hard) = environment
            .quota
            .get(*kubernetes_key)
            .and_then(|text| crate::quantity::parse(text))
        else {
            continue;
        };
        let mut terms = Vec::new();
        let mut total = 0.0;
        for service in &context.target.services {
            let effective = context.effective(service);
            let values = match side {
                Side::Request => &effective.requests,
                Side::Limit => &effective.limits,
            };
            let Some(value) = values.get(resource) else {
                let what = match side {
                    Side::Request => "request",
                    Side::Limit => "limit",
                };
                diagnostics.push(
                    Diagnostic::error(
                        QUOTA_NEEDS_RESOURCES,
                        quota_span(spec_key),
                        format!(
                            "the pods of `{}` set no {resource} {what}, which quota `{kubernetes_key}` of {} requires (on {})",
                            service.name, environment.name, context.target.cloud.as_str()
                        ),
                    )
                    .with_label(format!("requires a {resource} {what} on every pod"))
                    .with_help(format!(
                        "the API server rejects pods without a {resource} {what} in a namespace whose ResourceQuota limits {kubernetes_key}: set `resources {resource}=\"REQUEST..LIMIT\"` on `{}` (or in `defaults`), or give the environment a `limit-range` default",
                        service.name
                    )),
                );
                continue;
            };
            for (workload, max) in workloads(environment, service) {
                let term = f64::from(max) * value;
                total += term;
                terms.push(format!(
                    "{workload} {max} × {} = {}",
                    amount(resource, *value),
                    amount(resource, term)
                ));
            }
        }
        if total <= hard.value * (1.0 + 1e-9) {
            continue;
        }
        let diagnostic = Diagnostic::error(
            QUOTA_EXCEEDED,
            quota_span(spec_key),
            format!(
                "quota `{kubernetes_key}` {} of {} cannot hold the declared maximum on {}: {} needed",
                hard.text,
                environment.name,
                context.target.cloud.as_str(),
                amount(resource, total)
            ),
        )
        .with_label(format!("{} < {}", hard.text, amount(resource, total)))
        .with_help(format!(
            "Σ max replicas × {} in {where_}: {} → {} > {}; pods beyond the quota are rejected, so the autoscalers cannot reach their maximum (rollout surge and injected sidecars come on top): raise `quota {spec_key}` to at least {}, or lower maximum replicas or {}",
            match side { Side::Request => format!("{resource} request"), Side::Limit => format!("{resource} limit") },
            terms.join(", "),
            amount(resource, total),
            hard.text,
            amount(resource, total),
            match side { Side::Request => "requests", Side::Limit => "limits" },
        ));
        diagnostics.push(diagnostic);
    }
    if let Some(pods) = environment
        .quota
        .get("pods")
        .and_then(|text| text.parse::<u64>().ok())
    {
        let mut terms = Vec::new();
        let mut total = 0u64;
        for service in &context.target.services {
            for (workload, max) in workloads(environment, service) {
                total += u64::from(max);
                terms.push(format!("{workload} {max}"));
            }
        }
        if total > pods {
            diagnostics.push(
                Diagnostic::error(
                    QUOTA_EXCEEDED,
                    quota_span("pods"),
                    format!(
                        "quota `pods` {pods} of {} cannot hold the declared maximum on {}: {total} pods",
                        environment.name,
                        context.target.cloud.as_str()
                    ),
                )
                .with_label(format!("{pods} < {total}"))
                .with_help(format!(
                    "Σ max replicas in {where_}: {} = {total} > {pods}; raise `quota pods` to at least {total}, or lower maximum replicas",
                    terms.join(" + ")
                )),
            );
        }
    }
    diagnostics
}

/// Demand on a group of node pools.
#[derive(Default)]
struct Demand {
    cpu: f64,
    memory: f64,
    pods: u64,
    /// Per target: (target, cpu, memory, pods, terms).
    lines: Vec<(String, f64, f64, u64)>,
    /// The largest contributor's replicas span.
    largest: Option<(Span, f64)>,
}

fn node_rules(platform: &Platform, spec_file: FileId) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for cloud in &platform.clouds {
        for cluster in &cloud.clusters {
            let targets: Vec<(&Environment, &Target)> = platform
                .targets()
                .filter(|(_, target)| target.cloud == cloud.kind && target.cluster == cluster.name)
                .collect();
            if targets.is_empty() {
                continue;
            }
            let mut unknown = false;
            for pool in &cluster.node_pools {
                if pool.machine.is_empty()
                    || instances::allocatable(cloud.kind, &pool.machine).is_some()
                {
                    continue;
                }
                unknown = true;
                let span = pool_span(pool, &["", "/min"]).unwrap_or(Span::new(spec_file, 0, 0));
                diagnostics.push(
                    Diagnostic::warning(
                        UNKNOWN_INSTANCE_TYPE,
                        span,
                        format!(
                            "the capacity of node pool `{}` ({}) could not be checked: manifold does not know {} type `{}`",
                            pool.name, cluster.name, cloud.kind.as_str(), pool.machine
                        ),
                    )
                    .with_label("not in the instance table")
                    .with_help(format!(
                        "the node-capacity check skips pools whose allocatable CPU and memory it does not know; known {} types: {}",
                        cloud.kind.as_str(),
                        instances::known(cloud.kind).join(", ")
                    )),
                );
            }
            // Group demand by pool set: a named pool, or the untainted pools ("").
            let mut groups: BTreeMap<String, Demand> = BTreeMap::new();
            for (environment, target) in &targets {
                let where_ = format!("{}/{}", environment.name, target.cloud.as_str());
                for service in &target.services {
                    let group = service
                        .node_pool
                        .as_ref()
                        .filter(|name| cluster.node_pools.iter().any(|pool| &pool.name == *name))
                        .cloned()
                        .unwrap_or_default();
                    let effective =
                        plan::effective_resources(service, environment.limit_range.as_ref());
                    let max: u32 = workloads(environment, service)
                        .iter()
                        .map(|(_, max)| *max)
                        .sum();
                    let cpu =
                        f64::from(max) * effective.requests.get("cpu").copied().unwrap_or(0.0);
                    let memory =
                        f64::from(max) * effective.requests.get("memory").copied().unwrap_or(0.0);
                    let demand = groups.entry(group).or_default();
                    demand.cpu += cpu;
                    demand.memory += memory;
                    demand.pods += u64::from(max);
                    match demand.lines.iter_mut().find(|line| line.0 == where_) {
                        Some(line) => {
                            line.1 += cpu;
                            line.2 += memory;
                            line.3 += u64::from(max);
                        }
                        None => demand
                            .lines
                            .push((where_.clone(), cpu, memory, u64::from(max))),
                    }
                    let span = origin_span(
                        &service.origins,
                        &[
                            "/autoscale/replicas/max",
                            "/autoscale/replicas",
                            "/replicas",
                        ],
                        spec_file,
                    );
                    if demand.largest.is_none_or(|(_, size)| cpu > size) {
                        demand.largest = Some((span, cpu));
                    }
                }
            }
            for (group, demand) in groups {
                let pools: Vec<&crate::model::NodePool> = cluster
                    .node_pools
                    .iter()
                    .filter(|pool| {
                        if group.is_empty() {
                            !pool.taints.iter().any(|taint| {
                                taint.ends_with(":NoSchedule") || taint.ends_with(":NoExecute")
                            })
                        } else {
                            pool.name == group
                        }
                    })
                    .collect();
                if unknown
                    && pools
                        .iter()
                        .any(|pool| instances::allocatable(cloud.kind, &pool.machine).is_none())
                {
                    continue;
                }
                if let Some(diagnostic) = node_capacity(
                    cloud.kind,
                    &cluster.name,
                    &group,
                    &pools,
                    &demand,
                    spec_file,
                ) {
                    diagnostics.push(diagnostic);
                }
            }
        }
    }
    diagnostics
}

fn node_capacity(
    cloud: CloudKind,
    cluster: &str,
    group: &str,
    pools: &[&crate::model::NodePool],
    demand: &Demand,
    spec_file: FileId,
) -> Option<Diagnostic> {
    let mut cpu = 0.0;
    let mut memory = 0.0;
    let mut pods = 0u64;
    let mut supply = Vec::new();
    for pool in pools {
        let node = instances::allocatable(cloud, &pool.machine)?;
        cpu += f64::from(pool.max) * node.cpu;
        memory += f64::from(pool.max) * node.memory;
        pods += u64::from(pool.max) * u64::from(node.pods);
        supply.push(format!(
            "`{}` {} × {} ({} CPU, {}, {} pods)",
            pool.name,
            pool.max,
            pool.machine,
            number(node.cpu),
            bytes(node.memory),
            node.pods
        ));
    }
    let mut short = Vec::new();
    if demand.cpu > cpu * (1.0 + 1e-9) {
        short.push(format!(
            "CPU requests {} > {} allocatable (short {})",
            number(demand.cpu),
            number(cpu),
            number(demand.cpu - cpu)
        ));
    }
    if demand.memory > memory * (1.0 + 1e-9) {
        short.push(format!(
            "memory requests {} > {} (short {})",
            bytes(demand.memory),
            bytes(memory),
            bytes(demand.memory - memory)
        ));
    }
    if demand.pods > pods {
        short.push(format!(
            "{} pods > {} (short {})",
            demand.pods,
            pods,
            demand.pods - pods
        ));
    }
    if short.is_empty() {
        return None;
    }
    let which = if group.is_empty() {
        "the untainted node pools".to_owned()
    } else {
        format!("node pool `{group}`")
    };
    let span = pools
        .iter()
        .find_map(|pool| pool_span(pool, &["/max", ""]))
        .or(demand.largest.map(|(span, _)| span))
        .unwrap_or(Span::new(spec_file, 0, 0));
    let lines = demand
        .lines
        .iter()
        .map(|(target, cpu, memory, pods)| {
            format!(
                "{target} {} CPU, {}, {pods} pods",
                number(*cpu),
                bytes(*memory)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let supply = if supply.is_empty() {
        "no pool".to_owned()
    } else {
        supply.join(" + ")
    };
    let diagnostic = Diagnostic::warning(
        NODE_CAPACITY,
        span,
        format!(
            "{which} of cluster `{cluster}` ({}) cannot hold the declared maximum: {}",
            cloud.as_str(),
            short.join(", ")
        ),
    )
    .with_label("too small for the declared maximum")
    .with_help(format!(
        "requests at maximum replicas: {lines}; total {} CPU, {}, {} pods. Allocatable at the pools' max: {supply} = {} CPU, {}, {pods} pods (DaemonSets, system pods and rollout surge not counted). Raise the pools' `max`, use a larger instance type, or lower maximum replicas",
        number(demand.cpu),
        bytes(demand.memory),
        demand.pods,
        number(cpu),
        bytes(memory),
    ));
    Some(diagnostic)
}

/// The workloads a service runs in a target, with their maximum replicas: the service's own,
/// and with a mesh each version Deployment the Istio emitter adds (a canary counts against
/// the same quota and nodes).
fn workloads(environment: &Environment, service: &Service) -> Vec<(String, u32)> {
    let (_, max) = plan::replica_range(service);
    let mut workloads = vec![(service.name.clone(), max)];
    if crate::emit::istio::meshed(environment) {
        for version in crate::emit::istio::view::variants(service) {
            let replicas = version
                .replicas
                .unwrap_or_else(|| u64::from(environment.replica_floor.max(1)));
            workloads.push((
                format!("{}-{}", service.name, version.name),
                u32::try_from(replicas).unwrap_or(u32::MAX),
            ));
        }
    }
    workloads
}

/// The first recorded token of a node pool among `keys`.
fn pool_span(pool: &crate::model::NodePool, keys: &[&str]) -> Option<Span> {
    keys.iter().find_map(|key| pool.spans.get(*key).copied())
}

/// A quantity of `resource` for help texts: CPU in cores, memory in Mi/Gi.
fn amount(resource: &str, value: f64) -> String {
    if resource == "memory" {
        bytes(value)
    } else {
        number(value)
    }
}

/// A number with at most three decimals, trailing zeros dropped.
fn number(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

/// Bytes as `512Mi` or `17.75Gi`.
fn bytes(value: f64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    const GIB: f64 = 1024.0 * MIB;
    if value.abs() < GIB {
        format!("{}Mi", number((value / MIB * 10.0).round() / 10.0))
    } else {
        format!("{}Gi", number((value / GIB * 100.0).round() / 100.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(28.75), "28.75");
        assert_eq!(number(19.3), "19.3");
        assert_eq!(number(4.0), "4");
        assert_eq!(bytes(512.0 * 1024.0 * 1024.0), "512Mi");
        assert_eq!(bytes(17.75 * 1024.0 * 1024.0 * 1024.0), "17.75Gi");
    }
}
