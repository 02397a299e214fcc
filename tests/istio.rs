//! The Istio emitter and the mesh checks, through the whole pipeline.
//!
//! - Snapshots of every Istio object (and every version Deployment) of both examples.
//! - The acceptance properties: seed 000's cache-control routes in the webshop, the canary
//!   split, retries, timeouts and circuit breaking in VoiceAssist.
//! - For every mesh check, specs just short of triggering it compile cleanly (the triggering
//!   specs are the bad-spec catalogue, `tests/bad/2NN-mesh-*.kdl`).

use manifold::pipeline::{self, Compilation, Stop};

/// Compiles a spec held in memory.
fn compile(text: &str) -> Compilation {
    pipeline::compile("platform.kdl", text, Stop::AfterEmit)
}

/// The codes of every diagnostic.
fn codes(compilation: &Compilation) -> Vec<&'static str> {
    compilation.diagnostics.iter().map(|d| d.code).collect()
}

/// Whether a diagnostic is an error or a mesh diagnostic (other families' warnings are
/// theirs to test).
fn concerns_mesh(diagnostic: &manifold::diagnostic::Diagnostic) -> bool {
    diagnostic.is_error() || diagnostic.code.starts_with("manifold::mesh::")
}

/// Compiles and insists on no error and no mesh diagnostic.
fn compile_clean(text: &str) -> Compilation {
    let compilation = compile(text);
    let found: Vec<_> = compilation
        .diagnostics
        .iter()
        .filter(|diagnostic| concerns_mesh(diagnostic))
        .collect();
    assert!(found.is_empty(), "expected no diagnostic, got {found:#?}");
    compilation
}

/// The mesh files of a tree (`istio/` and `versions/` under the overlays), each under a
/// `=== path ===` header.
fn mesh_files(compilation: &Compilation) -> String {
    let tree = compilation.tree.as_ref().expect("a tree");
    let mut out = String::new();
    for (path, bytes) in tree.files() {
        if path.contains("/istio/") || path.contains("/versions/") {
            out.push_str(&format!("=== {path} ===\n"));
            out.push_str(&String::from_utf8_lossy(bytes));
        }
    }
    out
}

fn file(compilation: &Compilation, path: &str) -> String {
    let tree = compilation.tree.as_ref().expect("a tree");
    let bytes = tree
        .get(path)
        .unwrap_or_else(|| panic!("{path} was not emitted"));
    String::from_utf8_lossy(bytes).into_owned()
}

fn example(name: &str) -> Compilation {
    let path = format!("examples/{name}/platform.kdl");
    let text = std::fs::read_to_string(&path).expect("example readable");
    let compilation = pipeline::compile(&path, &text, Stop::AfterEmit);
    let found: Vec<_> = compilation
        .diagnostics
        .iter()
        .filter(|diagnostic| concerns_mesh(diagnostic))
        .collect();
    assert!(found.is_empty(), "{path}: {found:#?}");
    compilation
}

#[test]
fn webshop_mesh_objects() {
    insta::assert_snapshot!(mesh_files(&example("webshop")));
}

#[test]
fn voiceassist_mesh_objects() {
    insta::assert_snapshot!(mesh_files(&example("voiceassist")));
}

#[test]
fn webshop_routes_carry_seed_000_cache_control() {
    let compilation = example("webshop");
    for overlay in ["production/aws", "production/gcp", "production/azure"] {
        let vs = file(
            &compilation,
            &format!("kubernetes/overlays/{overlay}/istio/virtualservice-webapp-ingress.yaml"),
        );
        let expected = "\
  - match:
    - uri:
        prefix: /static/
    route:
    - destination:
        host: webapp.production.svc.cluster.local
        port:
          number: 80
    headers:
      response:
        add:
          cache-control: public, max-age=31536000
  - match:
    - uri:
        prefix: /api/
    route:
    - destination:
        host: webapp.production.svc.cluster.local
        port:
          number: 80
    headers:
      response:
        add:
          cache-control: no-cache, no-store, must-revalidate
";
        assert!(vs.ends_with(expected), "{overlay}:\n{vs}");
        assert!(vs.contains("  - webapp.example.com\n"), "{vs}");
    }
    let dev = file(
        &compilation,
        "kubernetes/overlays/dev/aws/istio/virtualservice-webapp-ingress.yaml",
    );
    assert!(dev.contains("  - webapp.dev.example.com\n"), "{dev}");
    let gateway = file(
        &compilation,
        "kubernetes/overlays/production/aws/istio/gateway-webapp.yaml",
    );
    assert!(gateway.contains("credentialName: webapp-tls"), "{gateway}");
    assert!(gateway.contains("httpsRedirect: true"), "{gateway}");
}

