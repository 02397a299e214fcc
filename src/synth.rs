//! Synthetic platform specs for benchmarks and scale tests (`manifold-gen`, `benches/compile.rs`).
//!
//! Consumes: a number of services `N` and a seed. Produces: the text of a valid `platform.kdl`
//! that uses every feature of the language, so that each stage of the pipeline does
//! representative work at any size. The same `(N, seed)` always gives the same bytes (a small
//! SplitMix64 generator, no clock, no hashing of addresses).
//!
//! The platform: three clouds (aws with a production and a non-production EKS cluster, gcp,
//! azure) and three environments spread over them like the examples: `dev` (development profile,
//! aws, with a quota), `staging` (staging profile, aws and gcp, replica floor 2, a quota) and
//! `prod` (production profile, aws, gcp and azure, a limit range, a backup schedule, the
//! clusters generator for Argo CD) — six targets. Services come in groups of ten, by position
//! in the group:
//!
//! | position | kind | what it exercises |
//! |---|---|---|
//! | 0 | `web-N` | `expose` with routes (prefix, exact, regex, split, mirror, fault, rewrite, header match, header operations, to another service), canary `version`s, `traffic` policy, an HPA on cpu, memory and custom metrics (per-pod, object), behaviour, `disruption`, per-environment hosts |
//! | 1–4 | `api-N` | two ports, probes (startup, readiness, liveness), env, secrets, `calls`, an HPA on cpu (some also an external metric), `vpa mode=off`, a digest instead of a tag (some), mesh timeouts and retries, `in ENV cloud=CLOUD` |
//! | 5–6 | `worker-N` | no port, a KEDA ScaledObject (redis, rabbitmq, prometheus, kafka or aws-sqs with `max-age`), `vpa mode=auto`, ephemeral storage, the spot node pool in prod on aws |
//! | 7 | `db-N` | `kind stateful`, storage (another class on azure), args, exec probes, security context, a connection pool |
//! | 8 | `cache-N` | stateful redis, tcp probes, three replicas with a disruption budget in prod |
//! | 9 | `batch-N` | fixed replicas, command and args, labels and annotations, a gRPC probe |
//!
//! References (`calls`, routes' `to`, mirrors, a redis trigger's `address`) stay inside a
//! service's group, so a spec with `N` not a multiple of ten is valid too. The node pools,
//! and the quotas, are sized from the generated services (maximum replicas × requests, pods,
//! with the replica floors and canary Deployments, allocatable per node from
//! [`crate::check::platform::instances`]) with headroom, so the capacity checks pass; the
//! spec compiles with warnings only (custom-metric HPAs need an adapter, `max-age` on
//! non-SQS triggers is never written).

use std::fmt::Write as _;

use crate::check::platform::instances;
use crate::model::CloudKind;

/// A deterministic pseudo-random generator (SplitMix64): enough variety for a benchmark,
/// identical on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    /// One of `items`.
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// The kind of a service, from its position in its group of ten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Web,
    Api,
    Worker,
    Db,
    Cache,
    Batch,
}

impl Kind {
    fn of(index: usize) -> Kind {
        match index % 10 {
            0 => Kind::Web,
            1..=4 => Kind::Api,
            5 | 6 => Kind::Worker,
            7 => Kind::Db,
            8 => Kind::Cache,
            _ => Kind::Batch,
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Kind::Web => "web",
            Kind::Api => "api",
            Kind::Worker => "worker",
            Kind::Db => "db",
            Kind::Cache => "cache",
            Kind::Batch => "batch",
        }
    }
}

/// Environments: name, profile, replica floor (as generated), clouds.
const ENVIRONMENTS: [(&str, u64, &[Cloud]); 3] = [
    ("dev", 1, &[Cloud::Aws]),
    ("staging", 2, &[Cloud::Aws, Cloud::Gcp]),
    ("prod", 2, &[Cloud::Aws, Cloud::Gcp, Cloud::Azure]),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cloud {
    Aws,
    Gcp,
    Azure,
}

/// The node pools whose capacity the generator tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pool {
    AwsNonprod,
    AwsProd,
    AwsSpot,
    Gcp,
    Azure,
}

const POOLS: usize = 5;

