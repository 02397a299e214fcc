//! Mesh checks: what `istioctl analyze` would find in the emitted Istio objects, found before
//! anything is deployed and reported at the spec tokens that caused it.
//!
//! Consumes: the resolved [`Platform`] (every target's services, with origins) and the
//! Istio emitter's own view of it ([`crate::emit::istio::view`], and the objects themselves,
//! built once for this check and the emitter: [`crate::emit::istio::Mesh`]), so the checks
//! judge exactly what would be written. Produces: diagnostics with codes under
//! `manifold::mesh::`.
//!
//! Invariants: every rule runs over every target and reports every violation; a problem that
//! looks the same in several targets is reported once (messages name an environment only when
//! the problem depends on it, and [`crate::diagnostic::sort`] drops exact duplicates). Route
//! and version rules run in every environment (the same spec lines feed the meshed ones);
//! rules about emitted objects (authorization, names, hosts) run where a mesh runs.

use std::collections::BTreeMap;

use crate::diagnostic::{Diagnostic, suggestion_help};
use crate::emit::istio::view::{self, PortProblem, Route, UriMatch};
use crate::emit::istio::{self, meshed};
use crate::model::{CloudKind, Environment, Platform, Service, Target, WorkloadKind};
use crate::source::{FileId, Span};
use crate::spec::pointer_join as join;

use super::origin_span;

/// Code: a route whose properties contradict each other or are malformed.
pub const INVALID_ROUTE: &str = "manifold::mesh::invalid-route";
/// Code: a route (`to`) or mirror names a service that does not exist.
pub const UNKNOWN_DESTINATION: &str = "manifold::mesh::unknown-destination";
/// Code: a route names a port its destination does not have, or the destination has none.
pub const UNKNOWN_PORT: &str = "manifold::mesh::unknown-port";
/// Code: a route names no port and its destination has several, none named `http`.
pub const AMBIGUOUS_PORT: &str = "manifold::mesh::ambiguous-port";
/// Code: a `split` or mirror names a version the destination does not declare.
pub const UNKNOWN_SUBSET: &str = "manifold::mesh::unknown-subset";
/// Code: a version whose subset would select no pod.
pub const SUBSET_WITHOUT_PODS: &str = "manifold::mesh::subset-without-pods";
/// Code: a service with versions, none of which runs the workload's own image.
pub const UNVERSIONED_WORKLOAD: &str = "manifold::mesh::unversioned-workload";
/// Code: weights that do not add up to 100.
pub const WEIGHTS: &str = "manifold::mesh::weights-not-100";
/// Code: a route that an earlier route always matches first.
pub const UNREACHABLE_ROUTE: &str = "manifold::mesh::unreachable-route";
/// Code: two VirtualServices claim one host on one cluster.
pub const DUPLICATE_HOST: &str = "manifold::mesh::duplicate-host";
/// Code: a declared call (or the ingress gateway's) that the mesh would deny.
pub const BLOCKED_CALL: &str = "manifold::mesh::blocked-call";
/// Code: `expose` without a `host` once resolved.
pub const EXPOSE_WITHOUT_HOST: &str = "manifold::mesh::expose-without-host";
/// Code: `expose` without any `route`.
pub const EXPOSE_WITHOUT_ROUTE: &str = "manifold::mesh::expose-without-route";
/// Code: two generated objects of one kind with one name.
pub const NAME_CONFLICT: &str = "manifold::mesh::name-conflict";
/// Code (warning): mesh settings in an environment that runs no mesh.
pub const WITHOUT_MESH: &str = "manifold::mesh::without-mesh";

