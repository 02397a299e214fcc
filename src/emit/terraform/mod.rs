//! Terraform root modules: one directory `terraform/<cloud>/<cluster>/` per declared cluster,
//! holding `versions.tf`, `providers.tf`, `backend.tf`, `variables.tf`, `main.tf` and
//! `outputs.tf`, rendered from `templates/terraform/<cloud>/<file>.j2` (embedded; a user may
//! override any of them, see [`crate::emit::templates`]).
//!
//! Consumes: the model's clouds and platform labels. Produces: files in `terraform fmt`
//! layout, or the first [`TemplateError`].
//!
//! Decisions (the defaults are hardened; see docs/language.md, "What Terraform is emitted"):
//! - Every interpolated string is written as an HCL string literal by the template formatter
//!   ([`hcl::render`]): quoted, escaped, `${` and `%{` doubled, so no spec value can become
//!   an expression, even in a user's template. `ident` gives raw identifiers, checked.
//! - Logic lives here (defaults, derived names, the AKS system pool, state paths); the
//!   templates only lay values out, and [`hcl::format`] aligns them as `terraform fmt` does.
//! - Networking: created unless the spec names an existing network (AWS `vpc-id` or
//!   `subnet-ids`, GCP `name`/`subnetwork`, Azure `subnet-ids`) or says `create=#false`;
//!   existing networks come in through variables whose defaults are the spec's values.

pub mod hcl;
pub mod provider;

use std::collections::BTreeMap;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Serde, Value};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use serde::Serialize;

use super::Files;
use super::templates::{self, Options, TemplateError};
use crate::model::{Cloud, CloudKind, Cluster, NodePool, Platform};

/// The files of each module, in output order.
pub const FILES: &[&str] = &[
    "versions.tf",
    "providers.tf",
    "backend.tf",
    "variables.tf",
    "main.tf",
    "outputs.tf",
];

macro_rules! templates {
    ($($cloud:literal),*) => {
        &[$(
            templates!(@one $cloud, "versions.tf"),
            templates!(@one $cloud, "providers.tf"),
            templates!(@one $cloud, "backend.tf"),
            templates!(@one $cloud, "variables.tf"),
            templates!(@one $cloud, "main.tf"),
            templates!(@one $cloud, "outputs.tf"),
        )*]
    };
    (@one $cloud:literal, $file:literal) => {
        (
            concat!("terraform/", $cloud, "/", $file, ".j2"),
            include_str!(concat!("../../../templates/terraform/", $cloud, "/", $file, ".j2")),
        )
    };
}

/// The built-in templates: name (relative to `templates/`) → text.
pub const TEMPLATES: &[(&str, &str)] = templates!("aws", "gcp", "azure");

/// Renders every cluster's module.
pub fn emit(platform: &Platform, options: &Options) -> Result<Files, TemplateError> {
    let mut files = Files::new();
    if platform
        .clouds
        .iter()
        .all(|cloud| cloud.clusters.is_empty())
    {
        return Ok(files);
    }
    let environment = environment(options)?;
    for cloud in &platform.clouds {
        for (index, cluster) in cloud.clusters.iter().enumerate() {
            let context = Value::from(Serde(module(platform, cloud, cluster, index == 0)));
            for file in FILES {
                let name = template_name(cloud.kind, file);
                let builtin = builtin_text(&name);
                let rendered = environment
                    .get_template(&name)
                    .and_then(|template| template.render(&context))
                    .map_err(|error| templates::error(&name, options, builtin, &error))?;
                files.insert(
                    format!("terraform/{}/{}/{file}", cloud.kind.as_str(), cluster.name),
                    hcl::format(&rendered),
                );
            }
        }
    }
    Ok(files)
}

fn template_name(kind: CloudKind, file: &str) -> String {
    format!("terraform/{}/{file}.j2", kind.as_str())
}

fn builtin_text(name: &str) -> &'static str {
    TEMPLATES
        .iter()
        .find(|(known, _)| *known == name)
        .map_or("", |(_, text)| text)
}

