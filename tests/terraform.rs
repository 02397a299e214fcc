//! The Terraform modules: snapshots of every module of the examples, `terraform fmt -check`
//! over many specs, HCL injection read back by Terraform itself, template overrides through
//! the CLI, and the cluster checks on specs that must not trigger them.
//!
//! These tests need `terraform` on PATH (CI installs it); they fail, never skip, without it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use manifold::diagnostic::Severity;
use manifold::pipeline::{self, Stop};

/// The Terraform files of a spec's tree: module directory → file name → text.
fn modules(name: &str, text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let compilation = pipeline::compile(name, text, Stop::AfterEmit);
    let errors: Vec<_> = compilation
        .diagnostics
        .iter()
        .filter(|found| found.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{name} has errors: {errors:#?}");
    let tree = compilation.tree.expect("a tree");
    let mut modules: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (path, bytes) in tree.files() {
        let Some(rest) = path.strip_prefix("terraform/") else {
            continue;
        };
        let (dir, file) = rest
            .rsplit_once('/')
            .expect("terraform/<cloud>/<cluster>/<file>");
        modules
            .entry(dir.to_owned())
            .or_default()
            .insert(file.to_owned(), String::from_utf8_lossy(bytes).into_owned());
    }
    modules
}

fn example(name: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let spec = format!("examples/{name}/platform.kdl");
    let text = std::fs::read_to_string(&spec).expect("example readable");
    modules(&spec, &text)
}

/// One module as one snapshot: every file under a `=== name ===` header, in output order.
fn render(files: &BTreeMap<String, String>) -> String {
    let order = [
        "versions.tf",
        "providers.tf",
        "backend.tf",
        "variables.tf",
        "main.tf",
        "outputs.tf",
    ];
    assert_eq!(
        files
            .keys()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>(),
        order.into_iter().collect(),
        "a module has exactly the six files"
    );
    let mut out = String::new();
    for file in order {
        out.push_str(&format!("=== {file} ===\n{}", files[file]));
    }
    out
}

#[test]
fn webshop_modules() {
    let modules = example("webshop");
    assert_eq!(
        modules.keys().collect::<Vec<_>>(),
        [
            "aws/webshop-aws",
            "aws/webshop-aws-nonprod",
            "azure/webshop-azure",
            "gcp/webshop-gcp"
        ]
    );
    for (dir, files) in &modules {
        insta::assert_snapshot!(
            format!("webshop__{}", dir.replace('/', "__")),
            render(files)
        );
    }
}

#[test]
fn voiceassist_modules() {
    let modules = example("voiceassist");
    assert_eq!(
        modules.keys().collect::<Vec<_>>(),
        [
            "aws/voiceassist-aws",
            "azure/voiceassist-azure",
            "gcp/voiceassist-gcp"
        ]
    );
    for (dir, files) in &modules {
        insta::assert_snapshot!(
            format!("voiceassist__{}", dir.replace('/', "__")),
            render(files)
        );
    }
}

/// Seed 000's clusters as its Terraform declares them: EKS t3.medium 1–10 desired 3, GKE
/// e2-standard-2 1–10, AKS Standard_D2s_v3 1–10. (examples/webshop raises the GKE and AKS
/// maxima so its autoscalers' peak fits, see its comments; the modules follow the spec.)
const SEED_000: &str = r#"
platform webshop {
    labels team=sre cost-center=cc-12345
}

cloud aws {
    region us-west-2
    state bucket=webshop-tf-state key=webshop region=us-west-2 dynamodb-table=webshop-tf-lock
    cluster webshop-aws {
        node-pool general instance-type=t3.medium min=1 max=10 desired=3
    }
}

cloud gcp {
    project company-webshop
    region us-west1
    state bucket=webshop-tf-state-gcp prefix=webshop
    cluster webshop-gcp {
        node-pool general machine-type=e2-standard-2 min=1 max=10 desired=3
    }
}

cloud azure {
    location westus2
    resource-group rg-webshop
    state resource-group=rg-tfstate storage-account=webshoptfstate container=tfstate key=webshop.tfstate
    cluster webshop-azure {
        node-pool default vm-size=Standard_D2s_v3 min=1 max=10 desired=3
    }
}

environment production profile=production {
    namespace production
    deploy-to aws gcp azure
}

service webapp {
    image webapp tag="2.3.1"
    port http 8080
    resources cpu="250m..500m" memory="256Mi..512Mi"
    probe readiness http="/health" port=http
    replicas 3
}
"#;

#[test]
fn the_seed_clusters_become_three_modules() {
    let modules = modules("seed-000.kdl", SEED_000);
    assert_eq!(
        modules.keys().collect::<Vec<_>>(),
        ["aws/webshop-aws", "azure/webshop-azure", "gcp/webshop-gcp"]
    );
    let eks = &modules["aws/webshop-aws"]["main.tf"];
    let general = section(eks, "resource \"aws_eks_node_group\" \"general\"");
    for line in [
        "instance_types  = [\"t3.medium\"]",
        "capacity_type   = \"ON_DEMAND\"",
        "min_size     = 1",
        "max_size     = 10",
        "desired_size = 3",
    ] {
        assert!(
            general.contains(line),
            "EKS general pool lacks `{line}`:\n{general}"
        );
    }
    let gke = &modules["gcp/webshop-gcp"]["main.tf"];
    let pool = section(gke, "resource \"google_container_node_pool\" \"general\"");
    for line in [
        "machine_type    = \"e2-standard-2\"",
        "total_min_node_count = 1",
        "total_max_node_count = 10",
        "spot            = false",
    ] {
        assert!(pool.contains(line), "GKE pool lacks `{line}`:\n{pool}");
    }
    let aks = &modules["azure/webshop-azure"]["main.tf"];
    let cluster = section(aks, "resource \"azurerm_kubernetes_cluster\" \"this\"");
    for line in [
        "name                 = \"default\"",
        "vm_size              = \"Standard_D2s_v3\"",
        "auto_scaling_enabled = true",
        "min_count            = 1",
        "max_count            = 10",
        "node_count           = 3",
    ] {
        assert!(
            cluster.contains(line),
            "AKS default pool lacks `{line}`:\n{cluster}"
        );
    }
    for (dir, files) in &modules {
        let versions = &files["versions.tf"];
        let pin = match dir.split('/').next() {
            Some("aws") => "source  = \"hashicorp/aws\"\n      version = \"~> 6.0\"",
            Some("gcp") => "source  = \"hashicorp/google\"\n      version = \"~> 6.0\"",
            _ => "source  = \"hashicorp/azurerm\"\n      version = \"~> 4.0\"",
        };
        assert!(versions.contains(pin), "{dir}: {versions}");
        assert!(versions.contains("required_version = \">= 1.11\""));
        // Tags: the platform's team and cost-center.
        let tagged = if dir.starts_with("aws") {
            &files["providers.tf"]
        } else {
            &files["main.tf"]
        };
        assert!(tagged.contains("\"cost-center\" = \"cc-12345\""), "{dir}");
        assert!(tagged.contains("\"team\"        = \"sre\""), "{dir}");
    }
    let backend = |dir: &str| modules[dir]["backend.tf"].clone();
    assert!(backend("aws/webshop-aws").contains("backend \"s3\""));
    assert!(backend("aws/webshop-aws").contains("key          = \"webshop/webshop-aws.tfstate\""));
    assert!(backend("aws/webshop-aws").contains("dynamodb_table = \"webshop-tf-lock\""));
    assert!(backend("gcp/webshop-gcp").contains("backend \"gcs\""));
    assert!(backend("gcp/webshop-gcp").contains("prefix = \"webshop/webshop-gcp\""));
    assert!(backend("azure/webshop-azure").contains("backend \"azurerm\""));
    assert!(
        backend("azure/webshop-azure")
            .contains("key                  = \"webshop/webshop-azure.tfstate\"")
    );
    assert_fmt_clean("seed-000", &modules);
}

/// `text` with every run of spaces made one, to find attributes whatever their alignment.
fn squash(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !(c == ' ' && out.ends_with(' ')) {
            out.push(c);
        }
    }
    out
}

/// The text of the top-level block starting with `header`.
fn section<'a>(text: &'a str, header: &str) -> &'a str {
    let start = text.find(header).unwrap_or_else(|| panic!("no `{header}`"));
    let end = text[start..]
        .find("\n}\n")
        .map_or(text.len(), |end| start + end + 3);
    &text[start..end]
}

