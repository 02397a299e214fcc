//! The typed spec: the JSON form, deserialized after the schema accepted it.
//!
//! Field names follow the JSON form (kebab-case, identical to the KDL names). Collections
//! keyed by name are `BTreeMap`s so iteration order never depends on hashing.
//! Invariant: these types mirror `schemas/platform.schema.json`; a test deserializes every
//! example through both.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// A scalar written as a string, number or boolean, kept as its text (`2`, `"500m"`, `#true`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(Text(match value {
            serde_json::Value::String(text) => text,
            serde_json::Value::Bool(flag) => flag.to_string(),
            serde_json::Value::Number(number) => number.to_string(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        }))
    }
}

impl Text {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A whole platform spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Spec {
    /// `platform NAME { ... }`.
    #[serde(default)]
    pub platform: PlatformSpec,
    /// `defaults { ... }`: service fields every service starts from.
    #[serde(default)]
    pub defaults: Option<ServiceBody>,
    /// `cloud aws|gcp|azure { ... }`.
    #[serde(default)]
    pub clouds: BTreeMap<String, CloudSpec>,
    /// `environment NAME profile=... { ... }`.
    #[serde(default)]
    pub environments: BTreeMap<String, EnvironmentSpec>,
    /// `service NAME { ... }`.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceSpec>,
}

/// The `platform` node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PlatformSpec {
    /// The platform's name.
    #[serde(default)]
    pub name: String,
    /// The GitOps repository.
    pub repo: Option<RepoSpec>,
    /// Labels put on everything (team, cost-center, ...).
    #[serde(default)]
    pub labels: BTreeMap<String, Text>,
    /// Annotations put on every workload.
    #[serde(default)]
    pub annotations: BTreeMap<String, Text>,
    /// Registry prefixed to relative image names.
    pub registry: Option<String>,
    /// `argocd namespace=... project=...`.
    pub argocd: Option<ArgoCdSpec>,
    /// `istio namespace=... gateway-service-account=...`.
    pub istio: Option<IstioSpec>,
    /// `keda namespace=... service-account=...`.
    pub keda: Option<KedaSpec>,
}

/// `istio namespace=... gateway-service-account=...` in `platform`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct IstioSpec {
    /// Namespace of istiod and the ingress gateway.
    pub namespace: Option<String>,
    /// Service account of the ingress gateway.
    pub gateway_service_account: Option<String>,
}

/// `keda namespace=... service-account=...` in `platform`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct KedaSpec {
    /// Namespace of the KEDA operator.
    pub namespace: Option<String>,
    /// Service account of the KEDA operator.
    pub service_account: Option<String>,
}

/// `argocd namespace=... project=...` in `platform`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ArgoCdSpec {
    /// Namespace of Argo CD (AppProject and ApplicationSets).
    pub namespace: Option<String>,
    /// AppProject name.
    pub project: Option<String>,
}

/// `argocd generator=... { cluster-selector k=v }` in an environment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EnvironmentArgoCdSpec {
    /// `list` or `clusters`.
    pub generator: Option<String>,
    /// Labels the clusters generator selects registered clusters by.
    pub cluster_selector: Option<BTreeMap<String, Text>>,
}

/// `repo URL branch=... path=...`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RepoSpec {
    /// Clone URL.
    #[serde(default)]
    pub url: String,
    /// Branch the output is committed to.
    pub branch: Option<String>,
    /// Subdirectory of the repo holding the output tree.
    pub path: Option<String>,
}

/// `cloud NAME { ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CloudSpec {
    /// AWS/GCP region.
    pub region: Option<String>,
    /// GCP project.
    pub project: Option<String>,
    /// Azure location.
    pub location: Option<String>,
    /// Azure resource group.
    pub resource_group: Option<String>,
    /// Terraform state backend.
    pub state: Option<StateSpec>,
    /// Default storage class for stateful services on this cloud.
    pub storage_class: Option<String>,
    /// Clusters.
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterSpec>,
}

