//! The `networking.k8s.io/v1` NetworkPolicies of one target (decisions in [`super`]).
//!
//! Consumes: the platform (for the aws region KEDA contexts carry), an environment and one of
//! its targets. Produces: (object name, object) pairs: `default-deny`, `allow-dns`,
//! `allow-mesh` (sidecar or ambient mesh) and one `<service>-allow` per service that talks to
//! or is reached by something; nothing when the environment's default-deny is off.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::keda;
use super::plan::{self, Scaler};
use crate::model::{Addons, EgressPeer, Environment, Platform, Port, Service, Target};

/// The NetworkPolicies of a target.
pub fn objects(
    platform: &Platform,
    environment: &Environment,
    target: &Target,
) -> Vec<(String, Value)> {
    if !environment.default_deny {
        return Vec::new();
    }
    let mut policies = vec![
        (
            "default-deny".to_owned(),
            policy(
                "default-deny",
                json!({}),
                &["Ingress", "Egress"],
                Vec::new(),
                Vec::new(),
            ),
        ),
        ("allow-dns".to_owned(), allow_dns()),
    ];
    if let Some(mesh) = allow_mesh(&environment.mesh.mode, &platform.addons) {
        policies.push(("allow-mesh".to_owned(), mesh));
    }
    let context = keda::Context::new(platform, environment, target);
    let read_by_keda: BTreeSet<String> = target
        .services
        .iter()
        .filter_map(plan::autoscale)
        .filter(|autoscale| autoscale.scaler() == Scaler::Keda)
        .flat_map(|autoscale| keda::services_read(&autoscale, &context))
        .collect();
    let callers = target.callers();
    for service in &target.services {
        let name = format!("{}-allow", service.name);
        let reach = Reach {
            callers: callers
                .get(service.name.as_str())
                .map_or(&[], Vec::as_slice),
            read_by_keda: read_by_keda.contains(&service.name),
        };
        if let Some(policy) = service_policy(&name, service, target, &reach, &platform.addons) {
            policies.push((name, policy));
        }
    }
    policies
}

fn policy(
    name: &str,
    pod_selector: Value,
    types: &[&str],
    ingress: Vec<Value>,
    egress: Vec<Value>,
) -> Value {
    let mut spec = Map::new();
    spec.insert("podSelector".into(), pod_selector);
    spec.insert("policyTypes".into(), json!(types));
    if !ingress.is_empty() {
        spec.insert("ingress".into(), ingress.into());
    }
    if !egress.is_empty() {
        spec.insert("egress".into(), egress.into());
    }
    let metadata = json!({ "name": name,
        "labels": { "app.kubernetes.io/managed-by": "manifold" } });
    crate::emit::resource("networking.k8s.io/v1", "NetworkPolicy", metadata, spec)
}

fn namespace_peer(namespace: &str, pods: Option<Value>) -> Value {
    let mut peer = Map::new();
    peer.insert(
        "namespaceSelector".into(),
        json!({ "matchLabels": { "kubernetes.io/metadata.name": namespace } }),
    );
    if let Some(pods) = pods {
        peer.insert("podSelector".into(), json!({ "matchLabels": pods }));
    }
    peer.into()
}

fn allow_dns() -> Value {
    let egress = json!({
        "to": [namespace_peer("kube-system", Some(json!({ "k8s-app": "kube-dns" })))],
        "ports": [{ "protocol": "UDP", "port": 53 }, { "protocol": "TCP", "port": 53 }],
    });
    policy(
        "allow-dns",
        json!({}),
        &["Egress"],
        Vec::new(),
        vec![egress],
    )
}

fn allow_mesh(mode: &str, addons: &Addons) -> Option<Value> {
    match mode {
        "sidecar" => {
            let egress = json!({
                "to": [namespace_peer(&addons.istio_namespace, Some(json!({ "app": "istiod" })))],
                "ports": [{ "protocol": "TCP", "port": 15012 }],
            });
            Some(policy(
                "allow-mesh",
                json!({}),
                &["Egress"],
                Vec::new(),
                vec![egress],
            ))
        }
        "ambient" => {
            let hbone = json!({ "ports": [{ "protocol": "TCP", "port": 15008 }] });
            let probes = json!({ "from": [{ "ipBlock": { "cidr": "169.254.7.127/32" } }] });
            Some(policy(
                "allow-mesh",
                json!({}),
                &["Ingress"],
                vec![hbone, probes],
                Vec::new(),
            ))
        }
        _ => None,
    }
}

