//! Tests of the Kustomize emitter against a small hand-built platform.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::patch::{apply, diff_object};
use super::{emit, overlay, workload};
use crate::model::{
    CloudKind, Environment, Image, LimitRange, Mesh, Platform, PodSecurity, Port, PortRef, Probe,
    ProbeCheck, Replicas, Resources, SecretRef, Security, Service, Storage, Sync, Target,
    WorkloadKind,
};

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

fn security() -> Security {
    Security {
        run_as_non_root: true,
        run_as_user: None,
        run_as_group: None,
        fs_group: None,
        read_only_root_filesystem: true,
        allow_privilege_escalation: false,
        privileged: false,
        drop_capabilities: vec!["ALL".into()],
        add_capabilities: Vec::new(),
        seccomp: "RuntimeDefault".into(),
        automount_token: false,
    }
}

fn service(name: &str, kind: WorkloadKind) -> Service {
    Service {
        name: name.into(),
        kind,
        image: Image {
            repository: format!("ghcr.io/acme/{name}"),
            tag: Some("1.0".into()),
            digest: None,
            pull_policy: None,
        },
        ports: Vec::new(),
        resources: Resources {
            requests: map(&[("cpu", "500m"), ("memory", "512Mi")]),
            limits: map(&[("cpu", "2"), ("memory", "2Gi")]),
        },
        probes: Vec::new(),
        env: Vec::new(),
        secrets: Vec::new(),
        calls: Vec::new(),
        egress: Vec::new(),
        replicas: Replicas::Fixed(1),
        autoscale: None,
        vpa: None,
        disruption: None,
        storage: None,
        expose: None,
        traffic: None,
        versions: BTreeMap::new(),
        security: security(),
        command: Vec::new(),
        args: Vec::new(),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        node_pool: None,
        placement: None,
        origins: Default::default(),
    }
}

fn gateway() -> Service {
    let mut gateway = service("api-gateway", WorkloadKind::Stateless);
    gateway.ports = vec![Port {
        name: "http".into(),
        port: 8000,
        service_port: 80,
        protocol: "TCP".into(),
        app_protocol: Some("http".into()),
    }];
    gateway.probes = vec![
        Probe {
            kind: "liveness".into(),
            check: ProbeCheck::Http {
                path: "/health".into(),
                port: PortRef::Number(8000),
            },
            initial_delay_seconds: Some(30),
            period_seconds: None,
            timeout_seconds: None,
            failure_threshold: None,
            success_threshold: None,
        },
        Probe {
            kind: "readiness".into(),
            check: ProbeCheck::Tcp {
                port: PortRef::Name("http".into()),
            },
            initial_delay_seconds: None,
            period_seconds: Some(10),
            timeout_seconds: None,
            failure_threshold: None,
            success_threshold: None,
        },
    ];
    gateway.env = vec![
        ("FEATURE_X".into(), "yes".into()),
        ("LOG_LEVEL".into(), "info".into()),
    ];
    gateway.secrets = vec![SecretRef {
        variable: "DATABASE_URL".into(),
        secret: "db".into(),
        key: "url".into(),
    }];
    gateway.replicas = Replicas::Autoscaled { min: 2, max: 10 };
    gateway
}

fn postgres() -> Service {
    let mut postgres = service("postgres", WorkloadKind::Stateful);
    postgres.ports = vec![Port {
        name: "postgres".into(),
        port: 5432,
        service_port: 5432,
        protocol: "TCP".into(),
        app_protocol: None,
    }];
    postgres.probes = vec![Probe {
        kind: "readiness".into(),
        check: ProbeCheck::Exec {
            command: "pg_isready -U postgres".into(),
        },
        initial_delay_seconds: None,
        period_seconds: Some(10),
        timeout_seconds: None,
        failure_threshold: None,
        success_threshold: None,
    }];
    postgres.storage = Some(Storage {
        size: "100Gi".into(),
        class: None,
        mount: "/var/lib/postgresql/data".into(),
        access_mode: "ReadWriteOnce".into(),
    });
    postgres.security.run_as_user = Some(999);
    postgres.security.fs_group = Some(999);
    postgres
}

