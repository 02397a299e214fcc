//! Cluster checks: what `terraform plan` or the cloud would reject in the emitted Terraform,
//! and cluster choices that put workloads at risk, reported at the spec tokens.
//!
//! Consumes: the resolved [`Platform`] (clouds, clusters and node pools with their spans;
//! every target's services with origins) and the emitter's provider rules
//! ([`crate::emit::terraform::provider`]), so the checks judge what would be written.
//! Produces: diagnostics with codes under `manifold::terraform::`.
//!
//! Invariant: a problem that looks the same in several targets is reported once (messages
//! name no environment unless the problem depends on it; [`crate::diagnostic::sort`] drops
//! exact duplicates). Node pool bounds (`min ≤ desired ≤ max`) are a spec rule
//! (`manifold::spec::node-pool-bounds`) and are not repeated here.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostic::{Diagnostic, suggestion_help};
use crate::emit::terraform::provider;
use crate::model::{Cloud, CloudKind, Cluster, NodePool, Platform, WorkloadKind};
use crate::source::{FileId, Span};

use super::origin_span;

/// Code: a Kubernetes version the managed service cannot create.
pub const UNSUPPORTED_VERSION: &str = "manifold::terraform::unsupported-version";
/// Code (warning): a stateful service that may run on spot nodes.
pub const STATEFUL_ON_SPOT: &str = "manifold::terraform::stateful-on-spot";
/// Code: a service's `node-pool` names no pool of its target's cluster.
pub const UNKNOWN_NODE_POOL: &str = "manifold::terraform::unknown-node-pool";
/// Code: an API endpoint that nobody can reach (error), or one open to the internet
/// (warning).
pub const ENDPOINT: &str = "manifold::terraform::endpoint";
/// Code: a taint that is not `key=value:Effect`.
pub const INVALID_TAINT: &str = "manifold::terraform::invalid-taint";
/// Code: a node pool the provider cannot create (AKS names, an AKS system pool, max 0).
pub const INVALID_NODE_POOL: &str = "manifold::terraform::invalid-node-pool";
/// Code: `network` settings that contradict each other or do not apply to the cloud.
pub const INVALID_NETWORK: &str = "manifold::terraform::invalid-network";
/// Code: a `state` without a setting its backend requires.
pub const INCOMPLETE_STATE: &str = "manifold::terraform::incomplete-state";
/// Code (warning): a `state` setting the cloud's backend does not use.
pub const UNUSED_STATE: &str = "manifold::terraform::unused-state-setting";
/// Code (warning): a platform label the cloud does not accept as a tag or label.
pub const CLOUD_LABEL: &str = "manifold::terraform::cloud-label";

/// Runs every cluster rule.
pub fn check(platform: &Platform, spec_file: FileId) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let at = |spans: &BTreeMap<String, Span>, keys: &[&str]| -> Span {
        keys.iter()
            .find_map(|key| spans.get(*key).copied())
            .unwrap_or(Span::new(spec_file, 0, 0))
    };
    for cloud in &platform.clouds {
        state(cloud, &at, &mut out);
        labels(platform, cloud, &at, &mut out);
        for cluster in &cloud.clusters {
            version(cloud.kind, cluster, &at, &mut out);
            endpoint(cloud.kind, cluster, &at, &mut out);
            network(cloud.kind, cluster, &at, &mut out);
            pools(cloud.kind, cluster, &at, &mut out);
        }
    }
    placement(platform, spec_file, &at, &mut out);
    out
}

/// Looks a span up by the first key present, else the top of the spec.
type At<'a> = dyn Fn(&BTreeMap<String, Span>, &[&str]) -> Span + 'a;

fn version(kind: CloudKind, cluster: &Cluster, at: &At, out: &mut Vec<Diagnostic>) {
    let (low, high) = provider::supported_minors(kind);
    let service = provider::service_name(kind);
    let supported =
        provider::minor(&cluster.kubernetes).is_some_and(|minor| (low..=high).contains(&minor));
    if supported {
        return;
    }
    out.push(
        Diagnostic::error(
            UNSUPPORTED_VERSION,
            at(&cluster.spans, &["/kubernetes", ""]),
            format!(
                "{service} cannot create Kubernetes {} (cluster `{}`)",
                cluster.kubernetes, cluster.name
            ),
        )
        .with_label(format!("not a {service} version"))
        .with_help(format!(
            "{service} supports Kubernetes 1.{low} to 1.{high}; write for example `kubernetes \"1.{high}\"`"
        )),
    );
}

