//! The Kubernetes objects of one service: its ServiceAccount, its Deployment or StatefulSet,
//! its ClusterIP Service and (stateful services) its headless Service.
//!
//! Consumes: one resolved [`Service`] (a base service or a target's service: the same builder
//! renders both, which is what lets the overlays patch exactly the differences). Produces:
//! [`Object`]s, each with the file name it has in a base directory.
//!
//! Invariants: every value has the type Kubernetes expects (ints for ports, replicas and
//! seconds; strings for quantities and label values); no null, empty map or empty list is
//! written except `emptyDir: {}`, which the schema needs. The hardened settings come from the
//! model's [`Security`], never from constants here. Selectors use only
//! `app.kubernetes.io/name` and `app.kubernetes.io/instance`.
//!
//! Decisions:
//! - Deployments keep `revisionHistoryLimit: 5` and roll with `maxSurge: 25%`,
//!   `maxUnavailable: 0`, so capacity never drops during a rollout (a single-replica service
//!   surges to two pods for the switch-over).
//! - StatefulSets use `podManagementPolicy: OrderedReady` and `updateStrategy: RollingUpdate`,
//!   with their volume claim template named `data`, mounted at the storage's mount path.
//! - `replicas` is written only for [`Replicas::Fixed`]: an autoscaled workload must not pin a
//!   count its HorizontalPodAutoscaler would fight with.
//! - When the root filesystem is read-only, an `emptyDir` named `tmp` is mounted at `/tmp` so
//!   ordinary images can still write temporary files.
//! - Service ports target the container port by name.
//! - `node_pool` places nothing here: node-pool label keys differ per cloud and the model has
//!   no per-service taints, so scheduling constraints are left to the cluster's defaults.

use serde_json::{Map, Value, json};

use super::string_map;
use crate::model::{
    Port, PortRef, Probe, ProbeCheck, Replicas, Resources, Security, Service, Storage, WorkloadKind,
};

/// One Kubernetes object of a service.
#[derive(Debug, Clone)]
pub struct Object {
    /// The file name in the base directory (`deployment.yaml`, ...).
    pub file: &'static str,
    /// The object.
    pub value: Value,
}

/// The name of the volume (and claim template) holding a stateful service's data.
pub const DATA_VOLUME: &str = "data";

/// The objects of one service, in the order the base kustomization lists them.
pub fn objects(service: &Service) -> Vec<Object> {
    let mut objects = vec![Object {
        file: "serviceaccount.yaml",
        value: service_account(service),
    }];
    objects.push(match service.kind {
        WorkloadKind::Stateless => Object {
            file: "deployment.yaml",
            value: deployment(service),
        },
        WorkloadKind::Stateful => Object {
            file: "statefulset.yaml",
            value: stateful_set(service),
        },
    });
    if !service.ports.is_empty() {
        objects.push(Object {
            file: "service.yaml",
            value: cluster_service(service, &service.name, false),
        });
    }
    if service.kind == WorkloadKind::Stateful {
        objects.push(Object {
            file: "service-headless.yaml",
            value: cluster_service(service, &headless_name(service), true),
        });
    }
    objects
}

/// The kind of a service's workload object.
pub fn workload_kind(service: &Service) -> &'static str {
    match service.kind {
        WorkloadKind::Stateless => "Deployment",
        WorkloadKind::Stateful => "StatefulSet",
    }
}

/// The labels on every object of a service and on its pod template.
pub fn labels(service: &Service) -> Map<String, Value> {
    let mut labels = selector(service);
    if let Some(tag) = &service.image.tag {
        labels.insert("app.kubernetes.io/version".into(), tag.clone().into());
    }
    labels.insert("app.kubernetes.io/managed-by".into(), "manifold".into());
    for (key, value) in &service.labels {
        if !labels.contains_key(key) {
            labels.insert(key.clone(), value.clone().into());
        }
    }
    labels
}

/// The selector labels of a service.
pub fn selector(service: &Service) -> Map<String, Value> {
    let mut selector = Map::new();
    selector.insert("app.kubernetes.io/name".into(), service.name.clone().into());
    selector.insert(
        "app.kubernetes.io/instance".into(),
        service.name.clone().into(),
    );
    selector
}

