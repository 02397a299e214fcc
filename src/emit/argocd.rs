//! The Argo CD emitter: one AppProject for the platform and one ApplicationSet per
//! environment, creating one Application per (environment, cloud) target that deploys exactly
//! the overlay directory the Kustomize emitter wrote for it.
//!
//! Consumes: the [`Platform`] (repo, environments, targets, sync policies, [`ArgoCd`]
//! settings) and the tree the Kustomize emitter produced (read only to list the kinds of
//! objects the overlays deploy, for the AppProject's resource whitelists). Produces, when the
//! platform declares its GitOps `repo` (without one there is nothing to point Argo CD at, and
//! nothing is written here):
//!
//! ```text
//! argocd/appproject.yaml              AppProject <project>
//! argocd/applicationset-<env>.yaml    ApplicationSet <platform>-<env>
//! ```
//!
//! Invariants: every target has exactly one Application, named `<platform>-<env>-<cloud>`,
//! whose source path is `<repo path>/kubernetes/overlays/<env>/<cloud>` (see [`plan`] and
//! [`missing_overlays`], which `emit::emit` asserts in debug builds and `tests/argocd.rs`
//! checks on every example); every file is a complete object (no templating outside the
//! ApplicationSet's own Go templates); output depends only on the model and the tree's
//! Kustomize files.
//!
//! Decisions:
//! - Go templates (`goTemplate: true`, `missingkey=error`): a missing generator parameter
//!   fails the ApplicationSet instead of rendering an empty path or name.
//! - List generator (the default): one element per target, `{cloud, cluster}`; the
//!   destination is the cluster by name, so every spec cluster must be registered in Argo CD
//!   under its spec name.
//! - Clusters generator (`argocd generator=clusters`, seed 000): registered clusters carrying
//!   the selector's labels and a `provider` label that is one of the environment's clouds;
//!   the path and the Application name come from the `provider` label and the destination is
//!   the cluster's server. Naming Applications by provider means two clusters matching one
//!   (environment, cloud) produce the same name, which the ApplicationSet controller
//!   rejects, so there is never more than one Application per target.
//! - Sync policy from the environment's resolved `sync` (profile → environment): `automated`
//!   with `prune`/`selfHeal`, omitted entirely when `automated` is false (manual sync);
//!   always `CreateNamespace=true`, `ServerSideApply=true` and a retry with exponential
//!   backoff. No `resources-finalizer`: deleting an Application never deletes workloads.
//! - Sync waves: the Kustomize overlays annotate the Namespace with wave [`WAVE_NAMESPACE`]
//!   and the ResourceQuota and LimitRange with [`WAVE_GUARDRAILS`]; [`add_policy_wave`] puts
//!   the other emitters' policy objects ([`POLICY_KINDS`]) into [`WAVE_GUARDRAILS`] too, unless
//!   they chose a wave (the emitters call it on each object they build); workloads stay in wave 0, so the namespace and its guardrails exist
//!   before any pod is admitted.
//! - AppProject: `sourceRepos` is the one GitOps repo; destinations are each environment's
//!   namespace on each of its clusters (by name), or on any server (`*`) for environments
//!   using the clusters generator, whose cluster set is only known at run time;
//!   `clusterResourceWhitelist` and `namespaceResourceWhitelist` list exactly the kinds the
//!   bases and overlays contain (Namespace is the only cluster-scoped one today).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::{Files, yaml};
use crate::model::{ArgoCd, CloudKind, Environment, Generator, Platform, Sync};
use crate::output::Tree;

/// The annotation that orders objects within one Argo CD sync.
pub const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
/// The sync wave of the overlay's Namespace: first.
pub const WAVE_NAMESPACE: &str = "-2";
/// The sync wave of ResourceQuota, LimitRange and policies (NetworkPolicy, PeerAuthentication,
/// ...): after the Namespace, before the workloads (wave 0).
pub const WAVE_GUARDRAILS: &str = "-1";

/// Policy kinds (group, kind) that apply in wave [`WAVE_GUARDRAILS`]: admission and traffic
/// rules that must be in place before the first pod starts.
pub const POLICY_KINDS: &[(&str, &str)] = &[
    ("networking.k8s.io", "NetworkPolicy"),
    ("security.istio.io", "PeerAuthentication"),
    ("security.istio.io", "AuthorizationPolicy"),
    ("security.istio.io", "RequestAuthentication"),
];

/// The apiVersion of Argo CD's resources.
const API_VERSION: &str = "argoproj.io/v1alpha1";

/// The cluster label the clusters generator reads a cluster's cloud from.
pub const PROVIDER_LABEL: &str = "provider";

