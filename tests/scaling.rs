//! Scaling and resource governance (issue 3): the objects the examples emit (snapshots and
//! the seed numbers), the checks' non-triggering counterparts of the bad-spec catalogue's
//! `tests/bad/1xx-scaling-*.kdl`, and the CLI's `--deny warnings` and QoS report.

use std::path::Path;
use std::process::Command;

use manifold::diagnostic::Diagnostic;
use manifold::model::Platform;
use manifold::pipeline::{self, Compilation, Stop};
use serde_json::{Value, json};

fn compile(name: &str, text: &str) -> Compilation {
    pipeline::compile(name, text, Stop::AfterEmit)
}

fn example(name: &str) -> Compilation {
    let path = format!("examples/{name}/platform.kdl");
    let text = std::fs::read_to_string(&path).expect("example readable");
    compile(&path, &text)
}

fn model(compilation: &Compilation) -> &Platform {
    compilation.platform.as_ref().expect("a model")
}

/// Every scaling object of a compiled example, plus each overlay's ResourceQuota and
/// LimitRange, under `=== path ===` headers.
fn scaling_objects(compilation: &Compilation) -> String {
    let mut files = manifold::emit::scaling::emit(model(compilation));
    if let Some(tree) = &compilation.tree {
        for (path, bytes) in tree.files() {
            if path.ends_with("/resourcequota.yaml") || path.ends_with("/limitrange.yaml") {
                files.insert(path.clone(), String::from_utf8_lossy(bytes).into_owned());
            }
        }
    }
    let mut out = String::new();
    for (path, text) in files {
        out.push_str(&format!("=== {path} ===\n{text}"));
    }
    out
}

/// The diagnostics of a compilation as `severity code: message` and help (no positions, so
/// edits elsewhere in the shared examples do not churn the snapshot).
fn diagnostics(compilation: &Compilation) -> String {
    compilation
        .diagnostics
        .iter()
        .map(|found| {
            format!(
                "{:?} {}: {}\n  help: {}\n",
                found.severity, found.code, found.message, found.help
            )
        })
        .collect()
}

/// One rendered object of the scaling emitter.
fn object(compilation: &Compilation, path: &str) -> Value {
    let files = manifold::emit::scaling::emit(model(compilation));
    let text = files
        .get(path)
        .unwrap_or_else(|| panic!("{path} was not emitted"));
    serde_saphyr::from_str(text).expect("valid YAML")
}

#[test]
fn voiceassist_scaling_objects() {
    let compilation = example("voiceassist");
    assert!(!compilation.has_errors(), "{}", diagnostics(&compilation));
    insta::assert_snapshot!(scaling_objects(&compilation));
}

#[test]
fn webshop_scaling_objects() {
    let compilation = example("webshop");
    assert!(!compilation.has_errors(), "{}", diagnostics(&compilation));
    insta::assert_snapshot!(scaling_objects(&compilation));
}

/// The examples compile without errors; their warnings are these (a custom-metric HPA needs an
/// adapter: the seeds' metrics are real, so the note is too).
#[test]
fn example_warnings() {
    let mut out = String::new();
    for name in ["voiceassist", "webshop"] {
        let compilation = example(name);
        assert!(!compilation.has_errors(), "{}", diagnostics(&compilation));
        out.push_str(&format!("=== {name} ===\n{}", diagnostics(&compilation)));
    }
    insta::assert_snapshot!(out);
}

