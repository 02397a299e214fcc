//! Unit tests of the scaling emitters, over small specs compiled through the real pipeline
//! (so the model under test is exactly what lowering produces).

use serde_json::{Value, json};

use super::plan::{self, Scaler};
use super::{emit, hpa, keda, netpol, pdb, vpa};
use crate::model::{Environment, Platform, Service, Target};
use crate::pipeline::{self, Stop};

/// A spec with one aws cluster, environments `dev` (development), `stage` (staging) and
/// `prod` (production), and the given services (and extra environment lines for prod).
pub(crate) fn spec(services: &str, prod_extra: &str) -> String {
    format!(
        r#"platform shop {{
    registry "ghcr.io/example"
}}
cloud aws {{
    region eu-west-1
    cluster shop-eks {{
        kubernetes "1.31"
        node-pool general instance-type=m5.xlarge min=2 max=20
    }}
}}
environment dev profile=development {{
    namespace shop-dev
    deploy-to aws
}}
environment stage profile=staging {{
    namespace shop-stage
    deploy-to aws
}}
environment prod profile=production {{
    namespace shop
    deploy-to aws
    {prod_extra}
}}
{services}
"#
    )
}

/// Compiles a spec and returns its model; panics on scaling errors or a spec that does not
/// lower. (Other families' model-level rules, such as the mesh's, are not this module's
/// business: the model is built before they run.)
pub(crate) fn platform(text: &str) -> Platform {
    let compilation = pipeline::compile("platform.kdl", text, Stop::AfterChecks);
    let scaling_errors: Vec<_> = compilation
        .diagnostics
        .iter()
        .filter(|found| found.is_error() && found.code.starts_with("manifold::scaling::"))
        .collect();
    assert!(
        scaling_errors.is_empty(),
        "scaling errors: {scaling_errors:#?}"
    );
    compilation
        .platform
        .unwrap_or_else(|| panic!("the spec did not lower: {:#?}", compilation.diagnostics))
}

fn environment<'p>(platform: &'p Platform, name: &str) -> &'p Environment {
    platform
        .environments
        .iter()
        .find(|environment| environment.name == name)
        .expect("environment")
}

fn target<'p>(platform: &'p Platform, name: &str) -> &'p Target {
    &environment(platform, name).targets[0]
}

fn service<'p>(platform: &'p Platform, env: &str, name: &str) -> &'p Service {
    target(platform, env)
        .services
        .iter()
        .find(|service| service.name == name)
        .expect("service")
}

const API: &str = r#"
service api {
    image api tag="1.0"
    port http 8000
    resources cpu="500m..2" memory="512Mi..2Gi"
    autoscale {
        replicas 2 10
        cpu 70
        memory 80
        per-pod http_requests_per_second 100
        object queue_length 50 kind=Service name=rabbitmq api-version=v1 { selector queue=processing; }
        external queue_messages_ready 30 average=#true { selector queue=orders; }
        scale-up percent=100 pods=4 period="15s" stabilize="0s" select=max
        scale-down percent=10 period="1m" stabilize="5m"
    }
    in prod { autoscale { replicas 3 50; } }
}
"#;