#[test]
fn voiceassist_has_a_canary_with_retries_timeouts_and_circuit_breaking() {
    let compilation = example("voiceassist");
    let dir = "kubernetes/overlays/prod/aws";
    let vs = file(
        &compilation,
        &format!("{dir}/istio/virtualservice-api-gateway-ingress.yaml"),
    );
    assert!(vs.contains("subset: stable"), "{vs}");
    assert!(vs.contains("weight: 90"), "{vs}");
    assert!(vs.contains("subset: canary"), "{vs}");
    assert!(vs.contains("weight: 10"), "{vs}");
    assert!(vs.contains("    timeout: 10s\n"), "{vs}");
    assert!(
        vs.contains("    retries:\n      attempts: 3\n      perTryTimeout: 2s\n"),
        "{vs}"
    );
    let rule = file(
        &compilation,
        &format!("{dir}/istio/destinationrule-api-gateway.yaml"),
    );
    assert!(rule.contains("consecutive5xxErrors: 5"), "{rule}");
    assert!(rule.contains("baseEjectionTime: 60s"), "{rule}");
    assert!(rule.contains("maxConnections: 100"), "{rule}");
    assert!(rule.contains("mode: ISTIO_MUTUAL"), "{rule}");
    let canary = file(
        &compilation,
        &format!("{dir}/versions/deployment-api-gateway-canary.yaml"),
    );
    assert!(
        canary.contains("image: ghcr.io/acme/voiceassist-server:1.5.0"),
        "{canary}"
    );
    assert!(canary.contains("version: canary"), "{canary}");
    // The workload itself is the stable version.
    let base = file(&compilation, "kubernetes/base/api-gateway/deployment.yaml");
    assert!(base.contains("        version: stable\n"), "{base}");
    let kustomization = file(&compilation, &format!("{dir}/kustomization.yaml"));
    assert!(
        kustomization.contains("- versions/deployment-api-gateway-canary.yaml"),
        "{kustomization}"
    );
    // Production is strict; development is permissive.
    assert!(
        file(
            &compilation,
            &format!("{dir}/istio/peerauthentication.yaml")
        )
        .contains("mode: STRICT")
    );
    assert!(
        file(
            &compilation,
            "kubernetes/overlays/dev/aws/istio/peerauthentication.yaml"
        )
        .contains("mode: PERMISSIVE")
    );
}

// ---------------------------------------------------------------------------------------
// Specs just short of each check.

const PREAMBLE: &str = r#"
platform shop {
    repo "https://git.example.com/platform/shop-gitops.git" branch=main
    registry "ghcr.io/example"
}

cloud aws {
    region eu-west-1
    cluster shop-eks {
        kubernetes "1.31"
        node-pool general instance-type=t3.large min=2 max=6 desired=3
    }
}
"#;

const PROD: &str = r#"
environment prod profile=production {
    namespace shop
    deploy-to aws
}
"#;

fn spec(services: &str) -> String {
    format!("{PREAMBLE}{PROD}{services}")
}

const WEB: &str = r#"
service web {
    image shop-web tag="1.0.0"
    port http 8080
    expose host=shop.example.com {
        route prefix="/"
    }
}
"#;

#[test]
fn exposed_service_with_a_route_passes() {
    let compilation = compile_clean(&spec(WEB));
    let files = mesh_files(&compilation);
    assert!(files.contains("gateway-web.yaml"), "{files}");
    // No TLS secret: an HTTP server only, no redirect.
    assert!(!files.contains("httpsRedirect"), "{files}");
}

#[test]
fn routes_to_existing_services_ports_and_versions_pass() {
    let compilation = compile_clean(&spec(
        r#"
service web {
    image shop-web tag="1.0.0"
    port http 8080 service-port=80
    port admin 9090
    version stable
    version canary tag="1.1.0"
    expose host=shop.example.com tls-secret=shop-tls port=http {
        route prefix="/api/" to=api port=grpc
        route prefix="/admin/" port=9090
        route prefix="/by-service-port/" port=80
        route prefix="/" { split stable=90 canary=10; }
    }
}

service api {
    image shop-api tag="1.0.0"
    port http 8000
    port grpc 9000 app-protocol=grpc
}
"#,
    ));
    let vs = file(
        &compilation,
        "kubernetes/overlays/prod/aws/istio/virtualservice-web-ingress.yaml",
    );
    assert!(
        vs.contains("host: api.shop.svc.cluster.local\n        port:\n          number: 9000"),
        "{vs}"
    );
    assert!(vs.contains("number: 9090"), "{vs}");
    assert!(vs.contains("number: 80"), "{vs}");
    // The gateway may reach the ports routes send to, as container ports.
    let api = file(
        &compilation,
        "kubernetes/overlays/prod/aws/istio/authorizationpolicy-api.yaml",
    );
    assert!(api.contains("- \"9000\""), "{api}");
    assert!(!api.contains("- \"8000\""), "{api}");
    let web = file(
        &compilation,
        "kubernetes/overlays/prod/aws/istio/authorizationpolicy-web.yaml",
    );
    assert!(
        web.contains("- \"8080\"") && web.contains("- \"9090\""),
        "{web}"
    );
}