/// The template environment: HCL formatter, filters, every template (overrides applied).
fn environment(options: &Options) -> Result<Environment<'static>, TemplateError> {
    let mut environment = Environment::new();
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build();
    if let Ok(syntax) = syntax {
        environment.set_syntax(syntax);
    }
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    environment.set_formatter(|out, _state, value| {
        let text = hcl::render(value)?;
        out.write_str(&text).map_err(Error::from)
    });
    environment.add_filter("hcl", |value: Value| -> Result<Value, Error> {
        Ok(Value::from_safe_string(hcl::render(&value)?))
    });
    environment.add_filter("ident", |value: String| -> Result<Value, Error> {
        if hcl::is_identifier(&value) {
            Ok(Value::from_safe_string(value))
        } else {
            Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("`{value}` is not an HCL identifier"),
            ))
        }
    });
    environment.add_filter("comment", |value: String| -> Value {
        Value::from_safe_string(
            value
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
        )
    });
    for (name, builtin) in TEMPLATES {
        let text = options.text(name, builtin).to_owned();
        environment
            .add_template_owned(name.to_string(), text)
            .map_err(|error| templates::error(name, options, builtin, &error))?;
    }
    Ok(environment)
}

/// One module's template context.
#[derive(Debug, Serialize)]
struct Module {
    /// The header comment: where the file came from.
    generated: String,
    /// Platform name.
    platform: String,
    cloud: CloudContext,
    cluster: ClusterContext,
    network: NetworkContext,
    /// The remote state backend, `None` for local state.
    backend: Option<Backend>,
    /// Tags (AWS, Azure) or labels (GCP) for every resource that takes them.
    tags: BTreeMap<String, String>,
    /// Every node pool, sorted by name.
    node_pools: Vec<Pool>,
}

#[derive(Debug, Serialize)]
struct CloudContext {
    /// `aws`, `gcp` or `azure`.
    name: &'static str,
    /// Region (AWS, GCP) or location (Azure).
    region: String,
    /// GCP project.
    project: Option<String>,
    /// Azure resource group.
    resource_group: Option<String>,
    /// Whether this module creates the Azure resource group (the first cluster by name
    /// does; the others read it).
    owns_resource_group: bool,
}

#[derive(Debug, Serialize)]
struct ClusterContext {
    name: String,
    kubernetes: String,
    private_endpoint: bool,
    public_endpoint: bool,
    /// CIDRs allowed to reach a public endpoint (`0.0.0.0/0` when public and none given).
    public_cidrs: Vec<String>,
    /// GKE release channel, upper case.
    release_channel: String,
    /// Derived resource names.
    names: BTreeMap<&'static str, String>,
}

#[derive(Debug, Serialize)]
struct NetworkContext {
    /// Create the network in this module.
    create: bool,
    /// Address range of a created network.
    cidr: String,
    /// Zones of a created AWS network.
    zones: u32,
    /// Existing AWS VPC.
    vpc_id: Option<String>,
    /// Existing subnets (AWS; Azure uses the first).
    subnet_ids: Vec<String>,
    /// AWS: find the private subnets of `vpc_id` by their `kubernetes.io/role/internal-elb`
    /// tag (a VPC given without subnets).
    lookup_subnets: bool,
    /// GCP network name (created or existing).
    name: Option<String>,
    /// GCP subnetwork name (created or existing).
    subnetwork: Option<String>,
    /// AKS network plugin (`azure`, `kubenet`, `none`).
    plugin: String,
    /// AKS network policy, `None` with plugin `none`.
    policy: Option<String>,
}

#[derive(Debug, Serialize)]
struct Backend {
    /// `s3`, `gcs` or `azurerm`.
    kind: &'static str,
    /// This cluster's state key (S3, azurerm) or prefix (GCS).
    path: String,
    /// S3 or GCS bucket.
    bucket: Option<String>,
    /// S3 region (default: the cloud's region).
    region: Option<String>,
    /// S3 DynamoDB lock table (without one, S3 native locking is used).
    dynamodb_table: Option<String>,
    /// azurerm resource group.
    resource_group: Option<String>,
    /// azurerm storage account.
    storage_account: Option<String>,
    /// azurerm container.
    container: Option<String>,
}

