//! Lowering: a checked spec plus the built-in profiles → the fully resolved [`Platform`].
//!
//! Consumes: a [`CheckedSpec`]. Produces: the model.
//! Resolution order, lowest first (each layer overrides the ones before it, maps merge by
//! key, lists and scalars are replaced whole):
//!
//! 1. built-in defaults (hardened security context, one replica, ...);
//! 2. the environment's profile (`overlays/<profile>.kdl`): security, VPA;
//! 3. the environment's own overrides of profile settings;
//! 4. the spec's `defaults` block;
//! 5. the service block;
//! 6. `in ENV { ... }`, then `in ENV cloud=CLOUD { ... }`.
//!
//! A layer that sets `replicas` drops an `autoscale` set by a lower layer and vice versa.
//! The environment's replica floor then raises the replicas (or autoscaling bounds) of
//! stateless services; stateful services keep what they declare.
//! Invariant: every value in the effective documents has an [`Origin`]; lowering cannot fail
//! because `check` already rejected everything it could not resolve.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::check::CheckedSpec;
use crate::model::{
    Addons, Backup, Cloud, CloudKind, Cluster, Disruption, Egress, EgressPeer, Environment, Image,
    IntOrPercent, Layer, LimitRange, Mesh, NodePool, Origin, Origins, Placement, PodSecurity, Port,
    PortRef, Probe, ProbeCheck, Replicas, Repo, Resources, SecretRef, Security, Service, Storage,
    Sync, Target, Vpa, WorkloadKind,
};
use crate::quantity;
use crate::source::Span;
use crate::spec::types::{EnvironmentSpec, PlatformSpec, ServiceBody, Text};
use crate::spec::{SpanMap, pointer_join as join};

mod argocd;
mod terraform;

/// The settings a profile (and an environment) may set.
const PROFILE_KEYS: &[&str] = &[
    "replica-floor",
    "pdb",
    "vpa",
    "mesh",
    "pod-security",
    "security",
    "network-policy",
    "sync",
];

/// Lowers a checked spec into the model.
pub fn lower(checked: &CheckedSpec, spec_file: &str) -> crate::model::Platform {
    let spec = &checked.spec;
    let mut clouds: Vec<Cloud> = spec
        .clouds
        .iter()
        .filter_map(|(name, cloud)| {
            let kind = CloudKind::parse(name)?;
            Some(lower_cloud(kind, cloud))
        })
        .collect();
    terraform::record_spans(checked, &mut clouds);
    // Services resolve independently: in parallel, collected in name order.
    let names: Vec<&String> = spec.services.keys().collect();
    let base = crate::parallel::map(&names, |name| {
        let effective = resolve_service(checked, name, None);
        to_service(name, effective, spec.platform.registry.as_deref())
    });
    let environments = spec
        .environments
        .iter()
        .map(|(name, env)| lower_environment(checked, name, env, &clouds))
        .collect();
    crate::model::Platform {
        name: spec.platform.name.clone(),
        labels: texts(&spec.platform.labels),
        annotations: texts(&spec.platform.annotations),
        repo: spec.platform.repo.as_ref().map(|repo| Repo {
            url: repo.url.clone(),
            branch: repo.branch.clone().unwrap_or_else(|| "main".to_owned()),
            path: repo.path.clone().unwrap_or_default(),
        }),
        clouds,
        environments,
        base,
        spec_file: spec_file.to_owned(),
        argocd: argocd::lower(checked),
        addons: addons(&spec.platform),
    }
}

/// `platform { istio …; keda … }` over the defaults of [`Addons`].
fn addons(platform: &PlatformSpec) -> Addons {
    let mut addons = Addons::default();
    let settings = [
        (
            platform
                .istio
                .as_ref()
                .and_then(|istio| istio.namespace.as_ref()),
            &mut addons.istio_namespace,
        ),
        (
            platform
                .istio
                .as_ref()
                .and_then(|istio| istio.gateway_service_account.as_ref()),
            &mut addons.gateway_service_account,
        ),
        (
            platform
                .keda
                .as_ref()
                .and_then(|keda| keda.namespace.as_ref()),
            &mut addons.keda_namespace,
        ),
        (
            platform
                .keda
                .as_ref()
                .and_then(|keda| keda.service_account.as_ref()),
            &mut addons.keda_service_account,
        ),
    ];
    for (value, slot) in settings {
        if let Some(value) = value {
            slot.clone_from(value);
        }
    }
    addons
}

/// A document being resolved, with the origin of each value (a B-tree while layers are
/// applied, so that a replaced subtree's pointers are one range; [`Origins`] once done).
#[derive(Clone)]
struct Layered {
    value: Value,
    origins: BTreeMap<String, Origin>,
}

impl Layered {
    fn new() -> Layered {
        Layered {
            value: Value::Object(Map::new()),
            origins: BTreeMap::new(),
        }
    }

