//! The mesh view of a resolved service: its `expose`, `route`, `traffic` and `version`
//! settings read from the model's JSON forms into types, plus the rules every consumer must
//! apply the same way (which version is the workload's own, which port a route means, how a
//! header operation is written).
//!
//! Consumes: one [`Service`] of the model. Produces: plain values. Used by the Istio emitter,
//! by the mesh checks (`crate::check::platform::mesh`) and by the Kustomize workload builder
//! (the `version` label of the pod template), so all three agree by construction.
//!
//! Invariants: reading never fails: the schema already validated the JSON forms, and a form
//! this module cannot read is treated as absent. Nothing here looks at other services or at
//! the environment.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::model::{Port, Service, WorkloadKind};

/// The pod label that carries a service's version; DestinationRule subsets select on it.
pub const VERSION_LABEL: &str = "version";

/// `expose host=… gateway=… tls-secret=… port=… { route …; }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Expose {
    /// The external host.
    pub host: Option<String>,
    /// An existing Gateway (`namespace/name`) to bind to instead of emitting one.
    pub gateway: Option<String>,
    /// The TLS secret (credentialName) of the emitted Gateway's HTTPS server.
    pub tls_secret: Option<String>,
    /// The port routes to this service use when they name none.
    pub port: Option<PortSelector>,
    /// The HTTP routes, in spec order (first match wins).
    #[serde(default)]
    pub routes: Vec<Route>,
}

/// A port by number or by name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PortSelector {
    /// A Service port or container port number.
    Number(u64),
    /// A port name (a string of digits counts as a number).
    Name(String),
}

impl std::fmt::Display for PortSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortSelector::Number(number) => write!(f, "{number}"),
            PortSelector::Name(name) => write!(f, "{name}"),
        }
    }
}

/// One `route` of an `expose` block.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Route {
    /// URI prefix match.
    pub prefix: Option<String>,
    /// Exact URI match.
    pub exact: Option<String>,
    /// Regular-expression URI match (RE2, as Envoy reads it).
    pub regex: Option<String>,
    /// Request headers that must match exactly, in spec order.
    #[serde(default)]
    pub header: serde_json::Map<String, Value>,
    /// Response header to add, `name=value`.
    pub header_add: Option<String>,
    /// Response header to set (replace), `name=value`.
    pub header_set: Option<String>,
    /// Response headers to remove, comma-separated names.
    pub header_remove: Option<String>,
    /// Request header to add before forwarding, `name=value`.
    pub request_header_add: Option<String>,
    /// Request header to set before forwarding, `name=value`.
    pub request_header_set: Option<String>,
    /// Request headers to remove before forwarding, comma-separated names.
    pub request_header_remove: Option<String>,
    /// Request timeout.
    pub timeout: Option<String>,
    /// Retry attempts.
    pub retries: Option<u64>,
    /// Timeout of each attempt.
    pub per_try_timeout: Option<String>,
    /// Retry conditions (Envoy `retryOn`).
    pub retry_on: Option<String>,
    /// Destination service (default: the exposing service).
    pub to: Option<String>,
    /// Destination port.
    pub port: Option<PortSelector>,
    /// URI rewrite.
    pub rewrite: Option<String>,
    /// Weights per version of the destination, in spec order.
    #[serde(default)]
    pub split: serde_json::Map<String, Value>,
    /// Mirror target: `SERVICE` or `SERVICE:VERSION`.
    pub mirror: Option<String>,
    /// Share of requests mirrored.
    pub mirror_percent: Option<u64>,
    /// Injected delay.
    pub fault_delay: Option<String>,
    /// Share of requests delayed.
    pub fault_delay_percent: Option<u64>,
    /// Injected HTTP status.
    pub fault_abort: Option<u64>,
    /// Share of requests aborted.
    pub fault_abort_percent: Option<u64>,
}

