//! Injection (issue 10): spec values full of YAML and HCL specials (`: `, `#`, `{{`, `${`,
//! `%{`, quotes, newlines, `yes`/`on`/`0755`, …) come out as exactly the same strings when the
//! output is read back by real parsers:
//!
//! - YAML by PyYAML, a YAML 1.1 reader like kubectl's (`yes`, `on`, `0755`, dates and `~` are
//!   booleans, octal numbers, timestamps and null there unless quoted);
//! - HCL by Go's HCL (`@cdktf/hcl2json`), whose JSON keeps templates in HCL's JSON syntax, where
//!   a literal `${`/`%{` is written `$${`/`%%{`: the test requires every `${` and `%{` to be
//!   escaped (no live interpolation) and the unescaped text to equal the spec's value.
//!
//! Values come from a small deterministic generator (every special alone, then seeded
//! combinations); no proptest dependency. Both readers come from the oracles
//! (`$ORACLES_CACHE`, default `~/.cache/infra-oracles`, installed by `scripts/oracles.sh
//! --install`, which `.ci/run` runs before the tests); a missing reader fails the test.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use manifold::output::Tree;
use manifold::pipeline::{self, Stop};
use serde_json::Value;

/// The specials, each a whole value on its own and a part of combined ones.
const SPECIALS: &[&str] = &[
    ": ",
    "#",
    " #c",
    "{{ x }}",
    "${var.region}",
    "%{ if true }",
    "'",
    "\"",
    "\n",
    "\t",
    "\\",
    "yes",
    "on",
    "no",
    "off",
    "y",
    "n",
    "true",
    "NULL",
    "null",
    "~",
    "0755",
    "0x1F",
    "1e3",
    "1_000",
    ".inf",
    "2001-12-14",
    "12:30:00",
    "- ",
    "? ",
    "&a",
    "*a",
    "!tag",
    "|",
    ">",
    "%",
    "@",
    "`",
    "[",
    "]",
    "{",
    "}",
    ",",
    "<<",
    "---",
    "...",
    " lead",
    "trail ",
    "=",
    "$${lit}",
    "%%{lit}",
    "é",
    "\u{2028}",
];

/// Label values and DNS names a YAML 1.1 reader would take for something else.
const SCALAR_LOOKALIKES: &[&str] = &[
    "yes", "no", "on", "off", "y", "n", "true", "false", "null", "0755", "0x1f", "1e3", "12e1",
    "0o17", "1", "007",
];

/// A deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// Every special alone, then `combined` values of 2–4 specials and letters.
fn values(combined: usize) -> Vec<String> {
    let mut rng = Rng(0x1010_2024);
    let mut values: Vec<String> = SPECIALS.iter().map(|s| (*s).to_owned()).collect();
    for _ in 0..combined {
        let mut value = String::new();
        for _ in 0..2 + rng.below(3) {
            value.push_str(SPECIALS[rng.below(SPECIALS.len())]);
            if rng.below(2) == 0 {
                value.push_str(["a", "b1", "x-y", " "][rng.below(4)]);
            }
        }
        values.push(value);
    }
    values
}

/// `value` as a KDL v2 quoted string.
fn kdl_string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\u{2028}' => out.push_str("\\u{2028}"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn compile(text: &str) -> Tree {
    let compilation = pipeline::compile("injection.kdl", text, Stop::AfterEmit);
    compilation.tree.unwrap_or_else(|| {
        panic!(
            "the spec does not compile: {:#?}\n{text}",
            compilation
                .diagnostics
                .iter()
                .map(|d| format!("{} {}", d.code, d.message))
                .collect::<Vec<_>>()
        )
    })
}

fn oracles_cache() -> PathBuf {
    std::env::var_os("ORACLES_CACHE").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/infra-oracles"),
        PathBuf::from,
    )
}