/// Machine types: big nodes keep the pool counts readable.
const AWS_MACHINE: &str = "m5.4xlarge";
const GCP_MACHINE: &str = "e2-standard-16";
const AZURE_MACHINE: &str = "Standard_D8s_v5";

fn pool_of(environment: &str, cloud: Cloud, spot: bool) -> Pool {
    match (cloud, environment) {
        (Cloud::Aws, "prod") if spot => Pool::AwsSpot,
        (Cloud::Aws, "prod") => Pool::AwsProd,
        (Cloud::Aws, _) => Pool::AwsNonprod,
        (Cloud::Gcp, _) => Pool::Gcp,
        (Cloud::Azure, _) => Pool::Azure,
    }
}

/// Peak demand: CPU cores, memory bytes and pods, requests and limits.
#[derive(Debug, Clone, Copy, Default)]
struct Demand {
    cpu: f64,
    memory: f64,
    limit_cpu: f64,
    limit_memory: f64,
    pods: f64,
}

impl Demand {
    fn add(&mut self, pods: u64, resources: &Resources) {
        let pods = pods as f64;
        self.pods += pods;
        self.cpu += pods * resources.cpu.0;
        self.memory += pods * resources.memory.0;
        self.limit_cpu += pods * resources.cpu.1;
        self.limit_memory += pods * resources.memory.1;
    }
}

/// Requests and limits of one container (cores, bytes) with their spec text.
#[derive(Debug, Clone, Copy)]
struct Resources {
    cpu: (f64, f64),
    memory: (f64, f64),
    text: &'static str,
}

const MI: f64 = 1024.0 * 1024.0;
const GI: f64 = 1024.0 * MI;

const fn res(cpu: (f64, f64), memory: (f64, f64), text: &'static str) -> Resources {
    Resources { cpu, memory, text }
}

const SMALL: Resources = res(
    (0.1, 0.4),
    (128.0 * MI, 512.0 * MI),
    r#"cpu="100m..400m" memory="128Mi..512Mi""#,
);
const MEDIUM: Resources = res(
    (0.25, 1.0),
    (256.0 * MI, 1.0 * GI),
    r#"cpu="250m..1" memory="256Mi..1Gi""#,
);
const LARGE: Resources = res(
    (0.5, 2.0),
    (512.0 * MI, 2.0 * GI),
    r#"cpu="500m..2" memory="512Mi..2Gi""#,
);
const DATABASE: Resources = res(
    (0.5, 2.0),
    (1.0 * GI, 4.0 * GI),
    r#"cpu="500m..2" memory="1Gi..4Gi""#,
);
const TINY: Resources = res(
    (0.1, 0.2),
    (64.0 * MI, 256.0 * MI),
    r#"cpu="100m..200m" memory="64Mi..256Mi""#,
);

/// Replica counts of a service in one target, before and after the replica floor.
#[derive(Debug, Clone, Copy)]
enum Replicas {
    Fixed(u64),
    Auto(u64, u64),
}

impl Replicas {
    /// The most pods the workload can run in an environment with `floor` (stateless only).
    fn peak(self, floor: u64, stateful: bool) -> u64 {
        let floor = if stateful { 0 } else { floor };
        match self {
            Replicas::Fixed(count) => count.max(floor),
            Replicas::Auto(min, max) => max.max(min.max(floor)),
        }
    }
}