#[test]
fn hpa_has_every_metric_kind_and_the_behaviour() {
    let platform = platform(&spec(API, ""));
    let service = service(&platform, "prod", "api");
    let autoscale = plan::autoscale(service).expect("autoscaled");
    assert_eq!(autoscale.scaler(), Scaler::Hpa);
    let object = hpa::object(service, &autoscale);
    assert_eq!(object["apiVersion"], "autoscaling/v2");
    assert_eq!(
        object["spec"]["scaleTargetRef"],
        json!({ "apiVersion": "apps/v1", "kind": "Deployment", "name": "api" })
    );
    assert_eq!(object["spec"]["minReplicas"], 3);
    assert_eq!(object["spec"]["maxReplicas"], 50);
    let metrics = object["spec"]["metrics"].as_array().expect("metrics");
    let kinds: Vec<&str> = metrics.iter().filter_map(|m| m["type"].as_str()).collect();
    assert_eq!(
        kinds,
        ["Resource", "Resource", "Pods", "Object", "External"]
    );
    assert_eq!(
        metrics[0]["resource"],
        json!({ "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 70 } })
    );
    assert_eq!(
        metrics[2]["pods"]["target"],
        json!({ "type": "AverageValue", "averageValue": "100" })
    );
    assert_eq!(
        metrics[3]["object"],
        json!({
            "describedObject": { "apiVersion": "v1", "kind": "Service", "name": "rabbitmq" },
            "metric": { "name": "queue_length", "selector": { "matchLabels": { "queue": "processing" } } },
            "target": { "type": "Value", "value": "50" },
        })
    );
    assert_eq!(
        metrics[4]["external"]["target"],
        json!({ "type": "AverageValue", "averageValue": "30" })
    );
    assert_eq!(
        object["spec"]["behavior"],
        json!({
            "scaleUp": { "stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                { "type": "Percent", "value": 100, "periodSeconds": 15 },
                { "type": "Pods", "value": 4, "periodSeconds": 15 } ] },
            "scaleDown": { "stabilizationWindowSeconds": 300, "policies": [
                { "type": "Percent", "value": 10, "periodSeconds": 60 } ] },
        })
    );
}

#[test]
fn hpa_without_metrics_writes_the_default_cpu_target() {
    let text = spec(
        r#"service web {
    image web tag="1"
    resources cpu="250m..500m"
    autoscale { replicas 2 4; scale-up pods=2; }
}"#,
        "",
    );
    let platform = platform(&text);
    let service = service(&platform, "dev", "web");
    let object = hpa::object(service, &plan::autoscale(service).expect("autoscaled"));
    assert_eq!(
        object["spec"]["metrics"],
        json!([{ "type": "Resource", "resource": { "name": "cpu",
            "target": { "type": "Utilization", "averageUtilization": 80 } } }])
    );
    // A policy without `period` gets Kubernetes' default period.
    assert_eq!(
        object["spec"]["behavior"]["scaleUp"]["policies"],
        json!([{ "type": "Pods", "value": 2, "periodSeconds": 15 }])
    );
}

const WORKER: &str = r#"
service redis {
    image redis tag="7"
    port redis 6379
    resources cpu="250m..500m" memory="256Mi..512Mi"
}
service worker {
    image worker tag="1"
    resources cpu="1..2" memory="1Gi..2Gi"
    calls redis
    autoscale {
        replicas 1 5
        cpu 80
        queue redis list=jobs depth=50 address="redis:6379"
        queue rabbitmq queue=orders depth=10 auth=rabbitmq-auth
        queue prometheus server="http://prometheus.monitoring.svc:9090" query="max(age)" threshold=60 average=#false
        queue kafka server="kafka-0:9092,kafka-1:9092" topic=events consumer-group=workers depth=100
        queue aws-sqs queue="https://sqs.eu-central-1.amazonaws.com/123456789012/jobs" depth=5 max-age="2m" auth=sqs-auth
        scale-up percent=50 period="1m"
        scale-down percent=10 period="10m"
    }
    in prod { autoscale { replicas 2 8; } }
}
"#;