fn worker() -> Service {
    let mut worker = service("worker", WorkloadKind::Stateless);
    worker.resources = Resources::default();
    worker.security.read_only_root_filesystem = false;
    worker.env = vec![
        ("MODE".into(), "batch".into()),
        ("QUEUE".into(), "jobs".into()),
    ];
    worker.command = vec!["run".into()];
    worker
}

fn environment(name: &str, targets: Vec<Target>) -> Environment {
    Environment {
        name: name.into(),
        profile: "production".into(),
        namespace: format!("shop-{name}"),
        labels: map(&[("tier", "gold")]),
        replica_floor: 1,
        pdb: true,
        pod_security: PodSecurity {
            enforce: "restricted".into(),
            audit: "restricted".into(),
            warn: "restricted".into(),
        },
        mesh: Mesh {
            mtls: "strict".into(),
            mode: "sidecar".into(),
        },
        default_deny: true,
        sync: Sync {
            automated: true,
            prune: true,
            self_heal: true,
        },
        quota: map(&[("pods", "30"), ("requests.cpu", "4")]),
        limit_range: Some(LimitRange {
            default: map(&[("cpu", "500m")]),
            max_storage: Some("200Gi".into()),
            ..LimitRange::default()
        }),
        backup: None,
        targets,
        origins: Default::default(),
    }
}

/// A platform with three services, a dev target on aws and prod targets on aws and gcp.
pub(crate) fn fixture() -> Platform {
    let base = vec![gateway(), postgres(), worker()];
    let mut dev_gateway = gateway();
    dev_gateway.env[1].1 = "debug".into();
    dev_gateway.image.tag = Some("1.1".into());
    let mut dev_worker = worker();
    dev_worker.env.truncate(1);
    dev_worker.command.clear();
    dev_worker.replicas = Replicas::Autoscaled { min: 1, max: 3 };
    let dev = Target {
        environment: "dev".into(),
        cloud: CloudKind::Aws,
        cluster: "aws-1".into(),
        services: vec![dev_gateway, postgres(), dev_worker],
    };
    let prod_targets = [(CloudKind::Aws, "gp3"), (CloudKind::Gcp, "premium-rwo")]
        .into_iter()
        .map(|(cloud, class)| {
            let mut prod_postgres = postgres();
            prod_postgres.replicas = Replicas::Fixed(2);
            if let Some(storage) = prod_postgres.storage.as_mut() {
                storage.class = Some(class.into());
            }
            let mut prod_worker = worker();
            prod_worker.security.read_only_root_filesystem = true;
            Target {
                environment: "prod".into(),
                cloud,
                cluster: format!("{}-1", cloud.as_str()),
                services: vec![gateway(), prod_postgres, prod_worker],
            }
        })
        .collect();
    let mut prod = environment("prod", prod_targets);
    prod.mesh.mode = "ambient".into();
    let mut dev = environment("dev", vec![dev]);
    dev.limit_range = None;
    Platform {
        name: "shop".into(),
        labels: map(&[("team", "platform"), ("cost-center", "cc-1")]),
        annotations: map(&[("owner", "platform-team")]),
        repo: None,
        clouds: Vec::new(),
        environments: vec![dev, prod],
        base,
        spec_file: "platform.kdl".into(),
        argocd: crate::model::ArgoCd::default(),
        addons: crate::model::Addons::default(),
    }
}

fn parse(files: &BTreeMap<String, String>, path: &str) -> Value {
    files
        .get(path)
        .and_then(|text| serde_saphyr::from_str::<Value>(text).ok())
        .unwrap_or(Value::Null)
}

