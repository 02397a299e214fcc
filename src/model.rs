//! The model: the platform fully resolved, one [`Target`] per (environment, cloud), every
//! service in it with every layer applied.
//!
//! Consumes: nothing (types only; `lower` builds it). Produces: what every emitter reads.
//! Invariants: no inheritance is left unresolved (emitters never merge layers); every value
//! that came from the spec, a profile or a built-in default has an [`Origin`] in its
//! service's or environment's origin table, keyed by its JSON pointer in the effective
//! (merged) document; the model knows nothing about KDL. Collections are sorted by name.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::source::Span;

/// Where a resolved value came from, highest layer that set it.
///
/// A large platform holds millions of these (one per resolved value per service per target),
/// so it is kept small: the layer is shared by every value one layer set, and the chain is a
/// boxed slice (no spare capacity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The layer.
    pub layer: Arc<Layer>,
    /// The token in the spec or profile file; `None` for built-in defaults.
    pub span: Option<Span>,
    /// The lower layers that set the same pointer before this one replaced them, highest
    /// first (each with an empty `overridden`); `manifold explain` prints them as the chain
    /// "in prod ← service ← profile ← built-in".
    pub overridden: Box<[Origin]>,
}

/// The layers of resolution, lowest first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    /// manifold's built-in default.
    Builtin,
    /// A built-in profile (`overlays/<profile>.kdl`).
    Profile(Arc<str>),
    /// An environment's override of a profile setting.
    Environment(Arc<str>),
    /// The spec's `defaults` block.
    Defaults,
    /// The service block.
    Service,
    /// An `in ENV` block.
    Override(Arc<str>),
    /// An `in ENV cloud=CLOUD` block.
    CloudOverride(Arc<str>, Arc<str>),
    /// Derived by manifold from other values (for example a NetworkPolicy rule from `calls`).
    Derived,
}

/// JSON pointer (in the effective document) → origin, sorted by pointer.
///
/// The model holds one table per service per target (tens of thousands on a large platform),
/// so it is a sorted vector rather than a B-tree (whose nodes cost several times their
/// entries at this size), and its pointers are interned: every service of every target uses
/// the same few hundred, so each is stored once per thread that lowered it. The table itself is
/// shared, copy on write: the clouds of an environment mostly resolve a service alike, and
/// lowering lets them share one table then ([`Origins::share`]).
#[derive(Debug, Clone, Default, Eq)]
pub struct Origins {
    entries: Arc<Vec<(Arc<str>, Origin)>>,
}

impl PartialEq for Origins {
    fn eq(&self, other: &Origins) -> bool {
        Arc::ptr_eq(&self.entries, &other.entries) || self.entries == other.entries
    }
}

impl Origins {
    /// The origin of exactly this pointer.
    pub fn get(&self, pointer: &str) -> Option<&Origin> {
        self.position(pointer).ok().map(|idx| &self.entries[idx].1)
    }

    /// Sets the origin of a pointer and returns the one it replaced.
    pub fn insert(&mut self, pointer: &str, origin: Origin) -> Option<Origin> {
        match self.position(pointer) {
            Ok(idx) => Some(std::mem::replace(
                &mut Arc::make_mut(&mut self.entries)[idx].1,
                origin,
            )),
            Err(idx) => {
                Arc::make_mut(&mut self.entries).insert(idx, (intern(pointer), origin));
                None
            }
        }
    }

    /// Every (pointer, origin), sorted by pointer.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Origin)> {
        self.entries
            .iter()
            .map(|(pointer, origin)| (&**pointer, origin))
    }

    /// The number of pointers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no pointer has an origin.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Makes this table share `other`'s storage when the two are equal (memory only: the
    /// tables compare equal either way).
    pub fn share(&mut self, other: &Origins) {
        if self == other {
            self.entries = Arc::clone(&other.entries);
        }
    }

    fn position(&self, pointer: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(candidate, _)| (**candidate).cmp(pointer))
    }
}