/// `state bucket=... key=...`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct StateSpec {
    /// S3 or GCS bucket.
    pub bucket: Option<String>,
    /// S3 key / azurerm key.
    pub key: Option<String>,
    /// S3 region.
    pub region: Option<String>,
    /// GCS prefix.
    pub prefix: Option<String>,
    /// DynamoDB lock table.
    pub dynamodb_table: Option<String>,
    /// azurerm resource group.
    pub resource_group: Option<String>,
    /// azurerm storage account.
    pub storage_account: Option<String>,
    /// azurerm container.
    pub container: Option<String>,
}

/// `cluster NAME { ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ClusterSpec {
    /// Kubernetes minor version such as "1.31".
    pub kubernetes: Option<String>,
    /// Control-plane endpoint access.
    pub endpoint: Option<EndpointSpec>,
    /// Networking.
    pub network: Option<NetworkSpec>,
    /// GKE release channel.
    pub release_channel: Option<String>,
    /// Node pools.
    #[serde(default)]
    pub node_pools: BTreeMap<String, NodePoolSpec>,
}

/// `endpoint private=... public=...`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EndpointSpec {
    /// Private endpoint.
    pub private: Option<bool>,
    /// Public endpoint.
    pub public: Option<bool>,
    /// CIDRs allowed to reach a public endpoint.
    pub public_cidrs: Option<String>,
}

/// `network ...`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NetworkSpec {
    /// Create the network (otherwise take it from variables).
    pub create: Option<bool>,
    /// VPC CIDR.
    pub cidr: Option<String>,
    /// Existing VPC.
    pub vpc_id: Option<String>,
    /// Existing subnets, comma-separated.
    pub subnet_ids: Option<String>,
    /// Number of zones.
    pub zones: Option<u32>,
    /// GCP network name.
    pub name: Option<String>,
    /// GCP subnetwork.
    pub subnetwork: Option<String>,
    /// AKS network plugin.
    pub plugin: Option<String>,
    /// AKS network policy.
    pub policy: Option<String>,
}

/// `node-pool NAME ...`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NodePoolSpec {
    /// AWS instance type.
    pub instance_type: Option<String>,
    /// GCP machine type.
    pub machine_type: Option<String>,
    /// Azure VM size.
    pub vm_size: Option<String>,
    /// Minimum nodes (required by the schema).
    pub min: Option<u32>,
    /// Maximum nodes (required by the schema).
    pub max: Option<u32>,
    /// Desired nodes.
    pub desired: Option<u32>,
    /// on-demand or spot.
    pub capacity: Option<String>,
    /// Disk size in GiB.
    pub disk_size: Option<u32>,
    /// One taint, `key=value:Effect`.
    pub taint: Option<String>,
    /// Node labels.
    #[serde(default)]
    pub labels: BTreeMap<String, Text>,
    /// Further taints.
    #[serde(default)]
    pub taints: Vec<String>,
}

/// The settings a profile sets and an environment may override.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ProfileSettings {
    /// Minimum replicas of every service.
    pub replica_floor: Option<u32>,
    /// Emit PodDisruptionBudgets.
    pub pdb: Option<bool>,
    /// Default VPA settings.
    pub vpa: Option<VpaSpec>,
    /// Mesh settings.
    pub mesh: Option<MeshSpec>,
    /// Pod Security Admission levels.
    pub pod_security: Option<PodSecuritySpec>,
    /// Default security context.
    pub security: Option<SecuritySpec>,
    /// NetworkPolicy defaults.
    pub network_policy: Option<NetworkPolicySpec>,
    /// ArgoCD sync policy.
    pub sync: Option<SyncSpec>,
}

/// A profile document (`overlays/<name>.kdl`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ProfileDocument {
    /// `profile NAME { ... }`.
    pub profile: ProfileSpec,
}

/// `profile NAME { ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ProfileSpec {
    /// development, staging or production.
    pub name: String,
    /// One line on what the profile is for.
    pub description: Option<String>,
    /// The settings.
    #[serde(flatten)]
    pub settings: ProfileSettings,
}

/// `mesh mtls=... mode=...`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct MeshSpec {
    /// strict, permissive or disable.
    pub mtls: Option<String>,
    /// sidecar, ambient or none.
    pub mode: Option<String>,
}