/// Seed 002: the api-gateway's HPA and the worker's ScaledObject per environment.
#[test]
fn voiceassist_autoscalers_equal_seed_002() {
    let compilation = example("voiceassist");
    let targets = [
        ("dev", "aws", (1, 3), (1, 2)),
        ("staging", "aws", (2, 6), (1, 3)),
        ("prod", "aws", (3, 15), (2, 8)),
        ("prod", "gcp", (3, 15), (2, 8)),
        ("prod", "azure", (3, 15), (2, 8)),
    ];
    for (env, cloud, (api_min, api_max), (worker_min, worker_max)) in targets {
        let dir = format!("kubernetes/overlays/{env}/{cloud}");
        let hpa = object(&compilation, &format!("{dir}/hpa-api-gateway.yaml"));
        let spec = &hpa["spec"];
        assert_eq!(
            (spec["minReplicas"].as_u64(), spec["maxReplicas"].as_u64()),
            (Some(api_min), Some(api_max)),
            "{env}/{cloud} api-gateway bounds"
        );
        assert_eq!(
            spec["metrics"],
            json!([
                { "type": "Resource", "resource": { "name": "cpu",
                    "target": { "type": "Utilization", "averageUtilization": 70 } } },
                { "type": "Resource", "resource": { "name": "memory",
                    "target": { "type": "Utilization", "averageUtilization": 80 } } },
                { "type": "Pods", "pods": { "metric": { "name": "http_requests_per_second" },
                    "target": { "type": "AverageValue", "averageValue": "100" } } },
            ]),
            "{env}/{cloud} api-gateway metrics"
        );
        // Up 100% every 30 s, at most 2 pods; down 10% every 5 min, at most 1 pod.
        assert_eq!(
            spec["behavior"],
            json!({
                "scaleUp": { "selectPolicy": "Min", "policies": [
                    { "type": "Percent", "value": 100, "periodSeconds": 30 },
                    { "type": "Pods", "value": 2, "periodSeconds": 30 } ] },
                "scaleDown": { "stabilizationWindowSeconds": 300, "selectPolicy": "Min",
                    "policies": [
                    { "type": "Percent", "value": 10, "periodSeconds": 300 },
                    { "type": "Pods", "value": 1, "periodSeconds": 300 } ] },
            }),
            "{env}/{cloud} api-gateway behaviour"
        );
        let files = manifold::emit::scaling::emit(model(&compilation));
        assert!(!files.contains_key(&format!("{dir}/hpa-worker.yaml")));
        let scaled = object(&compilation, &format!("{dir}/scaledobject-worker.yaml"));
        let spec = &scaled["spec"];
        assert_eq!(
            (
                spec["minReplicaCount"].as_u64(),
                spec["maxReplicaCount"].as_u64()
            ),
            (Some(worker_min), Some(worker_max)),
            "{env}/{cloud} worker bounds"
        );
        // Up 50% every 60 s, down 10% every 10 min.
        assert_eq!(
            spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"],
            json!({
                "scaleUp": { "policies": [{ "type": "Percent", "value": 50, "periodSeconds": 60 }] },
                "scaleDown": { "policies": [{ "type": "Percent", "value": 10, "periodSeconds": 600 }] },
            })
        );
        let triggers = spec["triggers"].as_array().expect("triggers");
        let by_type = |kind: &str| {
            triggers
                .iter()
                .find(|trigger| trigger["type"] == kind)
                .unwrap_or_else(|| panic!("no {kind} trigger"))
        };
        // Queue depth 50 per pod; queue age 60 s; CPU 80%; memory 85%.
        assert_eq!(by_type("redis")["metadata"]["listLength"], "50");
        assert_eq!(by_type("redis")["metadata"]["listName"], "jobs");
        let namespace = if env == "prod" {
            "voiceassist".to_owned()
        } else {
            format!("voiceassist-{env}")
        };
        assert_eq!(
            by_type("redis")["metadata"]["address"],
            format!("redis.{namespace}.svc:6379")
        );
        assert_eq!(by_type("prometheus")["metadata"]["threshold"], "60");
        assert_eq!(by_type("prometheus")["metricType"], "Value");
        assert_eq!(by_type("cpu")["metadata"]["value"], "80");
        assert_eq!(by_type("memory")["metadata"]["value"], "85");
    }
}