/// What a route's URI condition is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriMatch<'a> {
    /// No URI condition.
    Any,
    /// `prefix`.
    Prefix(&'a str),
    /// `exact`.
    Exact(&'a str),
    /// `regex`.
    Regex(&'a str),
}

impl Route {
    /// The URI condition (the first of prefix, exact, regex; the checks reject several).
    pub fn uri(&self) -> UriMatch<'_> {
        if let Some(prefix) = &self.prefix {
            UriMatch::Prefix(prefix)
        } else if let Some(exact) = &self.exact {
            UriMatch::Exact(exact)
        } else if let Some(regex) = &self.regex {
            UriMatch::Regex(regex)
        } else {
            UriMatch::Any
        }
    }

    /// The header conditions as strings.
    pub fn headers(&self) -> Vec<(String, String)> {
        self.header
            .iter()
            .map(|(name, value)| (name.clone(), scalar_text(value)))
            .collect()
    }

    /// The version weights, in spec order.
    pub fn split(&self) -> Vec<(String, u64)> {
        self.split
            .iter()
            .map(|(name, weight)| (name.clone(), weight.as_u64().unwrap_or(0)))
            .collect()
    }

    /// The mirror target split into service and optional version.
    pub fn mirror_target(&self) -> Option<(&str, Option<&str>)> {
        let mirror = self.mirror.as_deref()?;
        Some(match mirror.split_once(':') {
            Some((service, version)) => (service, Some(version)),
            None => (mirror, None),
        })
    }
}

/// `traffic { … }`: the policy toward a service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Traffic {
    /// Outlier detection.
    pub circuit_breaker: Option<CircuitBreaker>,
    /// Connection pool limits.
    pub connection_pool: Option<ConnectionPool>,
    /// Load-balancing algorithm.
    pub load_balancer: Option<String>,
    /// Timeout of mesh-internal requests.
    pub timeout: Option<String>,
    /// Retry attempts of mesh-internal requests.
    pub retries: Option<u64>,
    /// Timeout of each attempt.
    pub per_try_timeout: Option<String>,
    /// Retry conditions.
    pub retry_on: Option<String>,
}

impl Traffic {
    /// Whether anything goes into a DestinationRule's traffic policy.
    pub fn has_policy(&self) -> bool {
        self.circuit_breaker.is_some()
            || self.connection_pool.is_some()
            || self.load_balancer.is_some()
    }

    /// Whether anything goes into a mesh-internal HTTP route.
    pub fn has_route_settings(&self) -> bool {
        self.timeout.is_some()
            || self.retries.is_some()
            || self.per_try_timeout.is_some()
            || self.retry_on.is_some()
    }
}

/// `circuit-breaker …`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CircuitBreaker {
    /// Consecutive 5xx errors before ejection.
    pub consecutive_errors: Option<u64>,
    /// Analysis interval.
    pub interval: Option<String>,
    /// Base ejection time.
    pub ejection: Option<String>,
    /// Maximum share of hosts ejected.
    pub max_ejection_percent: Option<u64>,
}

/// `connection-pool …`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ConnectionPool {
    /// TCP connections.
    pub max_connections: Option<u64>,
    /// Pending HTTP requests.
    pub max_pending: Option<u64>,
    /// Requests per connection.
    pub max_requests_per_connection: Option<u64>,
    /// TCP connect timeout.
    pub connect_timeout: Option<String>,
}

/// `version NAME tag=… weight=… replicas=…`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Version {
    /// Name (the subset name and the `version` label value).
    pub name: String,
    /// Image tag; `None` means the service's own image.
    pub tag: Option<String>,
    /// Default share of traffic.
    pub weight: Option<u64>,
    /// Replicas of this version's Deployment (versions other than the workload's own).
    pub replicas: Option<u64>,
}

/// The service's `expose`, if any.
pub fn expose(service: &Service) -> Option<Expose> {
    service
        .expose
        .as_ref()
        .and_then(|value| Deserialize::deserialize(value).ok())
}

/// The service's `traffic` (empty when absent).
pub fn traffic(service: &Service) -> Traffic {
    service
        .traffic
        .as_ref()
        .and_then(|value| Deserialize::deserialize(value).ok())
        .unwrap_or_default()
}

/// The service's versions, sorted by name.
pub fn versions(service: &Service) -> Vec<Version> {
    service
        .versions
        .iter()
        .map(|(name, value)| Version {
            name: name.clone(),
            tag: value.get("tag").and_then(Value::as_str).map(str::to_owned),
            weight: value.get("weight").and_then(Value::as_u64),
            replicas: value.get("replicas").and_then(Value::as_u64),
        })
        .collect()
}

/// Whether a version runs the workload's own image: it names no tag, or the workload's tag.
pub fn runs_own_image(service: &Service, version: &Version) -> bool {
    match &version.tag {
        None => true,
        Some(tag) => service.image.tag.as_ref() == Some(tag),
    }
}

/// The names of the versions that run the workload's own image, sorted. The checks require
/// exactly one when the service has versions.
pub fn own_versions(service: &Service) -> Vec<String> {
    versions(service)
        .into_iter()
        .filter(|version| runs_own_image(service, version))
        .map(|version| version.name)
        .collect()
}

/// The version the service's own workload is (its pods carry `version: <name>`): the first
/// version, by name, that runs the workload's image.
pub fn primary_version(service: &Service) -> Option<String> {
    own_versions(service).into_iter().next()
}

/// The versions that get a Deployment of their own: every version that does not run the
/// workload's image, for stateless services (a stateful copy would own separate data).
pub fn variants(service: &Service) -> Vec<Version> {
    if service.kind != WorkloadKind::Stateless {
        return Vec::new();
    }
    versions(service)
        .into_iter()
        .filter(|version| !runs_own_image(service, version))
        .collect()
}