/// Reads every `.yaml` file of `tree` with PyYAML's `safe_load_all` (YAML 1.1). Scalars that
/// are not strings come back as `{"!": type, "value": repr}`, so a string that turned into a
/// boolean, number, timestamp or null can never compare equal to the spec's value.
fn read_yaml(tree: &Tree) -> BTreeMap<String, Vec<Value>> {
    let python = oracles_cache().join("venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: install the oracles (bash scripts/oracles.sh --install) — this test does not skip",
        python.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = Vec::new();
    for (path, bytes) in tree.files() {
        if path.ends_with(".yaml") {
            let file = dir.path().join(path.replace('/', "__"));
            std::fs::write(&file, bytes).unwrap();
            paths.push((path.clone(), file));
        }
    }
    let list = dir.path().join("files.json");
    let pairs: Vec<(String, String)> = paths
        .iter()
        .map(|(path, file)| (path.clone(), file.display().to_string()))
        .collect();
    std::fs::write(&list, serde_json::to_vec(&pairs).unwrap()).unwrap();
    let script = r#"
import json, sys, yaml
def plain(node):
    if isinstance(node, dict):
        return {str(k) if isinstance(k, str) else json.dumps(plain(k)): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, str):
        return node
    return {"!": type(node).__name__, "value": repr(node)}
out = {}
for path, file in json.load(open(sys.argv[1])):
    with open(file, encoding="utf-8") as handle:
        out[path] = [plain(doc) for doc in yaml.safe_load_all(handle)]
json.dump(out, sys.stdout)
"#;
    let output = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&list)
        .output()
        .expect("run PyYAML");
    assert!(
        output.status.success(),
        "PyYAML could not read the output: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("PyYAML's JSON")
}

/// Reads every `.tf` file of `tree` with Go's HCL parser (`@cdktf/hcl2json`).
fn read_hcl(tree: &Tree) -> BTreeMap<String, Value> {
    let modules = oracles_cache().join("node/node_modules/@cdktf/hcl2json");
    assert!(
        modules.exists(),
        "{} is missing: install the oracles (bash scripts/oracles.sh --install) — this test does not skip",
        modules.display()
    );
    let files: BTreeMap<&String, String> = tree
        .files()
        .iter()
        .filter(|(path, _)| path.ends_with(".tf"))
        .map(|(path, bytes)| (path, String::from_utf8_lossy(bytes).into_owned()))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("files.json");
    std::fs::write(&input, serde_json::to_vec(&files).unwrap()).unwrap();
    let script = r#"
const { parse } = require(process.argv[1]);
const files = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
(async () => {
  const out = {};
  for (const [path, text] of Object.entries(files)) out[path] = await parse(path, text);
  process.stdout.write(JSON.stringify(out));
})().catch((error) => { console.error(error); process.exit(1); });
"#;
    let output = Command::new("node")
        .arg("-e")
        .arg(script)
        .arg(&modules)
        .arg(&input)
        .output()
        .expect("run node (hcl2json)");
    assert!(
        output.status.success(),
        "HCL could not read the output: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("hcl2json's JSON")
}

/// A string of HCL's JSON syntax (a template) as the literal it denotes; `None` if it holds
/// a live `${` or `%{` (an interpolation or directive: injected code).
fn hcl_literal(template: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("$${") || rest.starts_with("%%{") {
            out.push_str(&rest[1..3]);
            rest = &rest[3..];
        } else if rest.starts_with("${") || rest.starts_with("%{") {
            return None;
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    Some(out)
}

fn spec_header(extra_platform: &str, region: &str, instance: &str) -> String {
    format!(
        r#"platform shop {{
    repo "https://git.example.com/platform/shop-gitops.git" branch=main
    registry "ghcr.io/example"
{extra_platform}}}

cloud aws {{
    region {region}
    cluster shop-eks {{
        kubernetes "1.31"
        node-pool general instance-type={instance} min=2 max=6 desired=3
    }}
}}

environment dev profile=development {{
    namespace shop-dev
    deploy-to aws
}}
"#
    )
}

fn documents<'a>(yaml: &'a BTreeMap<String, Vec<Value>>, path: &str) -> &'a [Value] {
    yaml.get(path)
        .unwrap_or_else(|| panic!("no {path} among {:?}", yaml.keys().collect::<Vec<_>>()))
}