/// Runs every mesh rule; `mesh` holds every target's objects, as the emitter builds them.
pub fn check(platform: &Platform, spec_file: FileId, mesh: &istio::Mesh) -> Vec<Diagnostic> {
    let mut checker = Checker {
        file: spec_file,
        out: Vec::new(),
    };
    let mut hosts: BTreeMap<(CloudKind, String, String), Claim> = BTreeMap::new();
    for ((environment, target), built) in platform.targets().zip(&mesh.targets) {
        for service in &target.services {
            checker.routes(target, service);
            checker.versions(service);
            checker.traffic(service);
            if meshed(environment) {
                checker.blocked(environment, target, service);
            } else {
                checker.without_mesh(environment, service);
            }
        }
        if meshed(environment) {
            checker.names(target, &built.objects);
            checker.hosts(environment, target, &mut hosts);
        }
    }
    checker.out
}

/// The first claim of a host on a cluster.
struct Claim {
    environment: String,
    service: String,
    span: Span,
}

struct Checker {
    file: FileId,
    out: Vec<Diagnostic>,
}

impl Checker {
    fn span(&self, service: &Service, pointers: &[&str]) -> Span {
        origin_span(&service.origins, pointers, self.file)
    }

    /// The key of a `key=value` map entry (origins record the value token): the key is
    /// written right before `=`, and version names and header names need no quotes.
    fn key_span(&self, service: &Service, pointer: &str, key: &str) -> Span {
        let value = self.span(service, &[pointer]);
        match value.start.checked_sub(key.len() + 1) {
            Some(start) if value.len > 0 => Span::new(value.file, start, key.len()),
            _ => value,
        }
    }

    fn routes(&mut self, target: &Target, service: &Service) {
        let Some(expose) = view::expose(service) else {
            return;
        };
        if expose.host.is_none() {
            self.out.push(
                Diagnostic::error(
                    EXPOSE_WITHOUT_HOST,
                    self.span(service, &["/expose"]),
                    format!("`{}` is exposed without a `host`", service.name),
                )
                .with_label("no `host=`")
                .with_help("give the host on the service's `expose` (an `in` block may change it per environment): `expose host=shop.example.com { … }`"),
            );
        }
        if expose.routes.is_empty() {
            let host = expose.host.as_deref().unwrap_or("its host");
            self.out.push(
                Diagnostic::error(
                    EXPOSE_WITHOUT_ROUTE,
                    self.span(service, &["/expose"]),
                    format!("`{}` is exposed on `{host}` but has no route", service.name),
                )
                .with_label("no `route` in this block")
                .with_help(format!(
                    "add `route prefix=\"/\"` to send every request to `{}` (routes match in order; the first match wins)",
                    service.name
                )),
            );
            return;
        }
        for (idx, route) in expose.routes.iter().enumerate() {
            let pointer = join("/expose/routes", &idx.to_string());
            self.route_form(service, route, &pointer);
            self.route_target(target, service, &expose, route, &pointer);
            if let Some((earlier_idx, _)) = expose.routes[..idx]
                .iter()
                .enumerate()
                .find(|(_, earlier)| covers(earlier, route))
            {
                let earlier = join("/expose/routes", &earlier_idx.to_string());
                self.out.push(
                    Diagnostic::error(
                        UNREACHABLE_ROUTE,
                        self.span(service, &[&pointer]),
                        format!(
                            "route {} of `{}` can never match: route {} before it matches every request it would",
                            idx + 1,
                            service.name,
                            earlier_idx + 1
                        ),
                    )
                    .with_label("unreachable route")
                    .with_related(self.span(service, &[&earlier]), "this route matches first")
                    .with_help("routes match in order and the first match wins: put the more specific route first"),
                );
            }
        }
    }

