//! What the cloud providers accept, shared by the Terraform emitter and its model-level
//! checks (`check::platform::terraform`), so both always agree: supported Kubernetes
//! versions, taint syntax, which labels can be tags, AKS's system pool, the state backend.
//!
//! Invariant: pure functions of the model; no I/O, no defaults hidden elsewhere.

use std::collections::BTreeMap;

use crate::model::{Cloud, CloudKind, Cluster, NodePool};

/// Kubernetes minor versions each managed service can create, inclusive (checked
/// 2025-12 against the EKS, GKE and AKS release calendars; EKS 1.29–1.31 only in extended
/// support). Update with the providers' calendars.
pub fn supported_minors(kind: CloudKind) -> (u32, u32) {
    match kind {
        CloudKind::Aws => (29, 34),
        CloudKind::Gcp => (31, 34),
        CloudKind::Azure => (31, 34),
    }
}

/// The managed service's name, for messages.
pub fn service_name(kind: CloudKind) -> &'static str {
    match kind {
        CloudKind::Aws => "EKS",
        CloudKind::Gcp => "GKE",
        CloudKind::Azure => "AKS",
    }
}

/// The minor number of `1.N`.
pub fn minor(version: &str) -> Option<u32> {
    version.strip_prefix("1.")?.parse().ok()
}

/// A node taint, `key=value:Effect` or `key:Effect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value (may be empty).
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

impl Taint {
    /// The effect as EKS and GKE spell it: `NO_SCHEDULE`, `PREFER_NO_SCHEDULE`, `NO_EXECUTE`.
    pub fn upper_effect(&self) -> &'static str {
        match self.effect.as_str() {
            "PreferNoSchedule" => "PREFER_NO_SCHEDULE",
            "NoExecute" => "NO_EXECUTE",
            _ => "NO_SCHEDULE",
        }
    }

    /// `key=value:Effect` (`key:Effect` without a value), as AKS takes it.
    pub fn text(&self) -> String {
        if self.value.is_empty() {
            format!("{}:{}", self.key, self.effect)
        } else {
            format!("{}={}:{}", self.key, self.value, self.effect)
        }
    }
}

/// Parses a taint; `Err` says what is wrong.
pub fn parse_taint(text: &str) -> Result<Taint, String> {
    let Some((rest, effect)) = text.rsplit_once(':') else {
        return Err("a taint is `key=value:Effect`; the `:Effect` is missing".to_owned());
    };
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        return Err(format!(
            "effect `{effect}` is not one of `NoSchedule`, `PreferNoSchedule`, `NoExecute`"
        ));
    }
    let (key, value) = rest.split_once('=').unwrap_or((rest, ""));
    if !is_label_key(key) {
        return Err(format!("`{key}` is not a valid taint key"));
    }
    if !is_label_value(value) {
        return Err(format!("`{value}` is not a valid taint value"));
    }
    Ok(Taint {
        key: key.to_owned(),
        value: value.to_owned(),
        effect: effect.to_owned(),
    })
}

/// A Kubernetes qualified name, optionally prefixed with a DNS subdomain and `/`.
fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|prefix| {
        !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|part| {
                !part.is_empty()
                    && part.len() <= 63
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            })
    });
    prefix_ok && !name.is_empty() && is_label_value(name)
}

/// A Kubernetes label value: ≤ 63 characters of alphanumerics, `-`, `_`, `.`, starting and
/// ending alphanumeric (or empty).
fn is_label_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// The taints of a pool that parse (the checks report the others).
pub fn taints(pool: &NodePool) -> Vec<Taint> {
    pool.taints
        .iter()
        .filter_map(|text| parse_taint(text).ok())
        .collect()
}

/// Why a platform label cannot be a tag or label on `kind`'s resources, if it cannot.
pub fn tag_problem(kind: CloudKind, key: &str, value: &str) -> Option<&'static str> {
    match kind {
        // Every Kubernetes label is a valid AWS tag (letters, digits, spaces, `_.:/=+-@`).
        CloudKind::Aws => None,
        CloudKind::Gcp => {
            let key_ok = key.len() <= 63
                && key.starts_with(|c: char| c.is_ascii_lowercase())
                && key.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            let value_ok = value.len() <= 63
                && value.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !key_ok {
                Some(
                    "GCP label keys are lowercase letters, digits, `-` and `_`, starting with a letter",
                )
            } else if !value_ok {
                Some("GCP label values are lowercase letters, digits, `-` and `_`")
            } else {
                None
            }
        }
        CloudKind::Azure => key
            .contains(['<', '>', '%', '&', '\\', '?', '/'])
            .then_some("Azure tag names cannot contain `<`, `>`, `%`, `&`, `\\`, `?` or `/`"),
    }
}