fn service_account(service: &Service) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(service, &service.name),
        "automountServiceAccountToken": service.security.automount_token,
    })
}

/// The Deployment of a stateless service (also each of its versions', see `emit::istio::versions`).
pub(crate) fn deployment(service: &Service) -> Value {
    let mut spec = Map::new();
    insert_replicas(&mut spec, &service.replicas);
    spec.insert("revisionHistoryLimit".into(), 5.into());
    spec.insert(
        "selector".into(),
        json!({ "matchLabels": selector(service) }),
    );
    spec.insert(
        "strategy".into(),
        json!({ "type": "RollingUpdate",
            "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": 0 } }),
    );
    spec.insert("template".into(), pod_template(service));
    workload(service, spec)
}

fn stateful_set(service: &Service) -> Value {
    let mut spec = Map::new();
    spec.insert("serviceName".into(), headless_name(service).into());
    insert_replicas(&mut spec, &service.replicas);
    spec.insert("revisionHistoryLimit".into(), 5.into());
    spec.insert("podManagementPolicy".into(), "OrderedReady".into());
    spec.insert("updateStrategy".into(), json!({ "type": "RollingUpdate" }));
    spec.insert(
        "selector".into(),
        json!({ "matchLabels": selector(service) }),
    );
    spec.insert("template".into(), pod_template(service));
    if let Some(storage) = &service.storage {
        spec.insert(
            "volumeClaimTemplates".into(),
            json!([claim_template(service, storage)]),
        );
    }
    workload(service, spec)
}

fn workload(service: &Service, spec: Map<String, Value>) -> Value {
    let mut metadata = metadata(service, &service.name);
    if !service.annotations.is_empty() {
        metadata.insert("annotations".into(), string_map(&service.annotations));
    }
    crate::emit::resource("apps/v1", workload_kind(service), metadata, spec)
}

fn cluster_service(service: &Service, name: &str, headless: bool) -> Value {
    let mut spec = Map::new();
    if headless {
        spec.insert("clusterIP".into(), "None".into());
    } else {
        spec.insert("type".into(), "ClusterIP".into());
    }
    spec.insert("selector".into(), selector(service).into());
    let ports: Vec<Value> = service.ports.iter().map(service_port).collect();
    if !ports.is_empty() {
        spec.insert("ports".into(), ports.into());
    }
    crate::emit::resource("v1", "Service", metadata(service, name), spec)
}

fn service_port(port: &Port) -> Value {
    let mut entry = Map::new();
    entry.insert("name".into(), port.name.clone().into());
    entry.insert("port".into(), port.service_port.into());
    entry.insert("targetPort".into(), port.name.clone().into());
    entry.insert("protocol".into(), port.protocol.clone().into());
    if let Some(app_protocol) = &port.app_protocol {
        entry.insert("appProtocol".into(), app_protocol.clone().into());
    }
    entry.into()
}

fn headless_name(service: &Service) -> String {
    format!("{}-headless", service.name)
}

fn metadata(service: &Service, name: &str) -> Map<String, Value> {
    let mut metadata = Map::new();
    metadata.insert("name".into(), name.into());
    metadata.insert("labels".into(), labels(service).into());
    metadata
}

fn insert_replicas(spec: &mut Map<String, Value>, replicas: &Replicas) {
    if let Replicas::Fixed(count) = replicas {
        spec.insert("replicas".into(), (*count).into());
    }
}

fn pod_template(service: &Service) -> Value {
    let mut metadata = Map::new();
    let mut labels = labels(service);
    // The mesh's subsets select versions by this label (see `crate::emit::istio`).
    if let Some(version) = crate::emit::istio::view::primary_version(service) {
        labels.insert(
            crate::emit::istio::view::VERSION_LABEL.into(),
            version.into(),
        );
    }
    metadata.insert("labels".into(), labels.into());
    if !service.annotations.is_empty() {
        metadata.insert("annotations".into(), string_map(&service.annotations));
    }
    crate::emit::object([("metadata", metadata.into()), ("spec", pod_spec(service))])
}

