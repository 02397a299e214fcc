//! Scaling and resource governance: the HorizontalPodAutoscalers, KEDA ScaledObjects,
//! VerticalPodAutoscalers, PodDisruptionBudgets and NetworkPolicies of every target.
//!
//! Consumes: the resolved [`Platform`] (each target's services: `replicas`, `autoscale`,
//! `vpa`, `disruption`, `resources`, `calls`, `expose`, `ports`; each environment's `pdb`,
//! `default_deny`, `mesh`, `namespace`). Produces: files under
//! `kubernetes/overlays/<env>/<cloud>/`, which the Kustomize emitter lists in the overlay's
//! `resources` (ResourceQuota and LimitRange are written by the Kustomize overlay itself):
//!
//! ```text
//! hpa-<service>.yaml                  autoscaling/v2 HorizontalPodAutoscaler
//! scaledobject-<service>.yaml         keda.sh/v1alpha1 ScaledObject
//! vpa-<service>.yaml                  autoscaling.k8s.io/v1 VerticalPodAutoscaler
//! pdb-<service>.yaml                  policy/v1 PodDisruptionBudget
//! networkpolicy-default-deny.yaml     networking.k8s.io/v1 NetworkPolicy (and the others below)
//! networkpolicy-allow-dns.yaml
//! networkpolicy-allow-mesh.yaml
//! networkpolicy-<service>-allow.yaml
//! ```
//!
//! Invariants: pure functions of the model; every object is named after its service (policies
//! shared by the namespace have names no service can produce: service policies end in
//! `-allow`, the shared ones do not); no object sets a namespace (the overlay does); a
//! workload gets a HorizontalPodAutoscaler or a ScaledObject, never both; the decisions below
//! are made once, in [`plan`], which the checks in `check::platform::scaling` call too.
//!
//! Decisions:
//! - **HPA or KEDA.** A service whose `autoscale` has `queue` triggers gets a KEDA
//!   ScaledObject (KEDA creates and owns the HPA); any other autoscaled service gets an HPA.
//!   Its cpu/memory targets become KEDA `cpu`/`memory` triggers (`metricType: Utilization`);
//!   Pods, Object and External metrics cannot be expressed in a ScaledObject, which the
//!   checks reject (`manifold::scaling::mixed-metrics`). The workload never pins `replicas`
//!   (the Kustomize emitter writes `replicas` only for fixed counts, and an overlay patch
//!   removes a base's count with `null`).
//! - **HPA metrics.** `cpu`/`memory` → Resource metrics, `Utilization`; `per-pod` → Pods
//!   metrics, `AverageValue`; `object` → Object metrics with `describedObject` and the
//!   metric's label `selector`, `Value` (or `AverageValue` with `average=#true`); `external`
//!   likewise. An HPA with no metric at all gets the CPU 80% Kubernetes would default to,
//!   written out. Metric values are quantities, written as strings.
//! - **Behaviour.** `scale-up`/`scale-down` → `behavior.scaleUp`/`scaleDown`: `percent` → a
//!   `Percent` policy, `pods` → a `Pods` policy, both with `periodSeconds` from `period`
//!   (default 15 s, the period of Kubernetes' own default policies); `stabilize` →
//!   `stabilizationWindowSeconds`; `select` → `selectPolicy` (`Max` when not written, as in
//!   Kubernetes). KEDA takes the same under `advanced.horizontalPodAutoscalerConfig`.
//! - **KEDA triggers.** Credentials are never values: `auth=NAME` becomes
//!   `authenticationRef: {name: NAME}` (a TriggerAuthentication the platform team manages), and
//!   the checks reject user:password in trigger URLs. The KEDA operator resolves names from its
//!   own namespace, so an address whose host is one of the platform's services (`redis:6379`)
//!   is qualified with the target's namespace (`redis.<namespace>.svc:6379`). Mapping:
//!   redis → `address`/`host`, `listName`, `listLength` (`depth`); rabbitmq → `queueName`,
//!   `mode: QueueLength`, `value` (`depth`), `host` only without credentials; prometheus →
//!   `serverAddress`, `query`, `threshold`; kafka → `bootstrapServers` (`server` or
//!   `address`), `topic`, `consumerGroup`, `lagThreshold` (`depth`); aws-sqs →
//!   `aws-sqs-queue` with `queueURL`, `queueLength` (`depth`), `awsRegion` (from the queue
//!   URL, else the platform's aws region). `average=#false` sets `metricType: Value`.
//! - **Queue age (`max-age`).** Only SQS exposes the age of the oldest message to KEDA
//!   (CloudWatch `ApproximateAgeOfOldestMessage`): `max-age` on an aws-sqs trigger adds an
//!   `aws-cloudwatch` trigger on it (`metricType: Value`, target in seconds). KEDA's redis,
//!   rabbitmq and kafka scalers see lengths only; there `max-age` is not emitted and the
//!   checks say so (`manifold::scaling::queue-age-unsupported`). The way to scale on age is a
//!   `prometheus` trigger over a metric that holds the age, with `average=#false`, as the
//!   VoiceAssist example does for seed 002's "queue age > 60 s".
//! - **VPA.** Emitted when the resolved mode is not `off`, and in mode `Off` (recommendations
//!   only, seed 002) when a spec layer (service, defaults, `in`, environment) wrote `vpa`; the
//!   built-in profiles' `mode=off` emits nothing, so clusters without the VPA CRDs are never
//!   made to need them. One container policy for the service's container when `min`, `max`,
//!   `controlled-resources` or `controlled-values` is set.
//! - **PDB.** Only when the environment's `pdb` is on. A declared `disruption` is used as
//!   written (the checks warn when it can never allow an eviction). Otherwise none for a
//!   workload that can only ever run one replica (a budget could only block drains), and
//!   else, by profile of the service: stateful → `maxUnavailable: 1`; with ports (a front end or API)
//!   → `minAvailable: 1` when it never runs fewer than two replicas, else `maxUnavailable: 1`;
//!   without ports (a worker) → `maxUnavailable: 50%` (seed 002). `unhealthyPodEvictionPolicy:
//!   AlwaysAllow` is set on clusters at Kubernetes 1.27 or later, so a crash-looping pod never
//!   blocks a node drain (seed 002's "Node Drain Blocked by PDB").
//! - **NetworkPolicy.** Only when the environment's `network-policy default-deny` is on (an
//!   allow policy alone would isolate the pods it selects, which default-deny off does not
//!   ask for). Then: `default-deny` (all pods, Ingress and Egress); `allow-dns` (egress to
//!   kube-system's `k8s-app: kube-dns` pods on UDP and TCP 53, the label CoreDNS carries on
//!   EKS, GKE and AKS); with mesh mode `sidecar`, `allow-mesh`: egress to istiod
//!   (`platform { istio namespace }`, `app: istiod`) on TCP 15012 (xDS and certificates); with mode `ambient`,
//!   `allow-mesh`: ingress on TCP 15008 (HBONE) and from 169.254.7.127/32 (ztunnel's
//!   health-probe address). Per service, `<service>-allow`: egress to each service it `calls`
//!   on that service's container ports (a callee without ports gets no rule: nothing listens),
//!   egress to each `egress` destination (an `ipBlock` CIDR or every pod of a namespace) on
//!   its port, ingress from each caller on its own ports, ingress from the Istio ingress
//!   gateway (`platform { istio namespace }`, `istio: ingressgateway`) on the exposed port
//!   (all ports when `expose` names none) when it has `expose`, ingress from the KEDA
//!   operator's namespace (`platform { keda namespace }`) on its ports when a KEDA trigger
//!   reads from it, and ingress from its own pods when it is stateful (peers). Anything else
//!   (undeclared destinations, Prometheus scraping) stays denied; add your own policies,
//!   which Kubernetes unions with these.