/// Writes a valid platform spec with `services` services (at least one), deterministic in
/// `(services, seed)`. See the module documentation for what it contains.
pub fn generate(services: usize, seed: u64) -> String {
    let services = services.max(1);
    let width = services.saturating_sub(1).to_string().len().max(3);
    let name = |index: usize| format!("{}-{index:0width$}", Kind::of(index).prefix());
    let mut rng = Rng(seed ^ 0x6d61_6e69_666f_6c64);
    let mut body = String::new();
    // Peak demand per pool and per (environment, cloud) for the quotas.
    let mut pools = [Demand::default(); POOLS];
    let mut quota_dev = Demand::default();
    let mut quota_staging = Demand::default();

    for index in 0..services {
        let kind = Kind::of(index);
        let group = index - index % 10;
        let member = |position: usize| {
            let peer = group + position;
            (peer < services && peer != index).then(|| name(peer))
        };
        let service = Generated::new(kind, index, &name(index), &mut rng, &member);
        body.push_str(&service.text);
        body.push('\n');
        for (environment, floor, clouds) in ENVIRONMENTS {
            for &cloud in clouds {
                let replicas = service.replicas(environment, cloud);
                let peak = replicas.peak(floor, service.stateful);
                let spot = service.spot && environment == "prod" && cloud == Cloud::Aws;
                let pool = pool_of(environment, cloud, spot);
                pools[pool as usize].add(peak + service.canaries, &service.resources);
                match environment {
                    "dev" => quota_dev.add(peak + service.canaries, &service.resources),
                    "staging" if cloud == Cloud::Aws => {
                        quota_staging.add(peak + service.canaries, &service.resources)
                    }
                    _ => {}
                }
            }
        }
    }

    let mut spec = String::with_capacity(body.len() + 8192);
    header(&mut spec, services, seed);
    clouds(&mut spec, &pools);
    environments(&mut spec, &quota_dev, &quota_staging);
    spec.push_str(DEFAULTS);
    spec.push_str(&body);
    spec
}

fn header(spec: &mut String, services: usize, seed: u64) {
    let _ = write!(
        spec,
        r#"// Generated by manifold-gen: {services} services, seed {seed}. Do not edit; regenerate with
//   cargo run --release --bin manifold-gen -- {services} --seed {seed}
// Three clouds, three environments (six targets), and every feature of the language.

platform synth {{
    repo "https://git.example.com/platform/synth-gitops.git" branch=main path=deploy
    labels team=platform cost-center=cc-00042
    annotations "example.com/runbook"="https://runbooks.example.com/synth"
    registry "ghcr.io/synth"
    argocd namespace=argocd project=synth
}}

"#
    );
}

/// Nodes for `demand` on `machine`, with 25 % headroom and at least `floor`.
fn nodes(demand: &Demand, cloud: CloudKind, machine: &str, floor: u64) -> u64 {
    let node = instances::allocatable(cloud, machine).expect("a machine type in the table");
    let need = (demand.cpu / node.cpu)
        .max(demand.memory / node.memory)
        .max(demand.pods / f64::from(node.pods));
    ((need * 1.25).ceil() as u64 + 1).max(floor)
}

fn clouds(spec: &mut String, pools: &[Demand; POOLS]) {
    let pool = |which: Pool, cloud: CloudKind, machine: &str, floor: u64| {
        nodes(&pools[which as usize], cloud, machine, floor)
    };
    let nonprod = pool(Pool::AwsNonprod, CloudKind::Aws, AWS_MACHINE, 2);
    let prod = pool(Pool::AwsProd, CloudKind::Aws, AWS_MACHINE, 3);
    let spot = pool(Pool::AwsSpot, CloudKind::Aws, AWS_MACHINE, 1);
    let gcp = pool(Pool::Gcp, CloudKind::Gcp, GCP_MACHINE, 3);
    let azure = pool(Pool::Azure, CloudKind::Azure, AZURE_MACHINE, 3);
    let _ = write!(
        spec,
        r#"cloud aws {{
    region us-west-2
    state bucket=synth-tf-state key=synth region=us-west-2 dynamodb-table=synth-tf-lock
    storage-class gp3
    cluster synth-aws {{
        kubernetes "1.31"
        endpoint private=#true public=#false
        network create=#true cidr="10.20.0.0/16" zones=3
        node-pool general instance-type={AWS_MACHINE} min=3 max={prod} desired=3 disk-size=100
        node-pool spot instance-type={AWS_MACHINE} min=0 max={spot} capacity=spot taint="capacity=spot:NoSchedule" {{
            labels capacity=spot
        }}
    }}
    cluster synth-aws-nonprod {{
        kubernetes "1.31"
        endpoint private=#true public=#true public-cidrs="203.0.113.0/24"
        network create=#true cidr="10.30.0.0/16" zones=2
        node-pool general instance-type={AWS_MACHINE} min=1 max={nonprod} desired=2
    }}
}}

cloud gcp {{
    project synth-platform
    region us-west1
    state bucket=synth-tf-state-gcp prefix=synth
    storage-class premium-rwo
    cluster synth-gcp {{
        kubernetes "1.31"
        release-channel regular
        network name=synth subnetwork=synth-us-west1
        node-pool general machine-type={GCP_MACHINE} min=1 max={gcp} desired=3
    }}
}}