    /// Properties of one route that contradict each other or are malformed.
    fn route_form(&mut self, service: &Service, route: &Route, pointer: &str) {
        let at = |key: &str| join(pointer, key);
        let uris: Vec<&str> = [
            ("prefix", &route.prefix),
            ("exact", &route.exact),
            ("regex", &route.regex),
        ]
        .into_iter()
        .filter(|(_, value)| value.is_some())
        .map(|(key, _)| key)
        .collect();
        if let [first, second, ..] = uris.as_slice() {
            self.invalid(
                service,
                &at(second),
                format!("a route matches by one of `prefix`, `exact` and `regex`, not by `{first}` and `{second}`"),
                "second URI match",
                "split it into two routes, one per match",
            );
        }
        for (key, value) in [
            ("header-add", &route.header_add),
            ("header-set", &route.header_set),
            ("request-header-add", &route.request_header_add),
            ("request-header-set", &route.request_header_set),
        ] {
            if let Some(text) = value
                && view::header_pair(text).is_none()
            {
                self.invalid(
                    service,
                    &at(key),
                    format!("`{key}` must be `name=value` with an HTTP header name, not `{text}`"),
                    "not `name=value`",
                    format!("write e.g. `{key}=\"cache-control=no-cache\"`"),
                );
            }
        }
        for (key, value) in [
            ("header-remove", &route.header_remove),
            ("request-header-remove", &route.request_header_remove),
        ] {
            if let Some(text) = value
                && view::header_names(text).is_none()
            {
                self.invalid(
                    service,
                    &at(key),
                    format!("`{key}` must list HTTP header names, not `{text}`"),
                    "not a header name list",
                    format!("write e.g. `{key}=\"x-powered-by,server\"`"),
                );
            }
        }
        for name in route.header.keys() {
            if !view::is_header_name(name) {
                self.out.push(
                    Diagnostic::error(
                        INVALID_ROUTE,
                        self.key_span(service, &join(&at("header"), name), name),
                        format!("`{name}` is not an HTTP header name"),
                    )
                    .with_label("not a header name")
                    .with_help("header names are letters, digits and `-` (RFC 9110 tokens)"),
                );
            }
        }
        let needs = [
            (
                "per-try-timeout",
                route.per_try_timeout.is_some(),
                "retries",
                route.retries.is_some(),
            ),
            (
                "retry-on",
                route.retry_on.is_some(),
                "retries",
                route.retries.is_some(),
            ),
            (
                "mirror-percent",
                route.mirror_percent.is_some(),
                "mirror",
                route.mirror.is_some(),
            ),
            (
                "fault-delay-percent",
                route.fault_delay_percent.is_some(),
                "fault-delay",
                route.fault_delay.is_some(),
            ),
            (
                "fault-abort-percent",
                route.fault_abort_percent.is_some(),
                "fault-abort",
                route.fault_abort.is_some(),
            ),
        ];
        for (key, present, needed, needed_present) in needs {
            if present && !needed_present {
                self.invalid(
                    service,
                    &at(key),
                    format!("`{key}` has no effect without `{needed}`"),
                    format!("needs `{needed}`"),
                    format!("add `{needed}=…` to this route, or remove `{key}`"),
                );
            }
        }
        if let Some(mirror) = &route.mirror
            && let Some((name, version)) = route.mirror_target()
            && (name.is_empty() || version.is_some_and(str::is_empty))
        {
            self.invalid(
                service,
                &at("mirror"),
                format!("`mirror` must be `SERVICE` or `SERVICE:VERSION`, not `{mirror}`"),
                "not a mirror target",
                "write e.g. `mirror=api:canary`",
            );
        }
    }

    fn invalid(
        &mut self,
        service: &Service,
        pointer: &str,
        message: String,
        label: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.out.push(
            Diagnostic::error(INVALID_ROUTE, self.span(service, &[pointer]), message)
                .with_label(label)
                .with_help(help),
        );
    }

