//! `manifold explain` over the examples: the acceptance queries of issue 8 on VoiceAssist, and
//! completeness (every emitted field of every file of every example has an origin: tokens, or
//! explicitly built in), so an emitter added later keeps explain complete.
//!
//! Line numbers are found in the example's text (never hard-coded), so an edit of the example
//! moves the expectation with it. Each example is traced once and shared (`OnceLock`).

use std::sync::OnceLock;

use manifold::explain::{Explainer, FieldReport, Index, Query, Role};

const VOICEASSIST: &str = "examples/voiceassist/platform.kdl";
const WEBSHOP: &str = "examples/webshop/platform.kdl";

struct Traced {
    text: String,
    explainer: Explainer,
    index: Index,
}

fn traced(path: &'static str) -> &'static Traced {
    static VOICE: OnceLock<Traced> = OnceLock::new();
    static WEB: OnceLock<Traced> = OnceLock::new();
    let cell = match path {
        VOICEASSIST => &VOICE,
        WEBSHOP => &WEB,
        other => panic!("no cell for {other}"),
    };
    cell.get_or_init(|| {
        let text = std::fs::read_to_string(path).expect("example");
        let explainer =
            Explainer::new(path, &text, &Default::default()).unwrap_or_else(|compilation| {
                panic!("{path} does not compile: {:?}", compilation.diagnostics)
            });
        let index = explainer.trace_all();
        Traced {
            text,
            explainer,
            index,
        }
    })
}

/// The 1-based line of the first line at or after the line containing `after` whose text
/// contains `needle`.
fn line_of(text: &str, after: &str, needle: &str) -> usize {
    let start = text
        .lines()
        .position(|line| line.contains(after))
        .unwrap_or_else(|| panic!("no line contains {after:?}"));
    text.lines()
        .enumerate()
        .skip(start)
        .find(|(_, line)| line.contains(needle))
        .map(|(idx, _)| idx + 1)
        .unwrap_or_else(|| panic!("no line after {after:?} contains {needle:?}"))
}

fn explain(traced: &Traced, query: &str) -> FieldReport {
    let query = traced
        .explainer
        .query(query)
        .unwrap_or_else(|error| panic!("{query}: {}", error.diagnostic.message));
    let reports = traced.explainer.explain(&traced.index, &query);
    assert!(matches!(query, Query::Field { .. }), "{query:?}");
    reports.into_iter().next().expect("one report")
}

/// The first `set` contribution: the top of the chain.
fn top(report: &FieldReport) -> &manifold::explain::Contribution {
    report
        .sources
        .iter()
        .find(|contribution| contribution.role == Role::Set)
        .unwrap_or_else(|| {
            panic!(
                "no token sets {}#{}: {report:#?}",
                report.file, report.field
            )
        })
}

#[test]
fn prod_max_replicas_comes_from_the_in_prod_override() {
    let voice = traced(VOICEASSIST);
    let report = explain(
        voice,
        "kubernetes/overlays/prod/aws/hpa-api-gateway.yaml#spec.maxReplicas",
    );
    assert_eq!(report.value, serde_json::json!(15));
    let set = top(&report);
    let line = line_of(
        &voice.text,
        "service api-gateway {",
        "in prod { autoscale { replicas 3 15; } }",
    );
    assert_eq!(
        (set.token.file.as_str(), set.token.line),
        (VOICEASSIST, line),
        "{report:#?}"
    );
    assert_eq!(set.token.text, "15");
    assert!(
        set.token.layer.starts_with("in prod"),
        "{}",
        set.token.layer
    );
    // The chain: it overrode the service's own `replicas 2 10`.
    let service_line = line_of(&voice.text, "service api-gateway {", "replicas 2 10");
    assert!(
        set.overrides.iter().any(|below| below.file == VOICEASSIST
            && below.line == service_line
            && below.text == "10"),
        "{:#?}",
        set.overrides
    );
}

#[test]
fn dev_replicas_come_from_the_dev_override() {
    let voice = traced(VOICEASSIST);
    let line = line_of(
        &voice.text,
        "service api-gateway {",
        "autoscale { replicas 1 3; }",
    );
    for (field, value) in [("spec.minReplicas", 1), ("spec.maxReplicas", 3)] {
        let report = explain(
            voice,
            &format!("kubernetes/overlays/dev/aws/hpa-api-gateway.yaml#{field}"),
        );
        assert_eq!(report.value, serde_json::json!(value));
        let set = top(&report);
        assert_eq!(
            (set.token.file.as_str(), set.token.line),
            (VOICEASSIST, line),
            "{report:#?}"
        );
        assert!(set.token.layer.starts_with("in dev"), "{}", set.token.layer);
    }
}

#[test]
fn security_context_comes_from_the_built_in_defaults() {
    let voice = traced(VOICEASSIST);
    let builtin = include_str!("../overlays/builtin.kdl");
    let line = line_of(
        builtin,
        "profile builtin",
        "allow-privilege-escalation=#false",
    );
    let report = explain(
        voice,
        "kubernetes/base/api-gateway/deployment.yaml#spec.template.spec.containers[api-gateway].securityContext.allowPrivilegeEscalation",
    );
    assert_eq!(report.value, serde_json::json!(false));
    let set = top(&report);
    assert_eq!(set.token.file, "<builtin>/overlays/builtin.kdl");
    assert_eq!(set.token.line, line);
    assert_eq!(set.token.text, "#false");
    assert_eq!(set.token.layer, "built-in default");
}

#[test]
fn network_policy_egress_comes_from_calls() {
    let voice = traced(VOICEASSIST);
    let line = line_of(
        &voice.text,
        "service api-gateway {",
        "calls worker redis postgres",
    );
    let path = "kubernetes/overlays/prod/aws/networkpolicy-api-gateway-allow.yaml";
    let (file, fields) = voice
        .explainer
        .files()
        .iter()
        .position(|(name, _)| name == path)
        .map(|idx| (idx, &voice.explainer.files()[idx].1))
        .expect("the NetworkPolicy exists");
    // Every rule that admits one of the called services names the `calls` line.
    let rules: Vec<usize> = fields
        .fields
        .iter()
        .enumerate()
        .filter(|(_, field)| {
            field.path.starts_with("spec.egress[") && field.path.contains("app.kubernetes.io/name")
        })
        .map(|(idx, _)| idx)
        .collect();
    assert!(!rules.is_empty(), "no egress rule selects a service");
    for idx in rules {
        let report = voice.explainer.field_report(&voice.index, file, idx);
        assert!(
            report
                .sources
                .iter()
                .any(|source| source.token.file == VOICEASSIST && source.token.line == line),
            "{}#{} does not name the calls line {line}: {report:#?}",
            report.file,
            report.field
        );
    }
}

#[test]
fn the_image_tag_line_reaches_every_deployment_that_runs_it() {
    let voice = traced(VOICEASSIST);
    let line = line_of(
        &voice.text,
        "service api-gateway {",
        "image voiceassist-server tag=\"1.4.2\"",
    );
    let (file, tokens) = voice
        .explainer
        .line_tokens(VOICEASSIST, line)
        .expect("tokens");
    let index = voice.explainer.trace(&tokens);
    let report = voice.explainer.line_report(&index, file, line, &tokens);
    // Every Deployment (base, overlay patch, version) of api-gateway that shows the tag.
    let expected: Vec<&str> = voice
        .explainer
        .files()
        .iter()
        .filter(|(path, fields)| {
            path.contains("api-gateway")
                && fields
                    .fields
                    .iter()
                    .any(|field| field.path == "kind" && field.value == "Deployment")
                && fields
                    .fields
                    .iter()
                    .any(|field| field.value.contains("1.4.2"))
        })
        .map(|(path, _)| path.as_str())
        .collect();
    assert!(
        expected.contains(&"kubernetes/base/api-gateway/deployment.yaml"),
        "{expected:?}"
    );
    for path in &expected {
        let hits = report
            .files
            .iter()
            .find(|hits| hits.file == *path)
            .unwrap_or_else(|| panic!("{path} is not in the blast radius: {report:#?}"));
        assert!(
            hits.fields.iter().any(|hit| hit.field.ends_with(".image")),
            "{path}: no image field in {:#?}",
            hits.fields
        );
    }
    // And every patch of a Deployment of api-gateway that shows the tag.
    for (path, fields) in voice.explainer.files() {
        let patch = path.contains("/patches/") && path.ends_with("api-gateway.yaml");
        if patch
            && fields
                .fields
                .iter()
                .any(|field| field.value.contains("1.4.2"))
        {
            assert!(report.files.iter().any(|hits| hits.file == *path), "{path}");
        }
    }
}

#[test]
fn unknown_paths_suggest_the_closest() {
    let voice = traced(VOICEASSIST);
    let error = voice
        .explainer
        .query("kubernetes/overlays/prod/aws/hpa-api-gatway.yaml#spec.maxReplicas")
        .expect_err("unknown file");
    assert_eq!(error.diagnostic.code, manifold::explain::UNKNOWN_FILE);
    assert!(
        error
            .diagnostic
            .help
            .contains("kubernetes/overlays/prod/aws/hpa-api-gateway.yaml"),
        "{}",
        error.diagnostic.help
    );
    let error = voice
        .explainer
        .query("kubernetes/overlays/prod/aws/hpa-api-gateway.yaml#spec.maxReplica")
        .expect_err("unknown field");
    assert_eq!(error.diagnostic.code, manifold::explain::UNKNOWN_FIELD);
    assert!(
        error.diagnostic.help.contains("`spec.maxReplicas`"),
        "{}",
        error.diagnostic.help
    );
}

/// Every scalar field of every emitted file of both examples has an origin: tokens of the
/// spec, a profile or the built-in defaults, or explicitly "built in". Files a token makes
/// exist are covered (their `presence` tokens), and the spec's own values are all traced
/// (no token is left unperturbable without being reported).
#[test]
fn every_emitted_field_has_an_origin() {
    for path in [VOICEASSIST, WEBSHOP] {
        let traced = traced(path);
        let tree = traced.explainer.compilation().tree.as_ref().expect("tree");
        assert_eq!(traced.explainer.files().len(), tree.files().len(), "{path}");
        let mut fields = 0;
        let mut from_tokens = 0;
        for (name, file_fields) in traced.explainer.files() {
            assert!(
                !file_fields.fields.is_empty()
                    || tree.get(name).is_some_and(|bytes| bytes.is_empty()),
                "{name} has no fields"
            );
            let query = traced
                .explainer
                .query(name)
                .unwrap_or_else(|error| panic!("{name}: {}", error.diagnostic.message));
            let reports = traced.explainer.explain(&traced.index, &query);
            assert_eq!(reports.len(), file_fields.fields.len(), "{name}");
            for report in reports {
                fields += 1;
                match report.origin {
                    "spec" => {
                        from_tokens += 1;
                        assert!(!report.sources.is_empty());
                        for source in &report.sources {
                            assert!(
                                source.token.line > 0 && !source.token.file.is_empty(),
                                "{name}#{}: {source:?}",
                                report.field
                            );
                        }
                    }
                    "built-in" => assert!(report.sources.is_empty()),
                    other => panic!("{name}#{}: origin {other}", report.field),
                }
            }
        }
        // Most fields of a generated tree depend on the spec; a tracer that lost its way
        // (every perturbation invalid, the diff matching nothing) would report all as built in.
        assert!(
            from_tokens * 2 > fields,
            "{path}: only {from_tokens} of {fields} fields have tokens"
        );
        let stats = traced.index.stats();
        assert!(stats.changed * 4 > stats.tokens * 3, "{path}: {stats:?}");
    }
}
