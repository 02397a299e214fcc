//! Mesh security: the namespace's PeerAuthentication, the allow-nothing default and one
//! ALLOW AuthorizationPolicy per service that something may reach.
//!
//! Consumes: the environment (namespace, mTLS mode), the target's services (`calls`, the
//! routes of exposed services). Produces: `security.istio.io/v1` objects.
//! Invariants: every allowed source is a declared dependency (`calls`), the ingress gateway
//! for a port a route sends to, or the KEDA operator for a service a `queue` trigger reads
//! (`address`/`host`/`server` naming it); nothing else is allowed. Principals and ports are
//! sorted, so the output does not depend on declaration order.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::view;
use super::{ALLOW_NOTHING, SECURITY, metadata};
use crate::emit::kustomize::workload;
use crate::model::{Addons, Environment, Service, Target};

/// The namespace-wide PeerAuthentication (`default`): STRICT, PERMISSIVE or DISABLE.
pub fn peer_authentication(environment: &Environment) -> Value {
    let mode = match environment.mesh.mtls.as_str() {
        "permissive" => "PERMISSIVE",
        "disable" => "DISABLE",
        _ => "STRICT",
    };
    json!({
        "apiVersion": SECURITY,
        "kind": "PeerAuthentication",
        "metadata": metadata("default", None),
        "spec": { "mtls": { "mode": mode } },
    })
}

/// The allow-nothing policy: an AuthorizationPolicy with an empty spec selects every workload
/// of the namespace and, having no rule, allows nothing that another policy does not allow.
pub fn allow_nothing() -> Value {
    json!({
        "apiVersion": SECURITY,
        "kind": "AuthorizationPolicy",
        "metadata": metadata(ALLOW_NOTHING, None),
        "spec": {},
    })
}

/// The SPIFFE principal of a service's account in a namespace.
pub fn principal(namespace: &str, service: &str) -> String {
    format!("cluster.local/ns/{namespace}/sa/{service}")
}

/// Who may reach the services of one target: callers, gateway ports and KEDA trigger hosts,
/// computed in one pass over the target. Asking per service instead walks every service (and
/// parses every `expose`) for each one: quadratic in the number of services.
pub struct Reach<'t> {
    /// Callee name → the services that call it, in target order.
    callers: BTreeMap<&'t str, Vec<&'t Service>>,
    /// Service name → the container ports the ingress gateway sends to ([`gateway_ports`]).
    gateway: BTreeMap<&'t str, BTreeSet<u16>>,
    /// The hosts KEDA triggers read from (lower case, without a trailing dot).
    keda_hosts: BTreeSet<String>,
}