    /// The destination, port, subsets and mirror of one route.
    fn route_target(
        &mut self,
        target: &Target,
        service: &Service,
        expose: &view::Expose,
        route: &Route,
        pointer: &str,
    ) {
        let at = |key: &str| join(pointer, key);
        let names = || target.services.iter().map(|other| other.name.as_str());
        let Some((destination, selector)) =
            istio::route_destination(target, service, expose, route)
        else {
            let to = route.to.as_deref().unwrap_or_default();
            self.out.push(
                Diagnostic::error(
                    UNKNOWN_DESTINATION,
                    self.span(service, &[&at("to"), pointer]),
                    format!("route `to` names unknown service `{to}`"),
                )
                .with_label("no such service")
                .with_help(suggestion_help(to, "service", names())),
            );
            return;
        };
        let port_pointer = if route.port.is_some() {
            at("port")
        } else if selector.is_some() {
            "/expose/port".to_owned()
        } else {
            pointer.to_owned()
        };
        let port = view::find_port(destination, selector.as_ref());
        self.port_problem(
            service,
            destination,
            selector.as_ref(),
            port.err(),
            &port_pointer,
        );
        let versions = view::version_names(destination);
        let split = route.split();
        for (version, _) in &split {
            if !versions.contains_key(version) {
                let span = self.key_span(service, &join(&at("split"), version), version);
                self.unknown_subset(span, destination, version);
            }
        }
        if !split.is_empty() {
            let total: u64 = split.iter().map(|(_, weight)| weight).sum();
            if total != 100 {
                self.out.push(
                    Diagnostic::error(
                        WEIGHTS,
                        self.span(service, &[&at("split"), pointer]),
                        format!("the weights of this `split` add up to {total}, not 100"),
                    )
                    .with_label(format!("{total}%"))
                    .with_help(
                        "Istio rejects routes whose weights do not add up to 100: adjust them",
                    ),
                );
            }
        }
        if let Some((mirror_name, mirror_version)) = route.mirror_target()
            && !mirror_name.is_empty()
        {
            match target
                .services
                .iter()
                .find(|other| other.name == mirror_name)
            {
                None => self.out.push(
                    Diagnostic::error(
                        UNKNOWN_DESTINATION,
                        self.span(service, &[&at("mirror")]),
                        format!("`mirror` names unknown service `{mirror_name}`"),
                    )
                    .with_label("no such service")
                    .with_help(suggestion_help(
                        mirror_name,
                        "service",
                        names(),
                    )),
                ),
                Some(mirror) => {
                    if let Some(version) = mirror_version.filter(|version| !version.is_empty())
                        && !view::version_names(mirror).contains_key(version)
                    {
                        let span = self.span(service, &[&at("mirror")]);
                        self.unknown_subset(span, mirror, version);
                    }
                    if mirror.name != destination.name {
                        let problem = view::find_port(mirror, None).err();
                        self.port_problem(service, mirror, None, problem, &at("mirror"));
                    }
                }
            }
        }
    }

    fn port_problem(
        &mut self,
        service: &Service,
        destination: &Service,
        selector: Option<&view::PortSelector>,
        problem: Option<PortProblem>,
        pointer: &str,
    ) {
        let span = self.span(service, &[pointer]);
        let ports = || destination.ports.iter().map(|port| port.name.as_str());
        let name = &destination.name;
        let diagnostic = match problem {
            None => return,
            Some(PortProblem::NoPorts) => Diagnostic::error(
                UNKNOWN_PORT,
                span,
                format!("a route sends requests to `{name}`, which declares no port"),
            )
            .with_label("no port to route to")
            .with_help(format!("declare a port on `{name}` (`port http 8080`) or route elsewhere")),
            Some(PortProblem::Unknown) => {
                let wanted = selector.map(ToString::to_string).unwrap_or_default();
                Diagnostic::error(
                    UNKNOWN_PORT,
                    span,
                    format!("`{name}` has no port `{wanted}`"),
                )
                .with_label("no such port")
                .with_help(suggestion_help(&wanted, "port", ports()))
            }
            Some(PortProblem::Ambiguous) => Diagnostic::error(
                AMBIGUOUS_PORT,
                span,
                format!("`{name}` has several ports and none is named `http`: which one does this route mean?"),
            )
            .with_label("no `port`")
            .with_help(format!(
                "add `port=NAME` (one of {})",
                ports().map(|port| format!("`{port}`")).collect::<Vec<_>>().join(", ")
            )),
        };
        self.out.push(diagnostic);
    }

