//! Traffic management: Gateway, VirtualServices (ingress and mesh-internal) and
//! DestinationRule of one service.
//!
//! Consumes: the environment (namespace, mTLS), the target (other services, for route
//! destinations) and the service's mesh view. Produces: `networking.istio.io/v1` objects.
//! Invariants: a destination always names a fully qualified host; a weighted destination
//! list has at least two entries (a single destination carries no weight); a route whose
//! destination or port the checks would reject is still rendered without the missing part,
//! never a panic (the checks run on the same model and stop the compilation first).

use serde_json::{Map, Value, json};

use super::view::{self, Expose, Route, UriMatch};
use super::{NETWORKING, metadata};
use crate::model::{Environment, Service, Target};

/// The Gateway of an exposed service, unless it binds to an existing one (`gateway=`).
pub fn gateway(service: &Service, expose: &Expose) -> Option<Value> {
    if expose.gateway.is_some() {
        return None;
    }
    let host = expose.host.clone()?;
    let servers = match &expose.tls_secret {
        Some(secret) => json!([
            { "port": { "number": 443, "name": "https", "protocol": "HTTPS" },
              "hosts": [host],
              "tls": { "mode": "SIMPLE", "credentialName": secret } },
            { "port": { "number": 80, "name": "http", "protocol": "HTTP" },
              "hosts": [host],
              "tls": { "httpsRedirect": true } },
        ]),
        None => json!([
            { "port": { "number": 80, "name": "http", "protocol": "HTTP" },
              "hosts": [host] },
        ]),
    };
    let spec = crate::emit::object([
        ("selector", json!({ "istio": "ingressgateway" })),
        ("servers", servers),
    ]);
    Some(crate::emit::resource(
        NETWORKING,
        "Gateway",
        metadata(&service.name, Some(&service.name)),
        spec,
    ))
}

/// The name of the Gateway an exposed service's routes bind to.
pub fn gateway_ref(service: &Service, expose: &Expose) -> String {
    expose
        .gateway
        .clone()
        .unwrap_or_else(|| service.name.clone())
}

/// The VirtualService binding an exposed host to its routes.
pub fn ingress_virtual_service(
    environment: &Environment,
    target: &Target,
    service: &Service,
    expose: &Expose,
) -> Value {
    let http: Vec<Value> = expose
        .routes
        .iter()
        .map(|route| http_route(environment, target, service, expose, route))
        .collect();
    let mut spec = Map::new();
    spec.insert(
        "hosts".into(),
        json!([expose.host.clone().unwrap_or_default()]),
    );
    spec.insert("gateways".into(), json!([gateway_ref(service, expose)]));
    spec.insert("http".into(), http.into());
    crate::emit::resource(
        NETWORKING,
        "VirtualService",
        metadata(&ingress_name(service), Some(&service.name)),
        spec,
    )
}

/// The name of a service's ingress VirtualService.
pub fn ingress_name(service: &Service) -> String {
    format!("{}-ingress", service.name)
}

/// Where a route sends its requests: the destination service and the port selector.
pub fn route_destination<'t>(
    target: &'t Target,
    service: &'t Service,
    expose: &Expose,
    route: &Route,
) -> Option<(&'t Service, Option<view::PortSelector>)> {
    let name = route.to.as_deref().unwrap_or(&service.name);
    let destination = target.service(name)?;
    let selector = route.port.clone().or_else(|| {
        (destination.name == service.name)
            .then(|| expose.port.clone())
            .flatten()
    });
    Some((destination, selector))
}

fn http_route(
    environment: &Environment,
    target: &Target,
    service: &Service,
    expose: &Expose,
    route: &Route,
) -> Value {
    let mut rule = Map::new();
    if let Some(conditions) = match_conditions(route) {
        rule.insert("match".into(), json!([conditions]));
    }
    if let Some(uri) = &route.rewrite {
        rule.insert("rewrite".into(), json!({ "uri": uri }));
    }
    let namespace = &environment.namespace;
    let destination = route_destination(target, service, expose, route);
    let (host, port, weights) = match &destination {
        Some((destination, selector)) => {
            let port = view::find_port(destination, selector.as_ref())
                .ok()
                .map(|port| port.service_port);
            let split = route.split();
            let weights: Vec<(String, u64)> = if split.is_empty() {
                view::default_split(destination)
            } else {
                split
                    .into_iter()
                    .filter(|(_, weight)| *weight > 0)
                    .collect()
            };
            (
                view::service_host(&destination.name, namespace),
                port,
                weights,
            )
        }
        None => (
            view::service_host(route.to.as_deref().unwrap_or(&service.name), namespace),
            None,
            Vec::new(),
        ),
    };
    rule.insert("route".into(), destinations(&host, port, &weights).into());
    if let Some(headers) = header_operations(route) {
        rule.insert("headers".into(), headers);
    }
    if let Some(timeout) = &route.timeout {
        rule.insert("timeout".into(), timeout.clone().into());
    }
    if let Some(retries) = retries(
        route.retries,
        route.per_try_timeout.as_ref(),
        route.retry_on.as_ref(),
    ) {
        rule.insert("retries".into(), retries);
    }
    if let Some(fault) = fault(route) {
        rule.insert("fault".into(), fault);
    }
    if let Some((mirror_service, version)) = route.mirror_target() {
        let mut mirror = Map::new();
        mirror.insert(
            "host".into(),
            view::service_host(mirror_service, namespace).into(),
        );
        if let Some(version) = version {
            mirror.insert("subset".into(), version.into());
        }
        let mirror_port = match &destination {
            Some((destination, _)) if destination.name == mirror_service => port,
            _ => target
                .services
                .iter()
                .find(|other| other.name == mirror_service)
                .and_then(|other| view::find_port(other, None).ok())
                .map(|port| port.service_port),
        };
        if let Some(number) = mirror_port {
            mirror.insert("port".into(), json!({ "number": number }));
        }
        rule.insert("mirror".into(), mirror.into());
        if let Some(percent) = route.mirror_percent {
            rule.insert("mirrorPercentage".into(), json!({ "value": percent }));
        }
    }
    rule.into()
}

