//! Semantic rules over the typed spec: references, names, quantities, images, secrets.
//!
//! Consumes: the typed [`Spec`] and its [`Form`] (for spans). Produces: diagnostics with codes
//! under `manifold::spec::`. Invariant: every rule reports every violation it finds; none
//! stops at the first.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostic::{Diagnostic, suggestion_help};
use crate::profiles::Profile;
use crate::quantity::{self, RangeError};
use crate::spec::types::{EgressSpec, ServiceBody, Text};
use crate::spec::{Form, Spec, pointer_join as join};

/// Code: a name that is not a DNS-1123 label.
pub const INVALID_NAME: &str = "manifold::spec::invalid-name";
/// Code: `calls` names a service that does not exist.
pub const UNKNOWN_SERVICE: &str = "manifold::spec::unknown-service";
/// Code: an environment deploys to a cloud the spec does not declare.
pub const UNKNOWN_CLOUD: &str = "manifold::spec::unknown-cloud";
/// Code: an environment names a cluster its cloud does not declare.
pub const UNKNOWN_CLUSTER: &str = "manifold::spec::unknown-cluster";
/// Code: a cloud has several clusters and the environment does not say which.
pub const AMBIGUOUS_CLUSTER: &str = "manifold::spec::ambiguous-cluster";
/// Code: `in ENV` names an environment that does not exist.
pub const UNKNOWN_ENVIRONMENT: &str = "manifold::spec::unknown-environment";
/// Code: `default` or a system namespace.
pub const RESERVED_NAMESPACE: &str = "manifold::spec::reserved-namespace";
/// Code: two environments share a namespace on the same cloud.
pub const DUPLICATE_NAMESPACE: &str = "manifold::spec::duplicate-namespace";
/// Code: not a Kubernetes quantity.
pub const INVALID_QUANTITY: &str = "manifold::spec::invalid-quantity";
/// Code: a request larger than its limit.
pub const REQUEST_EXCEEDS_LIMIT: &str = "manifold::spec::request-exceeds-limit";
/// Code: an image with neither tag nor digest.
pub const MISSING_IMAGE_TAG: &str = "manifold::spec::missing-image-tag";
/// Code: an image tagged `latest`.
pub const LATEST_TAG: &str = "manifold::spec::latest-tag";
/// Code: a secret value written in the spec.
pub const PLAINTEXT_SECRET: &str = "manifold::spec::plaintext-secret";
/// Code: a secret reference without `from` or `key`.
pub const INCOMPLETE_SECRET: &str = "manifold::spec::incomplete-secret";
/// Code: both `replicas` and `autoscale`.
pub const REPLICAS_CONFLICT: &str = "manifold::spec::replicas-conflict";
/// Code: autoscale bounds that cannot work.
pub const INVALID_REPLICA_BOUNDS: &str = "manifold::spec::invalid-replica-bounds";
/// Code: an environment variable name Kubernetes would reject or a clash with a secret.
pub const INVALID_ENV: &str = "manifold::spec::invalid-env";
/// Code: a probe that checks nothing or several things, or names an unknown port.
pub const INVALID_PROBE: &str = "manifold::spec::invalid-probe";
/// Code: both `min-available` and `max-unavailable`, or neither.
pub const INVALID_DISRUPTION: &str = "manifold::spec::invalid-disruption";
/// Code: storage on a stateless service.
pub const STORAGE_ON_STATELESS: &str = "manifold::spec::storage-on-stateless";
/// Code: a stateful service without storage.
pub const STATEFUL_WITHOUT_STORAGE: &str = "manifold::spec::stateful-without-storage";
/// Code: a label key or value Kubernetes would reject.
pub const INVALID_LABEL: &str = "manifold::spec::invalid-label";
/// Code: node pool bounds that cannot hold.
pub const NODE_POOL_BOUNDS: &str = "manifold::spec::node-pool-bounds";
/// Code: a node pool machine setting that does not belong to its cloud.
pub const NODE_POOL_MACHINE: &str = "manifold::spec::node-pool-machine";
/// Code: a cloud without its required location settings.
pub const MISSING_CLOUD_SETTING: &str = "manifold::spec::missing-cloud-setting";
/// Code: a port referenced by name that the service does not declare.
pub const UNKNOWN_PORT: &str = "manifold::spec::unknown-port";
/// Code: an `egress` without exactly one destination, or with an invalid CIDR.
pub const INVALID_EGRESS: &str = "manifold::spec::invalid-egress";

/// Runs every semantic rule.
pub fn check(spec: &Spec, form: &Form, profiles: &BTreeMap<String, Profile>) -> Vec<Diagnostic> {
    let _ = profiles;
    let mut checker = Checker {
        spec,
        form,
        out: Vec::new(),
    };
    checker.names();
    checker.clouds();
    checker.environments();
    if let Some(defaults) = &spec.defaults {
        checker.body(defaults, "/defaults", None, true);
    }
    for (name, service) in &spec.services {
        let pointer = join("/services", name);
        checker.body(&service.body, &pointer, Some(name), false);
        checker.service(name, &pointer);
    }
    checker.out
}