/// The default weights across versions: the versions' own `weight`s when any is given
/// (zero weights left out), otherwise everything to the primary version. Empty when the
/// service has no versions. Order: the primary version first, then by name.
pub fn default_split(service: &Service) -> Vec<(String, u64)> {
    let versions = versions(service);
    if versions.is_empty() {
        return Vec::new();
    }
    let primary = primary_version(service);
    if versions.iter().any(|version| version.weight.is_some()) {
        let mut weighted: Vec<(String, u64)> = versions
            .iter()
            .filter_map(|version| {
                let weight = version.weight.unwrap_or(0);
                (weight > 0).then(|| (version.name.clone(), weight))
            })
            .collect();
        weighted.sort_by_key(|(name, _)| Some(name) != primary.as_ref());
        return weighted;
    }
    primary.map(|name| vec![(name, 100)]).unwrap_or_default()
}

/// Why a port selector found no port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortProblem {
    /// The service declares no port.
    NoPorts,
    /// No port has that name or number.
    Unknown,
    /// No selector, several ports and none named `http`.
    Ambiguous,
}

/// The port a selector means on `service`: a name, a Service port number or a container
/// port number; without a selector, the only port, else the port named `http`.
pub fn find_port<'s>(
    service: &'s Service,
    selector: Option<&PortSelector>,
) -> Result<&'s Port, PortProblem> {
    if service.ports.is_empty() {
        return Err(PortProblem::NoPorts);
    }
    let number = |text: &str| text.parse::<u64>().ok();
    let found = match selector {
        None => {
            if let [only] = service.ports.as_slice() {
                return Ok(only);
            }
            return service
                .ports
                .iter()
                .find(|port| port.name == "http")
                .ok_or(PortProblem::Ambiguous);
        }
        Some(PortSelector::Name(name)) if number(name).is_none() => {
            service.ports.iter().find(|port| &port.name == name)
        }
        Some(PortSelector::Name(name)) => by_number(service, number(name).unwrap_or(0)),
        Some(PortSelector::Number(wanted)) => by_number(service, *wanted),
    };
    found.ok_or(PortProblem::Unknown)
}

fn by_number(service: &Service, wanted: u64) -> Option<&Port> {
    service
        .ports
        .iter()
        .find(|port| u64::from(port.service_port) == wanted)
        .or_else(|| {
            service
                .ports
                .iter()
                .find(|port| u64::from(port.port) == wanted)
        })
}

/// A `name=value` header operation: split at the first `=`. `None` when there is no `=` or
/// the name is not an HTTP token.
pub fn header_pair(text: &str) -> Option<(String, String)> {
    let (name, value) = text.split_once('=')?;
    let name = name.trim();
    is_header_name(name).then(|| (name.to_owned(), value.to_owned()))
}

/// The names of a `header-remove` value (comma-separated). `None` when one is not an HTTP
/// token or the list is empty.
pub fn header_names(text: &str) -> Option<Vec<String>> {
    let names: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    (!names.is_empty() && names.iter().all(|name| is_header_name(name))).then_some(names)
}

/// Whether `name` is an HTTP header name (an RFC 9110 token).
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// Whether Istio may treat the port as HTTP: an HTTP `app-protocol`, or no `app-protocol` and
/// a name Istio does not read as another protocol (it then sniffs the protocol).
pub fn may_carry_http(port: &Port) -> bool {
    match port.app_protocol.as_deref() {
        Some(protocol) => matches!(protocol, "http" | "http2" | "grpc"),
        None => !matches!(
            name_protocol(&port.name),
            "https" | "mongo" | "mysql" | "redis" | "tcp" | "tls" | "udp"
        ),
    }
}

/// Whether Istio may treat the port as plain TCP (anything not declared HTTP).
pub fn may_carry_tcp(port: &Port) -> bool {
    match port.app_protocol.as_deref() {
        Some(protocol) => !matches!(protocol, "http" | "http2" | "grpc"),
        None => !matches!(
            name_protocol(&port.name),
            "http" | "http2" | "grpc" | "grpc-web"
        ),
    }
}

/// The protocol prefix of a port name, as Istio reads it (`http-web` → `http`).
fn name_protocol(name: &str) -> &str {
    if name == "grpc-web" || name.starts_with("grpc-web-") {
        return "grpc-web";
    }
    name.split('-').next().unwrap_or(name)
}

/// A label-map value as text.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The fully qualified host of a service in a namespace.
pub fn service_host(service: &str, namespace: &str) -> String {
    format!("{service}.{namespace}.svc.cluster.local")
}

/// Versions by name, for lookups.
pub fn version_names(service: &Service) -> BTreeMap<String, Version> {
    versions(service)
        .into_iter()
        .map(|version| (version.name.clone(), version))
        .collect()
}