#[test]
fn keda_scaled_object_maps_every_trigger_type() {
    let platform = platform(&spec(WORKER, ""));
    let environment = environment(&platform, "prod");
    let target = target(&platform, "prod");
    let service = service(&platform, "prod", "worker");
    let autoscale = plan::autoscale(service).expect("autoscaled");
    assert_eq!(autoscale.scaler(), Scaler::Keda);
    let context = keda::Context::new(&platform, environment, target);
    let object = keda::object(service, &autoscale, &context);
    assert_eq!(object["apiVersion"], "keda.sh/v1alpha1");
    assert_eq!(object["kind"], "ScaledObject");
    assert_eq!(object["spec"]["minReplicaCount"], 2);
    assert_eq!(object["spec"]["maxReplicaCount"], 8);
    assert_eq!(
        object["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"],
        json!({ "policies": [{ "type": "Percent", "value": 10, "periodSeconds": 600 }] })
    );
    let triggers = object["spec"]["triggers"].as_array().expect("triggers");
    assert_eq!(
        triggers[0],
        json!({ "type": "redis", "metadata": { "address": "redis.shop.svc:6379",
            "listName": "jobs", "listLength": "50" } })
    );
    assert_eq!(
        triggers[1],
        json!({ "type": "rabbitmq", "metadata": { "queueName": "orders", "mode": "QueueLength",
            "value": "10" }, "authenticationRef": { "name": "rabbitmq-auth" } })
    );
    assert_eq!(
        triggers[2],
        json!({ "type": "prometheus", "metricType": "Value", "metadata": {
            "serverAddress": "http://prometheus.monitoring.svc:9090", "query": "max(age)",
            "threshold": "60" } })
    );
    assert_eq!(
        triggers[3]["metadata"],
        json!({ "bootstrapServers": "kafka-0:9092,kafka-1:9092", "consumerGroup": "workers",
            "topic": "events", "lagThreshold": "100" })
    );
    assert_eq!(triggers[4]["type"], "aws-sqs-queue");
    assert_eq!(triggers[4]["metadata"]["awsRegion"], "eu-central-1");
    assert_eq!(triggers[4]["metadata"]["queueLength"], "5");
    // max-age on SQS: the CloudWatch age of the oldest message, as a value (not per pod).
    assert_eq!(
        triggers[5],
        json!({ "type": "aws-cloudwatch", "metricType": "Value", "metadata": {
            "namespace": "AWS/SQS", "metricName": "ApproximateAgeOfOldestMessage",
            "dimensionName": "QueueName", "dimensionValue": "jobs", "metricStat": "Maximum",
            "targetMetricValue": "120", "minMetricValue": "0", "awsRegion": "eu-central-1" },
            "authenticationRef": { "name": "sqs-auth" } })
    );
    assert_eq!(
        triggers[6],
        json!({ "type": "cpu", "metricType": "Utilization", "metadata": { "value": "80" } })
    );
    assert_eq!(triggers.len(), 7);
}

#[test]
fn a_workload_never_gets_both_an_hpa_and_a_scaled_object() {
    let platform = platform(&spec(&format!("{API}{WORKER}"), ""));
    let files = emit(&platform);
    for env in ["dev", "stage", "prod"] {
        let dir = format!("kubernetes/overlays/{env}/aws");
        assert!(files.contains_key(&format!("{dir}/hpa-api.yaml")));
        assert!(!files.contains_key(&format!("{dir}/scaledobject-api.yaml")));
        assert!(files.contains_key(&format!("{dir}/scaledobject-worker.yaml")));
        assert!(!files.contains_key(&format!("{dir}/hpa-worker.yaml")));
    }
    // Neither workload pins replicas, in the base or any overlay.
    let tree = crate::emit::emit(&platform);
    for (path, bytes) in tree.files() {
        let text = String::from_utf8_lossy(bytes);
        if path.contains("/base/api/") || path.contains("/base/worker/") {
            assert!(!text.contains("replicas:"), "{path} pins replicas");
        }
    }
}

#[test]
fn a_target_that_autoscales_a_fixed_base_unpins_replicas() {
    let text = spec(
        r#"service web {
    image web tag="1"
    resources cpu="250m..500m"
    replicas 3
    in prod { autoscale { replicas 3 6; cpu 70; } }
}"#,
        "",
    );
    let platform = platform(&text);
    let tree = crate::emit::emit(&platform);
    let patch = tree
        .files()
        .get("kubernetes/overlays/prod/aws/patches/web.yaml")
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .expect("a patch for prod");
    assert!(patch.contains("replicas: null"), "{patch}");
}