struct Checker<'a> {
    spec: &'a Spec,
    form: &'a Form,
    out: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn push(&mut self, diagnostic: Diagnostic) {
        self.out.push(diagnostic);
    }

    fn names(&mut self) {
        let spec = self.spec;
        self.dns_label(&spec.platform.name, "/platform/name", "platform name");
        for name in spec.services.keys() {
            self.dns_label(name, &join("/services", name), "service name");
        }
        for name in spec.environments.keys() {
            self.dns_label(name, &join("/environments", name), "environment name");
        }
        for (cloud_name, cloud) in &spec.clouds {
            for (cluster_name, cluster) in &cloud.clusters {
                let cluster_pointer = join(
                    &join(&join("/clouds", cloud_name), "clusters"),
                    cluster_name,
                );
                self.dns_label(cluster_name, &cluster_pointer, "cluster name");
                for pool_name in cluster.node_pools.keys() {
                    self.dns_label(
                        pool_name,
                        &join(&join(&cluster_pointer, "node-pools"), pool_name),
                        "node pool name",
                    );
                }
            }
        }
        self.labels(&spec.platform.labels, "/platform/labels");
        let platform = &spec.platform;
        let argocd = platform.argocd.clone().unwrap_or_default();
        let istio = platform.istio.clone().unwrap_or_default();
        let keda = platform.keda.clone().unwrap_or_default();
        for (value, pointer, what) in [
            (argocd.project, "argocd/project", "Argo CD project name"),
            (argocd.namespace, "argocd/namespace", "Argo CD namespace"),
            (istio.namespace, "istio/namespace", "Istio namespace"),
            (
                istio.gateway_service_account,
                "istio/gateway-service-account",
                "Istio ingress gateway service account",
            ),
            (keda.namespace, "keda/namespace", "KEDA namespace"),
            (
                keda.service_account,
                "keda/service-account",
                "KEDA operator service account",
            ),
        ] {
            if let Some(value) = value {
                self.dns_label(&value, &format!("/platform/{pointer}"), what);
            }
        }
    }

    /// `egress NAME cidr=…|namespace=… port=N`: exactly one destination, and a CIDR that
    /// names a network (Kubernetes rejects others).
    fn egress(&mut self, egress: &EgressSpec, pointer: &str) {
        match (&egress.cidr, &egress.namespace) {
            (Some(_), Some(_)) | (None, None) => {
                let span = self.form.spans.key(pointer);
                let message = if egress.cidr.is_some() {
                    "`egress` names both a CIDR and a namespace"
                } else {
                    "`egress` names no destination"
                };
                self.push(
                    Diagnostic::error(INVALID_EGRESS, span, message)
                        .with_label("one destination per `egress`")
                        .with_help("give either `cidr=\"10.0.0.0/16\"` (outside the cluster) or `namespace=NAME` (every pod of that namespace), and write one `egress` node per destination"),
                );
            }
            (Some(cidr), None) => {
                if let Err(problem) = network_cidr(cidr) {
                    let span = self.form.spans.value(&join(pointer, "cidr"));
                    self.push(
                        Diagnostic::error(
                            INVALID_EGRESS,
                            span,
                            format!("`{}` is not a network CIDR", cidr.escape_debug()),
                        )
                        .with_label(problem.0)
                        .with_help(problem.1),
                    );
                }
            }
            (None, Some(namespace)) => {
                self.dns_label(namespace, &join(pointer, "namespace"), "egress namespace");
            }
        }
    }

    fn dns_label(&mut self, name: &str, pointer: &str, what: &str) {
        if let Some(problem) = dns_label_problem(name) {
            let span = self.form.spans.value(pointer);
            self.push(
                Diagnostic::error(INVALID_NAME, span, format!("{what} `{}` is not a valid DNS-1123 label", name.escape_debug()))
                    .with_label(problem)
                    .with_help(format!(
                        "use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (e.g. `{}`)",
                        suggest_dns_label(name)
                    )),
            );
        }
    }

    fn labels(&mut self, labels: &BTreeMap<String, Text>, pointer: &str) {
        for (key, value) in labels {
            let entry = join(pointer, key);
            if let Some(problem) = label_key_problem(key) {
                let span = self.form.spans.key(&entry);
                self.push(
                    Diagnostic::error(INVALID_LABEL, span, format!("label key `{}` is not valid", key.escape_debug()))
                        .with_label(problem)
                        .with_help("a label key is an optional DNS prefix and `/`, then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"),
                );
            }
            if let Some(problem) = label_value_problem(value.as_str()) {
                let span = self.form.spans.value(&entry);
                self.push(
                    Diagnostic::error(INVALID_LABEL, span, format!("label value `{}` is not valid", value.as_str().escape_debug()))
                        .with_label(problem)
                        .with_help("a label value has at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"),
                );
            }
        }
    }

    fn clouds(&mut self) {
        let spec = self.spec;
        for (cloud_name, cloud) in &spec.clouds {
            let pointer = join("/clouds", cloud_name);
            let required: &[(&str, bool)] = match cloud_name.as_str() {
                "aws" => &[("region", cloud.region.is_some())],
                "gcp" => &[
                    ("project", cloud.project.is_some()),
                    ("region", cloud.region.is_some()),
                ],
                "azure" => &[
                    ("location", cloud.location.is_some()),
                    ("resource-group", cloud.resource_group.is_some()),
                ],
                _ => &[],
            };
            for (setting, present) in required {
                if !present {
                    let span = self.form.spans.key(&pointer);
                    self.push(
                        Diagnostic::error(
                            MISSING_CLOUD_SETTING,
                            span,
                            format!("cloud `{cloud_name}` needs `{setting}`"),
                        )
                        .with_label(format!("`{setting}` missing"))
                        .with_help(format!("add `{setting} VALUE` inside `cloud {cloud_name}`")),
                    );
                }
            }
            let machine_key = match cloud_name.as_str() {
                "aws" => "instance-type",
                "gcp" => "machine-type",
                _ => "vm-size",
            };
            for (cluster_name, cluster) in &cloud.clusters {
                let cluster_pointer = join(&join(&pointer, "clusters"), cluster_name);
                for (pool_name, pool) in &cluster.node_pools {
                    let pool_pointer = join(&join(&cluster_pointer, "node-pools"), pool_name);
                    let machines = [
                        ("instance-type", &pool.instance_type),
                        ("machine-type", &pool.machine_type),
                        ("vm-size", &pool.vm_size),
                    ];
                    let mut wrong_key = false;
                    for (key, value) in machines {
                        if value.is_some() && key != machine_key {
                            wrong_key = true;
                            let span = self.form.spans.key(&join(&pool_pointer, key));
                            self.push(
                                Diagnostic::error(NODE_POOL_MACHINE, span, format!("`{key}` is not a {cloud_name} setting"))
                                    .with_label(format!("use `{machine_key}` on {cloud_name}"))
                                    .with_help(format!("{cloud_name} node pools name their machine with `{machine_key}=...`")),
                            );
                        }
                    }
                    if !wrong_key
                        && machines
                            .iter()
                            .all(|(key, value)| *key != machine_key || value.is_none())
                    {
                        let span = self.form.spans.key(&pool_pointer);
                        self.push(
                            Diagnostic::error(
                                NODE_POOL_MACHINE,
                                span,
                                format!("node pool `{pool_name}` has no `{machine_key}`"),
                            )
                            .with_label("machine type missing")
                            .with_help(format!("add `{machine_key}=...` to the node pool")),
                        );
                    }
                    let (Some(min), Some(max)) = (pool.min, pool.max) else {
                        continue;
                    };
                    if min > max {
                        let span = self.form.spans.value(&join(&pool_pointer, "min"));
                        self.push(
                            Diagnostic::error(
                                NODE_POOL_BOUNDS,
                                span,
                                format!("node pool `{pool_name}` has min {min} above max {max}"),
                            )
                            .with_label("larger than max")
                            .with_help("make min ≤ desired ≤ max"),
                        );
                    }
                    if let Some(desired) = pool.desired
                        && (desired < min || desired > max)
                    {
                        let span = self.form.spans.value(&join(&pool_pointer, "desired"));
                        self.push(
                            Diagnostic::error(NODE_POOL_BOUNDS, span, format!("node pool `{pool_name}` wants {desired} nodes, outside {min}..{max}"))
                                .with_label("outside min..max")
                                .with_help("make min ≤ desired ≤ max"),
                        );
                    }
                    self.labels(&pool.labels, &join(&pool_pointer, "labels"));
                }
            }
        }
    }

    fn environments(&mut self) {
        let spec = self.spec;
        let mut namespaces: BTreeMap<(&str, &str), &str> = BTreeMap::new();
        // File order, so "declared twice" points at the later declaration.
        let mut in_file_order: Vec<(&String, &crate::spec::types::EnvironmentSpec)> =
            spec.environments.iter().collect();
        in_file_order.sort_by_key(|(env_name, _)| {
            self.form
                .spans
                .value(&join("/environments", env_name))
                .start
        });
        for (env_name, env) in in_file_order {
            let pointer = join("/environments", env_name);
            if !env.namespace.is_empty() {
                self.dns_label(&env.namespace, &join(&pointer, "namespace"), "namespace");
            }
            if matches!(
                env.namespace.as_str(),
                "default" | "kube-system" | "kube-public" | "kube-node-lease"
            ) {
                let span = self.form.spans.value(&join(&pointer, "namespace"));
                self.push(
                    Diagnostic::error(RESERVED_NAMESPACE, span, format!("environment `{env_name}` uses the `{}` namespace", env.namespace))
                        .with_label("reserved namespace")
                        .with_help(format!("never run workloads in `{}`: pick a dedicated namespace such as `{}-{env_name}`", env.namespace, spec.platform.name)),
                );
            }
            for (idx, cloud_name) in env.deploy_to.iter().enumerate() {
                let cloud_pointer = join(&join(&pointer, "deploy-to"), &idx.to_string());
                let Some(cloud) = spec.clouds.get(cloud_name) else {
                    let span = self.form.spans.value(&cloud_pointer);
                    self.push(
                        Diagnostic::error(UNKNOWN_CLOUD, span, format!("environment `{env_name}` deploys to `{cloud_name}`, which is not declared"))
                            .with_label("undeclared cloud")
                            .with_help(format!("declare `cloud {cloud_name} {{ ... }}` or remove it from `deploy-to`; {}", suggestion_help(cloud_name, "cloud", spec.clouds.keys().map(String::as_str)))),
                    );
                    continue;
                };
                if let Some(first_env) = namespaces.insert(
                    (cloud_name.as_str(), env.namespace.as_str()),
                    env_name.as_str(),
                ) {
                    let span = self.form.spans.value(&join(&pointer, "namespace"));
                    self.push(
                        Diagnostic::error(DUPLICATE_NAMESPACE, span, format!("environments `{first_env}` and `{env_name}` share namespace `{}` on {cloud_name}", env.namespace))
                            .with_label("already used")
                            .with_help("give each environment its own namespace"),
                    );
                }
                match env.clusters.get(cloud_name) {
                    Some(cluster) if !cloud.clusters.contains_key(cluster) => {
                        let span = self
                            .form
                            .spans
                            .value(&join(&join(&pointer, "clusters"), cloud_name));
                        self.push(
                            Diagnostic::error(
                                UNKNOWN_CLUSTER,
                                span,
                                format!("cloud `{cloud_name}` has no cluster `{cluster}`"),
                            )
                            .with_label("unknown cluster")
                            .with_help(suggestion_help(
                                cluster,
                                "cluster",
                                cloud.clusters.keys().map(String::as_str),
                            )),
                        );
                    }
                    None if cloud.clusters.len() > 1 => {
                        let span = self.form.spans.value(&cloud_pointer);
                        self.push(
                            Diagnostic::error(AMBIGUOUS_CLUSTER, span, format!("cloud `{cloud_name}` has {} clusters; environment `{env_name}` must pick one", cloud.clusters.len()))
                                .with_label("which cluster?")
                                .with_help(format!("add `cluster {cloud_name}=NAME` to the environment; {}", suggestion_help("", "cluster", cloud.clusters.keys().map(String::as_str)))),
                        );
                    }
                    _ => {}
                }
            }
            for cloud_name in env.clusters.keys() {
                if !env.deploy_to.contains(cloud_name) {
                    let span = self
                        .form
                        .spans
                        .key(&join(&join(&pointer, "clusters"), cloud_name));
                    self.push(
                        Diagnostic::error(UNKNOWN_CLOUD, span, format!("environment `{env_name}` picks a cluster on `{cloud_name}` but does not deploy there"))
                            .with_label("not in deploy-to")
                            .with_help(format!("add `{cloud_name}` to `deploy-to` or remove this entry")),
                    );
                }
            }
            if let Some(quota) = &env.quota {
                self.quantities(quota, &join(&pointer, "quota"));
            }
            if let Some(limit_range) = &env.limit_range {
                self.quantities(limit_range, &join(&pointer, "limit-range"));
            }
            self.labels(&env.labels, &join(&pointer, "labels"));
            if let Some(selector) = env
                .argocd
                .as_ref()
                .and_then(|a| a.cluster_selector.as_ref())
            {
                let selector_pointer = join(&join(&pointer, "argocd"), "cluster-selector");
                self.labels(selector, &selector_pointer);
            }
        }
    }

    fn quantities(&mut self, values: &BTreeMap<String, Text>, pointer: &str) {
        for (key, value) in values {
            if quantity::parse(value.as_str()).is_none() {
                let span = self.form.spans.value(&join(pointer, key));
                self.invalid_quantity(span, value.as_str(), key);
            }
        }
    }

    fn invalid_quantity(&mut self, span: crate::source::Span, text: &str, what: &str) {
        self.push(
            Diagnostic::error(INVALID_QUANTITY, span, format!("`{}` is not a valid quantity for `{what}`", text.escape_debug()))
                .with_label("not a Kubernetes quantity")
                .with_help("write a Kubernetes quantity: CPU as `500m`, `2` or `1.5`; memory and storage as `512Mi`, `2Gi`; ranges as REQUEST..LIMIT, e.g. \"500m..2\""),
        );
    }

    /// Rules that apply to every service body: the service itself, `defaults`, and `in` blocks.
    /// `partial` is true for `defaults` and `in` blocks, which may set single fields of
    /// objects the service completes.
    fn body(&mut self, body: &ServiceBody, pointer: &str, service: Option<&str>, partial: bool) {
        let spec = self.spec;
        if let Some(resources) = &body.resources {
            for (key, value) in resources {
                let value_pointer = join(&join(pointer, "resources"), key);
                match quantity::parse_range(value.as_str()) {
                    Err(RangeError::Invalid(_)) => {
                        let span = self.form.spans.value(&value_pointer);
                        self.invalid_quantity(span, value.as_str(), key);
                    }
                    Ok(range) if range.request.value > range.limit.value => {
                        let span = self.form.spans.value(&value_pointer);
                        self.push(
                            Diagnostic::error(
                                REQUEST_EXCEEDS_LIMIT,
                                span,
                                format!(
                                    "{key} request {} is above its limit {}",
                                    range.request.text, range.limit.text
                                ),
                            )
                            .with_label("request > limit")
                            .with_help(format!(
                                "write REQUEST..LIMIT with the request first, e.g. \"{}..{}\"",
                                range.limit.text, range.request.text
                            )),
                        );
                    }
                    Ok(_) => {}
                }
            }
        }
        if let Some(image) = &body.image
            && image.tag.as_deref() == Some("latest")
        {
            let span = self.form.spans.value(&join(&join(pointer, "image"), "tag"));
            self.push(
                Diagnostic::error(LATEST_TAG, span, "image tag `latest` is not reproducible")
                    .with_label("mutable tag")
                    .with_help(
                        "pin a version tag such as tag=\"1.4.2\", or a digest=\"sha256:...\"",
                    ),
            );
        }
        for (variable, secret) in &body.secrets {
            let secret_pointer = join(&join(pointer, "secrets"), variable);
            self.env_name(variable, &secret_pointer);
            if secret.value.is_some() {
                let span = self.form.spans.key(&join(&secret_pointer, "value"));
                self.push(
                    Diagnostic::error(PLAINTEXT_SECRET, span, format!("secret `{variable}` holds a plaintext value"))
                        .with_label("secret value in the spec")
                        .with_help("secrets never go into git: store the value in a Kubernetes Secret (External Secrets, Sealed Secrets, ...) and reference it with `secret NAME from=SECRET key=KEY`"),
                );
            } else if let Some(from) = secret
                .from
                .as_deref()
                .filter(|from| dns_subdomain_problem(from).is_some())
            {
                let span = self.form.spans.value(&join(&secret_pointer, "from"));
                self.push(
                    Diagnostic::error(INVALID_NAME, span, format!("`{}` is not a valid Secret name", from.escape_debug()))
                        .with_label(dns_subdomain_problem(from).unwrap_or("invalid"))
                        .with_help(format!("Kubernetes Secret names are lowercase DNS subdomains (a-z, 0-9, '-', '.'), e.g. `{}`", suggest_dns_label(from))),
                );
            } else if secret.from.is_none() || secret.key.is_none() {
                let span = self.form.spans.value(&secret_pointer);
                let missing = if secret.from.is_none() { "from" } else { "key" };
                self.push(
                    Diagnostic::error(
                        INCOMPLETE_SECRET,
                        span,
                        format!("secret `{variable}` has no `{missing}`"),
                    )
                    .with_label(format!("`{missing}` missing"))
                    .with_help("write `secret NAME from=SECRET-NAME key=KEY`"),
                );
            }
            if body.env.contains_key(variable) {
                let span = self.form.spans.key(&join(&join(pointer, "env"), variable));
                self.push(
                    Diagnostic::error(
                        INVALID_ENV,
                        span,
                        format!("`{variable}` is both a plain variable and a secret"),
                    )
                    .with_label("also a secret")
                    .with_help("keep one of the two"),
                );
            }
        }
        for (name, egress) in &body.egress {
            self.egress(egress, &join(&join(pointer, "egress"), name));
        }
        for (variable, value) in &body.env {
            let env_pointer = join(&join(pointer, "env"), variable);
            self.env_name(variable, &env_pointer);
            if looks_secret(variable) && !value.as_str().is_empty() {
                let span = self.form.spans.value(&env_pointer);
                self.push(
                    Diagnostic::error(
                        PLAINTEXT_SECRET,
                        span,
                        format!(
                            "`{variable}` looks like a secret but its value is written in the spec"
                        ),
                    )
                    .with_label("plaintext secret")
                    .with_help(format!(
                        "reference it instead: `secret {variable} from=SECRET-NAME key=KEY`"
                    )),
                );
            }
        }
        if body.replicas.is_some() && body.autoscale.is_some() {
            let span = self.form.spans.key(&join(pointer, "replicas"));
            self.push(
                Diagnostic::error(REPLICAS_CONFLICT, span, "`replicas` and `autoscale` in the same block")
                    .with_label("pinned replicas")
                    .with_help("an autoscaled workload must not pin replicas: keep `autoscale { replicas MIN MAX }` or `replicas N`, not both")
                    .with_related(self.form.spans.key(&join(pointer, "autoscale")), "autoscaling declared here"),
            );
        }
        if let Some(autoscale) = &body.autoscale {
            self.autoscale_quantities(autoscale, &join(pointer, "autoscale"));
            let min = autoscale
                .pointer("/replicas/min")
                .and_then(serde_json::Value::as_i64);
            let max = autoscale
                .pointer("/replicas/max")
                .and_then(serde_json::Value::as_i64);
            let replicas_pointer = join(&join(pointer, "autoscale"), "replicas");
            // An `in` block's autoscale merges into the service's (and `defaults`'), so a
            // queue trigger declared there makes scale-to-zero valid here too.
            let inherited = || {
                partial
                    && service
                        .and_then(|name| spec.services.get(name))
                        .map(|service| &service.body)
                        .into_iter()
                        .chain(spec.defaults.as_ref())
                        .any(|outer| outer.autoscale.as_ref().is_some_and(has_queue))
            };
            let has_queue = has_queue(autoscale) || inherited();
            if let Some(min) = min
                && min < 1
                && !has_queue
            {
                let span = self.form.spans.value(&join(&replicas_pointer, "min"));
                self.push(
                    Diagnostic::error(
                        INVALID_REPLICA_BOUNDS,
                        span,
                        format!("autoscale minimum {min} is below 1"),
                    )
                    .with_label("must be at least 1")
                    .with_help(
                        "an HPA needs minReplicas ≥ 1; scale-to-zero needs a queue trigger (KEDA)",
                    ),
                );
            }
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                let span = self.form.spans.value(&join(&replicas_pointer, "min"));
                self.push(
                    Diagnostic::error(
                        INVALID_REPLICA_BOUNDS,
                        span,
                        format!("autoscale minimum {min} is above the maximum {max}"),
                    )
                    .with_label("min > max")
                    .with_help(format!(
                        "write `replicas {max} {min}`: the minimum comes first"
                    ))
                    .with_related(
                        self.form.spans.value(&join(&replicas_pointer, "max")),
                        "maximum",
                    ),
                );
            }
        }
        if let Some(disruption) = &body.disruption {
            let both = disruption.min_available.is_some() && disruption.max_unavailable.is_some();
            let neither =
                disruption.min_available.is_none() && disruption.max_unavailable.is_none();
            if both || neither {
                let span = self.form.spans.key(&join(pointer, "disruption"));
                self.push(
                    Diagnostic::error(INVALID_DISRUPTION, span, if both { "`disruption` sets both min-available and max-unavailable" } else { "`disruption` sets nothing" })
                        .with_label("one of the two")
                        .with_help("a PodDisruptionBudget takes exactly one of min-available=N|\"P%\" or max-unavailable=N|\"P%\""),
                );
            }
        }
        if let Some(storage) = &body.storage
            && let Some(size) = &storage.size
            && quantity::parse(size.as_str()).is_none()
        {
            let span = self
                .form
                .spans
                .value(&join(&join(pointer, "storage"), "size"));
            self.invalid_quantity(span, size.as_str(), "storage");
        }
        if let Some(vpa) = &body.vpa {
            for (bound, values) in [("min", &vpa.min), ("max", &vpa.max)] {
                if let Some(values) = values {
                    self.quantities(values, &join(&join(pointer, "vpa"), bound));
                }
            }
        }
        for (probe_kind, probe) in &body.probes {
            let probe_pointer = join(&join(pointer, "probes"), probe_kind);
            let checks = [
                probe.http.is_some(),
                probe.tcp == Some(true),
                probe.grpc == Some(true),
                probe.exec.is_some(),
            ];
            let n_checks = checks.iter().filter(|set| **set).count();
            if n_checks > 1 || (n_checks == 0 && !partial) {
                let span = self.form.spans.key(&probe_pointer);
                self.push(
                    Diagnostic::error(INVALID_PROBE, span, format!("{probe_kind} probe must check exactly one thing (it checks {n_checks})"))
                        .with_label("http, tcp, grpc or exec")
                        .with_help("write one of http=\"/path\", tcp=#true, grpc=#true or exec=\"command\", with port=... for http/tcp/grpc"),
                );
            }
            if probe.exec.is_none()
                && n_checks == 1
                && probe.port.is_none()
                && body.ports.len() != 1
                && service.is_some()
            {
                let span = self.form.spans.key(&probe_pointer);
                self.push(
                    Diagnostic::error(INVALID_PROBE, span, format!("{probe_kind} probe needs a `port`"))
                        .with_label("port missing")
                        .with_help("add port=NUMBER or port=NAME (a port may be left out only when the service has exactly one)"),
                );
            }
            if let (Some(port), Some(service)) = (&probe.port, service)
                && port.as_str().parse::<u16>().is_err()
            {
                let ports = &spec.services[service].body.ports;
                if !ports.contains_key(port.as_str()) {
                    let span = self.form.spans.value(&join(&probe_pointer, "port"));
                    self.push(
                        Diagnostic::error(
                            UNKNOWN_PORT,
                            span,
                            format!("service `{service}` has no port named `{}`", port.as_str()),
                        )
                        .with_label("unknown port")
                        .with_help(suggestion_help(
                            port.as_str(),
                            "port",
                            ports.keys().map(String::as_str),
                        )),
                    );
                }
            }
        }
        for port_name in body.ports.keys() {
            if let Some(problem) = port_name_problem(port_name) {
                let span = self
                    .form
                    .spans
                    .value(&join(&join(pointer, "ports"), port_name));
                self.push(
                    Diagnostic::error(INVALID_NAME, span, format!("port name `{}` is not valid", port_name.escape_debug()))
                        .with_label(problem)
                        .with_help("a port name has at most 15 lowercase letters, digits and '-', with at least one letter (e.g. `http`, `grpc`, `metrics`)"),
                );
            }
        }
        if let Some(calls) = &body.calls {
            for (idx, callee) in calls.iter().enumerate() {
                if !spec.services.contains_key(callee) {
                    let span = self
                        .form
                        .spans
                        .value(&join(&join(pointer, "calls"), &idx.to_string()));
                    self.push(
                        Diagnostic::error(
                            UNKNOWN_SERVICE,
                            span,
                            format!("`calls` names unknown service `{callee}`"),
                        )
                        .with_label("no such service")
                        .with_help(suggestion_help(
                            callee,
                            "service",
                            spec.services.keys().map(String::as_str),
                        )),
                    );
                }
            }
        }
        self.labels(&body.labels, &join(pointer, "labels"));
    }

    /// Metric targets (`per-pod`, `object`, `external` values, queue thresholds) are quantities.
    fn autoscale_quantities(&mut self, autoscale: &serde_json::Value, pointer: &str) {
        let mut targets: Vec<(String, &serde_json::Value)> = Vec::new();
        if let Some(per_pod) = autoscale
            .get("per-pod")
            .and_then(serde_json::Value::as_object)
        {
            for (metric, target) in per_pod {
                if let Some(value) = target.get("value") {
                    targets.push((
                        join(&join(&join(pointer, "per-pod"), metric), "value"),
                        value,
                    ));
                }
            }
        }
        for (list, field) in [
            ("object", "value"),
            ("external", "value"),
            ("queue", "threshold"),
        ] {
            if let Some(items) = autoscale.get(list).and_then(serde_json::Value::as_array) {
                for (idx, item) in items.iter().enumerate() {
                    if let Some(value) = item.get(field) {
                        targets.push((
                            join(&join(&join(pointer, list), &idx.to_string()), field),
                            value,
                        ));
                    }
                }
            }
        }
        for (value_pointer, value) in targets {
            let text = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            if quantity::parse(&text).is_none() {
                let span = self.form.spans.value(&value_pointer);
                self.invalid_quantity(span, &text, "metric target");
            }
        }
    }

    fn env_name(&mut self, variable: &str, pointer: &str) {
        let valid = !variable.is_empty()
            && !variable.starts_with(|c: char| c.is_ascii_digit())
            && variable
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-');
        if !valid {
            let span = self.form.spans.key(pointer);
            self.push(
                Diagnostic::error(INVALID_ENV, span, format!("`{}` is not a valid environment variable name", variable.escape_debug()))
                    .with_label("invalid name")
                    .with_help("use letters, digits and '_' (conventionally UPPER_SNAKE_CASE), not starting with a digit"),
            );
        }
    }

    /// Rules over one service as a whole (its body and its `in` blocks together).
    fn service(&mut self, name: &str, pointer: &str) {
        let spec = self.spec;
        let service = &spec.services[name];
        let defaults = spec.defaults.as_ref();
        let tag_somewhere = |body: &ServiceBody| {
            body.image
                .as_ref()
                .is_some_and(|image| image.tag.is_some() || image.digest.is_some())
        };
        let base_tagged = tag_somewhere(&service.body) || defaults.is_some_and(tag_somewhere);
        // Without any `image` the schema already reports the missing node.
        let has_image = service.body.image.is_some() || defaults.is_some_and(|d| d.image.is_some());
        if has_image && !base_tagged {
            let untagged_envs: BTreeSet<&str> = spec
                .environments
                .keys()
                .map(String::as_str)
                .filter(|env| {
                    !service
                        .overrides
                        .iter()
                        .any(|o| o.environment == *env && tag_somewhere(&o.body))
                })
                .collect();
            if !untagged_envs.is_empty() {
                let span = self
                    .form
                    .spans
                    .value(&join(&join(pointer, "image"), "name"));
                self.push(
                    Diagnostic::error(MISSING_IMAGE_TAG, span, format!("image of service `{name}` has no tag or digest"))
                        .with_label("untagged image")
                        .with_help("pin the image: `image NAME tag=\"1.4.2\"` (or digest=\"sha256:...\"); an untagged image means `latest`"),
                );
            }
        }
        let kind = service
            .body
            .kind
            .as_deref()
            .or(defaults.and_then(|d| d.kind.as_deref()))
            .unwrap_or("stateless");
        let has_storage = service.body.storage.is_some()
            || service.overrides.iter().any(|o| o.body.storage.is_some());
        if kind == "stateless" && has_storage {
            let span = self.form.spans.key(&join(pointer, "storage"));
            self.push(
                Diagnostic::error(STORAGE_ON_STATELESS, span, format!("stateless service `{name}` declares storage"))
                    .with_label("needs `kind stateful`")
                    .with_help("persistent volumes belong to StatefulSets: add `kind stateful`, or remove `storage`"),
            );
        }
        if kind == "stateful" && !has_storage {
            let span = self.form.spans.value(&join(pointer, "kind"));
            self.push(
                Diagnostic::warning(STATEFUL_WITHOUT_STORAGE, span, format!("stateful service `{name}` has no storage"))
                    .with_label("no persistent volume")
                    .with_help("add `storage \"10Gi\"` (data is lost on restart without it), or make it stateless"),
            );
        }
        for (idx, override_spec) in service.overrides.iter().enumerate() {
            let override_pointer = join(&join(pointer, "overrides"), &idx.to_string());
            let Some(env) = spec.environments.get(&override_spec.environment) else {
                let span = self
                    .form
                    .spans
                    .value(&join(&override_pointer, "environment"));
                self.push(
                    Diagnostic::error(
                        UNKNOWN_ENVIRONMENT,
                        span,
                        format!("`in {}`: no such environment", override_spec.environment),
                    )
                    .with_label("unknown environment")
                    .with_help(suggestion_help(
                        &override_spec.environment,
                        "environment",
                        spec.environments.keys().map(String::as_str),
                    )),
                );
                continue;
            };
            if let Some(cloud) = &override_spec.cloud
                && !env.deploy_to.contains(cloud)
            {
                let span = self.form.spans.value(&join(&override_pointer, "cloud"));
                self.push(
                    Diagnostic::error(
                        UNKNOWN_CLOUD,
                        span,
                        format!(
                            "environment `{}` does not deploy to `{cloud}`",
                            override_spec.environment
                        ),
                    )
                    .with_label("not in deploy-to")
                    .with_help(format!(
                        "`{}` deploys to: {}",
                        override_spec.environment,
                        env.deploy_to.join(", ")
                    )),
                );
            }
            self.body(&override_spec.body, &override_pointer, Some(name), true);
        }
    }
}