#[derive(Debug, Serialize)]
struct Pool {
    name: String,
    /// The Terraform resource name.
    ident: String,
    machine: String,
    min: u32,
    max: u32,
    desired: u32,
    spot: bool,
    /// EKS capacity type.
    capacity_type: &'static str,
    disk_size: Option<u32>,
    labels: BTreeMap<String, String>,
    taints: Vec<TaintContext>,
    /// Taints as AKS takes them (`key=value:Effect`), AKS's spot taint added on spot pools.
    taint_texts: Vec<String>,
    /// GKE: nodes per zone at creation (regional clusters run pools in three zones).
    initial_node_count: u32,
    /// AKS: the system (default) node pool.
    system: bool,
}

#[derive(Debug, Serialize)]
struct TaintContext {
    key: String,
    value: String,
    effect: String,
    /// `NO_SCHEDULE`, `PREFER_NO_SCHEDULE`, `NO_EXECUTE`.
    upper_effect: &'static str,
}

fn module(platform: &Platform, cloud: &Cloud, cluster: &Cluster, first: bool) -> Module {
    let system = match cloud.kind {
        CloudKind::Azure => provider::system_pool(cluster).map(|pool| pool.name.clone()),
        _ => None,
    };
    Module {
        generated: format!(
            "Generated by manifold from {} — do not edit; change the spec and recompile.",
            platform.spec_file
        ),
        platform: platform.name.clone(),
        cloud: CloudContext {
            name: cloud.kind.as_str(),
            region: cloud.region.clone().unwrap_or_default(),
            project: cloud.project.clone(),
            resource_group: cloud.resource_group.clone(),
            owns_resource_group: first,
        },
        cluster: ClusterContext {
            name: cluster.name.clone(),
            kubernetes: cluster.kubernetes.clone(),
            private_endpoint: cluster.private_endpoint,
            public_endpoint: cluster.public_endpoint,
            public_cidrs: if cluster.public_endpoint && cluster.public_cidrs.is_empty() {
                vec!["0.0.0.0/0".to_owned()]
            } else {
                cluster.public_cidrs.clone()
            },
            release_channel: cluster
                .release_channel
                .as_deref()
                .unwrap_or("regular")
                .to_uppercase(),
            names: names(cloud.kind, &cluster.name),
        },
        network: network(cloud.kind, cluster),
        backend: backend(platform, cloud, cluster),
        tags: provider::tags(&platform.labels, cloud.kind),
        node_pools: cluster
            .node_pools
            .iter()
            .map(|pool| self::pool(pool, system.as_deref() == Some(pool.name.as_str())))
            .collect(),
    }
}

/// Names of the resources a module creates, derived from the cluster name within each
/// provider's limits.
fn names(kind: CloudKind, cluster: &str) -> BTreeMap<&'static str, String> {
    let mut names = BTreeMap::new();
    match kind {
        CloudKind::Aws => {
            names.insert("cluster_role", truncate(&format!("{cluster}-cluster"), 64));
            names.insert("node_role", truncate(&format!("{cluster}-node"), 64));
            names.insert("log_group", format!("/aws/eks/{cluster}/cluster"));
            names.insert("kms_alias", format!("alias/eks/{cluster}"));
        }
        CloudKind::Gcp => {
            // Service account ids: 6–30 characters, a letter first.
            let mut account = truncate(&format!("{cluster}-nodes"), 30);
            if !account.starts_with(|c: char| c.is_ascii_lowercase()) {
                account = truncate(&format!("n{account}"), 30);
            }
            names.insert("node_service_account", account);
            names.insert("key_ring", format!("{cluster}-gke"));
            names.insert("network", format!("{cluster}-net"));
            names.insert("subnetwork", format!("{cluster}-nodes"));
            names.insert("router", format!("{cluster}-router"));
            names.insert("nat", format!("{cluster}-nat"));
        }
        CloudKind::Azure => {
            names.insert("dns_prefix", truncate(cluster, 54));
            names.insert("log_workspace", format!("{cluster}-logs"));
            names.insert("vnet", format!("{cluster}-vnet"));
        }
    }
    names
}

