//! Lowering of what the Terraform emitter and checks need from `cloud` blocks beyond the
//! basics `lower_cloud` fills in: each cluster's `network` and public endpoint CIDRs, and the
//! spans of the cloud, cluster and node-pool tokens (the model-level checks in
//! `check::platform::terraform` report at them).
//!
//! Invariant: values are copied verbatim (comma-separated lists split and trimmed); defaults
//! are the emitter's business, so a check can still tell "not set" from "set".

use std::collections::BTreeMap;

use crate::check::CheckedSpec;
use crate::model::{Cloud, Network};
use crate::spec::pointer_join as join;
use crate::spec::types::ClusterSpec;

/// The cluster's `network` node, verbatim.
pub fn network(cluster: &ClusterSpec) -> Network {
    let Some(network) = &cluster.network else {
        return Network::default();
    };
    Network {
        create: network.create,
        cidr: network.cidr.clone(),
        vpc_id: network.vpc_id.clone(),
        subnet_ids: network
            .subnet_ids
            .as_deref()
            .map(split_list)
            .unwrap_or_default(),
        zones: network.zones,
        name: network.name.clone(),
        subnetwork: network.subnetwork.clone(),
        plugin: network.plugin.clone(),
        policy: network.policy.clone(),
    }
}

/// `endpoint public-cidrs="a, b"` as a list.
pub fn public_cidrs(cluster: &ClusterSpec) -> Vec<String> {
    cluster
        .endpoint
        .as_ref()
        .and_then(|endpoint| endpoint.public_cidrs.as_deref())
        .map(split_list)
        .unwrap_or_default()
}

/// Splits a comma-separated list, trimming items and dropping empty ones.
fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Keys under a cluster whose tokens are recorded.
const CLUSTER_KEYS: &[&str] = &[
    "/kubernetes",
    "/endpoint",
    "/endpoint/private",
    "/endpoint/public",
    "/endpoint/public-cidrs",
    "/network",
    "/network/create",
    "/network/cidr",
    "/network/vpc-id",
    "/network/subnet-ids",
    "/network/zones",
    "/network/name",
    "/network/subnetwork",
    "/network/plugin",
    "/network/policy",
    "/release-channel",
];

/// Keys under a cloud whose tokens are recorded.
const STATE_KEYS: &[&str] = &[
    "bucket",
    "key",
    "region",
    "prefix",
    "dynamodb-table",
    "resource-group",
    "storage-account",
    "container",
];

/// Records the spans of cloud, state, cluster and node-pool tokens present in the spec.
pub fn record_spans(checked: &CheckedSpec, clouds: &mut [Cloud]) {
    let spans = &checked.form.spans;
    for cloud in clouds {
        let cloud_pointer = join("/clouds", cloud.kind.as_str());
        if let Some(found) = spans.get(&cloud_pointer) {
            cloud.spans.insert(String::new(), found.value);
        }
        let state_pointer = join(&cloud_pointer, "state");
        if let Some(found) = spans.get(&state_pointer) {
            cloud.spans.insert("/state".to_owned(), found.value);
        }
        for key in STATE_KEYS {
            if let Some(found) = spans.get(&join(&state_pointer, key)) {
                cloud.spans.insert(format!("/state/{key}"), found.key);
            }
        }
        for cluster in &mut cloud.clusters {
            let pointer = join(&join(&cloud_pointer, "clusters"), &cluster.name);
            let mut recorded = BTreeMap::new();
            if let Some(found) = spans.get(&pointer) {
                recorded.insert(String::new(), found.value);
            }
            for key in CLUSTER_KEYS {
                if let Some(found) = spans.get(&format!("{pointer}{key}")) {
                    recorded.insert((*key).to_owned(), found.value);
                }
            }
            cluster.spans = recorded;
            let Some(cluster_spec) = checked
                .spec
                .clouds
                .get(cloud.kind.as_str())
                .and_then(|spec| spec.clusters.get(&cluster.name))
            else {
                continue;
            };
            for pool in &mut cluster.node_pools {
                let pool_pointer = join(&join(&pointer, "node-pools"), &pool.name);
                pool.span = spans.get(&pool_pointer).map(|found| found.value);
                let mut recorded = BTreeMap::new();
                for key in ["min", "max", "desired", "capacity", "disk-size"] {
                    if let Some(found) = spans.get(&join(&pool_pointer, key)) {
                        recorded.insert(format!("/{key}"), found.value);
                    }
                }
                // The model's taints are `taint` (when set) followed by the `taint` nodes.
                let mut taint_pointers = Vec::new();
                if let Some(pool_spec) = cluster_spec.node_pools.get(&pool.name) {
                    if pool_spec.taint.is_some() {
                        taint_pointers.push(join(&pool_pointer, "taint"));
                    }
                    let list = join(&pool_pointer, "taints");
                    for index in 0..pool_spec.taints.len() {
                        taint_pointers.push(join(&list, &index.to_string()));
                    }
                }
                for (index, taint_pointer) in taint_pointers.iter().enumerate() {
                    if let Some(found) = spans.get(taint_pointer) {
                        recorded.insert(format!("/taints/{index}"), found.value);
                    }
                }
                pool.spans = recorded;
            }
        }
    }
}