impl<P: AsRef<str>> FromIterator<(P, Origin)> for Origins {
    /// Collects (pointer, origin) pairs; for a pointer given twice the last wins.
    fn from_iter<I: IntoIterator<Item = (P, Origin)>>(pairs: I) -> Origins {
        let mut entries: Vec<(Arc<str>, Origin)> = pairs
            .into_iter()
            .map(|(pointer, origin)| (intern(pointer.as_ref()), origin))
            .collect();
        // Stable: equal pointers keep their order, so the last one given is the last here.
        // Lowering collects from a B-tree, already sorted and unique: nothing to do then.
        if entries.is_sorted_by(|a, b| a.0 < b.0) {
            return Origins {
                entries: Arc::new(entries),
            };
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut deduped: Vec<(Arc<str>, Origin)> = Vec::with_capacity(entries.len());
        for entry in entries {
            match deduped.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => deduped.push(entry),
            }
        }
        Origins {
            entries: Arc::new(deduped),
        }
    }
}

impl<'a> IntoIterator for &'a Origins {
    type Item = (&'a str, &'a Origin);
    type IntoIter = Box<dyn Iterator<Item = (&'a str, &'a Origin)> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

thread_local! {
    /// The pointers [`intern`] has handed out on this thread.
    static POINTERS: RefCell<crate::hash::FastSet<Arc<str>>> = RefCell::default();
}

/// One shared copy of a pointer per thread. Only memory depends on it, never output.
fn intern(pointer: &str) -> Arc<str> {
    POINTERS.with(|pointers| {
        let mut pointers = pointers.borrow_mut();
        if let Some(found) = pointers.get(pointer) {
            return found.clone();
        }
        let shared: Arc<str> = Arc::from(pointer);
        pointers.insert(shared.clone());
        shared
    })
}

/// The whole resolved platform.
#[derive(Debug, Clone)]
pub struct Platform {
    /// Platform name.
    pub name: String,
    /// Labels put on every object (team, cost-center, ...).
    pub labels: BTreeMap<String, String>,
    /// Annotations put on every workload.
    pub annotations: BTreeMap<String, String>,
    /// The GitOps repository, if declared.
    pub repo: Option<Repo>,
    /// Declared clouds, sorted by name.
    pub clouds: Vec<Cloud>,
    /// Environments, sorted by name.
    pub environments: Vec<Environment>,
    /// Services as the service layer defines them (built-in → defaults → service): what the
    /// Kustomize bases hold. Sorted by name.
    pub base: Vec<Service>,
    /// The spec file's name, as given.
    pub spec_file: String,
    /// Argo CD settings (used only when `repo` is declared).
    pub argocd: ArgoCd,
    /// Where the cluster add-ons manifold's policies let in run.
    pub addons: Addons,
}

/// The namespaces and service accounts of the cluster add-ons the generated NetworkPolicies
/// and AuthorizationPolicies admit (`platform { istio …; keda … }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addons {
    /// Namespace of istiod and the ingress gateway (default `istio-system`).
    pub istio_namespace: String,
    /// Service account of the ingress gateway (default
    /// `istio-ingressgateway-service-account`, the Istio chart's).
    pub gateway_service_account: String,
    /// Namespace of the KEDA operator (default `keda`, its documented install namespace).
    pub keda_namespace: String,
    /// Service account of the KEDA operator (default `keda-operator`).
    pub keda_service_account: String,
}

impl Default for Addons {
    fn default() -> Addons {
        Addons {
            istio_namespace: "istio-system".to_owned(),
            gateway_service_account: "istio-ingressgateway-service-account".to_owned(),
            keda_namespace: "keda".to_owned(),
            keda_service_account: "keda-operator".to_owned(),
        }
    }
}

/// Argo CD settings, resolved: what `emit::argocd` needs besides the repo and environments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgoCd {
    /// Namespace Argo CD runs in, holding the AppProject and ApplicationSets (default `argocd`).
    pub namespace: String,
    /// AppProject name (default: the platform name; empty also means the platform name).
    pub project: String,
    /// Generator per environment name; environments not listed use [`Generator::List`].
    pub generators: BTreeMap<String, Generator>,
    /// Spec tokens by JSON pointer into the spec's JSON form, for diagnostics:
    /// `/platform/name`, `/platform/argocd`, `/platform/argocd/project`, `/environments/ENV`
    /// (the name), `/environments/ENV/argocd`, `.../generator`, `.../cluster-selector`; only
    /// tokens present in the spec are recorded.
    pub spans: BTreeMap<String, Span>,
}