    /// Forgets the origins of the values under `pointer` (not of `pointer` itself).
    fn forget_below(&mut self, pointer: &str) {
        // The pointers below `/a` are those in [`/a/`, `/a0`): `0` follows `/` in ASCII.
        let low = format!("{pointer}/");
        let high = format!("{pointer}0");
        let below: Vec<String> = self
            .origins
            .range(low..high)
            .map(|(key, _)| key.clone())
            .collect();
        for key in below {
            self.origins.remove(&key);
        }
    }

    /// Merges `source` (found at `source_pointer` in the file `spans` describes) into the
    /// document at `target_pointer`, leaving out the top-level keys in `skip`.
    fn apply(
        &mut self,
        target_pointer: &str,
        source: &Value,
        layer: &Layer,
        spans: Option<&SpanMap>,
        source_pointer: &str,
        skip: &[&str],
    ) {
        let Some(target) = ensure_object_at(&mut self.value, target_pointer) else {
            return;
        };
        let Value::Object(source_map) = source else {
            return;
        };
        let mut merging = Merging {
            target: target_pointer.to_owned(),
            source: source_pointer.to_owned(),
            spans,
            recorded: Vec::new(),
        };
        merging.merge(target, source_map, skip);
        // One shared copy for every value this layer sets.
        let layer = Arc::new(layer.clone());
        for (pointer, span, replaced) in merging.recorded {
            let mut overridden = Box::default();
            if replaced {
                // The replaced value's chain stays with the pointer (for `explain`).
                if let Some(previous) = self.origins.remove(&pointer) {
                    overridden = chain_of(previous);
                }
                self.forget_below(&pointer);
            }
            self.origins.insert(
                pointer,
                Origin {
                    layer: Arc::clone(&layer),
                    span,
                    overridden,
                },
            );
        }
    }

    fn remove(&mut self, key: &str) {
        if let Value::Object(map) = &mut self.value {
            map.remove(key);
        }
        let pointer = join("", key);
        self.origins.remove(&pointer);
        self.forget_below(&pointer);
    }
}

/// One merge of a layer into a document: the pointers of the value being visited (in the
/// document and in the layer's file, grown and shrunk in place) and what was written.
struct Merging<'s> {
    target: String,
    source: String,
    spans: Option<&'s SpanMap>,
    /// (target pointer, source token, whether an existing value was replaced) for every
    /// value written.
    recorded: Vec<(String, Option<Span>, bool)>,
}

impl Merging<'_> {
    /// Merges maps by key; everything else is replaced.
    fn merge(
        &mut self,
        target: &mut Map<String, Value>,
        source: &Map<String, Value>,
        skip: &[&str],
    ) {
        for (key, value) in source {
            if skip.contains(&key.as_str()) {
                continue;
            }
            let marks = self.enter(key);
            match (target.get_mut(key), value) {
                (Some(Value::Object(existing)), Value::Object(incoming)) => {
                    self.merge(existing, incoming, &[]);
                }
                (existing, _) => {
                    let replaced = existing.is_some();
                    self.record_all(value, replaced);
                    target.insert(key.clone(), value.clone());
                }
            }
            self.leave(marks);
        }
    }

    /// Records `value` (at the current pointers) and everything inside it.
    fn record_all(&mut self, value: &Value, replaced: bool) {
        let span = self.spans.map(|spans| spans.value(&self.source));
        self.recorded.push((self.target.clone(), span, replaced));
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let marks = self.enter(key);
                    self.record_all(child, false);
                    self.leave(marks);
                }
            }
            Value::Array(items) => {
                for (idx, child) in items.iter().enumerate() {
                    let marks = self.enter(&idx.to_string());
                    self.record_all(child, false);
                    self.leave(marks);
                }
            }
            _ => {}
        }
    }

    /// Appends a segment to both pointers; returns their lengths before.
    fn enter(&mut self, segment: &str) -> (usize, usize) {
        let marks = (self.target.len(), self.source.len());
        push_segment(&mut self.target, segment);
        push_segment(&mut self.source, segment);
        marks
    }

    fn leave(&mut self, (target, source): (usize, usize)) {
        self.target.truncate(target);
        self.source.truncate(source);
    }
}

/// Appends `/segment`, escaped as [`join`] does.
fn push_segment(pointer: &mut String, segment: &str) {
    if segment.contains(['~', '/']) {
        let joined = join("", segment);
        pointer.push_str(&joined);
    } else {
        pointer.push('/');
        pointer.push_str(segment);
    }
}

/// An origin followed by the origins it overrode, flattened (highest first).
fn chain_of(mut origin: Origin) -> Box<[Origin]> {
    let below = std::mem::take(&mut origin.overridden);
    let mut chain = Vec::with_capacity(below.len() + 1);
    chain.push(origin);
    chain.extend(below);
    chain.into_boxed_slice()
}