fn pod_spec(service: &Service) -> Value {
    let security = &service.security;
    let mut spec = Map::new();
    spec.insert("serviceAccountName".into(), service.name.clone().into());
    spec.insert(
        "automountServiceAccountToken".into(),
        security.automount_token.into(),
    );
    spec.insert("enableServiceLinks".into(), false.into());
    spec.insert("securityContext".into(), pod_security_context(security));
    if let Some(placement) = &service.placement {
        spec.insert("nodeSelector".into(), json!(placement.node_selector));
        let tolerations: Vec<Value> = placement
            .tolerations
            .iter()
            .filter_map(|taint| toleration(taint))
            .collect();
        if !tolerations.is_empty() {
            spec.insert("tolerations".into(), tolerations.into());
        }
    }
    spec.insert("containers".into(), Value::Array(vec![container(service)]));
    if security.read_only_root_filesystem {
        spec.insert("volumes".into(), json!([{ "name": "tmp", "emptyDir": {} }]));
    }
    spec.into()
}

/// The toleration of a taint `key=value:Effect` (operator `Equal`) or `key:Effect`
/// (operator `Exists`); `None` for text that is no taint (the checks report it).
fn toleration(taint: &str) -> Option<Value> {
    let (rest, effect) = taint.rsplit_once(':')?;
    Some(match rest.split_once('=') {
        Some((key, value)) => {
            json!({ "key": key, "operator": "Equal", "value": value, "effect": effect })
        }
        None => json!({ "key": rest, "operator": "Exists", "effect": effect }),
    })
}

fn pod_security_context(security: &Security) -> Value {
    let mut context = Map::new();
    context.insert("runAsNonRoot".into(), security.run_as_non_root.into());
    let ids = [
        ("runAsUser", security.run_as_user),
        ("runAsGroup", security.run_as_group),
        ("fsGroup", security.fs_group),
    ];
    for (key, id) in ids {
        if let Some(id) = id {
            context.insert(key.into(), id.into());
        }
    }
    context.insert(
        "seccompProfile".into(),
        json!({ "type": seccomp_type(&security.seccomp) }),
    );
    context.into()
}

/// The seccomp profile type as Kubernetes spells it (the spec's kebab-case is accepted too).
fn seccomp_type(seccomp: &str) -> String {
    match seccomp {
        "runtime-default" => "RuntimeDefault".into(),
        "unconfined" => "Unconfined".into(),
        "localhost" => "Localhost".into(),
        other => other.into(),
    }
}

fn container(service: &Service) -> Value {
    let mut container = Map::new();
    container.insert("name".into(), service.name.clone().into());
    container.insert("image".into(), service.image.reference().into());
    // `Always` unless the spec says otherwise (issue 10, checkov CKV_K8S_15): a tag can be
    // moved to another image, and a node must not run a stale copy of it.
    let policy = service.image.pull_policy.as_deref().unwrap_or("Always");
    container.insert("imagePullPolicy".into(), policy.into());
    if !service.command.is_empty() {
        container.insert("command".into(), json!(service.command));
    }
    if !service.args.is_empty() {
        container.insert("args".into(), json!(service.args));
    }
    if !service.ports.is_empty() {
        let ports: Vec<Value> = service.ports.iter().map(container_port).collect();
        container.insert("ports".into(), ports.into());
    }
    let env = env(service);
    if !env.is_empty() {
        container.insert("env".into(), env.into());
    }
    if let Some(resources) = resources(&service.resources) {
        container.insert("resources".into(), resources);
    }
    for probe in &service.probes {
        if let Some(key) = probe_key(&probe.kind) {
            container.insert(key.into(), probe_value(probe));
        }
    }
    container.insert(
        "securityContext".into(),
        container_security_context(&service.security),
    );
    let mounts = volume_mounts(service);
    if !mounts.is_empty() {
        container.insert("volumeMounts".into(), mounts.into());
    }
    container.into()
}

fn container_port(port: &Port) -> Value {
    json!({ "name": port.name, "containerPort": port.port, "protocol": port.protocol })
}