#[test]
fn keda_qualifies_only_hosts_naming_platform_services() {
    let platform = platform(&spec(WORKER, ""));
    let environment = environment(&platform, "dev");
    let target = target(&platform, "dev");
    let context = keda::Context::new(&platform, environment, target);
    assert_eq!(
        keda::qualify("redis:6379", &context),
        (
            "redis.shop-dev.svc:6379".to_owned(),
            vec!["redis".to_owned()]
        )
    );
    assert_eq!(
        keda::qualify("redis.shop-dev.svc.cluster.local:6379", &context).1,
        ["redis"]
    );
    assert_eq!(
        keda::qualify("redis.other.svc:6379", &context),
        ("redis.other.svc:6379".to_owned(), Vec::new())
    );
    assert_eq!(
        keda::qualify("amqp://user@redis:5672/vhost", &context).0,
        "amqp://user@redis.shop-dev.svc:5672/vhost"
    );
    assert_eq!(keda::qualify("http://prometheus:9090", &context).1.len(), 0);
}

/// Services whose VPA comes from the profile (`a`), is written `off` (`b`) and `auto` (`c`).
const VPA_SERVICES: &str = r#"service a {
    image a tag="1"
    resources cpu="250m..500m" memory="256Mi..512Mi"
}
service b {
    image b tag="1"
    resources cpu="250m..500m" memory="256Mi..512Mi"
    vpa mode=off
}
service c {
    image c tag="1"
    resources cpu="250m..500m" memory="256Mi..512Mi"
    vpa mode=auto {
        min cpu="100m" memory="128Mi"
        max cpu=2 memory="4Gi"
        controlled-resources cpu memory
        controlled-values requests-and-limits
    }
}"#;

#[test]
fn vpa_from_the_profile_is_not_emitted_but_a_written_one_is() {
    let text = spec(VPA_SERVICES, "");
    let platform = platform(&text);
    assert!(plan::vpa(service(&platform, "prod", "a")).is_none());
    let b = service(&platform, "prod", "b");
    let object = vpa::object(b, plan::vpa(b).expect("written off"));
    assert_eq!(object["spec"]["updatePolicy"]["updateMode"], "Off");
    assert!(object["spec"].get("resourcePolicy").is_none());
    let c = service(&platform, "prod", "c");
    let object = vpa::object(c, plan::vpa(c).expect("auto"));
    assert_eq!(object["apiVersion"], "autoscaling.k8s.io/v1");
    assert_eq!(object["spec"]["updatePolicy"]["updateMode"], "Auto");
    assert_eq!(
        object["spec"]["resourcePolicy"]["containerPolicies"],
        json!([{ "containerName": "c", "minAllowed": { "cpu": "100m", "memory": "128Mi" },
            "maxAllowed": { "cpu": "2", "memory": "4Gi" },
            "controlledResources": ["cpu", "memory"], "controlledValues": "RequestsAndLimits" }])
    );
    // `Off` stays a quoted string: YAML 1.1 would read a bare Off as false.
    let text = crate::emit::yaml::document(&vpa::object(b, plan::vpa(b).expect("off")));
    assert!(text.contains("updateMode: \"Off\"") || text.contains("updateMode: 'Off'"));
}

#[test]
fn a_written_vpa_off_survives_the_dropped_origins() {
    // `compile` drops the origin tables before emitting; whether a VPA was written is decided
    // in lowering, so the written `Off` VPA is still emitted and the profile's is not.
    let text = spec(VPA_SERVICES, "");
    let compilation = pipeline::compile("platform.kdl", &text, Stop::AfterEmit);
    let platform = compilation.platform.as_ref().expect("a model");
    assert!(
        platform
            .targets()
            .flat_map(|(_, target)| &target.services)
            .all(|service| service.origins.is_empty())
    );
    let tree = compilation.tree.expect("a tree");
    let vpas: Vec<&str> = tree
        .files()
        .iter()
        .filter(|(path, bytes)| {
            path.starts_with("kubernetes/overlays/prod/")
                && String::from_utf8_lossy(bytes).contains("kind: VerticalPodAutoscaler")
        })
        .map(|(path, _)| path.as_str())
        .collect();
    assert_eq!(
        vpas,
        [
            "kubernetes/overlays/prod/aws/vpa-b.yaml",
            "kubernetes/overlays/prod/aws/vpa-c.yaml"
        ]
    );
    let off = String::from_utf8_lossy(&tree.files()["kubernetes/overlays/prod/aws/vpa-b.yaml"]);
    assert!(off.contains("updateMode: \"Off\""), "{off}");
}