impl Default for ArgoCd {
    fn default() -> ArgoCd {
        ArgoCd {
            namespace: "argocd".to_owned(),
            project: String::new(),
            generators: BTreeMap::new(),
            spans: BTreeMap::new(),
        }
    }
}

/// How an environment's ApplicationSet finds its clusters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Generator {
    /// A list generator over the environment's targets, destinations by cluster name.
    List,
    /// A clusters generator: registered clusters carrying all of these labels (and a
    /// `provider` label naming one of the environment's clouds).
    Clusters {
        /// `matchLabels`.
        selector: BTreeMap<String, String>,
    },
}

/// The GitOps repository.
#[derive(Debug, Clone)]
pub struct Repo {
    /// Clone URL.
    pub url: String,
    /// Branch (default `main`).
    pub branch: String,
    /// Subdirectory for the output tree (default: the root).
    pub path: String,
}

/// A cloud provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CloudKind {
    /// Amazon Web Services (EKS).
    Aws,
    /// Google Cloud (GKE).
    Gcp,
    /// Microsoft Azure (AKS).
    Azure,
}

impl CloudKind {
    /// The name used in the spec and in output paths.
    pub fn as_str(self) -> &'static str {
        match self {
            CloudKind::Aws => "aws",
            CloudKind::Gcp => "gcp",
            CloudKind::Azure => "azure",
        }
    }

    /// Parses a spec name.
    pub fn parse(name: &str) -> Option<CloudKind> {
        match name {
            "aws" => Some(CloudKind::Aws),
            "gcp" => Some(CloudKind::Gcp),
            "azure" => Some(CloudKind::Azure),
            _ => None,
        }
    }

    /// The label the provider puts on every node of a node pool, with the pool's name as its
    /// value (EKS managed node groups, GKE node pools, AKS agent pools).
    pub fn node_pool_label(self) -> &'static str {
        match self {
            CloudKind::Aws => "eks.amazonaws.com/nodegroup",
            CloudKind::Gcp => "cloud.google.com/gke-nodepool",
            CloudKind::Azure => "kubernetes.azure.com/agentpool",
        }
    }

    /// The taint the provider itself puts on the nodes of a spot pool (`key=value:Effect`):
    /// AKS taints spot pools; EKS and GKE do not.
    pub fn spot_taint(self) -> Option<&'static str> {
        match self {
            CloudKind::Azure => Some("kubernetes.azure.com/scalesetpriority=spot:NoSchedule"),
            CloudKind::Aws | CloudKind::Gcp => None,
        }
    }
}

/// A declared cloud.
#[derive(Debug, Clone)]
pub struct Cloud {
    /// Which provider.
    pub kind: CloudKind,
    /// Region (aws, gcp) or location (azure).
    pub region: Option<String>,
    /// GCP project.
    pub project: Option<String>,
    /// Azure resource group.
    pub resource_group: Option<String>,
    /// Terraform state settings, verbatim.
    pub state: BTreeMap<String, String>,
    /// Default storage class for persistent volumes on this cloud.
    pub storage_class: String,
    /// Clusters, sorted by name.
    pub clusters: Vec<Cluster>,
    /// Spec tokens by JSON pointer relative to the cloud: `` (the cloud's name), `/state`,
    /// `/state/<key>`; only tokens present in the spec are recorded.
    pub spans: BTreeMap<String, Span>,
}

/// A Kubernetes cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Name.
    pub name: String,
    /// Kubernetes minor version.
    pub kubernetes: String,
    /// Private endpoint.
    pub private_endpoint: bool,
    /// Public endpoint.
    pub public_endpoint: bool,
    /// GKE release channel.
    pub release_channel: Option<String>,
    /// Node pools, sorted by name.
    pub node_pools: Vec<NodePool>,
    /// CIDRs allowed to reach a public endpoint (empty: the provider's default).
    pub public_cidrs: Vec<String>,
    /// Networking, as the spec's `network` node says.
    pub network: Network,
    /// Spec tokens by JSON pointer relative to the cluster: `` (the cluster's name),
    /// `/kubernetes`, `/endpoint`, `/endpoint/public`, `/network`, `/network/<key>`,
    /// `/release-channel`; only tokens present in the spec are recorded.
    pub spans: BTreeMap<String, Span>,
}