pub mod hpa;
pub mod keda;
pub mod netpol;
pub mod pdb;
pub mod plan;
pub mod vpa;

use serde_json::{Map, Value, json};

use super::Files;
use super::yaml;
use crate::model::{Environment, Platform, Service, Target, WorkloadKind};

/// The scaling and policy objects of every target, keyed by path under
/// `kubernetes/overlays/<env>/<cloud>/` (the targets on every core).
pub fn emit(platform: &Platform) -> Files {
    let targets: Vec<(&Environment, &Target)> = platform.targets().collect();
    crate::parallel::map(&targets, |&(environment, target)| {
        target_files(platform, environment, target)
    })
    .into_iter()
    .flatten()
    .collect()
}

/// The scaling and policy files of one target.
fn target_files(
    platform: &Platform,
    environment: &Environment,
    target: &Target,
) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let dir = format!(
        "kubernetes/overlays/{}/{}",
        environment.name,
        target.cloud.as_str()
    );
    let mut put = |file: String, value: &Value| {
        files.push((format!("{dir}/{file}"), yaml::document(value)));
    };
    for service in &target.services {
        if let Some(autoscale) = plan::autoscale(service) {
            match autoscale.scaler() {
                plan::Scaler::Hpa => {
                    put(
                        format!("hpa-{}.yaml", service.name),
                        &hpa::object(service, &autoscale),
                    );
                }
                plan::Scaler::Keda => {
                    let context = keda::Context::new(platform, environment, target);
                    put(
                        format!("scaledobject-{}.yaml", service.name),
                        &keda::object(service, &autoscale, &context),
                    );
                }
            }
        }
        if let Some(vpa) = plan::vpa(service) {
            put(
                format!("vpa-{}.yaml", service.name),
                &vpa::object(service, vpa),
            );
        }
        if let Some(budget) = plan::budget(environment, service) {
            let eviction_policy = pdb::supports_eviction_policy(platform, target);
            put(
                format!("pdb-{}.yaml", service.name),
                &pdb::object(service, &budget, eviction_policy),
            );
        }
    }
    for (name, mut policy) in netpol::objects(platform, environment, target) {
        super::argocd::add_policy_wave(&mut policy); // guardrails before workloads
        put(format!("networkpolicy-{name}.yaml"), &policy);
    }
    files
}