impl<'t> Reach<'t> {
    /// Indexes `target`.
    pub fn new(target: &'t Target) -> Reach<'t> {
        let mut keda_hosts = BTreeSet::new();
        for service in &target.services {
            if let Some(Value::Array(queues)) = service
                .autoscale
                .as_ref()
                .and_then(|autoscale| autoscale.get("queue"))
            {
                for queue in queues {
                    for key in ["address", "host", "server"] {
                        if let Some(host) = queue.get(key).and_then(Value::as_str).and_then(host_of)
                        {
                            keda_hosts.insert(host.trim_end_matches('.').to_owned());
                        }
                    }
                }
            }
        }
        Reach {
            callers: target.callers(),
            gateway: gateway_ports(target),
            keda_hosts,
        }
    }

    /// The services of the target that call `name`, sorted by name.
    pub fn callers(&self, name: &str) -> &[&'t Service] {
        self.callers.get(name).map_or(&[], Vec::as_slice)
    }

    /// Whether a KEDA trigger of a service in the target reads from `service` (its `address`,
    /// `host` or `server` names the service, in this namespace): the KEDA operator then
    /// connects to it and must be allowed.
    pub fn scaled_on(&self, environment: &Environment, service: &Service) -> bool {
        names(&service.name, &environment.namespace)
            .iter()
            .any(|name| self.keda_hosts.contains(name))
    }
}

/// The ALLOW policy of a service: its callers to every port, the ingress gateway to the
/// ports routes send to. `None` when nothing may reach it.
pub fn service_policy(
    addons: &Addons,
    environment: &Environment,
    reach: &Reach<'_>,
    service: &Service,
) -> Option<Value> {
    if service.ports.is_empty() {
        return None;
    }
    let mut rules = Vec::new();
    let callers: BTreeSet<String> = reach
        .callers(&service.name)
        .iter()
        .map(|caller| principal(&environment.namespace, &caller.name))
        .collect();
    if !callers.is_empty() {
        let ports: BTreeSet<u16> = service.ports.iter().map(|port| port.port).collect();
        rules.push(rule(callers.into_iter().collect(), &ports));
    }
    if let Some(gateway_ports) = reach.gateway.get(service.name.as_str())
        && !gateway_ports.is_empty()
    {
        let gateway = principal(&addons.istio_namespace, &addons.gateway_service_account);
        rules.push(rule(vec![gateway], gateway_ports));
    }
    if reach.scaled_on(environment, service) {
        let ports: BTreeSet<u16> = service.ports.iter().map(|port| port.port).collect();
        // The KEDA operator must run in the mesh to reach services of a namespace with
        // identity-based policies.
        let keda = principal(&addons.keda_namespace, &addons.keda_service_account);
        rules.push(rule(vec![keda], &ports));
    }
    if rules.is_empty() {
        return None;
    }
    let mut spec = Map::new();
    spec.insert(
        "selector".into(),
        json!({ "matchLabels": workload::selector(service) }),
    );
    spec.insert("action".into(), "ALLOW".into());
    spec.insert("rules".into(), rules.into());
    Some(crate::emit::resource(
        SECURITY,
        "AuthorizationPolicy",
        metadata(&service.name, Some(&service.name)),
        spec,
    ))
}

/// The host of an address: `redis.ns.svc:6379`, `http://prometheus:9090/x`,
/// `amqp://user@rabbitmq:5672/vhost` → `redis.ns.svc`, `prometheus`, `rabbitmq`.
fn host_of(address: &str) -> Option<String> {
    let rest = address.split_once("://").map_or(address, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    let host = rest.split(['/', ':', '?']).next()?.trim();
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The in-cluster names of `service` in `namespace` (a host naming any of them, without its
/// trailing dot, names the service).
fn names(service: &str, namespace: &str) -> [String; 4] {
    [
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

fn rule(principals: Vec<String>, ports: &BTreeSet<u16>) -> Value {
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    json!({
        "from": [{ "source": { "principals": principals } }],
        "to": [{ "operation": { "ports": ports } }],
    })
}

/// For each service, the container ports that the ingress gateway sends requests (or
/// mirrored requests) to, through the routes of every exposed service of the target.
pub fn gateway_ports(target: &Target) -> BTreeMap<&str, BTreeSet<u16>> {
    let mut ports: BTreeMap<&str, BTreeSet<u16>> = BTreeMap::new();
    for exposing in &target.services {
        let Some(expose) = view::expose(exposing).filter(|expose| expose.host.is_some()) else {
            continue;
        };
        for route in &expose.routes {
            let destination = super::routing::route_destination(target, exposing, &expose, route);
            let mut destination_port = None;
            if let Some((destination, selector)) = &destination {
                destination_port = view::find_port(destination, selector.as_ref()).ok();
                if let Some(port) = destination_port {
                    ports
                        .entry(destination.name.as_str())
                        .or_default()
                        .insert(port.port);
                }
            }
            if let Some((mirror, _)) = route.mirror_target()
                && let Some(service) = target.service(mirror)
            {
                let port = match destination {
                    Some((destination, _)) if destination.name == mirror => destination_port,
                    _ => view::find_port(service, None).ok(),
                };
                if let Some(port) = port {
                    ports
                        .entry(service.name.as_str())
                        .or_default()
                        .insert(port.port);
                }
            }
        }
    }
    ports
}
