//! The Argo CD output: snapshots of the AppProject and ApplicationSets of both examples, a
//! walk of every example's compiled tree checking that the ApplicationSets create exactly one
//! Application per overlay directory (and nothing else), and small specs for each setting and
//! rule (the triggering specs live in `tests/bad/4NN-argocd-*.kdl`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use manifold::output::Tree;
use manifold::pipeline::{self, Compilation, Stop};
use serde_json::Value;

/// Every spec whose output is checked: the examples and the `init` starter.
fn specs() -> Vec<String> {
    let mut specs: Vec<String> = std::fs::read_dir("examples")
        .expect("examples/ readable")
        .map(|entry| entry.expect("an entry").path().join("platform.kdl"))
        .filter(|path| path.is_file())
        .map(|path| path.to_string_lossy().into_owned())
        .collect();
    specs.sort();
    assert!(specs.len() >= 2, "expected the examples, found {specs:?}");
    specs.push("templates/init.kdl".to_owned());
    specs
}

fn compile(name: &str, text: &str) -> Compilation {
    let compilation = pipeline::compile(name, text, Stop::AfterEmit);
    assert!(
        !compilation.has_errors(),
        "{name} has errors: {:#?}",
        compilation.diagnostics
    );
    compilation
}

fn compile_file(spec: &str) -> Compilation {
    let text = std::fs::read_to_string(spec).expect("spec readable");
    compile(spec, &text)
}

fn tree(compilation: &Compilation) -> &Tree {
    compilation.tree.as_ref().expect("a tree")
}

fn text<'t>(tree: &'t Tree, path: &str) -> &'t str {
    std::str::from_utf8(tree.get(path).unwrap_or_else(|| panic!("{path} missing"))).expect("UTF-8")
}

fn parse(tree: &Tree, path: &str) -> Value {
    serde_saphyr::from_str::<Value>(text(tree, path))
        .unwrap_or_else(|error| panic!("{path} is not YAML: {error}"))
}

/// The `argocd/` files, each under a `=== path ===` header.
fn render_argocd(tree: &Tree) -> String {
    let mut out = String::new();
    for (path, bytes) in tree.files() {
        if path.starts_with("argocd/") {
            out.push_str(&format!("=== {path} ===\n"));
            out.push_str(&String::from_utf8_lossy(bytes));
        }
    }
    out
}

fn argocd_paths(tree: &Tree) -> Vec<&str> {
    tree.files()
        .keys()
        .map(String::as_str)
        .filter(|path| path.starts_with("argocd/"))
        .collect()
}

#[test]
fn webshop_objects() {
    let compilation = compile_file("examples/webshop/platform.kdl");
    insta::assert_snapshot!("webshop", render_argocd(tree(&compilation)));
}

#[test]
fn voiceassist_objects() {
    let compilation = compile_file("examples/voiceassist/platform.kdl");
    insta::assert_snapshot!("voiceassist", render_argocd(tree(&compilation)));
}

// ---------------------------------------------------------------------------------------
// Expanding ApplicationSets the way the controller does (Go templates, missingkey=error).

/// One Application an ApplicationSet would create.
#[derive(Debug, Clone)]
struct Application {
    set: String,
    name: String,
    project: String,
    repo_url: String,
    revision: String,
    path: String,
    /// `("name", cluster)` or `("server", url)`.
    destination: (String, String),
    namespace: String,
    spec: Value,
}