#[test]
fn a_default_port_named_http_passes() {
    compile_clean(&spec(
        r#"
service web {
    image shop-web tag="1.0.0"
    port http 8080
    port admin 9090
    expose host=shop.example.com {
        route prefix="/"
    }
}
"#,
    ));
}

#[test]
fn weights_adding_up_to_100_pass() {
    let compilation = compile_clean(&spec(
        r#"
service web {
    image shop-web tag="1.0.0"
    port http 8080
    version stable weight=80
    version canary tag="1.1.0" weight=20
    expose host=shop.example.com {
        route prefix="/beta/" { split canary=100; }
        route prefix="/"
    }
}
"#,
    ));
    let vs = file(
        &compilation,
        "kubernetes/overlays/prod/aws/istio/virtualservice-web-ingress.yaml",
    );
    // A single destination carries no weight; the default split follows the versions.
    assert!(
        vs.contains("subset: canary\n        port:\n          number: 8080\n  - match"),
        "{vs}"
    );
    assert!(
        vs.contains("weight: 80") && vs.contains("weight: 20"),
        "{vs}"
    );
}

#[test]
fn specific_routes_before_general_ones_pass() {
    compile_clean(&spec(
        r#"
service web {
    image shop-web tag="1.0.0"
    port http 8080
    expose host=shop.example.com {
        route prefix="/api/v1/"
        route exact="/api/health"
        route prefix="/api/" { header x-canary=yes; }
        route prefix="/api/"
        route regex="^/[a-z]+$"
        route prefix="/"
    }
}
"#,
    ));
}

#[test]
fn one_host_per_cluster_passes() {
    // The same host on two clouds (two clusters) and per-environment hosts on one cluster.
    let text = format!(
        r#"{PREAMBLE}
cloud gcp {{
    project shop
    region europe-west4
    cluster shop-gke {{
        kubernetes "1.31"
        node-pool general machine-type=e2-standard-2 min=1 max=3
    }}
}}

environment dev profile=development {{
    namespace shop-dev
    deploy-to aws
}}

environment prod profile=production {{
    namespace shop
    deploy-to aws gcp
}}

service web {{
    image shop-web tag="1.0.0"
    port http 8080
    expose host=shop.example.com {{
        route prefix="/"
    }}
    in dev {{ expose host=dev.shop.example.com; }}
}}
"#
    );
    compile_clean(&text);
}

#[test]
fn calls_with_mtls_pass_and_a_disabled_mesh_is_not_checked() {
    let services = r#"
service web {
    image shop-web tag="1.0.0"
    port http 8080
    calls api
    expose host=shop.example.com {
        route prefix="/"
    }
}

service api {
    image shop-api tag="1.0.0"
    port http 8000
}
"#;
    for mesh in [
        "mtls=permissive",
        "mtls=strict",
        "mtls=disable mode=none",
        "mtls=disable mode=ambient",
    ] {
        let text = format!(
            "{PREAMBLE}\nenvironment prod profile=production {{\n    namespace shop\n    deploy-to aws\n    mesh {mesh}\n}}\n{services}"
        );
        let compilation = compile(&text);
        assert!(
            !compilation.has_errors(),
            "{mesh}: {:#?}",
            compilation.diagnostics
        );
    }
    let compilation = compile_clean(&spec(services));
    let api = file(
        &compilation,
        "kubernetes/overlays/prod/aws/istio/authorizationpolicy-api.yaml",
    );
    assert!(api.contains("- cluster.local/ns/shop/sa/web\n"), "{api}");
}