#[test]
fn emits_the_expected_files() {
    let files = emit(&fixture(), &crate::emit::Files::new());
    let paths: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "kubernetes/base/api-gateway/deployment.yaml",
            "kubernetes/base/api-gateway/kustomization.yaml",
            "kubernetes/base/api-gateway/service.yaml",
            "kubernetes/base/api-gateway/serviceaccount.yaml",
            "kubernetes/base/postgres/kustomization.yaml",
            "kubernetes/base/postgres/service-headless.yaml",
            "kubernetes/base/postgres/service.yaml",
            "kubernetes/base/postgres/serviceaccount.yaml",
            "kubernetes/base/postgres/statefulset.yaml",
            "kubernetes/base/worker/deployment.yaml",
            "kubernetes/base/worker/kustomization.yaml",
            "kubernetes/base/worker/serviceaccount.yaml",
            "kubernetes/overlays/dev/aws/kustomization.yaml",
            "kubernetes/overlays/dev/aws/namespace.yaml",
            "kubernetes/overlays/dev/aws/patches/api-gateway.service.yaml",
            "kubernetes/overlays/dev/aws/patches/api-gateway.serviceaccount.yaml",
            "kubernetes/overlays/dev/aws/patches/api-gateway.yaml",
            "kubernetes/overlays/dev/aws/patches/worker.yaml",
            "kubernetes/overlays/dev/aws/resourcequota.yaml",
            "kubernetes/overlays/prod/aws/kustomization.yaml",
            "kubernetes/overlays/prod/aws/limitrange.yaml",
            "kubernetes/overlays/prod/aws/namespace.yaml",
            "kubernetes/overlays/prod/aws/patches/postgres.yaml",
            "kubernetes/overlays/prod/aws/patches/worker.yaml",
            "kubernetes/overlays/prod/aws/resourcequota.yaml",
            "kubernetes/overlays/prod/gcp/kustomization.yaml",
            "kubernetes/overlays/prod/gcp/limitrange.yaml",
            "kubernetes/overlays/prod/gcp/namespace.yaml",
            "kubernetes/overlays/prod/gcp/patches/postgres.yaml",
            "kubernetes/overlays/prod/gcp/patches/worker.yaml",
            "kubernetes/overlays/prod/gcp/resourcequota.yaml",
        ]
    );
}

#[test]
fn base_deployment_is_hardened_and_unpinned_when_autoscaled() {
    let files = emit(&fixture(), &crate::emit::Files::new());
    let deployment = parse(&files, "kubernetes/base/api-gateway/deployment.yaml");
    assert_eq!(deployment.pointer("/spec/replicas"), None);
    // the platform's annotation (and checkov suppressions, src/emit/hardening.rs)
    assert_eq!(
        deployment.pointer("/metadata/annotations/owner"),
        Some(&json!("platform-team"))
    );
    let pod = deployment
        .pointer("/spec/template/spec")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(pod["automountServiceAccountToken"], json!(false));
    assert_eq!(pod["enableServiceLinks"], json!(false));
    assert_eq!(
        pod["securityContext"],
        json!({ "runAsNonRoot": true, "seccompProfile": { "type": "RuntimeDefault" } })
    );
    assert_eq!(pod["volumes"], json!([{ "name": "tmp", "emptyDir": {} }]));
    let container = &pod["containers"][0];
    assert_eq!(container["image"], json!("ghcr.io/acme/api-gateway:1.0"));
    assert_eq!(
        container["env"][0],
        json!({ "name": "FEATURE_X", "value": "yes" })
    );
    assert_eq!(
        container["env"][2]["valueFrom"],
        json!({ "secretKeyRef": { "name": "db", "key": "url" } })
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["port"], json!(8000));
    assert_eq!(
        container["readinessProbe"]["tcpSocket"]["port"],
        json!("http")
    );
    assert_eq!(
        deployment.pointer("/spec/selector/matchLabels"),
        Some(&json!({ "app.kubernetes.io/name": "api-gateway",
            "app.kubernetes.io/instance": "api-gateway" }))
    );
    let text = files
        .get("kubernetes/base/api-gateway/deployment.yaml")
        .cloned()
        .unwrap_or_default();
    assert!(text.contains("value: 'yes'") || text.contains("value: \"yes\""));
}

#[test]
fn worker_without_ports_has_no_service() {
    let files = emit(&fixture(), &crate::emit::Files::new());
    assert!(!files.contains_key("kubernetes/base/worker/service.yaml"));
    let kustomization = parse(&files, "kubernetes/base/worker/kustomization.yaml");
    assert_eq!(
        kustomization["resources"],
        json!(["serviceaccount.yaml", "deployment.yaml"])
    );
}