fn ensure_object_at<'v>(root: &'v mut Value, pointer: &str) -> Option<&'v mut Map<String, Value>> {
    let mut current = root;
    for segment in pointer.split('/').skip(1) {
        let map = current.as_object_mut()?;
        current = map
            .entry(segment.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    current.as_object_mut()
}

/// Layer 1 of a service: `kind stateless` and the `security` of the built-in defaults
/// (`overlays/builtin.kdl`, [`crate::profiles::DEFAULTS`]).
fn builtin_service(checked: &CheckedSpec) -> Value {
    let mut service = json!({ "kind": "stateless" });
    if let Some(security) = builtin_settings(checked).get("security") {
        service["security"] = security.clone();
    }
    service
}

/// Layer 1 of an environment: the profile settings of the built-in defaults
/// (`overlays/builtin.kdl`).
fn builtin_environment(checked: &CheckedSpec) -> Value {
    let settings: Map<String, Value> = builtin_settings(checked)
        .iter()
        .filter(|(key, _)| PROFILE_KEYS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    Value::Object(settings)
}

/// The settings of `overlays/builtin.kdl` (loaded with the profiles).
fn builtin_settings(checked: &CheckedSpec) -> Map<String, Value> {
    checked
        .profiles
        .get(crate::profiles::DEFAULTS.0)
        .and_then(|defaults| defaults.form.value.get("profile"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The effective JSON document of a service: for the base when `environment` is `None`.
fn resolve_service(
    checked: &CheckedSpec,
    name: &str,
    environment: Option<(&str, &EnvironmentSpec)>,
) -> Layered {
    let spans = &checked.form.spans;
    let mut doc = Layered::new();
    doc.apply(
        "",
        &builtin_service(checked),
        &Layer::Builtin,
        None,
        "",
        &[],
    );
    if let Some((env_name, env)) = environment {
        if let Some(profile) = checked.profiles.get(&env.profile) {
            for key in ["security", "vpa"] {
                if let Some(value) = profile.form.value.pointer(&format!("/profile/{key}")) {
                    let layered = json!({ key: value });
                    doc.apply(
                        "",
                        &layered,
                        &Layer::Profile(env.profile.as_str().into()),
                        Some(&profile.form.spans),
                        "/profile",
                        &[],
                    );
                }
            }
        }
        let env_pointer = join("/environments", env_name);
        for key in ["security", "vpa"] {
            if let Some(value) = checked.form.value.pointer(&join(&env_pointer, key)) {
                let layered = json!({ key: value });
                doc.apply(
                    "",
                    &layered,
                    &Layer::Environment(env_name.into()),
                    Some(spans),
                    &env_pointer,
                    &[],
                );
            }
        }
    }
    if let Some(defaults) = checked.form.value.get("defaults") {
        apply_body(&mut doc, defaults, &Layer::Defaults, spans, "/defaults");
    }
    let service_pointer = join("/services", name);
    if let Some(service) = checked.form.value.pointer(&service_pointer) {
        apply_body(&mut doc, service, &Layer::Service, spans, &service_pointer);
    }
    if let Some((env_name, _)) = environment {
        apply_overrides(&mut doc, checked, name, env_name, None);
    }
    doc
}

/// Applies the service's `in ENV` blocks (`cloud` `None`), or its `in ENV cloud=CLOUD`
/// blocks, in the order they are written.
fn apply_overrides(
    doc: &mut Layered,
    checked: &CheckedSpec,
    name: &str,
    env_name: &str,
    cloud: Option<&str>,
) {
    let service_pointer = join("/services", name);
    let overrides = &checked.spec.services[name].overrides;
    for (idx, override_spec) in overrides.iter().enumerate() {
        if override_spec.environment != env_name || override_spec.cloud.as_deref() != cloud {
            continue;
        }
        let pointer = join(&join(&service_pointer, "overrides"), &idx.to_string());
        if let Some(value) = checked.form.value.pointer(&pointer) {
            let layer = match cloud {
                None => Layer::Override(env_name.into()),
                Some(cloud) => Layer::CloudOverride(env_name.into(), cloud.into()),
            };
            apply_body(doc, value, &layer, &checked.form.spans, &pointer);
        }
    }
}

/// Applies one service-shaped layer, dropping the keys that are not service fields and
/// keeping `replicas`/`autoscale` mutually exclusive.
fn apply_body(doc: &mut Layered, body: &Value, layer: &Layer, spans: &SpanMap, pointer: &str) {
    let Value::Object(map) = body else { return };
    if map.contains_key("replicas") {
        doc.remove("autoscale");
    }
    if map.contains_key("autoscale") {
        doc.remove("replicas");
    }
    let not_fields = ["overrides", "environment", "cloud"];
    doc.apply("", body, layer, Some(spans), pointer, &not_fields);
}

fn lower_environment(
    checked: &CheckedSpec,
    name: &str,
    env: &EnvironmentSpec,
    clouds: &[Cloud],
) -> Environment {
    let spans = &checked.form.spans;
    let env_pointer = join("/environments", name);
    let mut doc = Layered::new();
    doc.apply(
        "",
        &builtin_environment(checked),
        &Layer::Builtin,
        None,
        "",
        &[],
    );
    if let Some(profile) = checked.profiles.get(&env.profile)
        && let Some(Value::Object(settings)) = profile.form.value.get("profile")
    {
        let picked: Map<String, Value> = settings
            .iter()
            .filter(|(key, _)| PROFILE_KEYS.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        doc.apply(
            "",
            &Value::Object(picked),
            &Layer::Profile(env.profile.as_str().into()),
            Some(&profile.form.spans),
            "/profile",
            &[],
        );
    }
    if let Some(Value::Object(settings)) = checked.form.value.pointer(&env_pointer) {
        let picked: Map<String, Value> = settings
            .iter()
            .filter(|(key, _)| {
                PROFILE_KEYS.contains(&key.as_str())
                    || matches!(key.as_str(), "quota" | "limit-range")
            })
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        doc.apply(
            "",
            &Value::Object(picked),
            &Layer::Environment(name.into()),
            Some(spans),
            &env_pointer,
            &[],
        );
    }
    let settings = &doc.value;
    let text = |pointer: &str, fallback: &str| -> String {
        settings
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or(fallback)
            .to_owned()
    };
    let flag = |pointer: &str, fallback: bool| {
        settings
            .pointer(pointer)
            .and_then(Value::as_bool)
            .unwrap_or(fallback)
    };
    let replica_floor = settings
        .pointer("/replica-floor")
        .and_then(Value::as_u64)
        .and_then(|floor| u32::try_from(floor).ok())
        .unwrap_or(1);
    let mut environment = Environment {
        name: name.to_owned(),
        profile: env.profile.clone(),
        namespace: env.namespace.clone(),
        labels: texts(&env.labels),
        replica_floor,
        pdb: flag("/pdb", true),
        pod_security: PodSecurity {
            enforce: text("/pod-security/enforce", "restricted"),
            audit: text("/pod-security/audit", "restricted"),
            warn: text("/pod-security/warn", "restricted"),
        },
        mesh: Mesh {
            mtls: text("/mesh/mtls", "strict"),
            mode: text("/mesh/mode", "sidecar"),
        },
        default_deny: flag("/network-policy/default-deny", true),
        sync: Sync {
            automated: flag("/sync/automated", true),
            prune: flag("/sync/prune", true),
            self_heal: flag("/sync/self-heal", true),
        },
        quota: env.quota.as_ref().map(quota_keys).unwrap_or_default(),
        limit_range: env.limit_range.as_ref().map(limit_range),
        backup: env.backup.as_ref().map(|backup| Backup {
            schedule: backup.schedule.clone(),
            ttl: backup.ttl.clone().unwrap_or_else(|| "720h".to_owned()),
        }),
        targets: Vec::new(),
        origins: doc.origins.into_iter().collect(),
    };
    let mut deploy_to: Vec<CloudKind> = env
        .deploy_to
        .iter()
        .filter_map(|cloud| CloudKind::parse(cloud))
        .collect();
    deploy_to.sort();
    deploy_to.dedup();
    // The clouds of an environment share every layer up to `in ENV`; only `in ENV
    // cloud=CLOUD` blocks differ. So each service is resolved once per environment and
    // lowered once for the clouds without such a block (each takes a copy of that service),
    // and once per cloud that has one (from a copy of the document).
    let deploy_to: Vec<TargetCloud> = deploy_to
        .into_iter()
        .filter_map(|kind| {
            let cloud = clouds.iter().find(|cloud| cloud.kind == kind)?;
            let cluster = env
                .clusters
                .get(kind.as_str())
                .cloned()
                .or_else(|| cloud.clusters.first().map(|cluster| cluster.name.clone()))
                .unwrap_or_default();
            Some(TargetCloud {
                kind,
                cloud,
                cluster,
            })
        })
        .collect();
    let names: Vec<&String> = checked.spec.services.keys().collect();
    let per_service = crate::parallel::map(&names, |service_name| {
        let resolved = resolve_service(checked, service_name, Some((name, env)));
        lower_clouds(checked, &environment, service_name, resolved, &deploy_to)
    });
    let mut by_cloud: Vec<Vec<Service>> = deploy_to
        .iter()
        .map(|_| Vec::with_capacity(names.len()))
        .collect();
    for services in per_service {
        for (index, service) in services.into_iter().enumerate() {
            by_cloud[index].push(service);
        }
    }
    for (target_cloud, mut services) in deploy_to.into_iter().zip(by_cloud) {
        if let Some(first) = environment.targets.first() {
            // Same order: both are the spec's services by name.
            for (service, shared) in services.iter_mut().zip(&first.services) {
                service.origins.share(&shared.origins);
            }
        }
        environment.targets.push(Target {
            environment: name.to_owned(),
            cloud: target_cloud.kind,
            cluster: target_cloud.cluster,
            services,
        });
    }
    environment
}

/// A cloud an environment deploys to, with the name of its cluster there.
struct TargetCloud<'c> {
    kind: CloudKind,
    cloud: &'c Cloud,
    cluster: String,
}

/// One service of an environment, resolved up to `in ENV`, lowered for each of the
/// environment's clouds (in their order). A cloud with its own `in ENV cloud=CLOUD` blocks
/// lowers a copy of the document with them applied; every other cloud takes a copy of the
/// one service lowered from the document as it is (the same result: before placement and
/// the cloud's storage class, which are applied per cloud, a service depends on its cloud
/// only through those blocks).
fn lower_clouds(
    checked: &CheckedSpec,
    environment: &Environment,
    service_name: &str,
    resolved: Layered,
    clouds: &[TargetCloud<'_>],
) -> Vec<Service> {
    let registry = checked.spec.platform.registry.as_deref();
    let overrides = &checked.spec.services[service_name].overrides;
    let own: Vec<Option<Service>> = clouds
        .iter()
        .map(|target| {
            let kind = target.kind.as_str();
            let overridden = overrides
                .iter()
                .any(|o| o.environment == environment.name && o.cloud.as_deref() == Some(kind));
            overridden.then(|| {
                let mut effective = resolved.clone();
                apply_overrides(
                    &mut effective,
                    checked,
                    service_name,
                    &environment.name,
                    Some(kind),
                );
                to_service(service_name, effective, registry)
            })
        })
        .collect();
    let mut plain_uses = own.iter().filter(|service| service.is_none()).count();
    let mut plain = (plain_uses > 0).then(|| to_service(service_name, resolved, registry));
    let mut services = Vec::with_capacity(clouds.len());
    for (own, target) in own.into_iter().zip(clouds) {
        let service = own.or_else(|| {
            plain_uses -= 1;
            if plain_uses == 0 {
                plain.take()
            } else {
                plain.clone()
            }
        });
        // `plain` exists whenever some cloud has no blocks of its own.
        let Some(mut service) = service else { continue };
        if let Some(storage) = &mut service.storage
            && storage.class.is_none()
        {
            storage.class = Some(target.cloud.storage_class.clone());
        }
        apply_floor(&mut service, environment);
        let cluster = target
            .cloud
            .clusters
            .iter()
            .find(|candidate| candidate.name == target.cluster);
        service.placement = placement(target.kind, cluster, service.node_pool.as_deref());
        services.push(service);
    }
    services
}

/// The node pool `pool` of `cluster` as scheduling constraints: its provider label and its
/// taints (with the provider's spot taint).
fn placement(kind: CloudKind, cluster: Option<&Cluster>, pool: Option<&str>) -> Option<Placement> {
    let pool = cluster?
        .node_pools
        .iter()
        .find(|candidate| Some(candidate.name.as_str()) == pool)?;
    let mut tolerations = pool.taints.clone();
    if pool.spot
        && let Some(taint) = kind.spot_taint()
        && !tolerations.iter().any(|declared| declared == taint)
    {
        tolerations.push(taint.to_owned());
    }
    Some(Placement {
        node_selector: BTreeMap::from([(kind.node_pool_label().to_owned(), pool.name.clone())]),
        tolerations,
    })
}

/// Whether a resolved `autoscale` document declares a queue trigger (KEDA).
fn scales_on_queue(autoscale: Option<&Value>) -> bool {
    autoscale
        .and_then(|autoscale| autoscale.get("queue"))
        .and_then(Value::as_array)
        .is_some_and(|queues| !queues.is_empty())
}

fn apply_floor(service: &mut Service, environment: &Environment) {
    if service.kind == WorkloadKind::Stateful {
        return;
    }
    let floor = environment.replica_floor;
    let floor_origin = environment.origins.get("/replica-floor").cloned();
    let raised = |origins: &mut Origins, pointer: &str| {
        if let Some(origin) = &floor_origin {
            let overridden = origins
                .get(pointer)
                .cloned()
                .map(chain_of)
                .unwrap_or_default();
            let mut origin = origin.clone();
            origin.overridden = overridden;
            origins.insert(pointer, origin);
        }
    };
    match &mut service.replicas {
        Replicas::Fixed(count) if *count < floor => {
            *count = floor;
            raised(&mut service.origins, "/replicas");
        }
        Replicas::Autoscaled { min, max } => {
            // `replicas 0 N` with a queue trigger is an explicit scale-to-zero (KEDA wakes
            // the workload when work arrives): the floor, an availability guarantee for
            // serving workloads, does not apply to it.
            let scale_to_zero = *min == 0 && scales_on_queue(service.autoscale.as_ref());
            if *min < floor && !scale_to_zero {
                *min = floor;
                raised(&mut service.origins, "/autoscale/replicas/min");
            }
            if *max < *min {
                *max = *min;
                raised(&mut service.origins, "/autoscale/replicas/max");
            }
            // Keep the autoscale document in step with the resolved bounds.
            if let Some(bounds) = service
                .autoscale
                .as_mut()
                .and_then(|a| a.get_mut("replicas"))
                .and_then(Value::as_object_mut)
            {
                bounds.insert("min".to_owned(), Value::from(*min));
                bounds.insert("max".to_owned(), Value::from(*max));
            }
        }
        Replicas::Fixed(_) => {}
    }
}

fn to_service(name: &str, doc: Layered, registry: Option<&str>) -> Service {
    let body: ServiceBody = serde_json::from_value(doc.value).unwrap_or_default();
    let kind = match body.kind.as_deref() {
        Some("stateful") => WorkloadKind::Stateful,
        _ => WorkloadKind::Stateless,
    };
    let image_spec = body.image.unwrap_or_default();
    let image_name = image_spec.name.clone().unwrap_or_else(|| name.to_owned());
    let registry = image_spec.registry.as_deref().or(registry);
    let repository = match registry {
        Some(registry) if !has_registry_host(&image_name) => {
            format!("{}/{image_name}", registry.trim_end_matches('/'))
        }
        _ => image_name,
    };
    let mut ports: Vec<Port> = body
        .ports
        .iter()
        .map(|(port_name, port)| Port {
            name: port_name.clone(),
            port: port.port,
            service_port: port.service_port.unwrap_or(port.port),
            protocol: port.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
            app_protocol: port.app_protocol.clone(),
        })
        .collect();
    ports.sort_by(|a, b| a.name.cmp(&b.name));
    let only_port = (ports.len() == 1).then(|| ports[0].port);
    let resources = lower_resources(body.resources.as_ref());
    let probes = body
        .probes
        .iter()
        .filter_map(|(probe_kind, probe)| {
            let port = match &probe.port {
                Some(port) => match port.as_str().parse::<u16>() {
                    Ok(number) => PortRef::Number(number),
                    Err(_) => PortRef::Name(port.as_str().to_owned()),
                },
                None => PortRef::Number(only_port.unwrap_or(80)),
            };
            let check = if let Some(path) = &probe.http {
                ProbeCheck::Http {
                    path: path.clone(),
                    port,
                }
            } else if probe.tcp == Some(true) {
                ProbeCheck::Tcp { port }
            } else if probe.grpc == Some(true) {
                let number = match port {
                    PortRef::Number(number) => number,
                    PortRef::Name(port_name) => ports
                        .iter()
                        .find(|p| p.name == port_name)
                        .map_or(80, |p| p.port),
                };
                ProbeCheck::Grpc { port: number }
            } else {
                ProbeCheck::Exec {
                    command: probe.exec.clone()?,
                }
            };
            let seconds = |text: &Option<String>| {
                text.as_deref()
                    .and_then(quantity::duration_seconds)
                    .map(|seconds| u32::try_from(seconds).unwrap_or(u32::MAX))
            };
            Some(Probe {
                kind: probe_kind.clone(),
                check,
                initial_delay_seconds: seconds(&probe.initial_delay),
                period_seconds: seconds(&probe.period),
                timeout_seconds: seconds(&probe.timeout),
                failure_threshold: probe.failure_threshold,
                success_threshold: probe.success_threshold,
            })
        })
        .collect();
    let replicas = match (&body.autoscale, body.replicas) {
        (Some(autoscale), _) => Replicas::Autoscaled {
            min: u32_at(autoscale, "/replicas/min").unwrap_or(1),
            max: u32_at(autoscale, "/replicas/max").unwrap_or(1),
        },
        (None, Some(count)) => Replicas::Fixed(count),
        (None, None) => Replicas::Fixed(1),
    };
    let vpa = body.vpa.as_ref().and_then(|vpa| {
        let mode = match vpa.mode.as_deref()? {
            "off" => "Off",
            "initial" => "Initial",
            "recreate" => "Recreate",
            "in-place-or-recreate" => "InPlaceOrRecreate",
            _ => "Auto",
        };
        Some(Vpa {
            mode: mode.to_owned(),
            min: vpa.min.as_ref().map(texts).unwrap_or_default(),
            max: vpa.max.as_ref().map(texts).unwrap_or_default(),
            controlled_resources: vpa.controlled_resources.clone().unwrap_or_default(),
            controlled_values: vpa.controlled_values.as_deref().map(|values| match values {
                "requests-only" => "RequestsOnly".to_owned(),
                _ => "RequestsAndLimits".to_owned(),
            }),
            written: doc
                .origins
                .get("/vpa/mode")
                .is_some_and(|origin| !matches!(*origin.layer, Layer::Builtin | Layer::Profile(_))),
        })
    });
    let disruption = body.disruption.as_ref().and_then(|disruption| {
        if let Some(min) = &disruption.min_available {
            Some(Disruption::MinAvailable(int_or_percent(min)))
        } else {
            disruption
                .max_unavailable
                .as_ref()
                .map(|max| Disruption::MaxUnavailable(int_or_percent(max)))
        }
    });
    let storage = body.storage.as_ref().map(|storage| Storage {
        size: storage
            .size
            .as_ref()
            .map(|size| size.0.clone())
            .unwrap_or_else(|| "10Gi".to_owned()),
        // A target's cloud fills in its default class (`lower_clouds`).
        class: storage.class.clone(),
        mount: storage.mount.clone().unwrap_or_else(|| "/data".to_owned()),
        access_mode: storage
            .access_mode
            .clone()
            .unwrap_or_else(|| "ReadWriteOnce".to_owned()),
    });
    let security_spec = body.security.unwrap_or_default();
    let capabilities = |text: &Option<String>| -> Vec<String> {
        text.as_deref()
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|cap| !cap.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let security = Security {
        run_as_non_root: security_spec.run_as_non_root.unwrap_or(true),
        run_as_user: security_spec.run_as_user,
        run_as_group: security_spec.run_as_group,
        fs_group: security_spec.fs_group,
        read_only_root_filesystem: security_spec.read_only_root_filesystem.unwrap_or(true),
        allow_privilege_escalation: security_spec.allow_privilege_escalation.unwrap_or(false),
        privileged: security_spec.privileged.unwrap_or(false),
        drop_capabilities: capabilities(&security_spec.drop_capabilities),
        add_capabilities: capabilities(&security_spec.add_capabilities),
        seccomp: match security_spec.seccomp.as_deref() {
            Some("unconfined") => "Unconfined".to_owned(),
            _ => "RuntimeDefault".to_owned(),
        },
        automount_token: security_spec.automount_token.unwrap_or(false),
    };
    Service {
        name: name.to_owned(),
        kind,
        image: Image {
            repository,
            tag: image_spec.tag.clone(),
            digest: image_spec.digest.clone(),
            pull_policy: image_spec.pull_policy.clone(),
        },
        ports,
        resources,
        probes,
        env: body
            .env
            .iter()
            .map(|(key, value)| (key.clone(), value.0.clone()))
            .collect(),
        secrets: body
            .secrets
            .iter()
            .map(|(variable, secret)| SecretRef {
                variable: variable.clone(),
                secret: secret.from.clone().unwrap_or_default(),
                key: secret.key.clone().unwrap_or_default(),
            })
            .collect(),
        calls: body.calls.unwrap_or_default(),
        egress: body
            .egress
            .iter()
            .filter_map(|(name, egress)| {
                // The checks require exactly one of the two; a spec with neither lowers
                // nothing (it never reaches the emitters).
                let peer = match (&egress.cidr, &egress.namespace) {
                    (Some(cidr), _) => EgressPeer::Cidr(cidr.clone()),
                    (None, Some(namespace)) => EgressPeer::Namespace(namespace.clone()),
                    (None, None) => return None,
                };
                Some(Egress {
                    name: name.clone(),
                    peer,
                    port: egress.port,
                    protocol: egress.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
                })
            })
            .collect(),
        replicas,
        autoscale: body.autoscale,
        vpa,
        disruption,
        storage,
        expose: body.expose,
        traffic: body.traffic,
        versions: body.versions,
        security,
        command: body.command.unwrap_or_default(),
        args: body.args.unwrap_or_default(),
        labels: texts(&body.labels),
        annotations: texts(&body.annotations),
        node_pool: body.node_pool,
        placement: None,
        origins: doc.origins.into_iter().collect(),
    }
}

fn lower_cloud(kind: CloudKind, cloud: &crate::spec::types::CloudSpec) -> Cloud {
    let default_class = match kind {
        CloudKind::Aws => "gp3",
        CloudKind::Gcp => "standard-rwo",
        CloudKind::Azure => "managed-csi",
    };
    let mut state = BTreeMap::new();
    if let Some(state_spec) = &cloud.state {
        let fields = [
            ("bucket", &state_spec.bucket),
            ("key", &state_spec.key),
            ("region", &state_spec.region),
            ("prefix", &state_spec.prefix),
            ("dynamodb-table", &state_spec.dynamodb_table),
            ("resource-group", &state_spec.resource_group),
            ("storage-account", &state_spec.storage_account),
            ("container", &state_spec.container),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                state.insert(key.to_owned(), value.clone());
            }
        }
    }
    Cloud {
        kind,
        region: cloud.region.clone().or_else(|| cloud.location.clone()),
        project: cloud.project.clone(),
        resource_group: cloud.resource_group.clone(),
        state,
        storage_class: cloud
            .storage_class
            .clone()
            .unwrap_or_else(|| default_class.to_owned()),
        spans: BTreeMap::new(),
        clusters: cloud
            .clusters
            .iter()
            .map(|(name, cluster)| Cluster {
                name: name.clone(),
                kubernetes: cluster
                    .kubernetes
                    .clone()
                    .unwrap_or_else(|| "1.31".to_owned()),
                private_endpoint: cluster
                    .endpoint
                    .as_ref()
                    .and_then(|endpoint| endpoint.private)
                    .unwrap_or(true),
                public_endpoint: cluster
                    .endpoint
                    .as_ref()
                    .and_then(|endpoint| endpoint.public)
                    .unwrap_or(false),
                release_channel: cluster.release_channel.clone(),
                public_cidrs: terraform::public_cidrs(cluster),
                network: terraform::network(cluster),
                spans: BTreeMap::new(),
                node_pools: cluster
                    .node_pools
                    .iter()
                    .map(|(pool_name, pool)| {
                        let mut taints: Vec<String> = pool.taint.iter().cloned().collect();
                        taints.extend(pool.taints.iter().cloned());
                        NodePool {
                            name: pool_name.clone(),
                            machine: pool
                                .instance_type
                                .clone()
                                .or_else(|| pool.machine_type.clone())
                                .or_else(|| pool.vm_size.clone())
                                .unwrap_or_default(),
                            min: pool.min.unwrap_or(0),
                            max: pool.max.unwrap_or(0),
                            desired: pool.desired.or(pool.min).unwrap_or(0),
                            spot: pool.capacity.as_deref() == Some("spot"),
                            labels: texts(&pool.labels),
                            taints,
                            disk_size: pool.disk_size,
                            span: None,
                            spans: BTreeMap::new(),
                        }
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn lower_resources(resources: Option<&BTreeMap<String, Text>>) -> Resources {
    let mut out = Resources::default();
    for (key, value) in resources.into_iter().flatten() {
        if let Ok(range) = quantity::parse_range(value.as_str()) {
            out.requests.insert(key.clone(), range.request.text);
            out.limits.insert(key.clone(), range.limit.text);
        }
    }
    out
}

fn quota_keys(quota: &BTreeMap<String, Text>) -> BTreeMap<String, String> {
    quota
        .iter()
        .map(|(key, value)| {
            let kubernetes_key = match key.as_str() {
                "requests-cpu" => "requests.cpu",
                "requests-memory" => "requests.memory",
                "limits-cpu" => "limits.cpu",
                "limits-memory" => "limits.memory",
                "requests-storage" => "requests.storage",
                "pvcs" => "persistentvolumeclaims",
                "load-balancers" => "services.loadbalancers",
                other => other,
            };
            (kubernetes_key.to_owned(), value.0.clone())
        })
        .collect()
}

fn limit_range(values: &BTreeMap<String, Text>) -> LimitRange {
    let mut out = LimitRange::default();
    for (key, value) in values {
        let value = value.0.clone();
        match key.as_str() {
            "default-cpu" => out.default.insert("cpu".into(), value),
            "default-memory" => out.default.insert("memory".into(), value),
            "default-request-cpu" => out.default_request.insert("cpu".into(), value),
            "default-request-memory" => out.default_request.insert("memory".into(), value),
            "min-cpu" => out.min.insert("cpu".into(), value),
            "min-memory" => out.min.insert("memory".into(), value),
            "max-cpu" => out.max.insert("cpu".into(), value),
            "max-memory" => out.max.insert("memory".into(), value),
            "max-storage" => {
                out.max_storage = Some(value);
                None
            }
            _ => None,
        };
    }
    out
}

fn int_or_percent(text: &Text) -> IntOrPercent {
    match text.as_str().parse::<u32>() {
        Ok(count) => IntOrPercent::Int(count),
        Err(_) => IntOrPercent::Percent(text.as_str().to_owned()),
    }
}

fn u32_at(value: &Value, pointer: &str) -> Option<u32> {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        .and_then(|number| u32::try_from(number).ok())
}

fn texts(map: &BTreeMap<String, Text>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(key, value)| (key.clone(), value.0.clone()))
        .collect()
}

fn has_registry_host(image: &str) -> bool {
    match image.split_once('/') {
        Some((first, _)) => first.contains('.') || first.contains(':') || first == "localhost",
        None => false,
    }
}