/// Hardened defaults (issue 10): private endpoints, encryption at rest, logging on.
#[test]
fn defaults_are_hardened() {
    let modules = example("webshop");
    let eks = &modules["aws/webshop-aws"]["main.tf"];
    for line in [
        "endpoint_private_access = true",
        "endpoint_public_access  = false",
        "resources = [\"secrets\"]",
        "enable_key_rotation     = true",
        "enabled_cluster_log_types = [\"api\", \"audit\", \"authenticator\", \"controllerManager\", \"scheduler\"]",
    ] {
        assert!(eks.contains(line), "EKS lacks `{line}`");
    }
    let gke = &modules["gcp/webshop-gcp"]["main.tf"];
    for line in [
        "enable_private_nodes    = true",
        "enable_private_endpoint = true",
        "state    = \"ENCRYPTED\"",
        "deletion_protection      = true",
        "remove_default_node_pool = true",
        "workload_pool = \"${var.project}.svc.id.goog\"",
        "datapath_provider        = \"ADVANCED_DATAPATH\"",
        "\"APISERVER\"",
    ] {
        assert!(gke.contains(line), "GKE lacks `{line}`");
    }
    let aks = &modules["azure/webshop-azure"]["main.tf"];
    for line in [
        "private_cluster_enabled           = true",
        "local_account_disabled            = true",
        "network_policy      = \"calico\"",
        "category = \"kube-audit-admin\"",
        "type = \"SystemAssigned\"",
    ] {
        assert!(aks.contains(line), "AKS lacks `{line}`");
    }
}