/// Substitutes `{{.a.b}}` parameters; an unknown parameter fails like `missingkey=error`.
fn expand(template: &str, parameters: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .unwrap_or_else(|| panic!("unclosed template in `{template}`"))
            + start;
        let expression = rest[start + 2..end].trim();
        let key = expression
            .strip_prefix('.')
            .unwrap_or_else(|| panic!("unsupported template expression `{expression}`"));
        let value = parameters
            .get(key)
            .unwrap_or_else(|| panic!("missing key `{key}` in `{template}` ({parameters:?})"));
        out.push_str(value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    assert!(!out.contains("}}"), "stray `}}}}` in `{template}`");
    out
}

/// Every string in `value`, templates expanded.
fn expand_value(value: &Value, parameters: &BTreeMap<String, String>) -> Value {
    match value {
        Value::String(text) => Value::String(expand(text, parameters)),
        Value::Array(items) => items
            .iter()
            .map(|item| expand_value(item, parameters))
            .collect(),
        Value::Object(map) => map
            .iter()
            .map(|(key, item)| (key.clone(), expand_value(item, parameters)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => other.clone(),
    }
}

/// The parameter sets a generator produces. For a clusters generator: one registered cluster
/// per value its `provider` expression admits, carrying exactly the selected labels (the
/// clusters an operator registers, one per target).
fn parameter_sets(generator: &Value) -> Vec<BTreeMap<String, String>> {
    if let Some(list) = generator.get("list") {
        return list["elements"]
            .as_array()
            .expect("elements")
            .iter()
            .map(|element| {
                element
                    .as_object()
                    .expect("an element object")
                    .iter()
                    .map(|(key, value)| (key.clone(), value.as_str().expect("string").to_owned()))
                    .collect()
            })
            .collect();
    }
    let selector = &generator["clusters"]["selector"];
    let labels: BTreeMap<String, String> = selector["matchLabels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(key, value)| (key.clone(), value.as_str().expect("string").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let expressions = selector["matchExpressions"]
        .as_array()
        .expect("expressions");
    assert_eq!(expressions.len(), 1, "one provider expression: {selector}");
    assert_eq!(expressions[0]["key"], "provider");
    assert_eq!(expressions[0]["operator"], "In");
    expressions[0]["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|cloud| {
            let cloud = cloud.as_str().expect("a cloud");
            let mut parameters = BTreeMap::new();
            parameters.insert("name".to_owned(), format!("registered-{cloud}"));
            parameters.insert("server".to_owned(), format!("https://{cloud}.example"));
            for (key, value) in &labels {
                parameters.insert(format!("metadata.labels.{key}"), value.clone());
            }
            parameters.insert("metadata.labels.provider".to_owned(), cloud.to_owned());
            parameters
        })
        .collect()
}

/// Every Application the tree's ApplicationSets create.
fn applications(tree: &Tree) -> Vec<Application> {
    let mut out = Vec::new();
    for path in argocd_paths(tree) {
        let object = parse(tree, path);
        if object["kind"] != "ApplicationSet" {
            continue;
        }
        let set = object["metadata"]["name"]
            .as_str()
            .expect("a name")
            .to_owned();
        let spec = &object["spec"];
        assert_eq!(spec["goTemplate"], true, "{path}");
        assert_eq!(
            spec["goTemplateOptions"],
            serde_json::json!(["missingkey=error"]),
            "{path}"
        );
        let generators = spec["generators"].as_array().expect("generators");
        assert_eq!(generators.len(), 1, "{path}: one generator");
        for parameters in parameter_sets(&generators[0]) {
            let template = expand_value(&spec["template"], &parameters);
            let app = &template["spec"];
            let destination = app["destination"].as_object().expect("a destination");
            let (key, cluster) = if let Some(name) = destination.get("name") {
                ("name", name)
            } else {
                ("server", &destination["server"])
            };
            out.push(Application {
                set: set.clone(),
                name: template["metadata"]["name"]
                    .as_str()
                    .expect("name")
                    .to_owned(),
                project: app["project"].as_str().expect("project").to_owned(),
                repo_url: app["source"]["repoURL"].as_str().expect("url").to_owned(),
                revision: app["source"]["targetRevision"]
                    .as_str()
                    .expect("revision")
                    .to_owned(),
                path: app["source"]["path"].as_str().expect("path").to_owned(),
                destination: (
                    key.to_owned(),
                    cluster.as_str().expect("cluster").to_owned(),
                ),
                namespace: destination["namespace"].as_str().expect("ns").to_owned(),
                spec: app.clone(),
            });
        }
    }
    out
}

/// The overlay directories of the tree (directories holding a `kustomization.yaml`).
fn overlay_dirs(tree: &Tree) -> BTreeSet<String> {
    tree.files()
        .keys()
        .filter_map(|path| path.strip_suffix("/kustomization.yaml"))
        .filter(|dir| dir.starts_with("kubernetes/overlays/"))
        .map(str::to_owned)
        .collect()
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// A glob as Argo CD matches project destinations (only `*` is used).
fn glob_matches(pattern: &str, value: &str) -> bool {
    pattern == "*" || pattern == value
}

/// Checks one compiled tree; returns the problems found.
fn walk(spec: &str, compilation: &Compilation) -> Vec<String> {
    let platform = compilation.platform.as_ref().expect("a model");
    walk_tree(spec, platform, tree(compilation))
}

fn walk_tree(spec: &str, platform: &manifold::model::Platform, tree: &Tree) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(repo) = &platform.repo else {
        if !argocd_paths(tree).is_empty() {
            problems.push(format!("{spec}: argocd/ files without a repo"));
        }
        return problems;
    };
    let prefix = match repo.path.trim_matches('/') {
        "" => String::new(),
        path => format!("{path}/"),
    };
    let apps = applications(tree);
    let overlays = overlay_dirs(tree);
    // Exactly the overlay directories, each once.
    let mut pointed: BTreeMap<String, usize> = BTreeMap::new();
    for app in &apps {
        match app.path.strip_prefix(&prefix) {
            Some(dir) => *pointed.entry(dir.to_owned()).or_default() += 1,
            None => problems.push(format!(
                "{spec}: {} path `{}` is outside the repo path `{prefix}`",
                app.name, app.path
            )),
        }
    }
    for (dir, count) in &pointed {
        if *count != 1 {
            problems.push(format!("{spec}: {count} Applications deploy `{dir}`"));
        }
    }
    let pointed: BTreeSet<String> = pointed.into_keys().collect();
    if pointed != overlays {
        problems.push(format!(
            "{spec}: Application paths differ from the overlay directories\n  only in Applications: {:?}\n  only in the tree: {:?}",
            pointed.difference(&overlays).collect::<Vec<_>>(),
            overlays.difference(&pointed).collect::<Vec<_>>()
        ));
    }
    // The model's targets, one Application each.
    let targets: usize = platform
        .environments
        .iter()
        .map(|environment| environment.targets.len())
        .sum();
    if apps.len() != targets {
        problems.push(format!(
            "{spec}: {} Applications for {targets} targets",
            apps.len()
        ));
    }
    // Names: valid and unique.
    let mut names = BTreeSet::new();
    for app in &apps {
        if !is_dns_label(&app.name) {
            problems.push(format!(
                "{spec}: Application name `{}` is not a DNS label",
                app.name
            ));
        }
        if !names.insert(app.name.clone()) {
            problems.push(format!("{spec}: Application name `{}` twice", app.name));
        }
    }
    // Each Application: the overlay's namespace, the repo, the environment's sync policy.
    let project = parse(tree, "argocd/appproject.yaml");
    let project_spec = &project["spec"];
    let project_name = project["metadata"]["name"].as_str().expect("project name");
    for app in &apps {
        let dir = app.path.strip_prefix(&prefix).unwrap_or(&app.path);
        let kustomization_path = format!("{dir}/kustomization.yaml");
        if tree.get(&kustomization_path).is_none() {
            continue; // reported above: not an overlay directory
        }
        let kustomization = parse(tree, &kustomization_path);
        if kustomization["namespace"] != app.namespace.as_str() {
            problems.push(format!(
                "{spec}: {} deploys into `{}`, the overlay into {}",
                app.name, app.namespace, kustomization["namespace"]
            ));
        }
        if app.repo_url != repo.url || app.revision != repo.branch {
            problems.push(format!("{spec}: {} does not use the spec's repo", app.name));
        }
        if app.project != project_name {
            problems.push(format!(
                "{spec}: {} uses project `{}`",
                app.name, app.project
            ));
        }
        let environment = dir.split('/').nth(2).unwrap_or_default();
        let Some(model) = platform
            .environments
            .iter()
            .find(|candidate| candidate.name == environment)
        else {
            problems.push(format!("{spec}: {} has no environment", app.name));
            continue;
        };
        let policy = &app.spec["syncPolicy"];
        let automated = policy.get("automated");
        let expected = model.sync.automated.then(
            || serde_json::json!({ "prune": model.sync.prune, "selfHeal": model.sync.self_heal }),
        );
        if automated != expected.as_ref() {
            problems.push(format!("{spec}: {} automated sync {automated:?}", app.name));
        }
        let options = &policy["syncOptions"];
        for option in ["CreateNamespace=true", "ServerSideApply=true"] {
            if !options
                .as_array()
                .is_some_and(|list| list.contains(&option.into()))
            {
                problems.push(format!("{spec}: {} lacks {option}", app.name));
            }
        }
        if policy["retry"]["backoff"].is_null() {
            problems.push(format!("{spec}: {} has no retry backoff", app.name));
        }
        // The AppProject admits the Application.
        if project_spec["sourceRepos"] != serde_json::json!([repo.url]) {
            problems.push(format!(
                "{spec}: sourceRepos is {}",
                project_spec["sourceRepos"]
            ));
        }
        let (key, cluster) = &app.destination;
        let admitted = project_spec["destinations"]
            .as_array()
            .expect("destinations")
            .iter()
            .any(|destination| {
                destination[key.as_str()]
                    .as_str()
                    .is_some_and(|pattern| glob_matches(pattern, cluster))
                    && destination["namespace"] == app.namespace.as_str()
            });
        if !admitted {
            problems.push(format!(
                "{spec}: the AppProject does not admit {} ({key} {cluster}, namespace {})",
                app.name, app.namespace
            ));
        }
    }
    // Every kind the overlays and bases hold is whitelisted; Namespace is the only
    // cluster-scoped one.
    let whitelisted = |list: &Value| -> BTreeSet<(String, String)> {
        list.as_array()
            .expect("a whitelist")
            .iter()
            .map(|entry| {
                (
                    entry["group"].as_str().expect("group").to_owned(),
                    entry["kind"].as_str().expect("kind").to_owned(),
                )
            })
            .collect()
    };
    let cluster = whitelisted(&project_spec["clusterResourceWhitelist"]);
    let namespaced = whitelisted(&project_spec["namespaceResourceWhitelist"]);
    if cluster != BTreeSet::from([(String::new(), "Namespace".to_owned())]) {
        problems.push(format!("{spec}: clusterResourceWhitelist {cluster:?}"));
    }
    for (path, bytes) in tree.files() {
        if !path.starts_with("kubernetes/") || path.contains("/patches/") {
            continue;
        }
        let Ok(document) = serde_saphyr::from_str::<Value>(&String::from_utf8_lossy(bytes)) else {
            continue;
        };
        let (Some(api_version), Some(kind)) =
            (document["apiVersion"].as_str(), document["kind"].as_str())
        else {
            continue;
        };
        if kind == "Kustomization" {
            continue;
        }
        let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
        let entry = (group.to_owned(), kind.to_owned());
        if !cluster.contains(&entry) && !namespaced.contains(&entry) {
            problems.push(format!("{spec}: {path}: {kind} is not whitelisted"));
        }
    }
    problems
}

#[test]
fn every_example_deploys_exactly_its_overlay_directories() {
    let mut problems = Vec::new();
    for spec in specs() {
        let compilation = compile_file(&spec);
        let tree = tree(&compilation);
        assert!(
            !argocd_paths(tree).is_empty(),
            "{spec}: declares a repo, so argocd/ must be emitted"
        );
        problems.extend(walk(&spec, &compilation));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn overlays_order_namespace_and_guardrails_before_workloads() {
    for spec in specs() {
        let compilation = compile_file(&spec);
        let tree = tree(&compilation);
        for dir in overlay_dirs(tree) {
            let wave = |file: &str| {
                let path = format!("{dir}/{file}");
                tree.get(&path).map(|_| {
                    parse(tree, &path)["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
                        .as_str()
                        .map(str::to_owned)
                })
            };
            assert_eq!(wave("namespace.yaml"), Some(Some("-2".into())), "{dir}");
            for guardrail in ["resourcequota.yaml", "limitrange.yaml"] {
                if let Some(found) = wave(guardrail) {
                    assert_eq!(found.as_deref(), Some("-1"), "{dir}/{guardrail}");
                }
            }
        }
        // Policies (other emitters' objects) apply with the guardrails.
        for (path, bytes) in tree.files() {
            if !path.starts_with("kubernetes/overlays/") || path.contains("/patches/") {
                continue;
            }
            let text = String::from_utf8_lossy(bytes);
            for document in serde_saphyr::from_multiple::<Value>(&text).expect("YAML") {
                let kind = document["kind"].as_str().unwrap_or_default();
                if manifold::emit::argocd::POLICY_KINDS
                    .iter()
                    .any(|(_, policy)| *policy == kind)
                {
                    assert_eq!(
                        document["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"], "-1",
                        "{path}: {kind}"
                    );
                }
            }
        }
        // Workloads stay in the default wave 0.
        for (path, bytes) in tree.files() {
            if path.starts_with("kubernetes/base/")
                && (path.ends_with("/deployment.yaml") || path.ends_with("/statefulset.yaml"))
            {
                let text = String::from_utf8_lossy(bytes);
                assert!(!text.contains("sync-wave"), "{path} has a sync wave");
            }
        }
    }
}

#[test]
fn the_webshop_production_environment_uses_the_seed_clusters_generator() {
    let compilation = compile_file("examples/webshop/platform.kdl");
    let tree = tree(&compilation);
    let production = parse(tree, "argocd/applicationset-production.yaml");
    let selector = &production["spec"]["generators"][0]["clusters"]["selector"];
    assert_eq!(
        selector["matchLabels"],
        serde_json::json!({ "environment": "production" })
    );
    assert_eq!(
        production["spec"]["template"]["spec"]["source"]["path"],
        "k8s/kubernetes/overlays/production/{{.metadata.labels.provider}}"
    );
    assert_eq!(
        production["spec"]["template"]["spec"]["destination"]["server"],
        "{{.server}}"
    );
    for environment in ["dev", "staging"] {
        let set = parse(tree, &format!("argocd/applicationset-{environment}.yaml"));
        assert!(
            set["spec"]["generators"][0]["list"].is_object(),
            "{environment} keeps the list generator"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Small specs: one setting or rule each (the triggering ones are in tests/bad/).

const CLOUDS: &str = r#"
cloud aws {
    region eu-west-1
    cluster shop-eks { node-pool general instance-type=t3.large min=1 max=3; }
}
cloud gcp {
    project shop-prod
    region europe-west4
    cluster shop-gke { node-pool general machine-type=e2-standard-2 min=1 max=3; }
}
service web {
    image web tag="1.0.0"
    port http 8080
}
"#;

/// A spec with the given platform body and environments, and the two clouds above.
fn spec(platform_body: &str, environments: &str) -> String {
    format!("platform shop {{\n{platform_body}\n}}\n{CLOUDS}\n{environments}\n")
}

const PROD: &str = r#"
environment prod profile=production {
    namespace shop
    deploy-to aws gcp
}
"#;

#[test]
fn without_a_repo_nothing_is_emitted_and_nothing_is_reported() {
    let compilation = compile("platform.kdl", &spec("registry \"ghcr.io/x\"", PROD));
    assert!(
        compilation.diagnostics.is_empty(),
        "{:?}",
        compilation.diagnostics
    );
    assert!(argocd_paths(tree(&compilation)).is_empty());
    assert!(walk("no repo", &compilation).is_empty());
}

#[test]
fn defaults_without_argocd_settings() {
    let compilation = compile(
        "platform.kdl",
        &spec(r#"repo "https://git.example.com/shop.git""#, PROD),
    );
    let tree = tree(&compilation);
    assert_eq!(
        argocd_paths(tree),
        vec!["argocd/applicationset-prod.yaml", "argocd/appproject.yaml"]
    );
    let project = parse(tree, "argocd/appproject.yaml");
    assert_eq!(project["metadata"]["name"], "shop");
    assert_eq!(project["metadata"]["namespace"], "argocd");
    let set = parse(tree, "argocd/applicationset-prod.yaml");
    assert_eq!(set["metadata"]["name"], "shop-prod");
    // No repo path: the overlays are at the repository root; branch main.
    let source = &set["spec"]["template"]["spec"]["source"];
    assert_eq!(source["path"], "kubernetes/overlays/prod/{{.cloud}}");
    assert_eq!(source["targetRevision"], "main");
    assert_eq!(
        set["spec"]["generators"][0]["list"]["elements"],
        serde_json::json!([
            { "cloud": "aws", "cluster": "shop-eks" },
            { "cloud": "gcp", "cluster": "shop-gke" },
        ])
    );
    let problems = walk("defaults", &compilation);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn namespace_project_and_repo_path_are_used() {
    let compilation = compile(
        "platform.kdl",
        &spec(
            r#"repo "https://git.example.com/shop.git" branch=release path="/deploy/out/"
               argocd namespace=gitops project=shop-apps"#,
            PROD,
        ),
    );
    let tree = tree(&compilation);
    let project = parse(tree, "argocd/appproject.yaml");
    assert_eq!(project["metadata"]["name"], "shop-apps");
    assert_eq!(project["metadata"]["namespace"], "gitops");
    let set = parse(tree, "argocd/applicationset-prod.yaml");
    assert_eq!(set["metadata"]["namespace"], "gitops");
    let template = &set["spec"]["template"]["spec"];
    assert_eq!(template["project"], "shop-apps");
    assert_eq!(template["source"]["targetRevision"], "release");
    assert_eq!(
        template["source"]["path"],
        "deploy/out/kubernetes/overlays/prod/{{.cloud}}"
    );
    let problems = walk("settings", &compilation);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn manual_sync_omits_automated() {
    let environments = r#"
environment prod profile=production {
    namespace shop
    deploy-to aws
    sync automated=#false
}
environment dev profile=development {
    namespace shop-dev
    deploy-to aws
    sync prune=#false
}
"#;
    let compilation = compile(
        "platform.kdl",
        &spec(r#"repo "https://git.example.com/shop.git""#, environments),
    );
    let tree = tree(&compilation);
    let prod = parse(tree, "argocd/applicationset-prod.yaml");
    let policy = &prod["spec"]["template"]["spec"]["syncPolicy"];
    assert!(policy.get("automated").is_none(), "{policy}");
    assert_eq!(
        policy["syncOptions"],
        serde_json::json!(["CreateNamespace=true", "ServerSideApply=true"])
    );
    let dev = parse(tree, "argocd/applicationset-dev.yaml");
    assert_eq!(
        dev["spec"]["template"]["spec"]["syncPolicy"]["automated"],
        serde_json::json!({ "prune": false, "selfHeal": true })
    );
    let problems = walk("sync", &compilation);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn clusters_generator_defaults_its_selector_to_the_environment() {
    let environments = r#"
environment prod profile=production {
    namespace shop
    deploy-to aws gcp
    argocd generator=clusters
}
"#;
    let compilation = compile(
        "platform.kdl",
        &spec(r#"repo "https://git.example.com/shop.git""#, environments),
    );
    let tree = tree(&compilation);
    let set = parse(tree, "argocd/applicationset-prod.yaml");
    assert_eq!(
        set["spec"]["generators"][0]["clusters"]["selector"],
        serde_json::json!({
            "matchLabels": { "environment": "prod" },
            "matchExpressions": [{ "key": "provider", "operator": "In", "values": ["aws", "gcp"] }],
        })
    );
    let project = parse(tree, "argocd/appproject.yaml");
    assert_eq!(
        project["spec"]["destinations"],
        serde_json::json!([{ "server": "*", "namespace": "shop" }])
    );
    let problems = walk("clusters", &compilation);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_provider_selector_covering_every_target_is_accepted() {
    let environments = r#"
environment prod profile=production {
    namespace shop
    deploy-to gcp
    argocd generator=clusters {
        cluster-selector environment=production provider=gcp
    }
}
"#;
    let compilation = compile(
        "platform.kdl",
        &spec(r#"repo "https://git.example.com/shop.git""#, environments),
    );
    assert!(
        compilation.diagnostics.is_empty(),
        "{:?}",
        compilation.diagnostics
    );
    let problems = walk("provider selector", &compilation);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn an_application_name_of_exactly_63_characters_is_accepted() {
    // `shop-` + 54 + `-aws` = 63 characters.
    let environment = format!("e{}", "x".repeat(53));
    let environments = format!(
        "environment {environment} profile=staging {{\n    namespace shop\n    deploy-to aws\n}}\n"
    );
    let compilation = compile(
        "platform.kdl",
        &spec(r#"repo "https://git.example.com/shop.git""#, &environments),
    );
    let apps = applications(tree(&compilation));
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].name.len(), 63);
    assert_eq!(apps[0].set, format!("shop-{environment}"));
}

#[test]
fn the_bad_spec_catalogue_has_a_case_for_each_argocd_rule() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad");
    let mut text = String::new();
    for entry in std::fs::read_dir(&dir).expect("tests/bad") {
        let path = entry.expect("an entry").path();
        if path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().contains("argocd"))
        {
            text.push_str(&std::fs::read_to_string(&path).expect("readable"));
        }
    }
    for code in [
        "manifold::argocd::missing-repo",
        "manifold::argocd::selector-without-clusters",
        "manifold::argocd::target-coverage",
        "manifold::argocd::invalid-name",
    ] {
        assert!(text.contains(&format!("// expect: {code} at ")), "{code}");
    }
}

#[test]
fn the_walk_notices_missing_and_undeployed_overlays() {
    let compilation = compile(
        "platform.kdl",
        &spec(r#"repo "https://git.example.com/shop.git""#, PROD),
    );
    let platform = compilation.platform.as_ref().expect("a model");
    let original = tree(&compilation);
    let copy = |skip: &str, extra: Option<&str>| {
        let mut copy = Tree::new();
        for (path, bytes) in original.files() {
            if path != skip {
                copy.insert(path.clone(), bytes.clone());
            }
        }
        if let Some(extra) = extra {
            copy.insert(
                extra,
                original.files()["kubernetes/overlays/prod/aws/kustomization.yaml"].clone(),
            );
        }
        copy
    };
    assert!(walk_tree("original", platform, original).is_empty());
    let missing = copy("kubernetes/overlays/prod/gcp/kustomization.yaml", None);
    assert!(!walk_tree("missing", platform, &missing).is_empty());
    let undeployed = copy(
        "",
        Some("kubernetes/overlays/prod/azure/kustomization.yaml"),
    );
    assert!(!walk_tree("undeployed", platform, &undeployed).is_empty());
}