    fn unknown_subset(&mut self, span: Span, destination: &Service, version: &str) {
        let versions = view::version_names(destination);
        let help = if versions.is_empty() {
            format!(
                "`{}` declares no `version`; add `version {version} tag=…` to it",
                destination.name
            )
        } else {
            suggestion_help(version, "version", versions.keys().map(String::as_str))
        };
        self.out.push(
            Diagnostic::error(
                UNKNOWN_SUBSET,
                span,
                format!("`{}` has no version `{version}`", destination.name),
            )
            .with_label("no such version")
            .with_help(help),
        );
    }

    /// Retry settings of the mesh-internal route without `retries`.
    fn traffic(&mut self, service: &Service) {
        let traffic = view::traffic(service);
        if traffic.retries.is_some() {
            return;
        }
        for (key, present) in [
            ("per-try-timeout", traffic.per_try_timeout.is_some()),
            ("retry-on", traffic.retry_on.is_some()),
        ] {
            if present {
                self.invalid(
                    service,
                    &join("/traffic", key),
                    format!("`traffic` `{key}` has no effect without `retries`"),
                    "needs `retries`",
                    format!("add `retries N` to the `traffic` block, or remove `{key}`"),
                );
            }
        }
    }

    fn versions(&mut self, service: &Service) {
        let versions = view::versions(service);
        if versions.is_empty() {
            return;
        }
        let version_pointer = |name: &str| join("/versions", name);
        let own = view::own_versions(service);
        if service.kind == WorkloadKind::Stateful {
            for version in versions
                .iter()
                .filter(|version| !own.contains(&version.name))
            {
                self.out.push(
                    Diagnostic::error(
                        SUBSET_WITHOUT_PODS,
                        self.span(service, &[&version_pointer(&version.name)]),
                        format!(
                            "version `{}` of stateful service `{}` has no pods: only stateless services run other versions",
                            version.name, service.name
                        ),
                    )
                    .with_label("no pod carries this version")
                    .with_help("a second StatefulSet would own separate data; remove the version, or make the service stateless"),
                );
            }
        }
        match own.as_slice() {
            [] => {
                let tag = service.image.tag.as_deref().unwrap_or("(digest only)");
                let first = versions
                    .first()
                    .map(|version| version_pointer(&version.name));
                self.out.push(
                    Diagnostic::error(
                        UNVERSIONED_WORKLOAD,
                        self.span(service, &["/image/tag", "/image"]),
                        format!(
                            "no version of `{}` runs its image tag `{tag}`: its own pods would be in no subset",
                            service.name
                        ),
                    )
                    .with_label("the workload's tag")
                    .with_related_opt(
                        first.map(|pointer| self.span(service, &[&pointer])),
                        "versions declared here",
                    )
                    .with_help("declare the workload's own version without a tag (`version stable`), or with this tag"),
                );
            }
            [primary, others @ ..] => {
                for other in others {
                    self.out.push(
                        Diagnostic::error(
                            SUBSET_WITHOUT_PODS,
                            self.span(service, &[&version_pointer(other)]),
                            format!(
                                "versions `{primary}` and `{other}` of `{}` both run its own image: its pods carry `version: {primary}`, so subset `{other}` selects no pod",
                                service.name
                            ),
                        )
                        .with_label("no pod carries this version")
                        .with_related(self.span(service, &[&version_pointer(primary)]), "the workload's version")
                        .with_help(format!("give `{other}` its own `tag=`, or remove it")),
                    );
                }
            }
        }
        if versions.iter().any(|version| version.weight.is_some()) {
            let total: u64 = versions.iter().filter_map(|version| version.weight).sum();
            if total != 100 {
                let span = versions
                    .iter()
                    .filter(|version| version.weight.is_some())
                    .map(|version| {
                        self.span(service, &[&join(&version_pointer(&version.name), "weight")])
                    })
                    .min()
                    .unwrap_or_else(|| self.span(service, &["/versions"]));
                self.out.push(
                    Diagnostic::error(
                        WEIGHTS,
                        span,
                        format!("the version weights of `{}` add up to {total}, not 100", service.name),
                    )
                    .with_label(format!("{total}% in all"))
                    .with_help("give every version that takes traffic a `weight`, adding up to 100 (a version without one takes none)"),
                );
            }
        }
    }