/// Checks `ADDRESS/PREFIX` with no host bits set; on failure, a label and a help text.
fn network_cidr(cidr: &str) -> Result<(), (&'static str, String)> {
    let usage = || {
        (
            "not ADDRESS/PREFIX",
            "write an IPv4 or IPv6 network with its prefix length, e.g. `10.20.0.0/16` or `2001:db8::/32`".to_owned(),
        )
    };
    let (address, prefix) = cidr.split_once('/').ok_or_else(usage)?;
    let address: std::net::IpAddr = address.parse().map_err(|_| usage())?;
    let prefix: u32 = prefix.parse().map_err(|_| usage())?;
    let (bits, value) = match address {
        std::net::IpAddr::V4(v4) => (32, u128::from(u32::from(v4)) << 96),
        std::net::IpAddr::V6(v6) => (128, u128::from(v6)),
    };
    if prefix > bits {
        return Err((
            "prefix too long",
            format!("an {bits}-bit address takes a prefix of at most /{bits}"),
        ));
    }
    let host_bits = value.checked_shl(prefix).unwrap_or(0);
    if host_bits != 0 {
        let network = match address {
            std::net::IpAddr::V4(_) => {
                let mask = if prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - prefix)
                };
                let v4 = (value >> 96) as u32 & mask;
                std::net::IpAddr::V4(v4.into())
            }
            std::net::IpAddr::V6(_) => {
                let mask = if prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - prefix)
                };
                std::net::IpAddr::V6((value & mask).into())
            }
        };
        return Err((
            "host bits set",
            format!(
                "the network is `{network}/{prefix}`; Kubernetes rejects a CIDR with host bits"
            ),
        ));
    }
    Ok(())
}