/// The `match` entry of a route, or `None` for a route that matches everything.
fn match_conditions(route: &Route) -> Option<Value> {
    let mut conditions = Map::new();
    match route.uri() {
        UriMatch::Any => {}
        UriMatch::Prefix(prefix) => {
            conditions.insert("uri".into(), json!({ "prefix": prefix }));
        }
        UriMatch::Exact(exact) => {
            conditions.insert("uri".into(), json!({ "exact": exact }));
        }
        UriMatch::Regex(regex) => {
            conditions.insert("uri".into(), json!({ "regex": regex }));
        }
    }
    let headers = route.headers();
    if !headers.is_empty() {
        let headers: Map<String, Value> = headers
            .into_iter()
            .map(|(name, value)| (name, json!({ "exact": value })))
            .collect();
        conditions.insert("headers".into(), headers.into());
    }
    (!conditions.is_empty()).then(|| conditions.into())
}

/// The weighted destinations: one entry without weight, or one per version with its weight.
fn destinations(host: &str, port: Option<u16>, weights: &[(String, u64)]) -> Vec<Value> {
    let destination = |subset: Option<&str>| {
        let mut destination = Map::new();
        destination.insert("host".into(), host.into());
        if let Some(subset) = subset {
            destination.insert("subset".into(), subset.into());
        }
        if let Some(number) = port {
            destination.insert("port".into(), json!({ "number": number }));
        }
        Value::from(destination)
    };
    match weights {
        [] => vec![json!({ "destination": destination(None) })],
        [(subset, _)] => vec![json!({ "destination": destination(Some(subset)) })],
        several => several
            .iter()
            .map(|(subset, weight)| {
                json!({ "destination": destination(Some(subset)), "weight": weight })
            })
            .collect(),
    }
}

/// Response (`header-*`) and request (`request-header-*`) header operations.
fn header_operations(route: &Route) -> Option<Value> {
    let mut headers = Map::new();
    let sides = [
        (
            "request",
            &route.request_header_add,
            &route.request_header_set,
            &route.request_header_remove,
        ),
        (
            "response",
            &route.header_add,
            &route.header_set,
            &route.header_remove,
        ),
    ];
    for (side, add, set, remove) in sides {
        let mut operations = Map::new();
        for (key, operation) in [("add", add), ("set", set)] {
            if let Some((name, value)) = operation.as_deref().and_then(view::header_pair) {
                operations.insert(key.into(), json!({ name: value }));
            }
        }
        if let Some(names) = remove.as_deref().and_then(view::header_names) {
            operations.insert("remove".into(), names.into());
        }
        if !operations.is_empty() {
            headers.insert(side.into(), operations.into());
        }
    }
    (!headers.is_empty()).then(|| headers.into())
}

/// A `retries` block, when any retry setting is given.
fn retries(
    attempts: Option<u64>,
    per_try_timeout: Option<&String>,
    retry_on: Option<&String>,
) -> Option<Value> {
    let mut retries = Map::new();
    if let Some(attempts) = attempts {
        retries.insert("attempts".into(), attempts.into());
    }
    if let Some(timeout) = per_try_timeout {
        retries.insert("perTryTimeout".into(), timeout.clone().into());
    }
    if let Some(conditions) = retry_on {
        retries.insert("retryOn".into(), conditions.clone().into());
    }
    (!retries.is_empty()).then(|| retries.into())
}

fn fault(route: &Route) -> Option<Value> {
    let mut fault = Map::new();
    if let Some(delay) = &route.fault_delay {
        let mut entry = Map::new();
        entry.insert("fixedDelay".into(), delay.clone().into());
        if let Some(percent) = route.fault_delay_percent {
            entry.insert("percentage".into(), json!({ "value": percent }));
        }
        fault.insert("delay".into(), entry.into());
    }
    if let Some(status) = route.fault_abort {
        let mut entry = Map::new();
        entry.insert("httpStatus".into(), status.into());
        if let Some(percent) = route.fault_abort_percent {
            entry.insert("percentage".into(), json!({ "value": percent }));
        }
        fault.insert("abort".into(), entry.into());
    }
    (!fault.is_empty()).then(|| fault.into())
}