    fn without_mesh(&mut self, environment: &Environment, service: &Service) {
        let settings = [
            ("expose", "/expose", service.expose.is_some()),
            ("version", "/versions", !service.versions.is_empty()),
            ("traffic", "/traffic", service.traffic.is_some()),
        ];
        for (what, pointer, present) in settings {
            if !present {
                continue;
            }
            let first_version = service
                .versions
                .keys()
                .next()
                .map(|name| join("/versions", name))
                .unwrap_or_default();
            let span = self.span(service, &[pointer, &first_version]);
            self.out.push(
                Diagnostic::warning(
                    WITHOUT_MESH,
                    span,
                    format!(
                        "`{what}` of `{}` has no effect in environment `{}`, which runs no mesh",
                        service.name, environment.name
                    ),
                )
                .with_label("not emitted there")
                .with_related_opt(
                    environment.origins.get("/mesh/mode").and_then(|origin| origin.span),
                    "mesh mode none",
                )
                .with_help(format!(
                    "nothing routes or secures `{}` in `{}`; set `mesh mode=sidecar` (or `ambient`) there to emit the Istio objects",
                    service.name, environment.name
                )),
            );
        }
    }

    /// Declared calls and ingress traffic the authorization policies would deny: without
    /// mTLS no request carries a peer identity, and every ALLOW rule is by identity. (In
    /// ambient mode ztunnel always speaks mTLS between workloads of the mesh.)
    fn blocked(&mut self, environment: &Environment, target: &Target, service: &Service) {
        if environment.mesh.mtls != "disable" || environment.mesh.mode != "sidecar" {
            return;
        }
        let mtls_span = environment
            .origins
            .get("/mesh/mtls")
            .and_then(|origin| origin.span);
        let help = format!(
            "set `mesh mtls=permissive` (or `strict`) in environment `{}`, or `mesh mode=none` to leave it out of the mesh",
            environment.name
        );
        for (idx, callee) in service.calls.iter().enumerate() {
            let reachable = target
                .services
                .iter()
                .any(|other| &other.name == callee && !other.ports.is_empty());
            if !reachable {
                continue;
            }
            self.out.push(
                Diagnostic::error(
                    BLOCKED_CALL,
                    self.span(service, &[&join("/calls", &idx.to_string()), "/calls"]),
                    format!(
                        "`{}` calls `{callee}`, but environment `{}` disables mTLS, so the call carries no identity and the authorization policy of `{callee}` denies it",
                        service.name, environment.name
                    ),
                )
                .with_label("denied in the mesh")
                .with_related_opt(mtls_span, "mTLS disabled here")
                .with_help(help.clone()),
            );
        }
        if view::expose(service).is_some_and(|expose| !expose.routes.is_empty()) {
            self.out.push(
                Diagnostic::error(
                    BLOCKED_CALL,
                    self.span(service, &["/expose"]),
                    format!(
                        "environment `{}` disables mTLS, so the ingress gateway's requests to `{}` carry no identity and are denied",
                        environment.name, service.name
                    ),
                )
                .with_label("denied in the mesh")
                .with_related_opt(mtls_span, "mTLS disabled here")
                .with_help(help),
            );
        }
    }