#[test]
fn versions_with_pods_pass() {
    // A stateful service with only its own version, a stateless one with a canary, and a
    // version named by the workload's own tag.
    let compilation = compile_clean(&spec(
        r#"
service web {
    image shop-web tag="1.0.0"
    port http 8080
    version v1 tag="1.0.0"
    version v2 tag="2.0.0" replicas=3
    calls db
}

service db {
    kind stateful
    image postgres tag="16.4" registry="docker.io/library"
    port postgres 5432
    storage "10Gi"
    version v16
}
"#,
    ));
    let canary = file(
        &compilation,
        "kubernetes/overlays/prod/aws/versions/deployment-web-v2.yaml",
    );
    assert!(canary.contains("replicas: 3"), "{canary}");
    let base = file(&compilation, "kubernetes/base/db/statefulset.yaml");
    assert!(base.contains("version: v16"), "{base}");
}

#[test]
fn distinct_generated_names_pass() {
    compile_clean(&spec(
        r#"
service web {
    image shop-web tag="1.0.0"
    port http 8080
    version stable
    version next tag="1.1.0"
}

service web-canary {
    image shop-web tag="1.1.0"
    port http 8080
}
"#,
    ));
}

#[test]
fn every_route_feature_renders() {
    let compilation = compile_clean(&spec(
        r#"
service web {
    image shop-web tag="1.0.0"
    port http 8080
    version stable
    version canary tag="1.1.0"
    expose host=shop.example.com tls-secret=shop-tls {
        route exact="/login" header-set="x-frame-options=DENY" header-remove="server, x-powered-by" request-header-add="x-forwarded-proto=https" request-header-remove=cookie2
        route regex="^/v[0-9]+/.*" rewrite="/" timeout="5s" retries=2 per-try-timeout="1s" retry-on="5xx,reset"
        route prefix="/" fault-delay="2s" fault-delay-percent=10 fault-abort=503 fault-abort-percent=1 mirror="web:canary" mirror-percent=5 {
            header x-debug=on
        }
        route prefix="/"
    }
}
"#,
    ));
    insta::assert_snapshot!(file(
        &compilation,
        "kubernetes/overlays/prod/aws/istio/virtualservice-web-ingress.yaml"
    ));
}