cloud azure {{
    location westus2
    resource-group rg-synth
    state resource-group=rg-tfstate storage-account=synthtfstate container=tfstate key=synth.tfstate
    storage-class managed-csi-premium
    cluster synth-azure {{
        kubernetes "1.31"
        network plugin=azure policy=calico
        node-pool system vm-size=Standard_D4s_v5 min=1 max=3 desired=1
        node-pool general vm-size={AZURE_MACHINE} min=1 max={azure} desired=3
    }}
}}

"#
    );
}

/// A quota holding `demand` with 50 % headroom.
fn quota(demand: &Demand) -> String {
    let cores = |value: f64| (value * 1.5).ceil() as u64 + 1;
    let gib = |value: f64| (value * 1.5 / GI).ceil() as u64 + 1;
    format!(
        r#"quota requests-cpu={} requests-memory="{}Gi" limits-cpu={} limits-memory="{}Gi" pods={}"#,
        cores(demand.cpu),
        gib(demand.memory),
        cores(demand.limit_cpu),
        gib(demand.limit_memory),
        cores(demand.pods),
    )
}

fn environments(spec: &mut String, dev: &Demand, staging: &Demand) {
    let _ = write!(
        spec,
        r#"environment dev profile=development {{
    namespace synth-dev
    deploy-to aws
    cluster aws=synth-aws-nonprod
    pod-security enforce=restricted
    {}
}}

environment staging profile=staging {{
    namespace synth-staging
    deploy-to aws gcp
    cluster aws=synth-aws-nonprod
    replica-floor 2
    {}
}}

environment prod profile=production {{
    namespace synth
    deploy-to aws gcp azure
    cluster aws=synth-aws
    labels environment=production
    argocd generator=clusters {{
        cluster-selector environment=production
    }}
    limit-range default-cpu="500m" default-memory="512Mi" default-request-cpu="250m" default-request-memory="256Mi" min-cpu="50m" min-memory="64Mi" max-cpu=4 max-memory="8Gi" max-storage="200Gi"
    mesh mtls=strict
    backup schedule="0 2 * * *" ttl="720h"
}}

"#,
        quota(dev),
        quota(staging),
    );
}

const DEFAULTS: &str = r#"defaults {
    resources cpu="250m..500m" memory="256Mi..512Mi"
    env LOG_LEVEL=info
    security run-as-user=10001 run-as-group=10001
    labels "app.kubernetes.io/part-of"=synth
}

"#;

/// One generated service: its text and what the capacity sums need.
struct Generated {
    text: String,
    resources: Resources,
    stateful: bool,
    spot: bool,
    /// Extra Deployments (canary versions), one replica each, in every target.
    canaries: u64,
    /// Replicas per environment: service level, then `in ENV`, then `in prod cloud=gcp`.
    base: Replicas,
    dev: Option<Replicas>,
    staging: Option<Replicas>,
    prod: Option<Replicas>,
    prod_gcp: Option<Replicas>,
}

impl Generated {
    fn replicas(&self, environment: &str, cloud: Cloud) -> Replicas {
        let by_env = match environment {
            "dev" => self.dev,
            "staging" => self.staging,
            _ => self.prod,
        };
        let by_cloud = (environment == "prod" && cloud == Cloud::Gcp)
            .then_some(self.prod_gcp)
            .flatten();
        by_cloud.or(by_env).unwrap_or(self.base)
    }

    fn new(
        kind: Kind,
        index: usize,
        name: &str,
        rng: &mut Rng,
        member: &dyn Fn(usize) -> Option<String>,
    ) -> Generated {
        let mut service = Generated {
            text: String::with_capacity(2048),
            resources: MEDIUM,
            stateful: false,
            spot: false,
            canaries: 0,
            base: Replicas::Fixed(1),
            dev: None,
            staging: None,
            prod: None,
            prod_gcp: None,
        };
        let version = format!(
            "{}.{}.{}",
            rng.range(1, 4),
            rng.range(0, 20),
            rng.range(0, 9)
        );
        match kind {
            Kind::Web => service.web(name, &version, rng, member),
            Kind::Api => service.api(index, name, &version, rng, member),
            Kind::Worker => service.worker(index, name, &version, rng, member),
            Kind::Db => service.db(name, &version, rng),
            Kind::Cache => service.cache(name, rng),
            Kind::Batch => service.batch(name, &version, rng, member),
        }
        service
    }