const PDB_SERVICES: &str = r#"
service front {
    image front tag="1"
    port http 8080
    resources cpu="250m..500m" memory="256Mi..512Mi"
    autoscale { replicas 1 4; cpu 70; }
    in prod { autoscale { replicas 3 6; } }
}
service batch {
    image batch tag="1"
    resources cpu="250m..500m" memory="256Mi..512Mi"
    replicas 3
}
service db {
    kind stateful
    image db tag="1"
    port pg 5432
    resources cpu="250m..500m" memory="256Mi..512Mi"
    storage "1Gi"
    replicas 3
}
service single {
    kind stateful
    image single tag="1"
    port pg 5432
    resources cpu="250m..500m" memory="256Mi..512Mi"
    storage "1Gi"
    replicas 1
}
service declared {
    image declared tag="1"
    resources cpu="250m..500m" memory="256Mi..512Mi"
    replicas 4
    disruption min-available="75%"
}
"#;

#[test]
fn pdb_rules_by_profile() {
    let platform = platform(&spec(PDB_SERVICES, ""));
    let budget = |env: &str, name: &str| {
        plan::budget(environment(&platform, env), service(&platform, env, name))
            .map(|budget| pdb::object(service(&platform, env, name), &budget, true)["spec"].clone())
    };
    // development: pdb off.
    assert_eq!(budget("dev", "front"), None);
    // staging: front may run 1 replica → maxUnavailable 1; prod (min 3) → minAvailable 1.
    assert_eq!(budget("stage", "front").expect("pdb")["maxUnavailable"], 1);
    assert_eq!(budget("prod", "front").expect("pdb")["minAvailable"], 1);
    // A worker without ports: 50%.
    assert_eq!(
        budget("prod", "batch").expect("pdb")["maxUnavailable"],
        "50%"
    );
    // Stateful: one member at a time.
    assert_eq!(budget("prod", "db").expect("pdb")["maxUnavailable"], 1);
    // A single replica gets no default budget (the floor does not raise stateful services).
    assert_eq!(budget("prod", "single"), None);
    // Declared: as written.
    let declared = budget("prod", "declared").expect("pdb");
    assert_eq!(declared["minAvailable"], "75%");
    assert_eq!(declared["unhealthyPodEvictionPolicy"], "AlwaysAllow");
    assert_eq!(
        declared["selector"],
        json!({ "matchLabels": { "app.kubernetes.io/name": "declared",
            "app.kubernetes.io/instance": "declared" } })
    );
}

#[test]
fn default_budgets_never_block_an_eviction() {
    let platform = platform(&spec(&format!("{PDB_SERVICES}{API}{WORKER}"), ""));
    for environment in &platform.environments {
        for service in &environment.targets[0].services {
            let Some(budget) = plan::budget(environment, service) else {
                continue;
            };
            if budget.declared {
                continue;
            }
            let (min, _) = plan::replica_range(service);
            assert!(
                plan::allowed_disruptions(&budget.disruption, min.max(1)) > 0,
                "{} in {}",
                service.name,
                environment.name
            );
        }
    }
}

#[test]
fn eviction_policy_follows_the_cluster_version() {
    let platform = platform(&spec(PDB_SERVICES, ""));
    assert!(pdb::supports_eviction_policy(
        &platform,
        target(&platform, "prod")
    ));
    let old = platform_with_version("1.26");
    assert!(!pdb::supports_eviction_policy(&old, target(&old, "prod")));
}