fn env(service: &Service) -> Vec<Value> {
    let plain = service
        .env
        .iter()
        .map(|(name, value)| json!({ "name": name, "value": value }));
    let secrets = service.secrets.iter().map(|secret| {
        json!({ "name": secret.variable,
            "valueFrom": { "secretKeyRef": { "name": secret.secret, "key": secret.key } } })
    });
    plain.chain(secrets).collect()
}

fn resources(resources: &Resources) -> Option<Value> {
    let mut value = Map::new();
    if !resources.requests.is_empty() {
        value.insert("requests".into(), string_map(&resources.requests));
    }
    if !resources.limits.is_empty() {
        value.insert("limits".into(), string_map(&resources.limits));
    }
    (!value.is_empty()).then(|| value.into())
}

fn probe_key(kind: &str) -> Option<&'static str> {
    match kind {
        "readiness" => Some("readinessProbe"),
        "liveness" => Some("livenessProbe"),
        "startup" => Some("startupProbe"),
        _ => None,
    }
}

fn probe_value(probe: &Probe) -> Value {
    let mut value = Map::new();
    let (key, check) = match &probe.check {
        ProbeCheck::Http { path, port } => {
            ("httpGet", json!({ "path": path, "port": port_ref(port) }))
        }
        ProbeCheck::Tcp { port } => ("tcpSocket", json!({ "port": port_ref(port) })),
        ProbeCheck::Grpc { port } => ("grpc", json!({ "port": port })),
        ProbeCheck::Exec { command } => ("exec", json!({ "command": ["sh", "-c", command] })),
    };
    value.insert(key.into(), check);
    let timings = [
        ("initialDelaySeconds", probe.initial_delay_seconds),
        ("periodSeconds", probe.period_seconds),
        ("timeoutSeconds", probe.timeout_seconds),
        ("failureThreshold", probe.failure_threshold),
        ("successThreshold", probe.success_threshold),
    ];
    for (key, seconds) in timings {
        if let Some(seconds) = seconds {
            value.insert(key.into(), seconds.into());
        }
    }
    value.into()
}

fn port_ref(port: &PortRef) -> Value {
    match port {
        PortRef::Number(number) => (*number).into(),
        PortRef::Name(name) => name.clone().into(),
    }
}

fn container_security_context(security: &Security) -> Value {
    let mut context = Map::new();
    context.insert(
        "allowPrivilegeEscalation".into(),
        security.allow_privilege_escalation.into(),
    );
    context.insert(
        "readOnlyRootFilesystem".into(),
        security.read_only_root_filesystem.into(),
    );
    context.insert("privileged".into(), security.privileged.into());
    context.insert("runAsNonRoot".into(), security.run_as_non_root.into());
    let mut capabilities = Map::new();
    if !security.drop_capabilities.is_empty() {
        capabilities.insert("drop".into(), json!(security.drop_capabilities));
    }
    if !security.add_capabilities.is_empty() {
        capabilities.insert("add".into(), json!(security.add_capabilities));
    }
    if !capabilities.is_empty() {
        context.insert("capabilities".into(), capabilities.into());
    }
    context.into()
}

fn volume_mounts(service: &Service) -> Vec<Value> {
    let mut mounts = Vec::new();
    if let (WorkloadKind::Stateful, Some(storage)) = (service.kind, &service.storage) {
        mounts.push(json!({ "name": DATA_VOLUME, "mountPath": storage.mount }));
    }
    if service.security.read_only_root_filesystem {
        mounts.push(json!({ "name": "tmp", "mountPath": "/tmp" }));
    }
    mounts
}

fn claim_template(service: &Service, storage: &Storage) -> Value {
    let mut spec = Map::new();
    spec.insert("accessModes".into(), json!([storage.access_mode]));
    if let Some(class) = &storage.class {
        spec.insert("storageClassName".into(), class.clone().into());
    }
    spec.insert(
        "resources".into(),
        json!({ "requests": { "storage": storage.size } }),
    );
    json!({
        "metadata": { "name": DATA_VOLUME, "labels": selector(service) },
        "spec": spec,
    })
}