#[test]
fn overlay_kustomization_lists_resources_labels_images_and_patches() {
    let files = emit(&fixture(), &crate::emit::Files::new());
    let kustomization = parse(&files, "kubernetes/overlays/dev/aws/kustomization.yaml");
    assert_eq!(kustomization["namespace"], json!("shop-dev"));
    assert_eq!(
        kustomization["resources"],
        json!([
            "namespace.yaml",
            "../../../base/api-gateway",
            "../../../base/postgres",
            "../../../base/worker",
            "resourcequota.yaml"
        ])
    );
    assert_eq!(
        kustomization["labels"][0]["pairs"],
        json!({ "cost-center": "cc-1", "team": "platform", "tier": "gold",
            "app.kubernetes.io/part-of": "shop", "app.kubernetes.io/environment": "dev" })
    );
    assert_eq!(
        kustomization["images"],
        json!([{ "name": "ghcr.io/acme/api-gateway", "newTag": "1.1" }])
    );
    let patch = parse(
        &files,
        "kubernetes/overlays/dev/aws/patches/api-gateway.yaml",
    );
    assert_eq!(
        patch.pointer("/spec/template/spec/containers"),
        Some(
            &json!([{ "name": "api-gateway", "env": [{ "name": "LOG_LEVEL", "value": "debug" }] }])
        )
    );
    assert_eq!(
        patch.pointer("/metadata/labels"),
        Some(&json!({ "app.kubernetes.io/version": "1.1" }))
    );
}

#[test]
fn prod_patches_replicas_storage_class_and_tmp_volume() {
    let files = emit(&fixture(), &crate::emit::Files::new());
    let patch = parse(&files, "kubernetes/overlays/prod/gcp/patches/postgres.yaml");
    assert_eq!(patch.pointer("/spec/replicas"), Some(&json!(2)));
    assert_eq!(
        patch.pointer("/spec/volumeClaimTemplates/0/spec/storageClassName"),
        Some(&json!("premium-rwo"))
    );
    let worker = parse(&files, "kubernetes/overlays/prod/aws/patches/worker.yaml");
    assert_eq!(
        worker.pointer("/spec/template/spec/volumes"),
        Some(&json!([{ "name": "tmp", "emptyDir": {} }]))
    );
    let namespace = parse(&files, "kubernetes/overlays/prod/aws/namespace.yaml");
    assert_eq!(
        namespace.pointer("/metadata/labels/istio.io~1dataplane-mode"),
        Some(&json!("ambient"))
    );
    let quota = files
        .get("kubernetes/overlays/prod/aws/resourcequota.yaml")
        .cloned()
        .unwrap_or_default();
    assert!(quota.contains("pods: '30'") || quota.contains("pods: \"30\""));
}

#[test]
fn patches_turn_every_base_object_into_the_target_object() {
    let platform = fixture();
    for environment in &platform.environments {
        for target in &environment.targets {
            for service in &target.services {
                let Some(base) = platform.base.iter().find(|base| base.name == service.name) else {
                    continue;
                };
                let image = base.image.reference();
                for (base_object, mut target_object) in workload::objects(base)
                    .into_iter()
                    .zip(workload::objects(service))
                {
                    overlay::keep_image(&mut target_object.value, &image);
                    let patched = match diff_object(&base_object.value, &target_object.value) {
                        Some(patch) => apply(&base_object.value, &patch, ""),
                        None => base_object.value.clone(),
                    };
                    assert_eq!(
                        patched, target_object.value,
                        "{} {}",
                        target.environment, base_object.file
                    );
                }
            }
        }
    }
}

#[test]
fn removals_become_delete_directives() {
    let files = emit(&fixture(), &crate::emit::Files::new());
    let patch = parse(&files, "kubernetes/overlays/dev/aws/patches/worker.yaml");
    assert_eq!(
        patch.pointer("/spec"),
        Some(
            &json!({ "replicas": null, "template": { "spec": { "containers": [{
            "name": "worker", "command": null,
            "env": [{ "name": "QUEUE", "$patch": "delete" }] }] } } })
        )
    );
}