// ---------------------------------------------------------------------------------------
// Terraform itself: formatting and reading values back.

fn terraform() -> Command {
    let mut command = Command::new("terraform");
    command
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1");
    command
}

/// Fails (never skips) when terraform is missing.
fn require_terraform() {
    let found = terraform().arg("version").output();
    assert!(
        found.is_ok_and(|output| output.status.success()),
        "these tests need `terraform` on PATH (CI installs it; see README)"
    );
}

fn write_modules(
    root: &Path,
    modules: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for (dir, files) in modules {
        let path = root.join(dir);
        std::fs::create_dir_all(&path).expect("create module dir");
        for (file, text) in files {
            std::fs::write(path.join(file), text).expect("write module file");
        }
        dirs.push(path);
    }
    dirs
}

fn assert_fmt_clean(name: &str, modules: &BTreeMap<String, BTreeMap<String, String>>) {
    require_terraform();
    assert!(!modules.is_empty(), "{name}: no Terraform modules");
    let root = tempfile::tempdir().expect("tempdir");
    for dir in write_modules(root.path(), modules) {
        let output = terraform()
            .arg(format!("-chdir={}", dir.display()))
            .args(["fmt", "-check", "-diff", "-no-color"])
            .output()
            .expect("run terraform fmt");
        assert!(
            output.status.success(),
            "{name}: terraform fmt -check fails in {}:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Every optional branch of every template: public endpoints, existing networks, no state,
/// spot pools with labels and taints, disk sizes, and a second AKS cluster.
const VARIATIONS: &str = r#"
platform shop {
    labels team=platform cost-center=cc-1 "example.com/owner"=web
}

cloud aws {
    region eu-west-1
    cluster lookup {
        kubernetes "1.33"
        endpoint private=#true public=#true public-cidrs="203.0.113.0/24, 198.51.100.7/32"
        network vpc-id=vpc-0abc
        node-pool general instance-type=m6i.large min=2 max=6 desired=3 disk-size=80
        node-pool gpu instance-type=g5.xlarge min=0 max=2 capacity=spot taint="nvidia.com/gpu:NoSchedule" {
            labels accelerator=nvidia "example.com/tier"=batch
            taint "dedicated=gpu:NoExecute"
        }
    }
    cluster given {
        endpoint private=#false public=#true public-cidrs="10.0.0.0/8"
        network subnet-ids="subnet-1,subnet-2"
        node-pool general instance-type=m6i.large min=1 max=3
    }
    cluster inputs {
        network create=#false
        node-pool general instance-type=m6i.large min=1 max=3
    }
}

cloud gcp {
    project shop-prod
    region europe-west1
    state bucket=shop-state
    cluster made {
        release-channel stable
        endpoint public=#true public-cidrs="198.51.100.0/24"
        network create=#true cidr="10.30.0.0/20" name=shop-net
        node-pool general machine-type=n2-standard-4 min=1 max=9 desired=4 disk-size=100
        node-pool spot machine-type=n2-standard-4 min=0 max=20 capacity=spot taint="spot=true:PreferNoSchedule" {
            labels pool=spot
        }
    }
    cluster inputs {
        network create=#false
        node-pool general machine-type=n2-standard-4 min=1 max=3
    }
}

cloud azure {
    location westeurope
    resource-group rg-shop
    state storage-account=shopstate container=tfstate
    cluster alpha {
        endpoint public=#true public-cidrs="203.0.113.0/24"
        network plugin=azure policy=cilium
        node-pool apps vm-size=Standard_D4s_v5 min=1 max=5 disk-size=128 {
            labels tier=apps
        }
        node-pool system vm-size=Standard_D2s_v5 min=1 max=3
        node-pool spot vm-size=Standard_D4s_v5 min=0 max=10 capacity=spot taint="kubernetes.azure.com/scalesetpriority=spot:NoSchedule"
    }
    cluster beta {
        network subnet-ids="/subscriptions/0000/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/aks" plugin=kubenet policy=calico
        node-pool default vm-size=Standard_D2s_v5 min=1 max=3
    }
    cluster gamma {
        network plugin=none
        node-pool default vm-size=Standard_D2s_v5 min=1 max=3
    }
}

environment dev profile=development {
    namespace shop-dev
    deploy-to aws gcp azure
    cluster aws=lookup gcp=made azure=alpha
}

service web {
    image shop-web tag="1.0.0"
    port http 8080
    resources cpu="250m..1" memory="256Mi..512Mi"
    probe readiness http="/healthz" port=http
}
"#;

#[test]
fn examples_are_fmt_clean() {
    assert_fmt_clean("webshop", &example("webshop"));
    assert_fmt_clean("voiceassist", &example("voiceassist"));
    let starter = std::fs::read_to_string("templates/init.kdl").expect("starter readable");
    assert_fmt_clean("starter", &modules("templates/init.kdl", &starter));
}

#[test]
fn every_template_branch_is_fmt_clean() {
    let modules = modules("variations.kdl", VARIATIONS);
    assert_eq!(modules.len(), 8, "{:?}", modules.keys().collect::<Vec<_>>());
    let lookup = &modules["aws/lookup"];
    assert!(lookup["main.tf"].contains("data \"aws_subnets\" \"private\""));
    assert!(lookup["main.tf"].contains("public_access_cidrs     = var.public_access_cidrs"));
    assert!(
        lookup["variables.tf"].contains("default     = [\"203.0.113.0/24\", \"198.51.100.7/32\"]")
    );
    // A taint without a value has no `value`.
    assert!(
        lookup["main.tf"].contains("key    = \"nvidia.com/gpu\"\n    effect = \"NO_SCHEDULE\"")
    );
    // The prefixed platform label is an AWS tag, but neither a GCP label nor an Azure tag.
    assert!(lookup["providers.tf"].contains("\"example.com/owner\" = \"web\""));
    assert!(!modules["gcp/made"]["providers.tf"].contains("example.com/owner"));
    assert!(!modules["azure/alpha"]["main.tf"].contains("example.com/owner"));
    assert!(lookup["backend.tf"].contains("keeps its state in a local"));
    assert!(
        modules["aws/given"]["variables.tf"].contains("default     = [\"subnet-1\", \"subnet-2\"]")
    );
    assert!(!squash(&modules["aws/inputs"]["variables.tf"]).contains("default = ["));
    let beta = &modules["azure/beta"]["main.tf"];
    assert!(beta.contains("data \"azurerm_resource_group\" \"this\""));
    assert!(squash(beta).contains("network_plugin = \"kubenet\""));
    let alpha = &modules["azure/alpha"]["main.tf"];
    assert!(alpha.contains("resource \"azurerm_resource_group\" \"this\""));
    assert!(
        alpha.contains("name                 = \"system\""),
        "the system pool is `system`"
    );
    assert!(alpha.contains("network_data_plane  = \"cilium\""));
    let spot = section(
        alpha,
        "resource \"azurerm_kubernetes_cluster_node_pool\" \"spot\"",
    );
    for line in [
        "priority              = \"Spot\"",
        "eviction_policy       = \"Delete\"",
        "spot_max_price        = -1",
        "node_taints           = [\"kubernetes.azure.com/scalesetpriority=spot:NoSchedule\"]",
    ] {
        assert!(spot.contains(line), "AKS spot pool lacks `{line}`:\n{spot}");
    }
    assert!(!modules["azure/gamma"]["main.tf"].contains("network_policy"));
    assert_fmt_clean("variations", &modules);
}

/// Spec values full of HCL specials.
const NASTY: &str = "x${var.region}y%{ if true }z\"q\\w\nnl$${lit}%%{lit}\t$";

fn kdl_string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn nasty_spec() -> String {
    let nasty = kdl_string(NASTY);
    format!(
        r#"
platform shop {{
    labels team=platform
}}

cloud aws {{
    region {nasty}
    state bucket={nasty} key={nasty}
    cluster eks {{
        endpoint public=#true public-cidrs={nasty}
        network vpc-id={nasty}
        node-pool general instance-type={nasty} min=1 max=3
    }}
}}

cloud gcp {{
    project {nasty}
    region {nasty}
    state bucket={nasty} prefix={nasty}
    cluster gke {{
        network name={nasty} subnetwork={nasty}
        node-pool general machine-type={nasty} min=1 max=3
    }}
}}

cloud azure {{
    location {nasty}
    resource-group {nasty}
    state resource-group={nasty} storage-account={nasty} container={nasty} key={nasty}
    cluster aks {{
        network subnet-ids={nasty}
        node-pool general vm-size={nasty} min=1 max=3
    }}
}}

environment dev profile=development {{
    namespace shop-dev
    deploy-to aws
}}

service web {{
    image shop-web tag="1.0.0"
    port http 8080
    resources cpu="250m..1" memory="256Mi..512Mi"
    probe readiness http="/healthz" port=http
}}
"#
    )
}

/// The right-hand side of the first `name = …` attribute line in `text`.
fn attribute<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == name).then_some(value.trim())
        })
        .unwrap_or_else(|| panic!("no `{name} = …` in:\n{text}"))
}