/// A cluster's network, verbatim from the spec (`None`: not set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    /// Create the network (`None`: create unless an existing one is named).
    pub create: Option<bool>,
    /// Address range of a created network.
    pub cidr: Option<String>,
    /// An existing AWS VPC.
    pub vpc_id: Option<String>,
    /// Existing subnets (AWS subnet ids, or one Azure subnet id).
    pub subnet_ids: Vec<String>,
    /// Number of zones (AWS).
    pub zones: Option<u32>,
    /// GCP network name.
    pub name: Option<String>,
    /// GCP subnetwork name.
    pub subnetwork: Option<String>,
    /// AKS network plugin.
    pub plugin: Option<String>,
    /// AKS network policy.
    pub policy: Option<String>,
}

/// A node pool.
#[derive(Debug, Clone)]
pub struct NodePool {
    /// Name.
    pub name: String,
    /// Instance type / machine type / VM size.
    pub machine: String,
    /// Minimum nodes.
    pub min: u32,
    /// Maximum nodes.
    pub max: u32,
    /// Desired nodes (defaults to `min`).
    pub desired: u32,
    /// Spot capacity.
    pub spot: bool,
    /// Node labels.
    pub labels: BTreeMap<String, String>,
    /// Taints as `key=value:Effect`.
    pub taints: Vec<String>,
    /// OS disk size in GiB.
    pub disk_size: Option<u32>,
    /// The node pool's name token in the spec.
    pub span: Option<Span>,
    /// Further spec tokens: `/min`, `/max`, `/desired`, `/capacity`, `/disk-size`, and
    /// `/taints/<i>` for `taints[i]` above; only tokens present in the spec.
    pub spans: BTreeMap<String, Span>,
}

/// A resolved environment.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Name (`dev`, `prod`, ...).
    pub name: String,
    /// The profile it started from.
    pub profile: String,
    /// Kubernetes namespace.
    pub namespace: String,
    /// Extra labels for this environment.
    pub labels: BTreeMap<String, String>,
    /// Minimum replicas of every service.
    pub replica_floor: u32,
    /// Whether PodDisruptionBudgets are emitted.
    pub pdb: bool,
    /// Pod Security Admission levels.
    pub pod_security: PodSecurity,
    /// Mesh settings.
    pub mesh: Mesh,
    /// Default-deny NetworkPolicies.
    pub default_deny: bool,
    /// ArgoCD sync policy.
    pub sync: Sync,
    /// ResourceQuota `spec.hard`, Kubernetes keys → quantities, sorted.
    pub quota: BTreeMap<String, String>,
    /// LimitRange items.
    pub limit_range: Option<LimitRange>,
    /// Velero schedule.
    pub backup: Option<Backup>,
    /// One target per cloud this environment deploys to, sorted by cloud.
    pub targets: Vec<Target>,
    /// Origins of the environment's resolved settings (pointers into the effective
    /// environment document: `/replica-floor`, `/pod-security/enforce`, `/quota/pods`, ...).
    pub origins: Origins,
}

/// Pod Security Admission levels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSecurity {
    /// enforce.
    pub enforce: String,
    /// audit.
    pub audit: String,
    /// warn.
    pub warn: String,
}

/// Mesh settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mesh {
    /// strict, permissive or disable.
    pub mtls: String,
    /// sidecar, ambient or none.
    pub mode: String,
}

/// ArgoCD sync policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sync {
    /// Automated sync.
    pub automated: bool,
    /// Prune.
    pub prune: bool,
    /// Self-heal.
    pub self_heal: bool,
}

/// A LimitRange for containers (and optionally PVCs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitRange {
    /// `default` (limits), resource → quantity.
    pub default: BTreeMap<String, String>,
    /// `defaultRequest`.
    pub default_request: BTreeMap<String, String>,
    /// `min`.
    pub min: BTreeMap<String, String>,
    /// `max`.
    pub max: BTreeMap<String, String>,
    /// PVC `max.storage`.
    pub max_storage: Option<String>,
}