/// The mesh-internal VirtualService of a service other services call (`called`: whether any
/// does), when it has versions or route settings (`traffic { timeout …; retries …; }`).
pub fn mesh_virtual_service(
    environment: &Environment,
    called: bool,
    service: &Service,
) -> Option<Value> {
    if service.ports.is_empty() || !called {
        return None;
    }
    let traffic = view::traffic(service);
    let weights = view::default_split(service);
    let has_versions = !service.versions.is_empty();
    if !has_versions && !traffic.has_route_settings() {
        return None;
    }
    let host = view::service_host(&service.name, &environment.namespace);
    let mut spec = Map::new();
    spec.insert("hosts".into(), json!([host]));
    if service.ports.iter().any(view::may_carry_http) {
        let mut rule = Map::new();
        rule.insert("route".into(), destinations(&host, None, &weights).into());
        if let Some(timeout) = &traffic.timeout {
            rule.insert("timeout".into(), timeout.clone().into());
        }
        if let Some(retries) = retries(
            traffic.retries,
            traffic.per_try_timeout.as_ref(),
            traffic.retry_on.as_ref(),
        ) {
            rule.insert("retries".into(), retries);
        }
        spec.insert("http".into(), json!([rule]));
    }
    if has_versions && service.ports.iter().any(view::may_carry_tcp) {
        spec.insert(
            "tcp".into(),
            json!([{ "route": destinations(&host, None, &weights) }]),
        );
    }
    if !spec.contains_key("http") && !spec.contains_key("tcp") {
        return None;
    }
    Some(crate::emit::resource(
        NETWORKING,
        "VirtualService",
        metadata(&service.name, Some(&service.name)),
        spec,
    ))
}

/// The DestinationRule of a service with versions or a traffic policy.
pub fn destination_rule(environment: &Environment, service: &Service) -> Option<Value> {
    let traffic = view::traffic(service);
    let versions = view::versions(service);
    if service.ports.is_empty() || (versions.is_empty() && !traffic.has_policy()) {
        return None;
    }
    let mut policy = Map::new();
    if let Some(balancer) = &traffic.load_balancer {
        let simple = match balancer.as_str() {
            "least-request" => "LEAST_REQUEST",
            "random" => "RANDOM",
            "passthrough" => "PASSTHROUGH",
            _ => "ROUND_ROBIN",
        };
        policy.insert("loadBalancer".into(), json!({ "simple": simple }));
    }
    if let Some(pool) = &traffic.connection_pool {
        let mut tcp = Map::new();
        if let Some(max) = pool.max_connections {
            tcp.insert("maxConnections".into(), max.into());
        }
        if let Some(timeout) = &pool.connect_timeout {
            tcp.insert("connectTimeout".into(), timeout.clone().into());
        }
        let mut http = Map::new();
        if let Some(pending) = pool.max_pending {
            http.insert("http1MaxPendingRequests".into(), pending.into());
        }
        if let Some(requests) = pool.max_requests_per_connection {
            http.insert("maxRequestsPerConnection".into(), requests.into());
        }
        let mut connection_pool = Map::new();
        if !tcp.is_empty() {
            connection_pool.insert("tcp".into(), tcp.into());
        }
        if !http.is_empty() {
            connection_pool.insert("http".into(), http.into());
        }
        if !connection_pool.is_empty() {
            policy.insert("connectionPool".into(), connection_pool.into());
        }
    }
    if let Some(breaker) = &traffic.circuit_breaker {
        let mut outlier = Map::new();
        if let Some(errors) = breaker.consecutive_errors {
            outlier.insert("consecutive5xxErrors".into(), errors.into());
        }
        if let Some(interval) = &breaker.interval {
            outlier.insert("interval".into(), interval.clone().into());
        }
        if let Some(ejection) = &breaker.ejection {
            outlier.insert("baseEjectionTime".into(), ejection.clone().into());
        }
        if let Some(percent) = breaker.max_ejection_percent {
            outlier.insert("maxEjectionPercent".into(), percent.into());
        }
        if !outlier.is_empty() {
            policy.insert("outlierDetection".into(), outlier.into());
        }
    }
    let mode = if environment.mesh.mtls == "disable" {
        "DISABLE"
    } else {
        "ISTIO_MUTUAL"
    };
    policy.insert("tls".into(), json!({ "mode": mode }));
    let mut spec = Map::new();
    spec.insert(
        "host".into(),
        view::service_host(&service.name, &environment.namespace).into(),
    );
    spec.insert("trafficPolicy".into(), policy.into());
    if !versions.is_empty() {
        let subsets: Vec<Value> = versions
            .iter()
            .map(|version| {
                json!({ "name": version.name,
                    "labels": { view::VERSION_LABEL: version.name } })
            })
            .collect();
        spec.insert("subsets".into(), subsets.into());
    }
    Some(crate::emit::resource(
        NETWORKING,
        "DestinationRule",
        metadata(&service.name, Some(&service.name)),
        spec,
    ))
}