/// The tags (AWS, Azure) or labels (GCP) put on every resource of `kind`: the platform
/// labels the cloud accepts, and `managed-by = manifold` unless the platform sets it.
pub fn tags(labels: &BTreeMap<String, String>, kind: CloudKind) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = labels
        .iter()
        .filter(|(key, value)| tag_problem(kind, key, value).is_none())
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    tags.entry("managed-by".to_owned())
        .or_insert_with(|| "manifold".to_owned());
    tags
}

/// AKS's system (default) node pool: the on-demand pool named `system`, else `default`,
/// else the first on-demand pool by name. `None` when every pool is spot.
pub fn system_pool(cluster: &Cluster) -> Option<&NodePool> {
    let on_demand = || cluster.node_pools.iter().filter(|pool| !pool.spot);
    on_demand()
        .find(|pool| pool.name == "system")
        .or_else(|| on_demand().find(|pool| pool.name == "default"))
        .or_else(|| on_demand().next())
}

/// Whether an AKS node pool name is valid: a lowercase letter, then up to 11 lowercase
/// letters or digits.
pub fn is_aks_pool_name(name: &str) -> bool {
    name.len() <= 12
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The Terraform backend of a cloud.
pub fn backend_kind(kind: CloudKind) -> &'static str {
    match kind {
        CloudKind::Aws => "s3",
        CloudKind::Gcp => "gcs",
        CloudKind::Azure => "azurerm",
    }
}

/// The `state` settings the cloud's backend requires.
pub fn required_state(kind: CloudKind) -> &'static [&'static str] {
    match kind {
        CloudKind::Aws | CloudKind::Gcp => &["bucket"],
        CloudKind::Azure => &["storage-account", "container"],
    }
}

/// The `state` settings the cloud's backend uses.
pub fn known_state(kind: CloudKind) -> &'static [&'static str] {
    match kind {
        CloudKind::Aws => &["bucket", "key", "region", "dynamodb-table"],
        CloudKind::Gcp => &["bucket", "prefix"],
        CloudKind::Azure => &["resource-group", "storage-account", "container", "key"],
    }
}

/// Where one cluster's state lives inside the cloud's backend, so clusters never share a
/// state: S3 and azurerm keys `<key>/<cluster>.tfstate` (a `.tfstate` suffix of `key` is
/// dropped; `key` defaults to the platform name), GCS prefix `<prefix>/<cluster>`.
pub fn state_path(cloud: &Cloud, cluster: &Cluster, platform: &str) -> String {
    let setting = match cloud.kind {
        CloudKind::Gcp => "prefix",
        CloudKind::Aws | CloudKind::Azure => "key",
    };
    let base = cloud
        .state
        .get(setting)
        .map(String::as_str)
        .unwrap_or(platform);
    let base = base.strip_suffix(".tfstate").unwrap_or(base);
    let base = base.trim_end_matches('/');
    match cloud.kind {
        CloudKind::Gcp => format!("{base}/{}", cluster.name),
        CloudKind::Aws | CloudKind::Azure => format!("{base}/{}.tfstate", cluster.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_parse() {
        let taint = parse_taint("capacity=spot:NoSchedule").expect("valid");
        assert_eq!(taint.key, "capacity");
        assert_eq!(taint.value, "spot");
        assert_eq!(taint.upper_effect(), "NO_SCHEDULE");
        assert_eq!(taint.text(), "capacity=spot:NoSchedule");
        let bare = parse_taint("dedicated:NoExecute").expect("valid");
        assert_eq!(bare.value, "");
        assert_eq!(bare.text(), "dedicated:NoExecute");
        assert_eq!(
            parse_taint("example.com/gpu=true:PreferNoSchedule")
                .expect("valid")
                .upper_effect(),
            "PREFER_NO_SCHEDULE"
        );
        assert!(parse_taint("capacity=spot").is_err());
        assert!(parse_taint("capacity=spot:Never").is_err());
        assert!(parse_taint("=spot:NoSchedule").is_err());
        assert!(parse_taint("a b=c:NoSchedule").is_err());
        assert!(parse_taint("k=${x}:NoSchedule").is_err());
    }

    #[test]
    fn tag_rules() {
        assert!(tag_problem(CloudKind::Gcp, "team", "sre").is_none());
        assert!(tag_problem(CloudKind::Gcp, "Team", "sre").is_some());
        assert!(tag_problem(CloudKind::Gcp, "team", "SRE").is_some());
        assert!(tag_problem(CloudKind::Gcp, "app.kubernetes.io/part-of", "x").is_some());
        assert!(tag_problem(CloudKind::Azure, "app.kubernetes.io/part-of", "x").is_some());
        assert!(tag_problem(CloudKind::Azure, "cost-center", "CC.1").is_none());
        assert!(tag_problem(CloudKind::Aws, "app.kubernetes.io/part-of", "X").is_none());
    }

    #[test]
    fn aks_pool_names() {
        assert!(is_aks_pool_name("default"));
        assert!(is_aks_pool_name("spot1"));
        assert!(!is_aks_pool_name("general-1"));
        assert!(!is_aks_pool_name("1pool"));
        assert!(!is_aks_pool_name("averyverylongname"));
    }
}