/// Seed 000: the custom/object-metric HPA of webapp and the KEDA ScaledObject of the queue
/// processor, with the seed's shapes.
#[test]
fn webshop_emits_the_custom_metric_hpa_and_the_keda_object() {
    let compilation = example("webshop");
    let dir = "kubernetes/overlays/production/aws";
    let hpa = object(&compilation, &format!("{dir}/hpa-webapp.yaml"));
    assert_eq!(hpa["spec"]["minReplicas"], 3);
    assert_eq!(hpa["spec"]["maxReplicas"], 50);
    let metrics = hpa["spec"]["metrics"].as_array().expect("metrics");
    assert!(metrics.contains(&json!({ "type": "Pods", "pods": {
        "metric": { "name": "http_requests_per_second" },
        "target": { "type": "AverageValue", "averageValue": "100" } } })));
    assert!(metrics.contains(&json!({ "type": "Object", "object": {
        "describedObject": { "apiVersion": "v1", "kind": "Service", "name": "rabbitmq" },
        "metric": { "name": "queue_length", "selector": { "matchLabels": { "queue": "processing" } } },
        "target": { "type": "Value", "value": "50" } } })));
    assert_eq!(
        hpa["spec"]["behavior"]["scaleUp"],
        json!({ "stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
            { "type": "Percent", "value": 100, "periodSeconds": 15 },
            { "type": "Pods", "value": 4, "periodSeconds": 15 } ] })
    );
    let scaled = object(
        &compilation,
        &format!("{dir}/scaledobject-queue-processor.yaml"),
    );
    assert_eq!(scaled["spec"]["minReplicaCount"], 2); // the production floor raises 1 to 2
    assert_eq!(scaled["spec"]["maxReplicaCount"], 50);
    assert_eq!(
        scaled["spec"]["triggers"][0],
        json!({ "type": "rabbitmq", "metadata": { "queueName": "processing-queue",
            "mode": "QueueLength", "value": "10" },
            "authenticationRef": { "name": "rabbitmq-auth" } })
    );
    assert_eq!(
        scaled["spec"]["triggers"][1],
        json!({ "type": "prometheus", "metadata": { "serverAddress": "http://prometheus:9090",
            "query": "avg(queue_processing_duration_seconds)", "threshold": "5" } })
    );
    let vpa = object(&compilation, &format!("{dir}/vpa-queue-processor.yaml"));
    assert_eq!(vpa["spec"]["updatePolicy"]["updateMode"], "Auto");
}

// ---------------------------------------------------------------------------------------
// Each check's triggering spec is in tests/bad/1xx-scaling-*.kdl; here the same spec, fixed,
// must not trigger it (nor any other scaling diagnostic).