/// Whether an `autoscale` object declares a queue trigger (KEDA).
fn has_queue(autoscale: &serde_json::Value) -> bool {
    autoscale
        .get("queue")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|queues| !queues.is_empty())
}

fn dns_label_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty");
    }
    if name.len() > 63 {
        return Some("longer than 63 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Some(if name.chars().any(|c| c.is_ascii_uppercase()) {
            "uppercase letters are not allowed"
        } else {
            "only a-z, 0-9 and '-' are allowed"
        });
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some("must start and end with a letter or digit");
    }
    None
}

fn dns_subdomain_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > 253 {
        return Some("must have 1 to 253 characters");
    }
    name.split('.').find_map(dns_label_problem)
}

fn suggest_dns_label(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    out = out.trim_matches('-').to_owned();
    out.truncate(63);
    if out.is_empty() {
        "my-name".to_owned()
    } else {
        out
    }
}

fn port_name_problem(name: &str) -> Option<&'static str> {
    if name.len() > 15 {
        return Some("longer than 15 characters");
    }
    if dns_label_problem(name).is_some() {
        return Some("only a-z, 0-9 and '-' are allowed");
    }
    if !name.chars().any(|c| c.is_ascii_lowercase()) {
        return Some("needs at least one letter");
    }
    if name.contains("--") {
        return Some("no double '-'");
    }
    None
}

fn label_key_problem(key: &str) -> Option<&'static str> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && (prefix.is_empty()
            || prefix.len() > 253
            || prefix
                .split('.')
                .any(|part| dns_label_problem(part).is_some()))
    {
        return Some("the prefix must be a DNS subdomain");
    }
    label_value_problem(name).or(if name.is_empty() {
        Some("empty name")
    } else {
        None
    })
}

fn label_value_problem(value: &str) -> Option<&'static str> {
    if value.len() > 63 {
        return Some("longer than 63 characters");
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Some("only letters, digits, '-', '_' and '.' are allowed");
    }
    if !value.is_empty()
        && (!value.starts_with(|c: char| c.is_ascii_alphanumeric())
            || !value.ends_with(|c: char| c.is_ascii_alphanumeric()))
    {
        return Some("must start and end with a letter or digit");
    }
    None
}

fn looks_secret(variable: &str) -> bool {
    let upper = variable.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
        "ACCESS_KEY",
    ]
    .iter()
    .any(|marker| upper.contains(marker))
}