/// `pod-security enforce=... audit=... warn=...`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PodSecuritySpec {
    /// Enforced level.
    pub enforce: Option<String>,
    /// Audited level.
    pub audit: Option<String>,
    /// Warned level.
    pub warn: Option<String>,
}

/// `network-policy default-deny=...`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NetworkPolicySpec {
    /// Deny all ingress and egress unless allowed.
    pub default_deny: Option<bool>,
}

/// `sync automated=... prune=... self-heal=...`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SyncSpec {
    /// Automated sync.
    pub automated: Option<bool>,
    /// Prune resources no longer in git.
    pub prune: Option<bool>,
    /// Revert drift.
    pub self_heal: Option<bool>,
}

/// `environment NAME profile=... { ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EnvironmentSpec {
    /// The built-in profile.
    #[serde(default)]
    pub profile: String,
    /// Kubernetes namespace.
    #[serde(default)]
    pub namespace: String,
    /// Clouds this environment deploys to.
    #[serde(default)]
    pub deploy_to: Vec<String>,
    /// Which cluster per cloud, when a cloud has several.
    #[serde(default)]
    pub clusters: BTreeMap<String, String>,
    /// ResourceQuota.
    pub quota: Option<BTreeMap<String, Text>>,
    /// LimitRange.
    pub limit_range: Option<BTreeMap<String, Text>>,
    /// Velero backup schedule.
    pub backup: Option<BackupSpec>,
    /// How Argo CD finds this environment's clusters.
    pub argocd: Option<EnvironmentArgoCdSpec>,
    /// Extra labels for this environment.
    #[serde(default)]
    pub labels: BTreeMap<String, Text>,
    /// Profile settings this environment overrides.
    #[serde(flatten)]
    pub settings: ProfileSettings,
}

/// `backup schedule=... ttl=...`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BackupSpec {
    /// Cron schedule.
    #[serde(default)]
    pub schedule: String,
    /// Retention.
    pub ttl: Option<String>,
}

/// `service NAME { ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ServiceSpec {
    /// The service's own fields.
    #[serde(flatten)]
    pub body: ServiceBody,
    /// `in ENV [cloud=CLOUD] { ... }` blocks.
    #[serde(default)]
    pub overrides: Vec<OverrideSpec>,
}

/// `in ENV [cloud=CLOUD] { ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct OverrideSpec {
    /// Environment name.
    #[serde(default)]
    pub environment: String,
    /// Cloud name, when the override applies to one cloud only.
    pub cloud: Option<String>,
    /// The overridden fields.
    #[serde(flatten)]
    pub body: ServiceBody,
}

/// The fields of a service (also of `defaults` and `in` blocks); all optional at this level.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ServiceBody {
    /// stateless or stateful.
    pub kind: Option<String>,
    /// Container image.
    pub image: Option<ImageSpec>,
    /// Named ports.
    #[serde(default)]
    pub ports: BTreeMap<String, PortSpec>,
    /// CPU / memory requests..limits.
    pub resources: Option<BTreeMap<String, Text>>,
    /// Probes by type.
    #[serde(default)]
    pub probes: BTreeMap<String, ProbeSpec>,
    /// Plain environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, Text>,
    /// Secret references by variable name.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretSpec>,
    /// Services this one calls.
    pub calls: Option<Vec<String>>,
    /// Destinations outside the spec's services, by name.
    #[serde(default)]
    pub egress: BTreeMap<String, EgressSpec>,
    /// Pinned replica count.
    pub replicas: Option<u32>,
    /// Autoscaling.
    pub autoscale: Option<serde_json::Value>,
    /// VPA.
    pub vpa: Option<VpaSpec>,
    /// PDB.
    pub disruption: Option<DisruptionSpec>,
    /// Persistent storage.
    pub storage: Option<StorageSpec>,
    /// External exposure and routes.
    pub expose: Option<serde_json::Value>,
    /// Traffic policy.
    pub traffic: Option<serde_json::Value>,
    /// Versions (subsets).
    #[serde(default)]
    pub versions: BTreeMap<String, serde_json::Value>,
    /// Security context.
    pub security: Option<SecuritySpec>,
    /// Container command.
    pub command: Option<Vec<String>>,
    /// Container args.
    pub args: Option<Vec<String>>,
    /// Extra labels.
    #[serde(default)]
    pub labels: BTreeMap<String, Text>,
    /// Extra annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, Text>,
    /// Node pool to schedule on.
    pub node_pool: Option<String>,
}