/// Metadata of a scaling object: its name and the service's selector labels plus
/// `app.kubernetes.io/managed-by` (the overlay adds the platform's and environment's labels).
fn metadata(service: &Service, name: &str) -> Value {
    crate::emit::object([("name", name.into()), ("labels", labels(service).into())])
}

/// The labels of a scaling object of `service`.
fn labels(service: &Service) -> Map<String, Value> {
    let mut labels = selector(service);
    labels.insert("app.kubernetes.io/managed-by".into(), "manifold".into());
    labels
}

/// The selector labels of a service's pods (as the Kustomize emitter writes them).
fn selector(service: &Service) -> Map<String, Value> {
    let mut selector = Map::new();
    selector.insert("app.kubernetes.io/name".into(), service.name.clone().into());
    selector.insert(
        "app.kubernetes.io/instance".into(),
        service.name.clone().into(),
    );
    selector
}

/// The reference to a service's workload (HPA `scaleTargetRef`, VPA `targetRef`, KEDA).
fn workload_ref(service: &Service) -> Value {
    let kind = match service.kind {
        WorkloadKind::Stateless => "Deployment",
        WorkloadKind::Stateful => "StatefulSet",
    };
    json!({ "apiVersion": "apps/v1", "kind": kind, "name": service.name })
}

/// The HPA `behavior` of an autoscale block (`None` when neither direction is set).
fn behavior(autoscale: &plan::Autoscale) -> Option<Value> {
    let mut behavior = Map::new();
    for (key, policy) in [
        ("scaleUp", &autoscale.scale_up),
        ("scaleDown", &autoscale.scale_down),
    ] {
        if let Some(policy) = policy {
            behavior.insert(key.into(), scaling_rules(policy));
        }
    }
    (!behavior.is_empty()).then(|| behavior.into())
}

fn scaling_rules(policy: &plan::Policy) -> Value {
    let mut rules = Map::new();
    if let Some(window) = policy.stabilize {
        rules.insert("stabilizationWindowSeconds".into(), window.into());
    }
    if let Some(select) = policy.select {
        rules.insert("selectPolicy".into(), select.into());
    }
    let period = policy.period.unwrap_or(plan::DEFAULT_PERIOD_SECONDS);
    let mut policies = Vec::new();
    if let Some(percent) = policy.percent {
        policies.push(json!({ "type": "Percent", "value": percent, "periodSeconds": period }));
    }
    if let Some(pods) = policy.pods {
        policies.push(json!({ "type": "Pods", "value": pods, "periodSeconds": period }));
    }
    if !policies.is_empty() {
        rules.insert("policies".into(), policies.into());
    }
    rules.into()
}

/// The target a service is in, by name (for netpol and KEDA address qualification).
fn find<'t>(target: &'t Target, name: &str) -> Option<&'t Service> {
    target.service(name)
}

#[cfg(test)]
pub(crate) mod tests;