fn endpoint(kind: CloudKind, cluster: &Cluster, at: &At, out: &mut Vec<Diagnostic>) {
    let span = at(&cluster.spans, &["/endpoint", ""]);
    if !cluster.private_endpoint && !cluster.public_endpoint {
        out.push(
            Diagnostic::error(
                ENDPOINT,
                span,
                format!(
                    "cluster `{}` has neither a private nor a public API endpoint",
                    cluster.name
                ),
            )
            .with_label("no endpoint")
            .with_help(
                "set `endpoint private=#true` (recommended) or `public=#true public-cidrs=\"…\"`",
            ),
        );
    } else if cluster.public_endpoint && cluster.public_cidrs.is_empty() {
        let extra = if kind == CloudKind::Azure && cluster.private_endpoint {
            "; on AKS a public endpoint also means the cluster is not private"
        } else {
            ""
        };
        out.push(
            Diagnostic::warning(
                ENDPOINT,
                at(&cluster.spans, &["/endpoint/public", "/endpoint", ""]),
                format!(
                    "the API endpoint of cluster `{}` is open to the whole internet",
                    cluster.name
                ),
            )
            .with_label("public, no `public-cidrs`")
            .with_help(format!(
                "limit it with `public-cidrs=\"203.0.113.0/24,…\"`, or set `public=#false` and reach the API over the private network{extra}"
            )),
        );
    }
}