fn platform_with_version(version: &str) -> Platform {
    let mut platform = platform(&spec(PDB_SERVICES, ""));
    for cluster in platform
        .clouds
        .iter_mut()
        .flat_map(|cloud| &mut cloud.clusters)
    {
        cluster.kubernetes = version.to_owned();
    }
    platform
}

const MESHED: &str = r#"
service web {
    image web tag="1"
    port http 8080 service-port=80
    resources cpu="250m..500m" memory="256Mi..512Mi"
    calls api worker
    expose host=web.example.com port=80
}
service api {
    image api tag="1"
    port http 8000
    port grpc 9000
    resources cpu="250m..500m" memory="256Mi..512Mi"
    calls db
}
service worker {
    image worker tag="1"
    resources cpu="250m..500m" memory="256Mi..512Mi"
    calls db
    autoscale { replicas 1 3; queue redis list=jobs address="db:6379"; }
}
service db {
    kind stateful
    image db tag="1"
    port pg 5432
    resources cpu="250m..500m" memory="256Mi..512Mi"
    storage "1Gi"
}
"#;

fn policies(platform: &Platform, env: &str) -> Vec<(String, Value)> {
    netpol::objects(platform, environment(platform, env), target(platform, env))
}

fn policy<'v>(policies: &'v [(String, Value)], name: &str) -> &'v Value {
    &policies
        .iter()
        .find(|(found, _)| found == name)
        .unwrap_or_else(|| panic!("no policy {name}"))
        .1
}