/// Evaluates HCL expressions with `terraform console` in `dir` (whose `.tf` files it
/// loads) and returns their values as JSON.
fn evaluate(dir: &Path, expressions: &[(&str, String)]) -> serde_json::Value {
    let object: Vec<String> = expressions
        .iter()
        .map(|(key, expression)| format!("{key} = {expression}"))
        .collect();
    let input = format!("base64encode(jsonencode({{ {} }}))\n", object.join(", "));
    let mut child = terraform()
        .arg(format!("-chdir={}", dir.display()))
        .args(["console", "-no-color"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run terraform console");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("write to console");
    }
    let output = child.wait_with_output().expect("console finished");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let encoded = stdout
        .lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix('"')?.strip_suffix('"'))
        .unwrap_or_else(|| {
            panic!(
                "terraform console printed no string for {input}\nstdout:\n{stdout}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let json = base64_decode(encoded);
    serde_json::from_slice(&json).expect("console printed JSON")
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes().filter(|byte| *byte != b'=') {
        let value = ALPHABET
            .iter()
            .position(|known| *known == byte)
            .unwrap_or_else(|| panic!("`{}` is not base64", byte as char));
        bits = (bits << 6) | value as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

/// A module, a file, the (name, field) list checks and the variable names to read back.
type InjectionCheck<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>);

/// Values with `${`, `%{`, quotes, backslashes, tabs and newlines come out as literal
/// strings: Terraform reads each back as exactly the spec's value.
#[test]
fn spec_values_cannot_inject_hcl() {
    require_terraform();
    let modules = modules("nasty.kdl", &nasty_spec());
    assert_fmt_clean("nasty", &modules);
    let root = tempfile::tempdir().expect("tempdir");
    write_modules(root.path(), &modules);
    let expected = serde_json::Value::String(NASTY.to_owned());
    let expected_list = serde_json::json!([NASTY]);
    let checks: [InjectionCheck; 3] = [
        (
            "aws/eks",
            "main.tf",
            vec![("instance", "instance_types")],
            vec!["region", "vpc_id", "public_access_cidrs"],
        ),
        (
            "gcp/gke",
            "main.tf",
            vec![("machine", "machine_type")],
            vec!["project", "region", "network", "subnetwork"],
        ),
        (
            "azure/aks",
            "main.tf",
            vec![("vm", "vm_size")],
            vec!["location", "resource_group", "subnet_id"],
        ),
    ];
    for (dir, file, attributes, variables) in checks {
        // The module's variables (its other files need providers, so only variables.tf is
        // loaded), plus literal attributes of main.tf and the backend, evaluated as
        // expressions.
        let scratch = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            scratch.path().join("variables.tf"),
            &modules[dir]["variables.tf"],
        )
        .expect("copy variables.tf");
        let mut expressions: Vec<(&str, String)> = variables
            .iter()
            .map(|name| (*name, format!("var.{name}")))
            .collect();
        for (key, name) in &attributes {
            expressions.push((key, attribute(&modules[dir][file], name).to_owned()));
        }
        let backend = &modules[dir]["backend.tf"];
        let backend_keys: &[&str] = match dir {
            "aws/eks" => &["bucket", "region"],
            "gcp/gke" => &["bucket"],
            _ => &[
                "resource_group_name",
                "storage_account_name",
                "container_name",
            ],
        };
        for key in backend_keys {
            expressions.push((key, attribute(backend, key).to_owned()));
        }
        let values = evaluate(scratch.path(), &expressions);
        for (key, _) in &expressions {
            let value = &values[*key];
            let list = *key == "instance" || *key == "public_access_cidrs";
            let wanted = if list { &expected_list } else { &expected };
            assert_eq!(value, wanted, "{dir}: `{key}` was not read back literally");
        }
        // State paths embed the value too: `<key>/<cluster>.tfstate`.
        let path_key = if dir == "gcp/gke" { "prefix" } else { "key" };
        let path = evaluate(
            scratch.path(),
            &[("path", attribute(backend, path_key).to_owned())],
        );
        let cluster = dir.rsplit('/').next().unwrap_or_default();
        let suffix = if dir == "gcp/gke" {
            format!("/{cluster}")
        } else {
            format!("/{cluster}.tfstate")
        };
        assert_eq!(
            path["path"],
            serde_json::Value::String(format!("{NASTY}{suffix}"))
        );
    }
}

// ---------------------------------------------------------------------------------------
// Template overrides through the CLI.

fn manifold() -> Command {
    Command::new(env!("CARGO_BIN_EXE_manifold"))
}

#[test]
fn a_user_template_replaces_a_built_in_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(templates.join("terraform/aws")).expect("mkdir");
    std::fs::write(
        templates.join("terraform/aws/versions.tf.j2"),
        "# {{ generated | comment }}\n# pinned by the platform team\nterraform {\nrequired_version = \"= 1.11.4\"\nrequired_providers {\naws = {\nsource = \"hashicorp/aws\"\nversion = \"6.25.0\"\n}\n}\n}\n",
    )
    .expect("write template");
    std::fs::write(templates.join("README.md"), "not a template\n").expect("write readme");
    let out = dir.path().join("out");
    let output = manifold()
        .args(["compile", "examples/webshop/platform.kdl", "--out"])
        .arg(&out)
        .arg("--templates")
        .arg(&templates)
        .output()
        .expect("run manifold");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let versions = std::fs::read_to_string(out.join("terraform/aws/webshop-aws/versions.tf"))
        .expect("versions.tf written");
    assert!(versions.contains("# pinned by the platform team\n"));
    // The built-in layout rules still apply to the user's template.
    assert!(
        versions.contains(
            "    aws = {\n      source  = \"hashicorp/aws\"\n      version = \"6.25.0\"\n"
        )
    );
    // Other files and other clouds keep the built-in templates.
    let gcp = std::fs::read_to_string(out.join("terraform/gcp/webshop-gcp/versions.tf"))
        .expect("gcp versions.tf");
    assert!(gcp.contains("version = \"~> 6.0\""));
    let main =
        std::fs::read_to_string(out.join("terraform/aws/webshop-aws/main.tf")).expect("main.tf");
    assert!(main.contains("resource \"aws_eks_cluster\" \"this\""));
    // Without the override, the built-in template is back.
    let output = manifold()
        .args(["compile", "examples/webshop/platform.kdl", "--out"])
        .arg(&out)
        .output()
        .expect("run manifold");
    assert!(output.status.success());
    let versions = std::fs::read_to_string(out.join("terraform/aws/webshop-aws/versions.tf"))
        .expect("versions.tf");
    assert!(versions.contains("version = \"~> 6.0\""));
}

#[test]
fn a_broken_user_template_is_an_error_at_its_line_and_nothing_is_written() {
    let cases = [
        ("{{ cluster.nmae }}", "undefined value", 3),
        ("{% if cluster.name %}", "syntax error", 3),
        (
            "{{ cluster.kubernetes | ident }}",
            "not an HCL identifier",
            3,
        ),
    ];
    for (broken, message, line) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let templates = dir.path().join("t");
        std::fs::create_dir_all(templates.join("terraform/gcp")).expect("mkdir");
        let template = templates.join("terraform/gcp/main.tf.j2");
        std::fs::write(&template, format!("# ok\n# still ok\n{broken}\n")).expect("write");
        let out = dir.path().join("out");
        let output = manifold()
            .args([
                "compile",
                "examples/webshop/platform.kdl",
                "--format",
                "json",
                "--out",
            ])
            .arg(&out)
            .arg("--templates")
            .arg(&templates)
            .output()
            .expect("run manifold");
        assert_eq!(output.status.code(), Some(1), "{broken}");
        assert!(!out.exists(), "{broken}: something was written");
        let report: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("JSON report");
        let found = report["diagnostics"]
            .as_array()
            .and_then(|all| all.iter().find(|found| found["severity"] == "error"))
            .unwrap_or_else(|| panic!("no error in {report}"));
        assert_eq!(found["code"], "manifold::template::invalid", "{report}");
        assert_eq!(found["file"], template.display().to_string());
        assert_eq!(found["line"], line, "{report}");
        assert!(
            found["message"].as_str().is_some_and(
                |text| text.contains("terraform/gcp/main.tf.j2") && text.contains(message)
            ),
            "{report}"
        );
    }
}

#[test]
fn a_misnamed_user_template_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let templates = dir.path().join("t");
    std::fs::create_dir_all(templates.join("terraform/aws")).expect("mkdir");
    std::fs::write(templates.join("terraform/aws/mian.tf.j2"), "x\n").expect("write");
    let out = dir.path().join("out");
    let output = manifold()
        .args(["compile", "examples/webshop/platform.kdl", "--out"])
        .arg(&out)
        .arg("--templates")
        .arg(&templates)
        .output()
        .expect("run manifold");
    assert_eq!(output.status.code(), Some(1));
    assert!(!out.exists());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("manifold::template::unknown"), "{stderr}");
    assert!(
        stderr.contains("did you mean `terraform/aws/main.tf.j2`?"),
        "{stderr}"
    );
}