    fn line(&mut self, text: &str) {
        self.text.push_str("    ");
        self.text.push_str(text);
        self.text.push('\n');
    }

    fn calls(&mut self, callees: &[Option<String>]) {
        let names: Vec<&str> = callees.iter().flatten().map(String::as_str).collect();
        if !names.is_empty() {
            let line = format!("calls {}", names.join(" "));
            self.line(&line);
        }
    }

    fn web(
        &mut self,
        name: &str,
        version: &str,
        rng: &mut Rng,
        member: &dyn Fn(usize) -> Option<String>,
    ) {
        self.resources = *rng.pick(&[SMALL, MEDIUM]);
        let (min, max) = (2, rng.range(6, 12));
        self.base = Replicas::Auto(min, max);
        self.dev = Some(Replicas::Auto(1, 3));
        self.staging = Some(Replicas::Auto(2, 4));
        self.prod = Some(Replicas::Auto(3, max + 4));
        self.canaries = 1;
        let api = member(1);
        let cache = member(8);
        let _ = writeln!(
            self.text,
            "// A front end: ingress, canary, custom metrics."
        );
        let _ = writeln!(self.text, "service {name} {{");
        self.line(&format!(
            r#"image {name} tag="{version}" pull-policy=IfNotPresent"#
        ));
        self.line("port http 8080 service-port=80 app-protocol=http");
        self.line(&format!("resources {}", self.resources.text));
        self.line(r#"probe readiness http="/health" port=http initial-delay="5s" period="10s""#);
        self.line(r#"probe liveness http="/health" port=http initial-delay="30s" period="30s""#);
        self.line(&format!(
            "env NODE_ENV=production UPSTREAM={} FEATURE_FLAGS=\"a,b\"",
            api.as_deref().unwrap_or("none")
        ));
        self.line(&format!(
            "secret SESSION_KEY from={name}-secrets key=session-key"
        ));
        self.calls(&[api.clone(), cache]);
        self.line("autoscale {");
        self.line(&format!("    replicas {min} {max}"));
        self.line("    cpu 70");
        self.line("    memory 80");
        self.line("    per-pod http_requests_per_second 100");
        self.line(&format!(
            "    object requests_per_second 500 kind=Service name={name} api-version=v1 {{"
        ));
        self.line(&format!("        selector app={name}"));
        self.line("    }");
        self.line(r#"    scale-up percent=100 pods=4 period="15s" stabilize="0s" select=max"#);
        self.line(r#"    scale-down percent=10 period="60s" stabilize="5m""#);
        self.line("}");
        self.line("disruption max-unavailable=1");
        self.line(&format!(
            "expose host={name}.synth.example.com tls-secret={name}-tls {{"
        ));
        self.line(
            r#"    route prefix="/static/" header-add="cache-control=public, max-age=31536000" header-remove="server,x-powered-by""#,
        );
        self.line(r#"    route exact="/healthz" fault-delay="100ms" fault-delay-percent=1"#);
        self.line(r#"    route prefix="/beta/" rewrite="/" request-header-set="x-channel=beta" {"#);
        self.line("        header x-beta=yes");
        self.line("        split stable=50 canary=50");
        self.line("    }");
        if let Some(api) = &api {
            self.line(&format!(
                r#"    route prefix="/api/" to={api} timeout="10s" retries=3 per-try-timeout="2s" retry-on="5xx,reset""#
            ));
        }
        self.line(&format!(
            r#"    route regex="/v[0-9]+/.*" mirror={name}:canary mirror-percent=5 fault-abort=503 fault-abort-percent=1"#
        ));
        self.line(r#"    route prefix="/""#);
        self.line("}");
        self.line("traffic {");
        self.line(r#"    circuit-breaker consecutive-errors=5 interval="30s" ejection="60s" max-ejection-percent=50"#);
        self.line(r#"    connection-pool max-connections=100 max-pending=50 connect-timeout="2s""#);
        self.line("    load-balancer least-request");
        self.line("}");
        self.line("version stable weight=90");
        let canary = format!("{}.{}.0", rng.range(5, 9), rng.range(0, 9));
        self.line(&format!(
            r#"version canary tag="{canary}" weight=10 replicas=1"#
        ));
        self.line("labels tier=frontend");
        self.line("in dev {");
        self.line("    autoscale { replicas 1 3; }");
        self.line("    env NODE_ENV=development LOG_LEVEL=debug");
        self.line(&format!("    expose host={name}.dev.synth.example.com"));
        self.line("}");
        self.line("in staging {");
        self.line("    autoscale { replicas 2 4; }");
        self.line(&format!("    expose host={name}.staging.synth.example.com"));
        self.line("}");
        self.line(&format!(
            "in prod {{ autoscale {{ replicas 3 {}; }}; }}",
            max + 4
        ));
        self.text.push_str("}\n");
    }

    fn api(
        &mut self,
        index: usize,
        name: &str,
        version: &str,
        rng: &mut Rng,
        member: &dyn Fn(usize) -> Option<String>,
    ) {
        self.resources = *rng.pick(&[MEDIUM, LARGE]);
        let max = rng.range(4, 10);
        self.base = Replicas::Auto(1, max);
        self.dev = Some(Replicas::Auto(1, 2));
        self.prod = Some(Replicas::Auto(2, max + 2));
        let _ = writeln!(
            self.text,
            "// An API: two ports, probes, calls, mesh retries."
        );
        let _ = writeln!(self.text, "service {name} {{");
        if index % 10 == 4 {
            let digest: String = (0..4).map(|_| format!("{:016x}", rng.next())).collect();
            self.line(&format!(r#"image {name} digest="sha256:{digest}""#));
        } else {
            self.line(&format!(r#"image {name} tag="{version}""#));
        }
        self.line("port http 8000 app-protocol=http");
        self.line("port grpc 9000 app-protocol=grpc");
        self.line(&format!("resources {}", self.resources.text));
        self.line(r#"probe startup http="/ready" port=http failure-threshold=30 period="2s""#);
        self.line(r#"probe readiness http="/ready" port=http"#);
        self.line(r#"probe liveness grpc=#true port=grpc initial-delay="20s" timeout="2s""#);
        self.line(&format!(
            r#"env SERVICE_NAME={name} MAX_BODY=1048576 TRACE=#true REGION="us""#
        ));
        self.line(&format!("secret DATABASE_URL from={name}-db key=url"));
        self.line(&format!("secret API_TOKEN from={name}-api key=token"));
        // An API calls the next API of its group, the database and the cache.
        let next = match index % 10 {
            4 => 1,
            position => position + 1,
        };
        self.calls(&[member(next), member(7), member(8)]);
        self.line("autoscale {");
        self.line(&format!("    replicas 1 {max}"));
        self.line("    cpu 75");
        if index % 10 == 3 {
            self.line(&format!(
                "    external queue_messages_ready 30 {{ selector queue={name}; }}"
            ));
        }
        self.line(r#"    scale-down percent=10 pods=1 period="5m" stabilize="5m" select=min"#);
        self.line("}");
        self.line("vpa mode=off");
        self.line("traffic {");
        self.line(r#"    timeout "5s""#);
        self.line("    retries 2");
        self.line(r#"    per-try-timeout "2s""#);
        self.line(r#"    retry-on "5xx,connect-failure""#);
        self.line("}");
        self.line("in dev { autoscale { replicas 1 2; }; env TRACE=#false; }");
        self.line(&format!(
            "in prod {{ autoscale {{ replicas 2 {}; }}; }}",
            max + 2
        ));
        if index % 10 == 2 {
            let gcp_max = max.max(3);
            self.prod_gcp = Some(Replicas::Auto(2, gcp_max));
            self.line(&format!(
                "in prod cloud=gcp {{ autoscale {{ replicas 2 {gcp_max}; }}; env REGION=\"us-west1\"; }}"
            ));
        }
        self.text.push_str("}\n");
    }

    fn worker(
        &mut self,
        index: usize,
        name: &str,
        version: &str,
        rng: &mut Rng,
        member: &dyn Fn(usize) -> Option<String>,
    ) {
        self.resources = MEDIUM;
        let max = rng.range(5, 20);
        self.base = Replicas::Auto(1, max);
        self.dev = Some(Replicas::Auto(1, 2));
        self.spot = true;
        let _ = writeln!(
            self.text,
            "// A queue worker: KEDA, VPA, spot nodes in prod."
        );
        let _ = writeln!(self.text, "service {name} {{");
        self.line(&format!(r#"image {name} tag="{version}""#));
        self.line(&format!(
            r#"resources {} ephemeral-storage="1Gi..2Gi""#,
            self.resources.text
        ));
        self.line(&format!("secret QUEUE_URL from={name}-queue key=url"));
        self.calls(&[member(7)]);
        let trigger = (index / 10 * 2 + index % 10 - 5) % 5;
        let cpu_trigger = index % 10 == 6;
        self.line("autoscale {");
        self.line(&format!("    replicas 1 {max}"));
        match trigger {
            0 => {
                let address = member(8)
                    .map(|cache| format!("{cache}:6379"))
                    .unwrap_or_else(|| "redis.queues.svc:6379".to_owned());
                self.line(&format!(
                    r#"    queue redis list=jobs-{name} depth=50 address="{address}""#
                ));
            }
            1 => self.line(&format!(
                "    queue rabbitmq queue={name}-queue depth=10 auth=rabbitmq-auth"
            )),
            2 => self.line(&format!(
                r#"    queue prometheus server="http://prometheus.monitoring.svc:9090" query="sum(queue_depth{{queue='{name}'}})" threshold=20 average=#false"#
            )),
            3 => self.line(&format!(
                r#"    queue kafka server="kafka.streaming.svc:9092" topic={name}-events consumer-group={name} depth=100 auth=kafka-auth"#
            )),
            _ => self.line(&format!(
                r#"    queue aws-sqs queue="https://sqs.us-west-2.amazonaws.com/123456789012/{name}" depth=20 max-age="5m" auth=sqs-auth"#
            )),
        }
        if cpu_trigger {
            self.line("    cpu 80");
        }
        self.line(r#"    scale-up percent=100 pods=5 period="15s" stabilize="0s" select=max"#);
        self.line(r#"    scale-down percent=50 period="60s" stabilize="5m""#);
        self.line("}");
        // Never the resource the autoscaler scales on (manifold::scaling::vpa-hpa-conflict).
        self.line("vpa mode=auto {");
        self.line(r#"    min cpu="100m" memory="128Mi""#);
        self.line(r#"    max cpu=2 memory="4Gi""#);
        if cpu_trigger {
            self.line("    controlled-resources memory");
        } else {
            self.line("    controlled-resources cpu memory");
        }
        self.line("    controlled-values requests-and-limits");
        self.line("}");
        self.line("in dev { autoscale { replicas 1 2; }; }");
        self.line("in prod cloud=aws { node-pool spot; }");
        self.text.push_str("}\n");
    }

    fn db(&mut self, name: &str, version: &str, rng: &mut Rng) {
        self.resources = DATABASE;
        self.stateful = true;
        self.base = Replicas::Fixed(1);
        let size = rng.pick(&[20, 50, 100]);
        let _ = version;
        let _ = writeln!(self.text, "// A database: stateful, storage, exec probes.");
        let _ = writeln!(self.text, "service {name} {{");
        self.line("kind stateful");
        self.line(r#"image postgres tag="16.4" registry="docker.io/library""#);
        self.line("port postgres 5432 app-protocol=postgres");
        self.line(&format!("resources {}", self.resources.text));
        self.line(&format!(
            r#"storage "{size}Gi" class=fast-ssd mount="/var/lib/postgresql/data""#
        ));
        self.line(&format!(
            r#"env PGDATA="/var/lib/postgresql/data/pgdata" POSTGRES_DB={} POSTGRES_USER=app"#,
            name.replace('-', "_")
        ));
        self.line(&format!(
            "secret POSTGRES_PASSWORD from={name}-credentials key=password"
        ));
        self.line(r#"args "-c" "max_connections=200" "-c" "shared_buffers=256MB""#);
        self.line(r#"probe readiness exec="pg_isready -U app" period="10s""#);
        self.line(r#"probe liveness exec="pg_isready -U app" initial-delay="30s" period="30s""#);
        self.line("security run-as-user=999 run-as-group=999 fs-group=999 read-only-root-filesystem=#false");
        self.line("traffic { connection-pool max-connections=200; }");
        self.line("replicas 1");
        self.line(&format!(
            r#"in prod cloud=azure {{ storage "{size}Gi" class=managed-csi-premium; }}"#
        ));
        self.text.push_str("}\n");
    }

    fn cache(&mut self, name: &str, rng: &mut Rng) {
        self.resources = SMALL;
        self.stateful = true;
        self.base = Replicas::Fixed(1);
        self.prod = Some(Replicas::Fixed(3));
        let memory = rng.pick(&[200, 300, 400]);
        let _ = writeln!(self.text, "// A cache: stateful redis, tcp probes.");
        let _ = writeln!(self.text, "service {name} {{");
        self.line("kind stateful");
        self.line(r#"image redis tag="7.2" registry="docker.io/library""#);
        self.line("port redis 6379 app-protocol=redis");
        self.line(&format!("resources {}", self.resources.text));
        self.line(r#"storage "2Gi" mount="/data""#);
        self.line(&format!(
            r#"args "--maxmemory" "{memory}mb" "--maxmemory-policy" "allkeys-lru""#
        ));
        self.line("probe readiness tcp=#true");
        self.line(r#"probe liveness tcp=#true initial-delay="15s""#);
        self.line("security run-as-user=999 run-as-group=999 fs-group=999");
        self.line("replicas 1");
        self.line("in prod { replicas 3; disruption max-unavailable=1; }");
        self.text.push_str("}\n");
    }

    fn batch(
        &mut self,
        name: &str,
        version: &str,
        rng: &mut Rng,
        member: &dyn Fn(usize) -> Option<String>,
    ) {
        self.resources = TINY;
        let count = rng.range(1, 3);
        self.base = Replicas::Fixed(count);
        self.prod = Some(Replicas::Fixed(count + 1));
        let _ = writeln!(
            self.text,
            "// A batch runner: fixed replicas, command, gRPC probe."
        );
        let _ = writeln!(self.text, "service {name} {{");
        self.line(&format!(r#"image {name} tag="{version}""#));
        self.line("port grpc 50051 app-protocol=grpc");
        self.line(&format!("resources {}", self.resources.text));
        self.line(r#"command "/app/batch" "run""#);
        self.line(r#"args "--interval" "30s" "--concurrency" "4""#);
        self.line(r#"probe readiness grpc=#true period="15s""#);
        self.line("labels tier=batch");
        self.line(&format!(
            r#"annotations "example.com/owner"="team-{}""#,
            rng.range(1, 20)
        ));
        self.calls(&[member(7)]);
        self.line(&format!("replicas {count}"));
        self.line(&format!("in prod {{ replicas {}; }}", count + 1));
        self.text.push_str("}\n");
    }
}

#[cfg(test)]
mod tests {
    use super::generate;
    use crate::diagnostic::Severity;
    use crate::pipeline::{Stop, compile};

    #[test]
    fn deterministic_in_size_and_seed() {
        assert_eq!(generate(37, 7), generate(37, 7));
        assert_ne!(generate(37, 7), generate(37, 8));
    }

    /// Sizes that are and are not a multiple of a group compile with no error, and the only
    /// warnings are the custom-metric HPAs' (they need a metrics adapter: inherent to the
    /// feature, see the module documentation).
    #[test]
    fn generated_specs_compile_with_only_the_adapter_warning() {
        for services in [1, 10, 23] {
            let spec = generate(services, 42);
            let compilation = compile("platform.kdl", &spec, Stop::AfterEmit);
            for diagnostic in &compilation.diagnostics {
                assert!(
                    diagnostic.severity == Severity::Warning
                        && diagnostic.code == crate::check::platform::scaling::METRICS_ADAPTER,
                    "N = {services}: {} {}",
                    diagnostic.code,
                    diagnostic.message
                );
            }
            let tree = compilation.tree.expect("a tree");
            assert!(tree.files().len() > 30 * services.min(10));
            let again = compile("platform.kdl", &spec, Stop::AfterEmit);
            assert_eq!(again.tree.as_ref(), Some(&tree), "deterministic output");
        }
    }
}