/// Retry with backoff on every Application.
const RETRY_LIMIT: u32 = 5;

/// Built-in kinds that are cluster-scoped: (group, kind). Every other kind found in the
/// Kustomize tree is treated as namespaced.
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "PersistentVolume"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("storage.k8s.io", "StorageClass"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("networking.k8s.io", "IngressClass"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
];

/// What the emitter writes, computed from the model alone (shared with the model-level check
/// and the tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// AppProject name.
    pub project: String,
    /// Argo CD's namespace.
    pub namespace: String,
    /// GitOps repository URL.
    pub repo_url: String,
    /// Branch (targetRevision).
    pub revision: String,
    /// The repo's `path`, normalised: `""` (the root) or `dir/`.
    pub prefix: String,
    /// One ApplicationSet per environment, sorted by environment.
    pub sets: Vec<SetPlan>,
}

/// One environment's ApplicationSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetPlan {
    /// ApplicationSet name: `<platform>-<env>`.
    pub name: String,
    /// Environment name.
    pub environment: String,
    /// The environment's namespace (the Applications' destination namespace).
    pub namespace: String,
    /// How clusters are found.
    pub generator: Generator,
    /// The Applications it creates, one per target, sorted by cloud.
    pub applications: Vec<AppPlan>,
}

/// One Application (one target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPlan {
    /// Application name: `<platform>-<env>-<cloud>`.
    pub name: String,
    /// The target's cloud.
    pub cloud: CloudKind,
    /// The target's cluster (spec name).
    pub cluster: String,
    /// The overlay directory in the output tree: `kubernetes/overlays/<env>/<cloud>`.
    pub overlay: String,
    /// The source path in the GitOps repository: `<repo path>/<overlay>`.
    pub path: String,
}

/// The plan of the platform's Argo CD objects; `None` when the platform has no GitOps repo.
pub fn plan(platform: &Platform) -> Option<Plan> {
    let repo = platform.repo.as_ref()?;
    let settings = &platform.argocd;
    let prefix = repo_prefix(&repo.path);
    let sets = platform
        .environments
        .iter()
        .map(|environment| {
            let applications = environment
                .targets
                .iter()
                .map(|target| {
                    let overlay = overlay_dir(&environment.name, target.cloud.as_str());
                    AppPlan {
                        name: application_name(
                            &platform.name,
                            &environment.name,
                            target.cloud.as_str(),
                        ),
                        cloud: target.cloud,
                        cluster: target.cluster.clone(),
                        path: format!("{prefix}{overlay}"),
                        overlay,
                    }
                })
                .collect();
            SetPlan {
                name: format!("{}-{}", platform.name, environment.name),
                environment: environment.name.clone(),
                namespace: environment.namespace.clone(),
                generator: generator_of(settings, &environment.name),
                applications,
            }
        })
        .collect();
    Some(Plan {
        project: project_name(platform),
        namespace: settings.namespace.clone(),
        repo_url: repo.url.clone(),
        revision: repo.branch.clone(),
        prefix,
        sets,
    })
}

/// The Application name of a target.
pub fn application_name(platform: &str, environment: &str, cloud: &str) -> String {
    format!("{platform}-{environment}-{cloud}")
}

/// The overlay directory of a target, relative to the output root.
pub fn overlay_dir(environment: &str, cloud: &str) -> String {
    format!("kubernetes/overlays/{environment}/{cloud}")
}

/// The AppProject name (the platform's name unless the spec sets one).
pub fn project_name(platform: &Platform) -> String {
    if platform.argocd.project.is_empty() {
        platform.name.clone()
    } else {
        platform.argocd.project.clone()
    }
}

/// The generator of one environment.
pub fn generator_of(settings: &ArgoCd, environment: &str) -> Generator {
    settings
        .generators
        .get(environment)
        .cloned()
        .unwrap_or(Generator::List)
}