/// `image NAME tag=... digest=...`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ImageSpec {
    /// Repository, relative to the platform registry unless it contains a registry host.
    pub name: Option<String>,
    /// Tag.
    pub tag: Option<String>,
    /// Digest.
    pub digest: Option<String>,
    /// Registry override.
    pub registry: Option<String>,
    /// Pull policy.
    pub pull_policy: Option<String>,
}

/// `port NAME NUMBER ...`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PortSpec {
    /// Container port.
    #[serde(default)]
    pub port: u16,
    /// TCP, UDP or SCTP.
    pub protocol: Option<String>,
    /// Application protocol.
    pub app_protocol: Option<String>,
    /// Port the Service exposes, when it differs.
    pub service_port: Option<u16>,
}

/// `egress NAME cidr=... | namespace=... port=N protocol=...`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EgressSpec {
    /// A CIDR block outside the cluster.
    pub cidr: Option<String>,
    /// A namespace of the cluster.
    pub namespace: Option<String>,
    /// Destination port.
    #[serde(default)]
    pub port: u16,
    /// TCP, UDP or SCTP.
    pub protocol: Option<String>,
}

/// `probe TYPE ...`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ProbeSpec {
    /// HTTP GET path.
    pub http: Option<String>,
    /// TCP socket check.
    pub tcp: Option<bool>,
    /// gRPC check.
    pub grpc: Option<bool>,
    /// Exec command (run through `sh -c`).
    pub exec: Option<String>,
    /// Port number or name.
    pub port: Option<Text>,
    /// initialDelaySeconds.
    pub initial_delay: Option<String>,
    /// periodSeconds.
    pub period: Option<String>,
    /// timeoutSeconds.
    pub timeout: Option<String>,
    /// failureThreshold.
    pub failure_threshold: Option<u32>,
    /// successThreshold.
    pub success_threshold: Option<u32>,
}

/// `secret NAME from=... key=...`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SecretSpec {
    /// Kubernetes Secret name.
    pub from: Option<String>,
    /// Key in that Secret.
    pub key: Option<String>,
    /// A plaintext value: always rejected.
    pub value: Option<String>,
}

/// `vpa mode=... { ... }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct VpaSpec {
    /// Update mode.
    pub mode: Option<String>,
    /// minAllowed.
    pub min: Option<BTreeMap<String, Text>>,
    /// maxAllowed.
    pub max: Option<BTreeMap<String, Text>>,
    /// controlledResources.
    pub controlled_resources: Option<Vec<String>>,
    /// controlledValues.
    pub controlled_values: Option<String>,
}

/// `disruption min-available=... | max-unavailable=...`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DisruptionSpec {
    /// minAvailable.
    pub min_available: Option<Text>,
    /// maxUnavailable.
    pub max_unavailable: Option<Text>,
}

/// `storage SIZE class=... mount=...`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct StorageSpec {
    /// Size.
    pub size: Option<Text>,
    /// Storage class.
    pub class: Option<String>,
    /// Mount path.
    pub mount: Option<String>,
    /// Access mode.
    pub access_mode: Option<String>,
}

/// `security ...`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SecuritySpec {
    /// runAsNonRoot.
    pub run_as_non_root: Option<bool>,
    /// runAsUser.
    pub run_as_user: Option<i64>,
    /// runAsGroup.
    pub run_as_group: Option<i64>,
    /// fsGroup.
    pub fs_group: Option<i64>,
    /// readOnlyRootFilesystem.
    pub read_only_root_filesystem: Option<bool>,
    /// allowPrivilegeEscalation.
    pub allow_privilege_escalation: Option<bool>,
    /// privileged.
    pub privileged: Option<bool>,
    /// Capabilities to drop, comma-separated.
    pub drop_capabilities: Option<String>,
    /// Capabilities to add, comma-separated.
    pub add_capabilities: Option<String>,
    /// seccomp profile.
    pub seccomp: Option<String>,
    /// automountServiceAccountToken.
    pub automount_token: Option<bool>,
}