fn network(kind: CloudKind, cluster: &Cluster, at: &At, out: &mut Vec<Diagnostic>) {
    let network = &cluster.network;
    let spans = &cluster.spans;
    let cloud = kind.as_str();
    let set: [(&str, bool); 9] = [
        ("create", network.create.is_some()),
        ("cidr", network.cidr.is_some()),
        ("vpc-id", network.vpc_id.is_some()),
        ("subnet-ids", !network.subnet_ids.is_empty()),
        ("zones", network.zones.is_some()),
        ("name", network.name.is_some()),
        ("subnetwork", network.subnetwork.is_some()),
        ("plugin", network.plugin.is_some()),
        ("policy", network.policy.is_some()),
    ];
    let allowed: &[&str] = match kind {
        CloudKind::Aws => &["create", "cidr", "vpc-id", "subnet-ids", "zones"],
        CloudKind::Gcp => &["create", "cidr", "name", "subnetwork"],
        CloudKind::Azure => &["create", "cidr", "subnet-ids", "plugin", "policy"],
    };
    let mut push = |key: &str, message: String, label: &str, help: String| {
        out.push(
            Diagnostic::error(
                INVALID_NETWORK,
                at(spans, &[&format!("/network/{key}"), "/network"]),
                message,
            )
            .with_label(label.to_owned())
            .with_help(help),
        );
    };
    for (key, present) in set {
        if present && !allowed.contains(&key) {
            push(
                key,
                format!("`{key}` is not a network setting of cloud `{cloud}`"),
                "not used on this cloud",
                format!(
                    "{cloud} networks take {}",
                    allowed
                        .iter()
                        .map(|key| format!("`{key}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    let existing: Vec<&str> = match kind {
        CloudKind::Aws => ["vpc-id", "subnet-ids"]
            .into_iter()
            .filter(|key| set.iter().any(|(name, present)| name == key && *present))
            .collect(),
        CloudKind::Azure if !network.subnet_ids.is_empty() => vec!["subnet-ids"],
        _ => Vec::new(),
    };
    if network.create == Some(true) && !existing.is_empty() {
        push(
            "create",
            format!(
                "cluster `{}` both creates a network and uses an existing one (`{}`)",
                cluster.name,
                existing.join("`, `")
            ),
            "contradicts the existing network",
            "drop `create=#true` to use the existing network, or drop the existing ids to create one".to_owned(),
        );
    }
    if let Some(cidr) = &network.cidr {
        let (low, high) = match kind {
            CloudKind::Aws => (16, 24),
            CloudKind::Gcp => (8, 29),
            CloudKind::Azure => (8, 24),
        };
        match ipv4_cidr(cidr) {
            Err(problem) => push(
                "cidr",
                format!("`{cidr}` is not an IPv4 CIDR: {problem}"),
                "not a CIDR",
                "write an address and prefix length, for example `cidr=\"10.20.0.0/16\"`"
                    .to_owned(),
            ),
            Ok(prefix) if !(low..=high).contains(&prefix) => push(
                "cidr",
                format!("a /{prefix} network cannot hold the subnets manifold creates on {cloud}"),
                "prefix length out of range",
                format!("use a prefix length from /{low} to /{high}"),
            ),
            Ok(_) => {}
        }
    }
    if kind == CloudKind::Azure {
        if network.subnet_ids.len() > 1 {
            push(
                "subnet-ids",
                format!(
                    "AKS cluster `{}` takes one node subnet, not {}",
                    cluster.name,
                    network.subnet_ids.len()
                ),
                "several subnets",
                "give one subnet id".to_owned(),
            );
        }
        let plugin = network.plugin.as_deref().unwrap_or("azure");
        if let Some(policy) = network.policy.as_deref() {
            let problem = match (plugin, policy) {
                ("none", _) => Some(
                    "a cluster without a network plugin (`plugin=none`) brings its own policy engine",
                ),
                ("kubenet", "azure" | "cilium") => {
                    Some("Azure and Cilium network policies need the `azure` plugin")
                }
                _ => None,
            };
            if let Some(problem) = problem {
                push(
                    "policy",
                    format!("network policy `{policy}` does not work with plugin `{plugin}`"),
                    "incompatible with the plugin",
                    format!("{problem}; use `plugin=azure`, or `policy=calico` with kubenet"),
                );
            }
        }
    }
}

/// A node pool token: the first of `keys` recorded, else the pool's name.
fn pool_at(pool: &NodePool, keys: &[&str], at: &At) -> Span {
    keys.iter()
        .find_map(|key| pool.spans.get(*key).copied())
        .or(pool.span)
        .unwrap_or_else(|| at(&BTreeMap::new(), &[]))
}

/// The prefix length of an IPv4 CIDR with no host bits set.
fn ipv4_cidr(text: &str) -> Result<u32, &'static str> {
    let (address, prefix) = text.split_once('/').ok_or("the `/prefix` is missing")?;
    let prefix: u32 = prefix
        .parse()
        .map_err(|_| "the prefix length is not a number")?;
    if prefix > 32 {
        return Err("the prefix length is above 32");
    }
    let octets: Vec<u32> = address
        .split('.')
        .map(|part| part.parse::<u8>().map(u32::from))
        .collect::<Result<_, _>>()
        .map_err(|_| "the address is not four numbers from 0 to 255")?;
    let [a, b, c, d] = octets[..] else {
        return Err("the address is not four numbers from 0 to 255");
    };
    let value = (a << 24) | (b << 16) | (c << 8) | d;
    let host = if prefix == 0 {
        u32::MAX
    } else {
        (1u32 << (32 - prefix)) - 1
    };
    if value & host != 0 {
        return Err("bits after the prefix are set");
    }
    Ok(prefix)
}

fn pools(kind: CloudKind, cluster: &Cluster, at: &At, out: &mut Vec<Diagnostic>) {
    for pool in &cluster.node_pools {
        for (index, text) in pool.taints.iter().enumerate() {
            if let Err(problem) = provider::parse_taint(text) {
                out.push(
                    Diagnostic::error(
                        INVALID_TAINT,
                        pool_at(pool, &[&format!("/taints/{index}")], at),
                        format!("taint `{text}` of node pool `{}` is invalid: {problem}", pool.name),
                    )
                    .with_label("invalid taint")
                    .with_help("write `key=value:Effect` or `key:Effect`, with Effect `NoSchedule`, `PreferNoSchedule` or `NoExecute`"),
                );
            }
        }
        if pool.max == 0 {
            out.push(
                Diagnostic::error(
                    INVALID_NODE_POOL,
                    pool_at(pool, &["/max"], at),
                    format!("node pool `{}` can never have a node (max 0)", pool.name),
                )
                .with_label("max 0")
                .with_help("set `max` to 1 or more, or remove the pool"),
            );
        }
        if kind == CloudKind::Azure && !provider::is_aks_pool_name(&pool.name) {
            out.push(
                Diagnostic::error(
                    INVALID_NODE_POOL,
                    pool_at(pool, &[], at),
                    format!("`{}` is not a valid AKS node pool name", pool.name),
                )
                .with_label("invalid on AKS")
                .with_help("AKS node pool names are a lowercase letter and up to 11 lowercase letters or digits (no `-`), for example `general` or `spot1`"),
            );
        }
    }
    if kind != CloudKind::Azure {
        return;
    }
    match provider::system_pool(cluster) {
        None => out.push(
            Diagnostic::error(
                INVALID_NODE_POOL,
                at(&cluster.spans, &[""]),
                format!("AKS cluster `{}` has no on-demand node pool for its system pool", cluster.name),
            )
            .with_label("only spot pools")
            .with_help("add an on-demand pool (AKS runs its system pods there; it cannot be spot), for example `node-pool system vm-size=Standard_D2s_v5 min=1 max=3`"),
        ),
        Some(system) => {
            if !system.taints.is_empty() {
                out.push(
                    Diagnostic::error(
                        INVALID_NODE_POOL,
                        pool_at(system, &["/taints/0"], at),
                        format!("node pool `{}` is AKS's system pool and cannot have taints", system.name),
                    )
                    .with_label("taint on the system pool")
                    .with_help("remove the taint, or add an untainted on-demand pool named `system` (the system pool is the on-demand pool named `system`, else `default`, else the first by name)"),
                );
            }
            if system.min == 0 {
                out.push(
                    Diagnostic::error(
                        INVALID_NODE_POOL,
                        pool_at(system, &["/min"], at),
                        format!("node pool `{}` is AKS's system pool and needs at least one node", system.name),
                    )
                    .with_label("min 0")
                    .with_help("set `min=1` or more (the system pool is the on-demand pool named `system`, else `default`, else the first by name)"),
                );
            }
        }
    }
}

fn state(cloud: &Cloud, at: &At, out: &mut Vec<Diagnostic>) {
    if cloud.state.is_empty() {
        return;
    }
    let name = cloud.kind.as_str();
    let backend = provider::backend_kind(cloud.kind);
    let missing: Vec<&str> = provider::required_state(cloud.kind)
        .iter()
        .copied()
        .filter(|key| !cloud.state.contains_key(*key))
        .collect();
    if !missing.is_empty() {
        out.push(
            Diagnostic::error(
                INCOMPLETE_STATE,
                at(&cloud.spans, &["/state", ""]),
                format!(
                    "the {backend} state backend of cloud `{name}` needs `{}`",
                    missing.join("`, `")
                ),
            )
            .with_label("incomplete state")
            .with_help(format!(
                "add {} to `state`",
                missing
                    .iter()
                    .map(|key| format!("`{key}=…`"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
        );
    }
    let known = provider::known_state(cloud.kind);
    for key in cloud.state.keys() {
        if !known.contains(&key.as_str()) {
            out.push(
                Diagnostic::warning(
                    UNUSED_STATE,
                    at(&cloud.spans, &[&format!("/state/{key}"), "/state"]),
                    format!("the {backend} state backend of cloud `{name}` does not use `{key}`"),
                )
                .with_label("ignored")
                .with_help(format!(
                    "the {backend} backend takes {}; remove `{key}`",
                    known
                        .iter()
                        .map(|key| format!("`{key}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
    }
}

fn labels(platform: &Platform, cloud: &Cloud, at: &At, out: &mut Vec<Diagnostic>) {
    for (key, value) in &platform.labels {
        if let Some(problem) = provider::tag_problem(cloud.kind, key, value) {
            out.push(
                Diagnostic::warning(
                    CLOUD_LABEL,
                    at(&cloud.spans, &[""]),
                    format!(
                        "platform label `{key}={value}` is not among the {} of cloud `{}`'s resources",
                        if cloud.kind == CloudKind::Gcp {
                            "labels"
                        } else {
                            "tags"
                        },
                        cloud.kind.as_str()
                    ),
                )
                .with_label("label not applied here")
                .with_help(format!(
                    "{problem}; the label still goes on Kubernetes objects"
                )),
            );
        }
    }
}

/// Services against the node pools of the clusters they run on.
fn placement(platform: &Platform, spec_file: FileId, at: &At, out: &mut Vec<Diagnostic>) {
    // Unpinned stateful services per all-spot cluster, reported once per cluster.
    let mut unpinned: BTreeMap<(CloudKind, &str), BTreeSet<&str>> = BTreeMap::new();
    for environment in &platform.environments {
        for target in &environment.targets {
            let Some(cluster) = platform
                .clouds
                .iter()
                .find(|cloud| cloud.kind == target.cloud)
                .and_then(|cloud| {
                    cloud
                        .clusters
                        .iter()
                        .find(|cluster| cluster.name == target.cluster)
                })
            else {
                continue;
            };
            for service in &target.services {
                let stateful = service.kind == WorkloadKind::Stateful;
                let Some(wanted) = &service.node_pool else {
                    if stateful
                        && !cluster.node_pools.is_empty()
                        && cluster.node_pools.iter().all(|pool| pool.spot)
                    {
                        unpinned
                            .entry((target.cloud, cluster.name.as_str()))
                            .or_default()
                            .insert(&service.name);
                    }
                    continue;
                };
                let span = origin_span(&service.origins, &["/node-pool"], spec_file);
                match cluster.node_pools.iter().find(|pool| &pool.name == wanted) {
                    None => out.push(
                        Diagnostic::error(
                            UNKNOWN_NODE_POOL,
                            span,
                            format!(
                                "service `{}` wants node pool `{wanted}`, which cluster `{}` does not have",
                                service.name, cluster.name
                            ),
                        )
                        .with_label(format!("no such pool in `{}`", cluster.name))
                        .with_help(suggestion_help(
                            wanted,
                            "node pool",
                            cluster.node_pools.iter().map(|pool| pool.name.as_str()),
                        )),
                    ),
                    Some(pool) if pool.spot && stateful => out.push(
                        Diagnostic::warning(
                            STATEFUL_ON_SPOT,
                            span,
                            format!(
                                "stateful service `{}` runs on spot node pool `{wanted}` of cluster `{}`",
                                service.name, cluster.name
                            ),
                        )
                        .with_label("spot capacity")
                        .with_help("spot nodes can be reclaimed at any time, taking the pod and its volume attachment with them; pin stateful services to an on-demand pool"),
                    ),
                    Some(_) => {}
                }
            }
        }
    }
    for ((kind, cluster_name), services) in unpinned {
        let Some(cluster) = platform
            .clouds
            .iter()
            .find(|cloud| cloud.kind == kind)
            .and_then(|cloud| {
                cloud
                    .clusters
                    .iter()
                    .find(|cluster| cluster.name == cluster_name)
            })
        else {
            continue;
        };
        let names: Vec<String> = services.iter().map(|name| format!("`{name}`")).collect();
        out.push(
            Diagnostic::warning(
                STATEFUL_ON_SPOT,
                at(&cluster.spans, &[""]),
                format!(
                    "cluster `{}` has only spot node pools, so stateful {} {} {} on spot nodes",
                    cluster.name,
                    if names.len() == 1 { "service" } else { "services" },
                    names.join(", "),
                    if names.len() == 1 { "runs" } else { "run" },
                ),
            )
            .with_label("only spot pools")
            .with_help("add an on-demand node pool and pin the stateful services to it with `node-pool NAME`"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::ipv4_cidr;

    #[test]
    fn cidrs() {
        assert_eq!(ipv4_cidr("10.20.0.0/16"), Ok(16));
        assert_eq!(ipv4_cidr("0.0.0.0/0"), Ok(0));
        assert!(ipv4_cidr("10.20.0.1/16").is_err());
        assert!(ipv4_cidr("10.20.0.0").is_err());
        assert!(ipv4_cidr("10.20.0/16").is_err());
        assert!(ipv4_cidr("10.20.0.256/24").is_err());
        assert!(ipv4_cidr("10.20.0.0/33").is_err());
        assert!(ipv4_cidr("${x}/16").is_err());
    }
}