/// The repo's `path`, normalised to `""` (the root) or `dir/` without leading `/` or `./`.
fn repo_prefix(path: &str) -> String {
    let trimmed = path.trim().trim_matches('/');
    let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
    if trimmed.is_empty() || trimmed == "." {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

/// Renders the AppProject and the ApplicationSets (nothing without a GitOps repo). `tree`
/// holds the Kustomize files, whose kinds make up the project's resource whitelists.
pub fn emit(platform: &Platform, tree: &Tree) -> Files {
    let mut files = Files::new();
    let Some(plan) = plan(platform) else {
        return files;
    };
    let kinds = kinds_in(tree);
    files.insert(
        "argocd/appproject.yaml".to_owned(),
        yaml::document(&app_project(platform, &plan, &kinds)),
    );
    for (set, environment) in plan.sets.iter().zip(&platform.environments) {
        files.insert(
            format!("argocd/applicationset-{}.yaml", set.environment),
            yaml::document(&application_set(platform, &plan, set, environment)),
        );
    }
    files
}

/// Puts a policy object ([`POLICY_KINDS`]) into sync wave [`WAVE_GUARDRAILS`], unless it
/// already carries a sync wave; any other object is left as it is. Returns whether it added
/// the wave. The overlay emitters (Istio security, network policies) call it on each object
/// before rendering it, so the rule lives here and nothing is parsed back.
pub fn add_policy_wave(document: &mut Value) -> bool {
    let group = document
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|api_version| api_version.rsplit_once('/'))
        .map_or("", |(group, _)| group)
        .to_owned();
    let kind = document.get("kind").and_then(Value::as_str).unwrap_or("");
    let is_policy = POLICY_KINDS
        .iter()
        .any(|(policy_group, policy_kind)| *policy_group == group && *policy_kind == kind);
    let Some(Value::Object(metadata)) = document.get_mut("metadata") else {
        return false;
    };
    if !is_policy {
        return false;
    }
    let annotations = metadata
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(annotations) = annotations else {
        return false;
    };
    if annotations.contains_key(SYNC_WAVE) {
        return false;
    }
    annotations.insert(SYNC_WAVE.to_owned(), WAVE_GUARDRAILS.into());
    true
}

/// The overlay directories the plan points at that the tree does not contain (a directory
/// exists when it holds a `kustomization.yaml`). Empty when every path exists.
pub fn missing_overlays(plan: &Plan, tree: &Tree) -> Vec<String> {
    plan.sets
        .iter()
        .flat_map(|set| &set.applications)
        .filter(|app| {
            tree.get(&format!("{}/kustomization.yaml", app.overlay))
                .is_none()
        })
        .map(|app| app.overlay.clone())
        .collect()
}

/// Labels on every Argo CD object: the platform's labels, `part-of`, `managed-by`.
fn labels(platform: &Platform, environment: Option<&str>) -> Map<String, Value> {
    let mut labels = Map::new();
    for (key, value) in &platform.labels {
        labels.insert(key.clone(), value.clone().into());
    }
    labels.insert(
        "app.kubernetes.io/part-of".into(),
        platform.name.clone().into(),
    );
    if let Some(environment) = environment {
        labels.insert(
            "app.kubernetes.io/environment".into(),
            environment.to_owned().into(),
        );
    }
    labels.insert("app.kubernetes.io/managed-by".into(), "manifold".into());
    labels
}

fn app_project(platform: &Platform, plan: &Plan, kinds: &BTreeSet<(String, String)>) -> Value {
    let mut destinations: Vec<(String, String, String)> = Vec::new();
    for set in &plan.sets {
        match &set.generator {
            Generator::List => {
                for app in &set.applications {
                    destinations.push(("name".into(), app.cluster.clone(), set.namespace.clone()));
                }
            }
            Generator::Clusters { .. } => {
                destinations.push(("server".into(), "*".into(), set.namespace.clone()));
            }
        }
    }
    destinations.sort();
    destinations.dedup();
    let destinations: Vec<Value> = destinations
        .into_iter()
        .map(|(key, cluster, namespace)| {
            let mut destination = Map::new();
            destination.insert(key, cluster.into());
            destination.insert("namespace".into(), namespace.into());
            Value::Object(destination)
        })
        .collect();
    let is_cluster_scoped = |group: &str, kind: &str| {
        CLUSTER_SCOPED
            .iter()
            .any(|(scoped_group, scoped_kind)| *scoped_group == group && *scoped_kind == kind)
    };
    let whitelist = |cluster_scoped: bool| -> Vec<Value> {
        kinds
            .iter()
            .filter(|(group, kind)| is_cluster_scoped(group, kind) == cluster_scoped)
            .map(|(group, kind)| json!({ "group": group, "kind": kind }))
            .collect()
    };
    let environments: Vec<&str> = plan
        .sets
        .iter()
        .map(|set| set.environment.as_str())
        .collect();
    json!({
        "apiVersion": API_VERSION,
        "kind": "AppProject",
        "metadata": {
            "name": plan.project,
            "namespace": plan.namespace,
            "labels": labels(platform, None),
        },
        "spec": {
            "description": format!(
                "{}: the Kustomize overlays manifold generates for {}",
                platform.name,
                environments.join(", ")
            ),
            "sourceRepos": [plan.repo_url],
            "destinations": destinations,
            "clusterResourceWhitelist": whitelist(true),
            "namespaceResourceWhitelist": whitelist(false),
        },
    })
}

fn application_set(
    platform: &Platform,
    plan: &Plan,
    set: &SetPlan,
    environment: &Environment,
) -> Value {
    let overlays = format!("{}{}", plan.prefix, overlay_dir(&set.environment, ""));
    let app_prefix = application_name(&platform.name, &set.environment, "");
    let (generator, parameter, destination) = match &set.generator {
        Generator::List => {
            let elements: Vec<Value> = set
                .applications
                .iter()
                .map(|app| json!({ "cloud": app.cloud.as_str(), "cluster": app.cluster }))
                .collect();
            (
                json!({ "list": { "elements": elements } }),
                "{{.cloud}}".to_owned(),
                json!({ "name": "{{.cluster}}", "namespace": set.namespace }),
            )
        }
        Generator::Clusters { selector } => {
            let clouds: Vec<&str> = set
                .applications
                .iter()
                .map(|app| app.cloud.as_str())
                .collect();
            (
                json!({ "clusters": { "selector": {
                    "matchLabels": selector,
                    "matchExpressions": [
                        { "key": PROVIDER_LABEL, "operator": "In", "values": clouds },
                    ],
                } } }),
                format!("{{{{.metadata.labels.{PROVIDER_LABEL}}}}}"),
                json!({ "server": "{{.server}}", "namespace": set.namespace }),
            )
        }
    };
    json!({
        "apiVersion": API_VERSION,
        "kind": "ApplicationSet",
        "metadata": {
            "name": set.name,
            "namespace": plan.namespace,
            "labels": labels(platform, Some(&set.environment)),
        },
        "spec": {
            "goTemplate": true,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [generator],
            "template": {
                "metadata": {
                    "name": format!("{app_prefix}{parameter}"),
                    "labels": labels(platform, Some(&set.environment)),
                },
                "spec": {
                    "project": plan.project,
                    "source": {
                        "repoURL": plan.repo_url,
                        "targetRevision": plan.revision,
                        "path": format!("{overlays}{parameter}"),
                    },
                    "destination": destination,
                    "syncPolicy": sync_policy(&environment.sync),
                },
            },
        },
    })
}

/// The Applications' sync policy for an environment's resolved `sync` settings.
fn sync_policy(sync: &Sync) -> Value {
    let mut policy = Map::new();
    if sync.automated {
        policy.insert(
            "automated".into(),
            json!({ "prune": sync.prune, "selfHeal": sync.self_heal }),
        );
    }
    policy.insert(
        "syncOptions".into(),
        json!(["CreateNamespace=true", "ServerSideApply=true"]),
    );
    policy.insert(
        "retry".into(),
        json!({
            "limit": RETRY_LIMIT,
            "backoff": { "duration": "5s", "factor": 2, "maxDuration": "3m" },
        }),
    );
    policy.into()
}

/// Every (group, kind) of the objects under `kubernetes/` (Kustomize's own files excluded).
fn kinds_in(tree: &Tree) -> BTreeSet<(String, String)> {
    let mut kinds = BTreeSet::new();
    for (path, bytes) in tree.files() {
        if !path.starts_with("kubernetes/") || !path.ends_with(".yaml") {
            continue;
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        if let Some(found) = scan_kinds(text) {
            debug_assert_eq!(found, parse_kinds(text), "kinds of {path}");
            kinds.extend(found);
        } else {
            kinds.extend(parse_kinds(text));
        }
    }
    kinds
}

/// The (group, kind) of each object of a YAML stream as emitted (a document per `---` line,
/// top-level `apiVersion: …` and `kind: …` lines), read off the lines without parsing, which
/// is most of the cost of [`kinds_in`] otherwise; Kustomizations are left out. `None` when the
/// text is not plainly of that shape (a quoted or unusual value, a document without both
/// keys): the caller then parses it ([`parse_kinds`], the reference this must agree with).
fn scan_kinds(text: &str) -> Option<BTreeSet<(String, String)>> {
    fn plain(value: &str) -> Option<&str> {
        let mut chars = value.chars();
        let first_is_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        let rest_is_plain =
            chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-' | '_'));
        (first_is_letter && rest_is_plain).then_some(value)
    }
    let mut kinds = BTreeSet::new();
    for document in text.split("\n---\n") {
        let mut api_version = None;
        let mut kind = None;
        for line in document.lines() {
            if let Some(value) = line.strip_prefix("apiVersion:") {
                api_version = Some(plain(value.strip_prefix(' ')?)?);
            } else if let Some(value) = line.strip_prefix("kind:") {
                kind = Some(plain(value.strip_prefix(' ')?)?);
            } else if line.starts_with("---") || line.starts_with("...") {
                return None;
            }
        }
        let group = api_version?.rsplit_once('/').map_or("", |(group, _)| group);
        if !group.starts_with("kustomize.config.k8s.io") {
            kinds.insert((group.to_owned(), kind?.to_owned()));
        }
    }
    Some(kinds)
}

/// The (group, kind) of each object of a YAML stream, parsed; Kustomizations left out.
fn parse_kinds(text: &str) -> BTreeSet<(String, String)> {
    let mut kinds = BTreeSet::new();
    let Ok(documents) = serde_saphyr::from_multiple::<Value>(text) else {
        return kinds;
    };
    for document in documents {
        let (Some(api_version), Some(kind)) = (
            document.get("apiVersion").and_then(Value::as_str),
            document.get("kind").and_then(Value::as_str),
        ) else {
            continue;
        };
        let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
        if group.starts_with("kustomize.config.k8s.io") {
            continue;
        }
        kinds.insert((group.to_owned(), kind.to_owned()));
    }
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_paths_are_normalised() {
        assert_eq!(repo_prefix(""), "");
        assert_eq!(repo_prefix("."), "");
        assert_eq!(repo_prefix("/"), "");
        assert_eq!(repo_prefix("deploy"), "deploy/");
        assert_eq!(repo_prefix("/deploy/out/"), "deploy/out/");
        assert_eq!(repo_prefix("./deploy"), "deploy/");
    }

    #[test]
    fn manual_sync_has_no_automated_block() {
        let manual = sync_policy(&Sync {
            automated: false,
            prune: true,
            self_heal: true,
        });
        assert!(manual.get("automated").is_none());
        assert!(manual["retry"]["backoff"].is_object());
        let automated = sync_policy(&Sync {
            automated: true,
            prune: false,
            self_heal: true,
        });
        assert_eq!(
            automated["automated"],
            json!({ "prune": false, "selfHeal": true })
        );
    }

    #[test]
    fn kinds_skip_kustomizations_and_other_directories() {
        let mut tree = Tree::new();
        tree.insert(
            "kubernetes/overlays/dev/aws/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n",
        );
        tree.insert(
            "kubernetes/overlays/dev/aws/namespace.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n",
        );
        tree.insert(
            "kubernetes/base/web/all.yaml",
            "apiVersion: apps/v1\nkind: Deployment\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\n",
        );
        tree.insert("terraform/x.yaml", "apiVersion: v1\nkind: ConfigMap\n");
        let kinds: Vec<(String, String)> = kinds_in(&tree).into_iter().collect();
        assert_eq!(
            kinds,
            vec![
                (String::new(), "Namespace".to_owned()),
                ("apps".to_owned(), "Deployment".to_owned()),
                ("policy".to_owned(), "PodDisruptionBudget".to_owned()),
            ]
        );
    }

    #[test]
    fn policies_get_the_guardrail_wave() {
        let mut policy = json!({ "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": { "name": "deny" }, "spec": { "podSelector": {} } });
        assert!(add_policy_wave(&mut policy));
        assert_eq!(policy["metadata"]["annotations"][SYNC_WAVE], json!("-1"));
        // The annotation goes after the metadata that was there, as a rewrite would put it.
        let keys: Vec<&String> = policy["metadata"]
            .as_object()
            .expect("map")
            .keys()
            .collect();
        assert_eq!(keys, ["name", "annotations"]);
        let waved = json!({ "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": { "name": "a", "annotations": { SYNC_WAVE: "-5" } } });
        let mut kept = waved.clone();
        assert!(!add_policy_wave(&mut kept));
        assert_eq!(kept, waved);
        let other = json!({ "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": { "name": "web" } });
        let mut unchanged = other.clone();
        assert!(!add_policy_wave(&mut unchanged));
        assert_eq!(unchanged, other);
        // The kind alone is not enough: the API group must be the policy's.
        let mut lookalike = json!({ "apiVersion": "example.com/v1", "kind": "NetworkPolicy",
            "metadata": { "name": "x" } });
        assert!(!add_policy_wave(&mut lookalike));
    }

    #[test]
    fn no_repo_no_plan() {
        let mut platform = crate::emit::kustomize::tests::fixture();
        platform.repo = None;
        assert!(plan(&platform).is_none());
        assert!(emit(&platform, &Tree::new()).is_empty());
    }
}