/// A Velero backup schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// Cron schedule.
    pub schedule: String,
    /// Retention.
    pub ttl: String,
}

/// One (environment, cloud) deployment target: what one overlay directory holds.
#[derive(Debug, Clone)]
pub struct Target {
    /// Environment name.
    pub environment: String,
    /// Cloud.
    pub cloud: CloudKind,
    /// The cluster this target deploys to.
    pub cluster: String,
    /// Every service, resolved for this target, sorted by name.
    pub services: Vec<Service>,
}

impl Platform {
    /// The base service named `name`: a binary search, since `base` is sorted by name (a
    /// linear scan per overlay service made the Kustomize emitter quadratic), with a scan as
    /// the fallback for a platform built out of order.
    pub fn base_service(&self, name: &str) -> Option<&Service> {
        match self
            .base
            .binary_search_by(|service| service.name.as_str().cmp(name))
        {
            Ok(index) => Some(&self.base[index]),
            Err(_) => self.base.iter().find(|service| service.name == name),
        }
    }

    /// Drops every origin table (each service's and environment's), which only diagnostics
    /// and `explain` read; emitters never do, so the output is the same without them.
    pub fn forget_origins(&mut self) {
        for service in &mut self.base {
            service.origins = Origins::default();
        }
        for environment in &mut self.environments {
            environment.origins = Origins::default();
            for target in &mut environment.targets {
                for service in &mut target.services {
                    service.origins = Origins::default();
                }
            }
        }
    }

    /// Every target with its environment, environments in order, then their targets.
    pub fn targets(&self) -> impl Iterator<Item = (&Environment, &Target)> {
        self.environments.iter().flat_map(|environment| {
            environment
                .targets
                .iter()
                .map(move |target| (environment, target))
        })
    }
}

impl Target {
    /// Callee name → the services of the target that call it, each once, in target order
    /// (by name): one pass, for the policies that admit callers.
    pub fn callers(&self) -> BTreeMap<&str, Vec<&Service>> {
        let mut callers: BTreeMap<&str, Vec<&Service>> = BTreeMap::new();
        for service in &self.services {
            for callee in &service.calls {
                let list = callers.entry(callee.as_str()).or_default();
                if !list.last().is_some_and(|last| std::ptr::eq(*last, service)) {
                    list.push(service);
                }
            }
        }
        callers
    }

    /// The service named `name`: a binary search, since `services` is sorted by name (a
    /// linear scan per lookup made emitters and checks quadratic in the number of services),
    /// with a scan as the fallback for a target built out of order.
    pub fn service(&self, name: &str) -> Option<&Service> {
        match self
            .services
            .binary_search_by(|service| service.name.as_str().cmp(name))
        {
            Ok(index) => Some(&self.services[index]),
            Err(_) => self.services.iter().find(|service| service.name == name),
        }
    }
}

/// A fully resolved service.
#[derive(Debug, Clone)]
pub struct Service {
    /// Name (DNS-1123 label).
    pub name: String,
    /// Stateless (Deployment) or stateful (StatefulSet).
    pub kind: WorkloadKind,
    /// Image.
    pub image: Image,
    /// Container ports, sorted by name.
    pub ports: Vec<Port>,
    /// Resource requests and limits.
    pub resources: Resources,
    /// Probes (readiness, liveness, startup), sorted by kind.
    pub probes: Vec<Probe>,
    /// Plain environment variables, sorted by name.
    pub env: Vec<(String, String)>,
    /// Secret references, sorted by variable name.
    pub secrets: Vec<SecretRef>,
    /// Services this one calls, in spec order.
    pub calls: Vec<String>,
    /// Destinations outside the spec's services, sorted by name.
    pub egress: Vec<Egress>,
    /// Pinned replicas or autoscaling bounds.
    pub replicas: Replicas,
    /// Autoscaling details (the JSON form of the `autoscale` block, resolved), for the
    /// scaling emitter.
    pub autoscale: Option<serde_json::Value>,
    /// VPA settings.
    pub vpa: Option<Vpa>,
    /// Disruption budget.
    pub disruption: Option<Disruption>,
    /// Persistent storage.
    pub storage: Option<Storage>,
    /// Exposure and routes (JSON form), for the Istio emitter.
    pub expose: Option<serde_json::Value>,
    /// Traffic policy (JSON form), for the Istio emitter.
    pub traffic: Option<serde_json::Value>,
    /// Versions (JSON form), for the Istio emitter.
    pub versions: BTreeMap<String, serde_json::Value>,
    /// Security context.
    pub security: Security,
    /// Container command.
    pub command: Vec<String>,
    /// Container args.
    pub args: Vec<String>,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// Extra annotations.
    pub annotations: BTreeMap<String, String>,
    /// Node pool to schedule on.
    pub node_pool: Option<String>,
    /// Where the pods run: `node_pool` resolved against the target's cluster (`None` in the
    /// bases, which know no cluster, and when the service names no pool, or one its cluster
    /// lacks: the checks report that).
    pub placement: Option<Placement>,
    /// Origins, keyed by JSON pointer in the effective service document (`/replicas`,
    /// `/image/tag`, `/autoscale/replicas/max`, `/security/run-as-non-root`, ...).
    pub origins: Origins,
}