/// At most `max` bytes (names are ASCII), without a trailing `-`.
fn truncate(text: &str, max: usize) -> String {
    let cut: String = text.chars().take(max).collect();
    cut.trim_end_matches('-').to_owned()
}

fn network(kind: CloudKind, cluster: &Cluster) -> NetworkContext {
    let spec = &cluster.network;
    let names = names(kind, &cluster.name);
    let existing = match kind {
        CloudKind::Aws => spec.vpc_id.is_some() || !spec.subnet_ids.is_empty(),
        CloudKind::Gcp => spec.name.is_some() || spec.subnetwork.is_some(),
        CloudKind::Azure => !spec.subnet_ids.is_empty(),
    };
    let create = spec.create.unwrap_or(!existing);
    let default_cidr = match kind {
        CloudKind::Aws => "10.0.0.0/16",
        CloudKind::Gcp => "10.10.0.0/20",
        CloudKind::Azure => "10.224.0.0/16",
    };
    let plugin = spec.plugin.clone().unwrap_or_else(|| "azure".to_owned());
    let policy = if plugin == "none" {
        None
    } else {
        Some(spec.policy.clone().unwrap_or_else(|| "calico".to_owned()))
    };
    let (name, subnetwork) = match kind {
        CloudKind::Gcp if create => (
            Some(
                spec.name
                    .clone()
                    .unwrap_or_else(|| names["network"].clone()),
            ),
            Some(
                spec.subnetwork
                    .clone()
                    .unwrap_or_else(|| names["subnetwork"].clone()),
            ),
        ),
        _ => (spec.name.clone(), spec.subnetwork.clone()),
    };
    NetworkContext {
        create,
        cidr: spec.cidr.clone().unwrap_or_else(|| default_cidr.to_owned()),
        zones: spec.zones.unwrap_or(3),
        vpc_id: spec.vpc_id.clone(),
        subnet_ids: spec.subnet_ids.clone(),
        lookup_subnets: kind == CloudKind::Aws
            && !create
            && spec.vpc_id.is_some()
            && spec.subnet_ids.is_empty(),
        name,
        subnetwork,
        plugin,
        policy,
    }
}

fn backend(platform: &Platform, cloud: &Cloud, cluster: &Cluster) -> Option<Backend> {
    if cloud.state.is_empty() {
        return None;
    }
    let setting = |key: &str| cloud.state.get(key).cloned();
    Some(Backend {
        kind: provider::backend_kind(cloud.kind),
        path: provider::state_path(cloud, cluster, &platform.name),
        bucket: setting("bucket"),
        region: setting("region").or_else(|| cloud.region.clone()),
        dynamodb_table: setting("dynamodb-table"),
        resource_group: setting("resource-group"),
        storage_account: setting("storage-account"),
        container: setting("container"),
    })
}

fn pool(pool: &NodePool, system: bool) -> Pool {
    let taints = provider::taints(pool);
    let mut taint_texts: Vec<String> = taints.iter().map(provider::Taint::text).collect();
    // AKS puts this taint on spot pools itself; declaring it keeps plans clean (only the
    // AKS template reads `taint_texts`).
    if let Some(spot_taint) = CloudKind::Azure.spot_taint()
        && pool.spot
        && !taint_texts.iter().any(|text| text == spot_taint)
    {
        taint_texts.push(spot_taint.to_owned());
    }
    Pool {
        name: pool.name.clone(),
        ident: hcl::identifier(&pool.name),
        machine: pool.machine.clone(),
        min: pool.min,
        max: pool.max,
        desired: pool.desired,
        spot: pool.spot,
        capacity_type: if pool.spot { "SPOT" } else { "ON_DEMAND" },
        disk_size: pool.disk_size,
        labels: pool.labels.clone(),
        taints: taints
            .iter()
            .map(|taint| TaintContext {
                key: taint.key.clone(),
                value: taint.value.clone(),
                effect: taint.effect.clone(),
                upper_effect: taint.upper_effect(),
            })
            .collect(),
        taint_texts,
        initial_node_count: pool.desired.div_ceil(3),
        system,
    }
}