/// Who reaches one service, from the target's one-pass indexes.
struct Reach<'t> {
    /// The services of the target that call it, by name.
    callers: &'t [&'t Service],
    /// Whether a KEDA trigger of the target reads from it.
    read_by_keda: bool,
}

fn service_policy(
    name: &str,
    service: &Service,
    target: &Target,
    reach: &Reach<'_>,
    addons: &Addons,
) -> Option<Value> {
    let own_ports = ports(&service.ports);
    let mut ingress = Vec::new();
    if !service.ports.is_empty() {
        if let Some(exposed) = exposed_ports(service) {
            ingress.push(json!({
                "from": [namespace_peer(&addons.istio_namespace, Some(json!({ "istio": "ingressgateway" })))],
                "ports": exposed,
            }));
        }
        if !reach.callers.is_empty() {
            let peers: Vec<Value> = reach
                .callers
                .iter()
                .map(|caller| json!({ "podSelector": { "matchLabels": super::selector(caller) } }))
                .collect();
            ingress.push(json!({ "from": peers, "ports": own_ports }));
        }
        if reach.read_by_keda {
            ingress.push(
                json!({ "from": [namespace_peer(&addons.keda_namespace, None)],
                "ports": own_ports }),
            );
        }
        if service.kind == crate::model::WorkloadKind::Stateful {
            ingress.push(json!({
                "from": [{ "podSelector": { "matchLabels": super::selector(service) } }],
                "ports": own_ports,
            }));
        }
    }
    let mut callees: Vec<&Service> = service
        .calls
        .iter()
        .filter_map(|callee| super::find(target, callee))
        .filter(|callee| !callee.ports.is_empty())
        .collect();
    callees.sort_by(|a, b| a.name.cmp(&b.name));
    callees.dedup_by(|a, b| a.name == b.name);
    let mut egress: Vec<Value> = callees
        .iter()
        .map(|callee| {
            json!({
                "to": [{ "podSelector": { "matchLabels": super::selector(callee) } }],
                "ports": ports(&callee.ports),
            })
        })
        .collect();
    // `egress` destinations outside the spec's services, in name order.
    egress.extend(service.egress.iter().map(|out| {
        let peer = match &out.peer {
            EgressPeer::Cidr(cidr) => json!({ "ipBlock": { "cidr": cidr } }),
            EgressPeer::Namespace(namespace) => namespace_peer(namespace, None),
        };
        json!({ "to": [peer], "ports": [{ "protocol": out.protocol, "port": out.port }] })
    }));
    if ingress.is_empty() && egress.is_empty() {
        return None;
    }
    let mut types = Vec::new();
    if !ingress.is_empty() {
        types.push("Ingress");
    }
    if !egress.is_empty() {
        types.push("Egress");
    }
    let mut object = policy(
        name,
        json!({ "matchLabels": super::selector(service) }),
        &types,
        ingress,
        egress,
    );
    if let Some(metadata) = object.get_mut("metadata") {
        metadata["labels"] = super::labels(service).into();
    }
    Some(object)
}

fn ports(ports: &[Port]) -> Vec<Value> {
    ports
        .iter()
        .map(|port| json!({ "protocol": port.protocol, "port": port.port }))
        .collect()
}

/// The container ports the ingress gateway may reach: the `expose` port (a name, a container
/// port or a Service port), else every port; `None` when the service is not exposed.
fn exposed_ports(service: &Service) -> Option<Vec<Value>> {
    let expose = service.expose.as_ref()?;
    let chosen: Vec<Port> = match expose.get("port") {
        Some(wanted) => {
            let wanted = plan::text(wanted);
            service
                .ports
                .iter()
                .filter(|port| {
                    port.name == wanted
                        || port.port.to_string() == wanted
                        || port.service_port.to_string() == wanted
                })
                .take(1)
                .cloned()
                .collect()
        }
        None => Vec::new(),
    };
    if chosen.is_empty() {
        Some(ports(&service.ports))
    } else {
        Some(ports(&chosen))
    }
}