#[test]
fn a_missing_templates_directory_is_an_environment_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = manifold()
        .args(["compile", "examples/webshop/platform.kdl", "--out"])
        .arg(dir.path().join("out"))
        .arg("--templates")
        .arg(dir.path().join("nowhere"))
        .output()
        .expect("run manifold");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("templates directory"));
}

// ---------------------------------------------------------------------------------------
// The cluster checks stay quiet on specs that are fine (the triggering specs are in
// tests/bad/300-*.kdl and following).

fn terraform_codes(name: &str, text: &str) -> Vec<String> {
    pipeline::compile(name, text, Stop::AfterChecks)
        .diagnostics
        .iter()
        .filter(|found| found.code.starts_with("manifold::terraform::"))
        .map(|found| format!("{}: {}", found.code, found.message))
        .collect()
}

#[test]
fn the_checks_accept_the_examples_and_the_variations() {
    for spec in [
        "examples/webshop/platform.kdl",
        "examples/voiceassist/platform.kdl",
        "templates/init.kdl",
    ] {
        let text = std::fs::read_to_string(spec).expect("readable");
        assert_eq!(terraform_codes(spec, &text), Vec::<String>::new(), "{spec}");
    }
    // Public endpoints with CIDRs, existing networks, valid taints, AKS pools with valid
    // names: only the prefixed platform label is reported, where it cannot be applied.
    assert_eq!(
        terraform_codes("variations.kdl", VARIATIONS),
        [
            "manifold::terraform::cloud-label: platform label `example.com/owner=web` is not among the labels of cloud `gcp`'s resources",
            "manifold::terraform::cloud-label: platform label `example.com/owner=web` is not among the tags of cloud `azure`'s resources",
        ]
    );
}