/// Traffic a service sends to something outside the spec's services (`egress`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Egress {
    /// The spec's name for the destination.
    pub name: String,
    /// Where the traffic goes.
    pub peer: EgressPeer,
    /// Destination port.
    pub port: u16,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
}

/// The destination of an [`Egress`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EgressPeer {
    /// A CIDR block outside the cluster.
    Cidr(String),
    /// Every pod of a namespace of the cluster.
    Namespace(String),
}

/// The scheduling constraints of a service pinned to a node pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// `nodeSelector`: the provider's node-pool label ([`CloudKind::node_pool_label`]) → the
    /// pool's name.
    pub node_selector: BTreeMap<String, String>,
    /// The pool's taints (`key=value:Effect` or `key:Effect`), which the pods tolerate: the
    /// spec's and the provider's own ([`CloudKind::spot_taint`]).
    pub tolerations: Vec<String>,
}

/// Workload kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    /// A Deployment.
    Stateless,
    /// A StatefulSet with a headless Service.
    Stateful,
}

/// A container image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Full repository, registry included (`ghcr.io/acme/voiceassist-server`).
    pub repository: String,
    /// Tag.
    pub tag: Option<String>,
    /// Digest (`sha256:...`).
    pub digest: Option<String>,
    /// Pull policy.
    pub pull_policy: Option<String>,
}

impl Image {
    /// The full reference: `repo:tag`, `repo@digest` or `repo:tag@digest`.
    pub fn reference(&self) -> String {
        let mut reference = self.repository.clone();
        if let Some(tag) = &self.tag {
            reference.push(':');
            reference.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            reference.push('@');
            reference.push_str(digest);
        }
        reference
    }
}

/// A container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// Name.
    pub name: String,
    /// Container port.
    pub port: u16,
    /// Port the Service exposes (defaults to `port`).
    pub service_port: u16,
    /// TCP, UDP or SCTP.
    pub protocol: String,
    /// appProtocol, if declared.
    pub app_protocol: Option<String>,
}

/// Requests and limits, as Kubernetes quantities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// Requests (`cpu`, `memory`, `ephemeral-storage`).
    pub requests: BTreeMap<String, String>,
    /// Limits.
    pub limits: BTreeMap<String, String>,
}

/// A probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// readiness, liveness or startup.
    pub kind: String,
    /// The check.
    pub check: ProbeCheck,
    /// initialDelaySeconds.
    pub initial_delay_seconds: Option<u32>,
    /// periodSeconds.
    pub period_seconds: Option<u32>,
    /// timeoutSeconds.
    pub timeout_seconds: Option<u32>,
    /// failureThreshold.
    pub failure_threshold: Option<u32>,
    /// successThreshold.
    pub success_threshold: Option<u32>,
}

/// What a probe checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeCheck {
    /// HTTP GET.
    Http {
        /// Path.
        path: String,
        /// Port number or name.
        port: PortRef,
    },
    /// TCP connect.
    Tcp {
        /// Port number or name.
        port: PortRef,
    },
    /// gRPC health check.
    Grpc {
        /// Port number.
        port: u16,
    },
    /// A command, run with `sh -c`.
    Exec {
        /// The command line.
        command: String,
    },
}

