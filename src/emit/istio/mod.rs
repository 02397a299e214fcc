//! The Istio emitter: traffic management and mesh security for every (environment, cloud)
//! overlay whose environment runs a mesh (`mesh mode` is `sidecar` or `ambient`).
//!
//! Consumes: the resolved [`Platform`]. Produces: files under
//! `kubernetes/overlays/<env>/<cloud>/`, which the Kustomize emitter lists as resources:
//!
//! ```text
//! istio/peerauthentication.yaml                 PeerAuthentication `default`: the namespace's mTLS mode
//! istio/authorizationpolicy-allow-nothing.yaml  AuthorizationPolicy `allow-nothing` (`spec: {}`)
//! istio/authorizationpolicy-<svc>.yaml          ALLOW: callers (`calls`) and the ingress gateway
//! istio/gateway-<svc>.yaml                      Gateway of an exposed service (HTTPS + redirect, or HTTP)
//! istio/virtualservice-<svc>-ingress.yaml       the exposed host's routes, bound to the gateway
//! istio/virtualservice-<svc>.yaml               mesh-internal routes (version weights, timeouts, retries)
//! istio/destinationrule-<svc>.yaml              subsets by `version` label, traffic policy, ISTIO_MUTUAL
//! versions/deployment-<svc>-<version>.yaml      a Deployment per version that runs another image
//! ```
//!
//! Invariants: emitters are pure functions of the model; API versions are the current ones
//! (`networking.istio.io/v1`, `security.istio.io/v1`); hosts are fully qualified
//! (`<svc>.<namespace>.svc.cluster.local`) so no object depends on the namespace it is read
//! in; nothing is written for environments with `mesh mode=none`.
//!
//! Decisions:
//! - Versions (`versions.rs`): the service's own workload is the version that runs its image
//!   (no `tag`, or the workload's tag); its pod template carries `version: <name>` (added by
//!   the Kustomize workload builder through [`view::primary_version`]). Every other version
//!   of a stateless service becomes a Deployment `<svc>-<version>` in the overlay: the
//!   target's own Deployment with that image tag, `version: <name>` on its selector and pods,
//!   and `replicas` from the version (default: the environment's replica floor). The
//!   Kubernetes Service selects every version; DestinationRule subsets tell them apart.
//! - Weights: a route's `split` wins; otherwise the versions' `weight`s; otherwise all traffic
//!   goes to the workload's own version, so declaring a version never shifts traffic by itself.
//! - `header-add`, `header-set`, `header-remove` act on the **response** (as seed 000's
//!   `cache-control`); `request-header-*` act on the request. Add and set take `name=value`
//!   (split at the first `=`, so the value may hold `=` and `,`); remove takes comma-separated
//!   names.
//! - Gateways select the default ingress gateway (`istio: ingressgateway`); the TLS secret
//!   (`credentialName`) must live in that gateway's namespace. `expose gateway=NS/NAME` binds
//!   the routes to an existing Gateway and emits none.
//! - Authorization: principals use the default trust domain `cluster.local`; a service's
//!   account is its name (as the Kustomize emitter names it). Ports in rules are container
//!   ports (authorization runs at the workload, after the Service's port mapping). A service
//!   a KEDA `queue` trigger reads from (its `address`, `host` or `server` names the service)
//!   also allows the KEDA operator (`keda/keda-operator`), which must run in the mesh.
//! - DestinationRules and mesh-internal VirtualServices are written only when there is
//!   something to say (versions, a traffic policy, route settings with callers); otherwise
//!   Istio's defaults (auto mTLS, round robin) apply.

mod routing;
mod security;
mod versions;
pub mod view;

pub use routing::route_destination;

use serde_json::{Map, Value};

use super::Files;
use super::yaml;
use crate::model::{Environment, Platform, Target};

/// The apiVersion of Gateway, VirtualService and DestinationRule.
pub const NETWORKING: &str = "networking.istio.io/v1";
/// The apiVersion of PeerAuthentication and AuthorizationPolicy.
pub const SECURITY: &str = "security.istio.io/v1";
/// The name of the namespace-wide deny-all policy.
pub const ALLOW_NOTHING: &str = "allow-nothing";

/// One object the emitter writes for a target.
#[derive(Debug, Clone)]
pub struct Emitted {
    /// Path relative to the overlay directory.
    pub file: String,
    /// The object.
    pub value: Value,
    /// The service it belongs to (`None` for namespace-wide objects).
    pub service: Option<String>,
    /// Pointer (in the service's effective document) of the setting that caused it.
    pub pointer: String,
}

impl Emitted {
    /// The object's kind.
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        self.value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Every meshed target's objects, built once (in [`Platform::targets`] order) for the mesh
/// check, which reads their kinds and names, and for the emitter, which writes them.
#[derive(Debug, Default)]
pub struct Mesh {
    /// One entry per target, meshed or not.
    pub targets: Vec<TargetMesh>,
}

/// The mesh objects of one target.
#[derive(Debug, Default)]
pub struct TargetMesh {
    /// What the name check needs of each object, in emission order.
    pub objects: Vec<Summary>,
    /// The rendered files (path in the output tree → YAML); empty when built without them.
    pub files: Vec<(String, String)>,
}

/// What the mesh check needs of an emitted object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Its kind.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The service it belongs to (`None` for namespace-wide objects).
    pub service: Option<String>,
    /// Pointer (in the service's effective document) of the setting that caused it.
    pub pointer: String,
}