#[test]
fn near_misses_do_not_trigger_the_checks() {
    let base = |cluster: &str, service: &str| {
        format!(
            r#"
platform shop {{ labels team=platform; }}
cloud aws {{
    region eu-west-1
    state bucket=b key=k region=eu-west-1
    {cluster}
}}
environment dev profile=development {{ namespace shop-dev; deploy-to aws; }}
service db {{
    kind stateful
    image postgres tag="16.4"
    port pg 5432
    resources cpu="500m..1" memory="1Gi..2Gi"
    storage "10Gi" mount="/data"
    {service}
}}
"#
        )
    };
    let cases = [
        // The oldest and newest supported EKS versions.
        (
            r#"cluster c { kubernetes "1.29"; node-pool a instance-type=t3.large min=1 max=3; }"#,
            "",
        ),
        (
            r#"cluster c { kubernetes "1.34"; node-pool a instance-type=t3.large min=1 max=3; }"#,
            "",
        ),
        // A stateful service pinned to the on-demand pool of a cluster that also has spot.
        (
            r#"cluster c { node-pool a instance-type=t3.large min=1 max=3; node-pool s instance-type=t3.large min=0 max=3 capacity=spot; }"#,
            "node-pool a",
        ),
        // Only a private endpoint; a public one limited by CIDRs.
        (
            r#"cluster c { endpoint private=#true public=#false; node-pool a instance-type=t3.large min=1 max=3; }"#,
            "",
        ),
        (
            r#"cluster c { endpoint private=#false public=#true public-cidrs="192.0.2.0/24"; node-pool a instance-type=t3.large min=1 max=3; }"#,
            "",
        ),
        // A taint without a value, min 0 (allowed outside AKS's system pool), a /24 VPC.
        (
            r#"cluster c { network create=#true cidr="10.0.0.0/24" zones=2; node-pool a instance-type=t3.large min=0 max=3 taint="dedicated:NoSchedule"; node-pool b instance-type=t3.large min=1 max=2; }"#,
            "",
        ),
    ];
    for (cluster, service) in cases {
        let spec = base(cluster, service);
        assert_eq!(
            terraform_codes("near-miss.kdl", &spec),
            Vec::<String>::new(),
            "{spec}"
        );
    }
}