/// A port by number or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    /// A number.
    Number(u16),
    /// A named container port.
    Name(String),
}

/// A reference to a key of a Kubernetes Secret, exposed as an environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// Environment variable name.
    pub variable: String,
    /// Secret name.
    pub secret: String,
    /// Key in the secret.
    pub key: String,
}

/// Replica policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replicas {
    /// A fixed count (the Deployment pins `replicas`).
    Fixed(u32),
    /// Autoscaled between bounds (the Deployment leaves `replicas` unset).
    Autoscaled {
        /// minReplicas.
        min: u32,
        /// maxReplicas.
        max: u32,
    },
}

/// VPA settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vpa {
    /// Update mode as the CRD spells it (Off, Initial, Recreate, InPlaceOrRecreate, Auto).
    pub mode: String,
    /// minAllowed.
    pub min: BTreeMap<String, String>,
    /// maxAllowed.
    pub max: BTreeMap<String, String>,
    /// controlledResources.
    pub controlled_resources: Vec<String>,
    /// controlledValues (RequestsOnly, RequestsAndLimits).
    pub controlled_values: Option<String>,
    /// Whether the mode was written in the spec rather than set by a built-in default or a
    /// profile: a profile's `vpa mode=off` emits nothing, a written one emits an `Off` VPA
    /// (recommendations only). Decided in lowering, so emission never reads the origins.
    pub written: bool,
}

/// A disruption budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disruption {
    /// minAvailable (number or percentage).
    MinAvailable(IntOrPercent),
    /// maxUnavailable (number or percentage).
    MaxUnavailable(IntOrPercent),
}

/// A whole number or a percentage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntOrPercent {
    /// A count.
    Int(u32),
    /// A percentage string such as `50%`.
    Percent(String),
}

/// Persistent storage of a stateful service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    /// Size quantity.
    pub size: String,
    /// Storage class (the service's, else the cloud's default).
    pub class: Option<String>,
    /// Mount path.
    pub mount: String,
    /// Access mode.
    pub access_mode: String,
}

/// A resolved security context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// runAsNonRoot.
    pub run_as_non_root: bool,
    /// runAsUser.
    pub run_as_user: Option<i64>,
    /// runAsGroup.
    pub run_as_group: Option<i64>,
    /// fsGroup.
    pub fs_group: Option<i64>,
    /// readOnlyRootFilesystem.
    pub read_only_root_filesystem: bool,
    /// allowPrivilegeEscalation.
    pub allow_privilege_escalation: bool,
    /// privileged.
    pub privileged: bool,
    /// Capabilities to drop.
    pub drop_capabilities: Vec<String>,
    /// Capabilities to add.
    pub add_capabilities: Vec<String>,
    /// seccomp profile type (RuntimeDefault or Unconfined).
    pub seccomp: String,
    /// automountServiceAccountToken.
    pub automount_token: bool,
}

#[cfg(test)]
mod origins_tests {
    use super::{Layer, Origin, Origins};

    fn at(layer: Layer) -> Origin {
        Origin {
            layer: layer.into(),
            span: None,
            overridden: Box::default(),
        }
    }

    #[test]
    fn origins_are_sorted_and_the_last_of_a_pointer_wins() {
        let origins: Origins = [
            ("/b", at(Layer::Builtin)),
            ("/a", at(Layer::Service)),
            ("/b", at(Layer::Defaults)),
        ]
        .into_iter()
        .collect();
        let pointers: Vec<&str> = origins.iter().map(|(pointer, _)| pointer).collect();
        assert_eq!(pointers, ["/a", "/b"]);
        assert_eq!(origins.get("/b").map(|o| &*o.layer), Some(&Layer::Defaults));
        assert!(origins.get("/c").is_none());
        let mut origins = origins;
        assert!(origins.insert("/c", at(Layer::Builtin)).is_none());
        let replaced = origins.insert("/a", at(Layer::Builtin));
        assert_eq!(replaced.map(|o| (*o.layer).clone()), Some(Layer::Service));
        assert_eq!(origins.len(), 3);
    }
}