impl Mesh {
    /// Builds every target's objects on every core. With `render`, each is also rendered
    /// into its file (`manifold check` needs only the summaries): the objects are then never
    /// built again, and the large `Value`s are gone before emission starts.
    pub fn build(platform: &Platform, render: bool) -> Mesh {
        let targets: Vec<(&Environment, &Target)> = platform.targets().collect();
        let targets = crate::parallel::map(&targets, |&(environment, target)| {
            let dir = format!(
                "kubernetes/overlays/{}/{}",
                environment.name,
                target.cloud.as_str()
            );
            let mut built = TargetMesh::default();
            for mut object in objects(platform, environment, target) {
                built.objects.push(Summary {
                    kind: object.kind().to_owned(),
                    name: object.name().to_owned(),
                    service: object.service,
                    pointer: object.pointer,
                });
                if render {
                    // version Deployments are complete workloads: the same checkov
                    // suppressions as a base's (issue 10)
                    if object.value["kind"] == "Deployment" {
                        let part = crate::emit::hardening::Part::Complete;
                        crate::emit::hardening::annotate(&mut object.value, part);
                    }
                    // security policies before workloads
                    crate::emit::argocd::add_policy_wave(&mut object.value);
                    built.files.push((
                        format!("{dir}/{}", object.file),
                        yaml::document(&object.value),
                    ));
                }
            }
            built
        });
        Mesh { targets }
    }

    /// The rendered files of every target.
    pub fn into_files(self) -> Files {
        self.targets
            .into_iter()
            .flat_map(|target| target.files)
            .collect()
    }
}

/// Every target's Istio files (see [`Mesh::build`]).
pub fn emit(platform: &Platform) -> Files {
    Mesh::build(platform, true).into_files()
}

/// Whether the environment runs a mesh.
pub fn meshed(environment: &Environment) -> bool {
    environment.mesh.mode != "none"
}

/// The objects of one target, in a stable order; empty when the environment runs no mesh.
pub fn objects(platform: &Platform, environment: &Environment, target: &Target) -> Vec<Emitted> {
    if !meshed(environment) {
        return Vec::new();
    }
    let mut out = vec![
        Emitted {
            file: "istio/peerauthentication.yaml".into(),
            value: security::peer_authentication(environment),
            service: None,
            pointer: String::new(),
        },
        Emitted {
            file: format!("istio/authorizationpolicy-{ALLOW_NOTHING}.yaml"),
            value: security::allow_nothing(),
            service: None,
            pointer: String::new(),
        },
    ];
    let reach = security::Reach::new(target);
    for service in &target.services {
        let owned = |file: String, value: Value, pointer: &str| Emitted {
            file,
            value,
            service: Some(service.name.clone()),
            pointer: pointer.to_owned(),
        };
        if let Some(policy) =
            security::service_policy(&platform.addons, environment, &reach, service)
        {
            out.push(owned(
                format!("istio/authorizationpolicy-{}.yaml", service.name),
                policy,
                "/calls",
            ));
        }
        if let Some(expose) = view::expose(service)
            .filter(|expose| expose.host.is_some() && !expose.routes.is_empty())
        {
            if let Some(gateway) = routing::gateway(service, &expose) {
                out.push(owned(
                    format!("istio/gateway-{}.yaml", service.name),
                    gateway,
                    "/expose",
                ));
            }
            let ingress = routing::ingress_virtual_service(environment, target, service, &expose);
            out.push(owned(
                format!("istio/virtualservice-{}.yaml", name_of(&ingress)),
                ingress,
                "/expose",
            ));
        }
        let called = !reach.callers(&service.name).is_empty();
        if let Some(internal) = routing::mesh_virtual_service(environment, called, service) {
            out.push(owned(
                format!("istio/virtualservice-{}.yaml", service.name),
                internal,
                "/traffic",
            ));
        }
        if let Some(rule) = routing::destination_rule(environment, service) {
            out.push(owned(
                format!("istio/destinationrule-{}.yaml", service.name),
                rule,
                "/traffic",
            ));
        }
        for version in view::variants(service) {
            let deployment = versions::deployment(platform, environment, service, &version);
            out.push(owned(
                format!("versions/deployment-{}.yaml", name_of(&deployment)),
                deployment,
                &crate::spec::pointer_join("/versions", &version.name),
            ));
        }
    }
    out
}

/// Object metadata: a name and the labels of a service's objects (or of namespace-wide ones).
fn metadata(name: &str, service: Option<&str>) -> Value {
    let mut labels = Map::new();
    if let Some(service) = service {
        labels.insert("app.kubernetes.io/name".into(), service.into());
    }
    labels.insert("app.kubernetes.io/managed-by".into(), "manifold".into());
    crate::emit::object([("name", name.into()), ("labels", labels.into())])
}

fn name_of(object: &Value) -> String {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