/// A service's `node-pool` becomes a nodeSelector on the provider's pool label and
/// tolerations of the pool's taints (AKS's own spot taint included, once) in each target's
/// workload patch; the bases stay unpinned.
#[test]
fn a_node_pool_pins_the_pods_and_tolerates_the_pools_taints() {
    let text = VARIATIONS.replace(
        "    probe readiness http=\"/healthz\" port=http\n}",
        "    probe readiness http=\"/healthz\" port=http\n    in dev cloud=aws { node-pool gpu; }\n    in dev cloud=gcp { node-pool spot; }\n    in dev cloud=azure { node-pool spot; }\n}",
    );
    let compilation = pipeline::compile("platform.kdl", &text, Stop::AfterEmit);
    let tree = compilation.tree.as_ref().unwrap_or_else(|| {
        panic!("did not compile: {:#?}", compilation.diagnostics);
    });
    let pod = |path: &str| -> serde_json::Value {
        let bytes = &tree.files()[path];
        let patch: serde_json::Value =
            serde_saphyr::from_str(std::str::from_utf8(bytes).expect("UTF-8")).expect("YAML");
        patch["spec"]["template"]["spec"].clone()
    };
    let aws = pod("kubernetes/overlays/dev/aws/patches/web.yaml");
    assert_eq!(
        aws["nodeSelector"],
        serde_json::json!({ "eks.amazonaws.com/nodegroup": "gpu" })
    );
    assert_eq!(
        aws["tolerations"],
        serde_json::json!([
            { "key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule" },
            { "key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoExecute" },
        ])
    );
    let gcp = pod("kubernetes/overlays/dev/gcp/patches/web.yaml");
    assert_eq!(
        gcp["nodeSelector"],
        serde_json::json!({ "cloud.google.com/gke-nodepool": "spot" })
    );
    assert_eq!(
        gcp["tolerations"],
        serde_json::json!([{ "key": "spot", "operator": "Equal", "value": "true", "effect": "PreferNoSchedule" }])
    );
    let azure = pod("kubernetes/overlays/dev/azure/patches/web.yaml");
    assert_eq!(
        azure["nodeSelector"],
        serde_json::json!({ "kubernetes.azure.com/agentpool": "spot" })
    );
    assert_eq!(
        azure["tolerations"],
        serde_json::json!([{ "key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal", "value": "spot", "effect": "NoSchedule" }])
    );
    let base = std::str::from_utf8(&tree.files()["kubernetes/base/web/deployment.yaml"])
        .expect("UTF-8")
        .to_owned();
    assert!(!base.contains("nodeSelector"), "{base}");
}