/// Env values, args, exec probes and annotations (platform and service) hold every value.
#[test]
fn issue_10_yaml_specials_round_trip_in_env_args_probes_and_annotations() {
    let values = values(150);
    let mut service = String::from(
        "service web {\n    image web tag=\"1.0.0\"\n    port http 8080\n    replicas 1\n",
    );
    let mut env = BTreeMap::new();
    for (index, value) in values.iter().enumerate() {
        let name = format!("INJ_{index}");
        let _ = writeln!(service, "    env {name}={}", kdl_string(value));
        env.insert(name, value.clone());
    }
    let args: Vec<String> = values.iter().map(|v| kdl_string(v)).collect();
    let _ = writeln!(service, "    args {}", args.join(" "));
    // exec probes run `sh -c <value>`
    let probe = &values[values.len() - 1];
    let _ = writeln!(service, "    probe readiness exec={}", kdl_string(probe));
    let _ = writeln!(
        service,
        "    annotations \"example.com/svc\"={}",
        kdl_string(&values[0])
    );
    service.push_str("}\n");
    let mut platform_annotations = String::new();
    for (index, value) in values.iter().enumerate().take(40) {
        let _ = writeln!(
            platform_annotations,
            "    annotations \"example.com/a{index}\"={}",
            kdl_string(value)
        );
    }
    let text = format!(
        "{}{service}",
        spec_header(&platform_annotations, "eu-west-1", "t3.large")
    );
    let tree = compile(&text);
    let yaml = read_yaml(&tree);
    let deployment = &documents(&yaml, "kubernetes/base/web/deployment.yaml")[0];
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let read_env: BTreeMap<String, Value> = container["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|var| {
            (
                var["name"].as_str().unwrap().to_owned(),
                var["value"].clone(),
            )
        })
        .collect();
    for (name, value) in &env {
        assert_eq!(
            read_env.get(name),
            Some(&Value::String(value.clone())),
            "env {name}"
        );
    }
    let read_args: Vec<Value> = container["args"].as_array().expect("args").clone();
    assert_eq!(
        read_args,
        values
            .iter()
            .map(|v| Value::String(v.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        container["readinessProbe"]["exec"]["command"],
        serde_json::json!(["sh", "-c", probe])
    );
    let annotations = &deployment["metadata"]["annotations"];
    for (index, value) in values.iter().enumerate().take(40) {
        assert_eq!(
            annotations[format!("example.com/a{index}")],
            Value::String(value.clone()),
            "platform annotation {index}"
        );
    }
    assert_eq!(
        annotations["example.com/svc"],
        Value::String(values[0].clone())
    );
}

/// Names (services, namespaces, ports) and label values that look like YAML 1.1 booleans,
/// octal or hex numbers and nulls stay strings everywhere they appear.
#[test]
fn issue_10_yaml_lookalike_names_and_labels_stay_strings() {
    let mut services = String::new();
    let mut labels = String::new();
    for (index, word) in SCALAR_LOOKALIKES.iter().enumerate() {
        let _ = write!(
            services,
            "service {name} {{\n    image app tag={tag}\n    port {port} 8080\n    replicas 1\n    labels tier={label}\n}}\n",
            name = kdl_string(word),
            tag = kdl_string(word),
            port = kdl_string(
                &format!("p{}", word.replace('_', "-"))
                    .chars()
                    .take(15)
                    .collect::<String>()
            ),
            label = kdl_string(word),
        );
        let _ = writeln!(labels, "    labels l{index}={}", kdl_string(word));
    }
    let header = spec_header(&labels, "eu-west-1", "t3.large")
        .replace("namespace shop-dev", "namespace \"0755\"");
    let tree = compile(&format!("{header}{services}"));
    let yaml = read_yaml(&tree);
    let mut seen = 0;
    for word in SCALAR_LOOKALIKES {
        let deployment = &documents(&yaml, &format!("kubernetes/base/{word}/deployment.yaml"))[0];
        assert_eq!(
            deployment["metadata"]["name"],
            Value::String((*word).to_owned())
        );
        let pod = &deployment["spec"]["template"];
        assert_eq!(
            pod["metadata"]["labels"]["tier"],
            Value::String((*word).to_owned())
        );
        assert_eq!(
            pod["spec"]["containers"][0]["image"],
            Value::String(format!("ghcr.io/example/app:{word}"))
        );
        assert_eq!(
            pod["metadata"]["labels"]["app.kubernetes.io/version"],
            Value::String((*word).to_owned())
        );
        seen += 1;
    }
    assert_eq!(seen, SCALAR_LOOKALIKES.len());
    let namespace = &documents(&yaml, "kubernetes/overlays/dev/aws/namespace.yaml")[0];
    assert_eq!(namespace["metadata"]["name"], Value::String("0755".into()));
    let kustomization = &documents(&yaml, "kubernetes/overlays/dev/aws/kustomization.yaml")[0];
    assert_eq!(kustomization["namespace"], Value::String("0755".into()));
    // the platform's labels, which the overlay puts on everything
    let pairs = &kustomization["labels"][0]["pairs"];
    for (index, expected) in SCALAR_LOOKALIKES.iter().enumerate() {
        assert_eq!(
            pairs[format!("l{index}")],
            Value::String((*expected).to_owned())
        );
    }
}

/// Region and instance type (strings that reach HCL) hold every value: Go's HCL reads each
/// back as a literal, never an interpolation or directive.
#[test]
fn issue_10_hcl_specials_round_trip() {
    let values = values(40);
    let mut failures = Vec::new();
    // One spec per value; every module is read back in one run of the parser.
    let mut modules = Tree::new();
    for (index, value) in values.iter().enumerate() {
        let text = format!(
            "{}service web {{\n    image web tag=\"1.0.0\"\n    replicas 1\n}}\n",
            spec_header("", &kdl_string(value), &kdl_string(value))
        );
        let compilation = pipeline::compile("injection.kdl", &text, Stop::AfterEmit);
        let Some(tree) = compilation.tree else {
            failures.push(format!(
                "value {index} {value:?} was refused: {:?}",
                compilation
                    .diagnostics
                    .iter()
                    .map(|d| d.code)
                    .collect::<Vec<_>>()
            ));
            continue;
        };
        for (path, bytes) in tree.files() {
            if path.ends_with(".tf") {
                modules.insert(format!("{index}/{path}"), bytes.clone());
            }
        }
    }
    let hcl = read_hcl(&modules);
    for (index, value) in values.iter().enumerate() {
        let Some(variables) = hcl.get(&format!("{index}/terraform/aws/shop-eks/variables.tf"))
        else {
            continue;
        };
        let region = &variables["variable"]["region"][0]["default"];
        let main = &hcl[&format!("{index}/terraform/aws/shop-eks/main.tf")];
        let pools = &main["resource"]["aws_eks_node_group"];
        let instance = pools
            .as_object()
            .and_then(|pools| pools.values().next())
            .map(|pool| pool[0]["instance_types"][0].clone())
            .unwrap_or_default();
        for (what, read) in [("region", region), ("instance type", &instance)] {
            let literal = read.as_str().and_then(hcl_literal);
            if literal.as_deref() != Some(value.as_str()) {
                failures.push(format!("{what}: {value:?} came back as {read}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