#[test]
fn mesh_internal_routes_for_called_services() {
    let compilation = compile_clean(&spec(
        r#"
service web {
    image shop-web tag="1.0.0"
    port http 8080
    calls api cache
}

service api {
    image shop-api tag="1.0.0"
    port http 8000
    version stable weight=95
    version canary tag="1.1.0" weight=5
    traffic {
        timeout "3s"
        retries 2
        per-try-timeout "1s"
        retry-on "connect-failure,refused-stream"
        load-balancer least-request
        connection-pool max-connections=50 max-pending=10 max-requests-per-connection=100 connect-timeout="2s"
        circuit-breaker consecutive-errors=3 interval="10s" ejection="30s" max-ejection-percent=50
    }
}

service cache {
    image redis tag="7.2" registry="docker.io/library"
    port redis 6379
    version stable weight=100
    version next tag="7.4" weight=0
}
"#,
    ));
    let dir = "kubernetes/overlays/prod/aws/istio";
    let mut out = String::new();
    for name in [
        "virtualservice-api",
        "destinationrule-api",
        "virtualservice-cache",
        "destinationrule-cache",
    ] {
        out.push_str(&format!("=== {name} ===\n"));
        out.push_str(&file(&compilation, &format!("{dir}/{name}.yaml")));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn no_mesh_objects_without_a_mesh_and_a_warning_for_mesh_settings() {
    let text = format!(
        "{PREAMBLE}\nenvironment prod profile=production {{\n    namespace shop\n    deploy-to aws\n    mesh mode=none\n}}\n{WEB}"
    );
    let compilation = compile(&text);
    let mesh: Vec<_> = codes(&compilation)
        .into_iter()
        .filter(|code| code.starts_with("manifold::mesh::"))
        .collect();
    assert_eq!(mesh, ["manifold::mesh::without-mesh"]);
    assert!(!compilation.has_errors());
    assert_eq!(mesh_files(&compilation), "");
    let namespace = file(&compilation, "kubernetes/overlays/prod/aws/namespace.yaml");
    assert!(!namespace.contains("istio"), "{namespace}");
}

#[test]
fn ambient_mode_labels_the_namespace_and_keeps_policies() {
    let text = format!(
        "{PREAMBLE}\nenvironment prod profile=production {{\n    namespace shop\n    deploy-to aws\n    mesh mode=ambient\n}}\n{WEB}"
    );
    let compilation = compile_clean(&text);
    let namespace = file(&compilation, "kubernetes/overlays/prod/aws/namespace.yaml");
    assert!(
        namespace.contains("istio.io/dataplane-mode: ambient"),
        "{namespace}"
    );
    assert!(!namespace.contains("istio-injection"), "{namespace}");
    let files = mesh_files(&compilation);
    assert!(
        files.contains("authorizationpolicy-allow-nothing.yaml"),
        "{files}"
    );
}

#[test]
fn a_retagged_service_with_a_canary_carries_its_image_in_the_patch() {
    // `images:` would retag the canary's Deployment too, so the image goes into the patch.
    let compilation = compile_clean(&spec(
        r#"
service web {
    image shop-web tag="1.0.0"
    port http 8080
    version stable
    version canary tag="2.0.0"
    in prod { image shop-web tag="1.0.1"; }
}
"#,
    ));
    let kustomization = file(
        &compilation,
        "kubernetes/overlays/prod/aws/kustomization.yaml",
    );
    assert!(!kustomization.contains("images:"), "{kustomization}");
    let patch = file(
        &compilation,
        "kubernetes/overlays/prod/aws/patches/web.yaml",
    );
    assert!(
        patch.contains("image: ghcr.io/example/shop-web:1.0.1"),
        "{patch}"
    );
    let canary = file(
        &compilation,
        "kubernetes/overlays/prod/aws/versions/deployment-web-canary.yaml",
    );
    assert!(
        canary.contains("image: ghcr.io/example/shop-web:2.0.0"),
        "{canary}"
    );
}

#[test]
fn the_mesh_check_and_the_emitter_agree_on_the_examples() {
    for name in ["webshop", "voiceassist"] {
        let compilation = example(name);
        let files = mesh_files(&compilation);
        assert!(files.contains("authorizationpolicy-allow-nothing.yaml"));
        assert!(files.contains("apiVersion: security.istio.io/v1\n"));
        assert!(files.contains("apiVersion: networking.istio.io/v1\n"));
    }
}

#[test]
fn the_keda_operator_may_read_the_queue_it_scales_on() {
    let compilation = compile_clean(&spec(
        r#"
service worker {
    image shop-worker tag="1.0.0"
    autoscale {
        replicas 1 5
        queue redis list=jobs depth=10 address="cache.shop.svc:6379"
    }
    calls cache
}

service cache {
    image redis tag="7.2" registry="docker.io/library"
    port redis 6379
}
"#,
    ));
    let cache = file(
        &compilation,
        "kubernetes/overlays/prod/aws/istio/authorizationpolicy-cache.yaml",
    );
    assert!(
        cache.contains("- cluster.local/ns/keda/sa/keda-operator\n"),
        "{cache}"
    );
    assert!(
        cache.contains("- cluster.local/ns/shop/sa/worker\n"),
        "{cache}"
    );
}

/// `platform { istio …; keda … }` move the peers and principals the policies admit; without
/// them the defaults (istio-system, keda) apply.
#[test]
fn addon_namespaces_and_accounts_come_from_the_platform() {
    let path = "examples/voiceassist/platform.kdl";
    let text = std::fs::read_to_string(path).expect("example readable");
    let moved = text.replacen(
        "    registry \"ghcr.io/acme\"\n",
        "    registry \"ghcr.io/acme\"\n    istio namespace=mesh-system gateway-service-account=public-gateway\n    keda namespace=keda-system service-account=keda-operator-sa\n",
        1,
    );
    assert_ne!(moved, text, "the example's registry line moved");
    let compilation = compile_clean(&moved);
    let tree = compilation.tree.as_ref().expect("a tree");
    let everything: String = tree
        .files()
        .values()
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .collect();
    for wanted in [
        "cluster.local/ns/mesh-system/sa/public-gateway",
        "cluster.local/ns/keda-system/sa/keda-operator-sa",
        "kubernetes.io/metadata.name: mesh-system",
        "kubernetes.io/metadata.name: keda-system",
    ] {
        assert!(everything.contains(wanted), "no `{wanted}` in the output");
    }
    for gone in [
        "istio-ingressgateway-service-account",
        "sa/keda-operator\n",
        "kubernetes.io/metadata.name: istio-system",
        "kubernetes.io/metadata.name: keda\n",
    ] {
        assert!(
            !everything.contains(gone),
            "`{gone}` is still in the output"
        );
    }
    let defaults = example("voiceassist");
    let tree = defaults.tree.as_ref().expect("a tree");
    let everything: String = tree
        .files()
        .values()
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .collect();
    assert!(everything.contains("cluster.local/ns/keda/sa/keda-operator"));
    assert!(everything.contains("kubernetes.io/metadata.name: istio-system"));
}