    /// Two objects of one kind with one name in a target's namespace.
    fn names(&mut self, target: &Target, objects: &[istio::Summary]) {
        let mut seen: BTreeMap<(String, String), (Option<String>, String)> = BTreeMap::new();
        for service in &target.services {
            let kind = match service.kind {
                WorkloadKind::Stateless => "Deployment",
                WorkloadKind::Stateful => "StatefulSet",
            };
            seen.insert(
                (kind.to_owned(), service.name.clone()),
                (Some(service.name.clone()), String::new()),
            );
        }
        for object in objects {
            let key = (object.kind.clone(), object.name.clone());
            match seen.get(&key) {
                None => {
                    seen.insert(key, (object.service.clone(), object.pointer.clone()));
                }
                Some((first, _)) => {
                    let Some(owner) = target
                        .services
                        .iter()
                        .find(|service| Some(&service.name) == object.service.as_ref())
                    else {
                        continue;
                    };
                    let other = match first {
                        Some(first) if first == &owner.name => "another of its objects".to_owned(),
                        Some(first) => format!("service `{first}`"),
                        None => "the namespace-wide mesh objects".to_owned(),
                    };
                    let (kind, name) = key;
                    self.out.push(
                        Diagnostic::error(
                            NAME_CONFLICT,
                            self.span(owner, &[&object.pointer, "/image"]),
                            format!(
                                "`{}` would emit {kind} `{name}`, a name {other} already uses",
                                owner.name
                            ),
                        )
                        .with_label(format!("makes {kind} `{name}`"))
                        .with_help(
                            "rename the service or the version so the generated names differ",
                        ),
                    );
                }
            }
        }
    }

    /// Hosts claimed twice on one cluster (one ingress gateway).
    fn hosts(
        &mut self,
        environment: &Environment,
        target: &Target,
        claims: &mut BTreeMap<(CloudKind, String, String), Claim>,
    ) {
        for service in &target.services {
            let Some(expose) = view::expose(service) else {
                continue;
            };
            let Some(host) = expose.host.clone() else {
                continue;
            };
            let span = self.span(service, &["/expose/host", "/expose"]);
            let key = (target.cloud, target.cluster.clone(), host.clone());
            match claims.get(&key) {
                None => {
                    claims.insert(
                        key,
                        Claim {
                            environment: environment.name.clone(),
                            service: service.name.clone(),
                            span,
                        },
                    );
                }
                Some(first) if first.span == span => {
                    self.out.push(
                        Diagnostic::error(
                            DUPLICATE_HOST,
                            span,
                            format!(
                                "host `{host}` of `{}` is claimed in environments `{}` and `{}`, which share cluster `{}`",
                                service.name, first.environment, environment.name, target.cluster
                            ),
                        )
                        .with_label("claimed twice")
                        .with_help(format!(
                            "give each environment its own host, e.g. `in {} {{ expose host=…; }}`",
                            environment.name
                        )),
                    );
                }
                Some(first) => {
                    let message = if first.environment == environment.name {
                        format!(
                            "host `{host}` is already exposed by `{}`: two VirtualServices would claim it",
                            first.service
                        )
                    } else {
                        format!(
                            "host `{host}` is already exposed by `{}` in environment `{}`, which shares cluster `{}` with `{}`",
                            first.service, first.environment, target.cluster, environment.name
                        )
                    };
                    self.out.push(
                        Diagnostic::error(DUPLICATE_HOST, span, message)
                            .with_label("claimed twice")
                            .with_related(first.span, "first claimed here")
                            .with_help("expose each host from one service (route paths to others with `to=`), or give each environment its own host"),
                    );
                }
            }
        }
    }
}

/// Whether route `earlier` matches every request `later` matches.
fn covers(earlier: &Route, later: &Route) -> bool {
    let later_headers = later.headers();
    let headers_covered = earlier
        .headers()
        .iter()
        .all(|header| later_headers.contains(header));
    let uri_covered = match (earlier.uri(), later.uri()) {
        (UriMatch::Any, _) => true,
        (UriMatch::Prefix(prefix), UriMatch::Prefix(other) | UriMatch::Exact(other)) => {
            other.starts_with(prefix)
        }
        (UriMatch::Prefix(prefix), UriMatch::Any | UriMatch::Regex(_)) => prefix == "/",
        (UriMatch::Exact(exact), UriMatch::Exact(other)) => exact == other,
        (UriMatch::Regex(regex), UriMatch::Regex(other)) => regex == other,
        _ => false,
    };
    headers_covered && uri_covered
}