fn catalogue(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/bad")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The catalogue spec with `fixes` applied (each `from` must occur).
fn fixed(file: &str, fixes: &[(&str, &str)]) -> String {
    let mut text = catalogue(file);
    for (from, to) in fixes {
        assert!(text.contains(from), "{file} has no `{from}`");
        text = text.replacen(from, to, 1);
    }
    text
}

fn scaling_diagnostics(text: &str) -> Vec<Diagnostic> {
    let compilation = compile("platform.kdl", text);
    assert!(
        compilation.platform.is_some(),
        "did not lower: {:#?}",
        compilation.diagnostics
    );
    compilation
        .diagnostics
        .into_iter()
        .filter(|found| found.code.starts_with("manifold::scaling::"))
        .collect()
}

fn assert_clean(file: &str, fixes: &[(&str, &str)]) {
    let found = scaling_diagnostics(&fixed(file, fixes));
    assert!(found.is_empty(), "{file}, fixed: {found:#?}");
}

/// The catalogue spec unchanged triggers `code` (guards the fixes above against testing a
/// spec that never triggered).
fn assert_triggers(file: &str, code: &str) {
    let found = scaling_diagnostics(&catalogue(file));
    assert!(
        found.iter().any(|diagnostic| diagnostic.code == code),
        "{file} does not trigger {code}: {found:#?}"
    );
}

const POD_QUOTA: (&str, &str) = ("quota pods=1", "quota pods=10");

#[test]
fn vpa_off_or_on_another_resource_does_not_conflict() {
    let file = "100-scaling-vpa-hpa-conflict.kdl";
    assert_triggers(file, "manifold::scaling::vpa-hpa-conflict");
    assert_clean(file, &[("vpa mode=auto", "vpa mode=off")]);
    assert_clean(
        file,
        &[(
            "vpa mode=auto",
            "vpa mode=auto { controlled-resources memory; }",
        )],
    );
}

#[test]
fn a_budget_that_allows_one_eviction_is_fine() {
    let file = "101-scaling-pdb-blocks-eviction.kdl";
    assert_triggers(file, "manifold::scaling::pdb-blocks-eviction");
    assert_clean(
        file,
        &[
            ("disruption min-available=2", "disruption min-available=1"),
            POD_QUOTA,
        ],
    );
    assert_clean(
        file,
        &[
            (
                "disruption min-available=2",
                "disruption max-unavailable=\"50%\"",
            ),
            POD_QUOTA,
        ],
    );
}

#[test]
fn a_quota_that_holds_the_maximum_is_fine() {
    let file = "102-scaling-quota-exceeded.kdl";
    assert_triggers(file, "manifold::scaling::quota-exceeded");
    // 6 × 250m = 1.5 exactly.
    assert_clean(
        file,
        &[("quota requests-cpu=1", "quota requests-cpu=\"1500m\"")],
    );
}

#[test]
fn memory_from_the_service_or_the_limit_range_satisfies_the_quota() {
    let file = "103-scaling-quota-needs-resources.kdl";
    assert_triggers(file, "manifold::scaling::quota-needs-resources");
    assert_clean(
        file,
        &[(
            "resources cpu=\"250m..1\"",
            "resources cpu=\"250m..1\" memory=\"256Mi..512Mi\"",
        )],
    );
    assert_clean(
        file,
        &[(
            "quota limits-memory=\"4Gi\"",
            "quota limits-memory=\"4Gi\"\n    limit-range default-memory=\"512Mi\"",
        )],
    );
}

#[test]
fn pools_that_hold_the_maximum_are_fine() {
    let file = "104-scaling-node-capacity.kdl";
    assert_triggers(file, "manifold::scaling::node-capacity");
    // 3 × t3.large = 5.79 allocatable CPU ≥ 4 × 1.
    assert_clean(file, &[("min=1 max=1", "min=1 max=3"), POD_QUOTA]);
}

#[test]
fn a_known_instance_type_is_checked() {
    let file = "105-scaling-unknown-instance-type.kdl";
    assert_triggers(file, "manifold::scaling::unknown-instance-type");
    assert_clean(file, &[("x9.mega", "m5.large"), POD_QUOTA]);
}

#[test]
fn a_limit_four_times_the_request_is_fine() {
    let file = "106-scaling-limit-ratio.kdl";
    assert_triggers(file, "manifold::scaling::limit-ratio");
    assert_clean(file, &[("cpu=\"100m..1\"", "cpu=\"250m..1\""), POD_QUOTA]);
}

#[test]
fn resource_metrics_and_keda_need_no_adapter_note() {
    let file = "107-scaling-metrics-adapter.kdl";
    assert_triggers(file, "manifold::scaling::metrics-adapter");
    assert_clean(
        file,
        &[
            ("per-pod http_requests_per_second 100", "cpu 70"),
            POD_QUOTA,
        ],
    );
    assert_clean(
        file,
        &[
            (
                "per-pod http_requests_per_second 100",
                "queue prometheus server=\"http://prometheus:9090\" query=\"sum(rate(http_requests_total[1m]))\" threshold=100",
            ),
            POD_QUOTA,
        ],
    );
}

#[test]
fn utilisation_with_requests_is_fine() {
    let file = "108-scaling-missing-request.kdl";
    assert_triggers(file, "manifold::scaling::missing-request");
    assert_clean(
        file,
        &[(
            "port http 8080\n",
            "port http 8080\n    resources cpu=\"250m..1\" memory=\"256Mi..512Mi\"\n",
        )],
    );
}

#[test]
fn periods_and_windows_at_their_limits_are_fine() {
    let file = "109-scaling-invalid-behavior.kdl";
    assert_triggers(file, "manifold::scaling::invalid-behavior");
    assert_clean(
        file,
        &[
            ("period=\"45m\"", "period=\"30m\""),
            ("stabilize=\"2h\"", "stabilize=\"1h\""),
        ],
    );
}

#[test]
fn queue_triggers_alone_are_fine() {
    let file = "110-scaling-mixed-metrics.kdl";
    assert_triggers(file, "manifold::scaling::mixed-metrics");
    assert_clean(file, &[("per-pod jobs_in_flight 5\n", "")]);
}

#[test]
fn complete_triggers_are_fine() {
    let file = "111-scaling-invalid-trigger.kdl";
    assert_triggers(file, "manifold::scaling::invalid-trigger");
    assert_clean(
        file,
        &[
            (
                "list=jobs depth=10",
                "list=jobs depth=10 address=\"redis:6379\"",
            ),
            (" list=jobs\n", "\n"),
        ],
    );
}

#[test]
fn credentials_through_a_trigger_authentication_are_fine() {
    let file = "112-scaling-trigger-credentials.kdl";
    assert_triggers(file, "manifold::scaling::trigger-credentials");
    assert_clean(
        file,
        &[(
            "host=\"amqp://worker:s3cret@rabbitmq:5672/\"",
            "auth=rabbitmq-auth",
        )],
    );
    // A user name alone is not a credential.
    assert_clean(
        file,
        &[(
            "host=\"amqp://worker:s3cret@rabbitmq:5672/\"",
            "host=\"amqp://worker@rabbitmq:5672/\"",
        )],
    );
}

#[test]
fn queue_age_on_sqs_is_measured() {
    let file = "113-scaling-queue-age-unsupported.kdl";
    assert_triggers(file, "manifold::scaling::queue-age-unsupported");
    assert_clean(
        file,
        &[
            (
                "queue redis list=jobs depth=10 address=\"redis.example.com:6379\"",
                "queue aws-sqs queue=\"https://sqs.eu-west-1.amazonaws.com/123456789012/jobs\" depth=10 auth=sqs-auth",
            ),
            POD_QUOTA,
        ],
    );
}

#[test]
fn resources_inside_the_limit_range_are_fine() {
    let file = "114-scaling-limit-range.kdl";
    assert_triggers(file, "manifold::scaling::limit-range");
    assert_clean(
        file,
        &[(
            "cpu=\"500m..2\" memory=\"64Mi..256Mi\"",
            "cpu=\"500m..1\" memory=\"128Mi..256Mi\"",
        )],
    );
}

// ---------------------------------------------------------------------------------------
// The CLI: `--deny warnings` and the QoS report.

fn manifold(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_manifold"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("manifold runs")
}

#[test]
fn deny_warnings_turns_warnings_into_errors() {
    let spec = "examples/voiceassist/platform.kdl";
    assert_eq!(manifold(&["check", spec]).status.code(), Some(0));
    let denied = manifold(&["check", spec, "--deny", "warnings", "--format", "json"]);
    assert_eq!(denied.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&denied.stdout).expect("json");
    assert_eq!(report["ok"], false);
    assert_eq!(report["warnings"], 0);
    assert!(report["errors"].as_u64().unwrap_or(0) >= 1);
    assert_eq!(
        report["diagnostics"][0]["code"],
        "manifold::scaling::metrics-adapter"
    );
    assert_eq!(report["diagnostics"][0]["severity"], "error");
    // compile writes nothing under --deny warnings.
    let dir = tempfile::tempdir().expect("temporary directory");
    let out = dir.path().join("out");
    let out_text = out.display().to_string();
    let compiled = manifold(&["compile", spec, "--out", &out_text, "--deny", "warnings"]);
    assert_eq!(compiled.status.code(), Some(1));
    assert!(!out.exists());
    // A clean spec passes under --deny warnings.
    assert_eq!(
        manifold(&["check", "templates/init.kdl", "--deny", "warnings"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn check_json_reports_the_qos_class_of_every_service() {
    let output = manifold(&[
        "check",
        "examples/voiceassist/platform.kdl",
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_slice(&output.stdout).expect("json");
    for field in ["ok", "errors", "warnings", "diagnostics"] {
        assert!(report.get(field).is_some(), "{field} missing");
    }
    let qos = report["qos"].as_array().expect("qos");
    // 5 targets × 4 services.
    assert_eq!(qos.len(), 20);
    assert!(qos.contains(&json!({ "environment": "prod", "cloud": "gcp",
        "service": "api-gateway", "class": "Burstable" })));
    assert!(qos.iter().all(|entry| {
        ["Guaranteed", "Burstable", "BestEffort"].contains(&entry["class"].as_str().unwrap_or(""))
    }));
    // No model, no qos field: the existing fields stay as they were.
    let broken = manifold(&["check", "tests/cmd/fixtures/typo.kdl", "--format", "json"]);
    let report: Value = serde_json::from_slice(&broken.stdout).expect("json");
    assert!(report.get("qos").is_none());
}

#[test]
fn scale_to_zero_in_an_environment_uses_the_services_queue() {
    // The queue trigger is in the service block, the minimum of 0 in `in dev`: the blocks
    // merge, so the effective autoscaler is a KEDA object that may scale to zero.
    let text = fixed(
        "110-scaling-mixed-metrics.kdl",
        &[
            ("per-pod jobs_in_flight 5\n", ""),
            (
                "        queue rabbitmq queue=jobs depth=10 auth=rabbitmq-auth\n    }\n",
                "        queue rabbitmq queue=jobs depth=10 auth=rabbitmq-auth\n    }\n    in dev {\n        autoscale {\n            replicas 0 4\n        }\n    }\n",
            ),
        ],
    );
    let compilation = compile("platform.kdl", &text);
    assert!(!compilation.has_errors(), "{}", diagnostics(&compilation));
    let keda = object(
        &compilation,
        "kubernetes/overlays/dev/aws/scaledobject-worker.yaml",
    );
    assert_eq!(keda.pointer("/spec/minReplicaCount"), Some(&json!(0)));
    assert_eq!(keda.pointer("/spec/maxReplicaCount"), Some(&json!(4)));
    // Without the queue, the same block is still refused.
    let without = text.replace(
        "        queue rabbitmq queue=jobs depth=10 auth=rabbitmq-auth\n",
        "        cpu 70\n",
    );
    let refused = compile("platform.kdl", &without);
    assert!(
        refused
            .diagnostics
            .iter()
            .any(|found| found.code == "manifold::spec::invalid-replica-bounds"),
        "{}",
        diagnostics(&refused)
    );
}

#[test]
fn egress_destinations_become_network_policy_rules() {
    let text = fixed(
        "116-scaling-egress-cidr.kdl",
        &[
            ("cidr=\"db.example.com\"", "cidr=\"10.30.0.0/16\""),
            ("cidr=\"10.20.1.7/16\"", "namespace=messaging"),
            ("cidr=\"2001:db8::/129\"", "cidr=\"2001:db8::1/128\""),
        ],
    );
    let compilation = compile("platform.kdl", &text);
    assert!(!compilation.has_errors(), "{}", diagnostics(&compilation));
    let tree = compilation.tree.as_ref().expect("a tree");
    let bytes = &tree.files()["kubernetes/overlays/dev/aws/networkpolicy-web-allow.yaml"];
    let policy: Value =
        serde_saphyr::from_str(std::str::from_utf8(bytes).expect("UTF-8")).expect("YAML");
    // In name order: api, broker, database.
    assert_eq!(
        policy.pointer("/spec/egress"),
        Some(&json!([
            { "to": [{ "ipBlock": { "cidr": "2001:db8::1/128" } }],
              "ports": [{ "protocol": "TCP", "port": 443 }] },
            { "to": [{ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "messaging" } } }],
              "ports": [{ "protocol": "TCP", "port": 5672 }] },
            { "to": [{ "ipBlock": { "cidr": "10.30.0.0/16" } }],
              "ports": [{ "protocol": "TCP", "port": 5432 }] },
        ]))
    );
    assert_eq!(
        policy.pointer("/spec/policyTypes"),
        Some(&json!(["Egress"])),
        "nothing calls web: an egress-only policy"
    );
}