#[test]
fn network_policies_deny_by_default_and_allow_what_is_declared() {
    let platform = platform(&spec(MESHED, ""));
    let all = policies(&platform, "prod");
    let names: Vec<&str> = all.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "default-deny",
            "allow-dns",
            "allow-mesh",
            "api-allow",
            "db-allow",
            "web-allow",
            "worker-allow"
        ]
    );
    assert_eq!(
        policy(&all, "default-deny")["spec"],
        json!({ "podSelector": {}, "policyTypes": ["Ingress", "Egress"] })
    );
    assert_eq!(
        policy(&all, "allow-dns")["spec"]["egress"][0]["ports"],
        json!([{ "protocol": "UDP", "port": 53 }, { "protocol": "TCP", "port": 53 }])
    );
    assert_eq!(
        policy(&all, "allow-mesh")["spec"]["egress"][0]["ports"],
        json!([{ "protocol": "TCP", "port": 15012 }])
    );
    // web: ingress from the gateway on the container port behind service port 80; egress to
    // api on both its ports; nothing to the worker, which listens on nothing.
    let web = &policy(&all, "web-allow")["spec"];
    assert_eq!(
        web["ingress"][0]["ports"],
        json!([{ "protocol": "TCP", "port": 8080 }])
    );
    assert_eq!(
        web["ingress"][0]["from"][0]["podSelector"],
        json!({ "matchLabels": { "istio": "ingressgateway" } })
    );
    assert_eq!(web["egress"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        web["egress"][0]["ports"],
        json!([{ "protocol": "TCP", "port": 9000 }, { "protocol": "TCP", "port": 8000 }])
    );
    // api: ingress from web; egress to db.
    let api = &policy(&all, "api-allow")["spec"];
    assert_eq!(
        api["ingress"][0]["from"],
        json!([{ "podSelector": { "matchLabels": { "app.kubernetes.io/name": "web",
            "app.kubernetes.io/instance": "web" } } }])
    );
    assert_eq!(api["policyTypes"], json!(["Ingress", "Egress"]));
    // db: ingress from its callers, from KEDA (the worker's trigger reads it) and its peers.
    let db = &policy(&all, "db-allow")["spec"];
    let ingress = db["ingress"].as_array().expect("ingress");
    assert_eq!(ingress.len(), 3);
    assert_eq!(ingress[0]["from"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        ingress[1]["from"][0]["namespaceSelector"],
        json!({ "matchLabels": { "kubernetes.io/metadata.name": "keda" } })
    );
    assert_eq!(db["policyTypes"], json!(["Ingress"]));
    // worker: egress only.
    assert_eq!(
        policy(&all, "worker-allow")["spec"]["policyTypes"],
        json!(["Egress"])
    );
}

#[test]
fn network_policies_follow_default_deny_and_the_mesh_mode() {
    let off = platform(&spec(MESHED, "network-policy default-deny=#false"));
    assert!(policies(&off, "prod").is_empty());
    let ambient = platform(&spec(MESHED, "mesh mode=ambient"));
    let all = policies(&ambient, "prod");
    assert_eq!(
        policy(&all, "allow-mesh")["spec"]["ingress"],
        json!([{ "ports": [{ "protocol": "TCP", "port": 15008 }] },
            { "from": [{ "ipBlock": { "cidr": "169.254.7.127/32" } }] }])
    );
    let none = platform(&spec(MESHED, "mesh mode=none"));
    assert!(
        policies(&none, "prod")
            .iter()
            .all(|(name, _)| name != "allow-mesh")
    );
}

#[test]
fn effective_resources_apply_the_limit_range_and_give_the_qos_class() {
    let text = spec(
        r#"service bare {
    image bare tag="1"
}
service even {
    image even tag="1"
    resources cpu="1" memory="1Gi"
}
service burst {
    image burst tag="1"
    resources cpu="250m..1" memory="256Mi..1Gi"
}"#,
        r#"limit-range default-cpu="500m" default-memory="512Mi" default-request-cpu="250m""#,
    );
    let platform = platform(&text);
    let prod = environment(&platform, "prod");
    let dev = environment(&platform, "dev");
    let effective = |env: &Environment, name: &str| {
        plan::effective_resources(
            service(&platform, &env.name, name),
            env.limit_range.as_ref(),
        )
    };
    let bare = effective(prod, "bare");
    assert_eq!(bare.requests["cpu"], 0.25);
    assert_eq!(bare.limits["cpu"], 0.5);
    // No default-request-memory: the request defaults to the default limit.
    assert_eq!(bare.requests["memory"], 512.0 * 1024.0 * 1024.0);
    assert_eq!(plan::qos_class(&bare), "Burstable");
    assert_eq!(plan::qos_class(&effective(dev, "bare")), "BestEffort");
    assert_eq!(plan::qos_class(&effective(prod, "even")), "Guaranteed");
    assert_eq!(plan::qos_class(&effective(prod, "burst")), "Burstable");
}

#[test]
fn every_emitted_object_is_named_after_its_service_and_sets_no_namespace() {
    let platform = platform(&spec(&format!("{API}{WORKER}{PDB_SERVICES}"), ""));
    for (path, text) in emit(&platform) {
        let value: Value = serde_saphyr::from_str(&text).expect("yaml");
        assert!(value["metadata"].get("namespace").is_none(), "{path}");
        let name = value["metadata"]["name"].as_str().expect("name");
        assert!(
            path.ends_with(&format!("-{name}.yaml")),
            "{path} holds {name}"
        );
    }
}

#[test]
fn a_whole_float_is_the_integer_it_spells() {
    // `3.0` passes the schema's `integer` (JSON Schema counts 3.0 as one), so the converter
    // makes it the integer 3; kept as a float the typed spec rejected it as an internal error.
    let text = spec(
        r#"service a {
    image a tag="1"
    replicas 3.0
}"#,
        "",
    );
    let compilation = pipeline::compile("platform.kdl", &text, Stop::AfterChecks);
    assert!(!compilation.has_errors(), "{:#?}", compilation.diagnostics);
    let platform = compilation.platform.expect("a model");
    assert_eq!(
        service(&platform, "prod", "a").replicas,
        crate::model::Replicas::Fixed(3)
    );
}
