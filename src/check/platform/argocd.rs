//! Argo CD rules over the resolved model: the settings need a GitOps repo, a cluster
//! selector needs the clusters generator and must not hide a target, and the planned
//! ApplicationSets give every target exactly one Application with a valid, unique name.
//!
//! Consumes: the [`Platform`] and the plan `emit::argocd` renders from it. Produces:
//! diagnostics at the `argocd` tokens and environment names recorded in
//! [`crate::model::ArgoCd::spans`].
//! Invariant: when these rules pass, `emit::argocd` writes one Application per target; that
//! each Application's path is an emitted overlay directory is checked after emission (a debug
//! assertion in `emit::emit` and `tests/argocd.rs`), since it needs the tree.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostic::Diagnostic;
use crate::emit::argocd::{self as emitter, PROVIDER_LABEL, Plan};
use crate::model::{Generator, Platform};
use crate::source::{FileId, Span};
use crate::spec::pointer_join as join;

/// Code: `argocd` settings in a spec that declares no GitOps `repo`.
pub const MISSING_REPO: &str = "manifold::argocd::missing-repo";
/// Code: `cluster-selector` without `generator=clusters`.
pub const SELECTOR_WITHOUT_CLUSTERS: &str = "manifold::argocd::selector-without-clusters";
/// Code: a target without exactly one Application (or an Application without a target).
pub const TARGET_COVERAGE: &str = "manifold::argocd::target-coverage";
/// Code: a generated Argo CD object name that is not a DNS-1123 label.
pub const INVALID_NAME: &str = "manifold::argocd::invalid-name";
/// Code: two generated Argo CD objects of one kind share a name.
pub const DUPLICATE_NAME: &str = "manifold::argocd::duplicate-name";

/// Runs the Argo CD rules.
pub fn check(platform: &Platform, spec_file: FileId) -> Vec<Diagnostic> {
    let spans = Spans {
        map: &platform.argocd.spans,
        file: spec_file,
    };
    let mut out = Vec::new();
    if platform.repo.is_none() {
        missing_repo(platform, &spans, &mut out);
        return out;
    }
    selectors(platform, &spans, &mut out);
    if let Some(plan) = emitter::plan(platform) {
        check_plan(platform, &plan, spec_file, &mut out);
    }
    out
}

/// The recorded spec tokens, with a fallback to the top of the spec.
struct Spans<'a> {
    map: &'a BTreeMap<String, Span>,
    file: FileId,
}

impl Spans<'_> {
    fn get(&self, pointers: &[&str]) -> Span {
        pointers
            .iter()
            .find_map(|pointer| self.map.get(*pointer).copied())
            .unwrap_or(Span::new(self.file, 0, 0))
    }

    fn has(&self, pointer: &str) -> bool {
        self.map.contains_key(pointer)
    }
}

fn env_pointer(environment: &str, rest: &[&str]) -> String {
    rest.iter()
        .fold(join("/environments", environment), |pointer, segment| {
            join(&pointer, segment)
        })
}

/// Without a repo nothing is emitted under `argocd/`; settings asking for it are an error.
fn missing_repo(platform: &Platform, spans: &Spans, out: &mut Vec<Diagnostic>) {
    let mut pointers = vec!["/platform/argocd".to_owned()];
    pointers.extend(
        platform
            .environments
            .iter()
            .map(|environment| env_pointer(&environment.name, &["argocd"])),
    );
    for pointer in pointers.iter().filter(|pointer| spans.has(pointer)) {
        out.push(
            Diagnostic::error(
                MISSING_REPO,
                spans.get(&[pointer]),
                "Argo CD settings, but the platform declares no GitOps repository",
            )
            .with_label("nothing for Argo CD to deploy from")
            .with_related(spans.get(&["/platform/name"]), "this platform has no `repo`")
            .with_help(format!(
                "add `repo \"https://git.example.com/{}-gitops.git\" branch=main` to `platform`, or remove this `argocd` node (without a repo manifold writes no `argocd/` files)",
                platform.name
            )),
        );
    }
}

/// `cluster-selector` needs `generator=clusters`, and a `provider` label in it must not leave
/// a target without its Application.
fn selectors(platform: &Platform, spans: &Spans, out: &mut Vec<Diagnostic>) {
    for environment in &platform.environments {
        let selector_pointer = env_pointer(&environment.name, &["argocd", "cluster-selector"]);
        let generator = emitter::generator_of(&platform.argocd, &environment.name);
        match generator {
            Generator::List if spans.has(&selector_pointer) => {
                let generator_pointer = env_pointer(&environment.name, &["argocd", "generator"]);
                out.push(
                    Diagnostic::error(
                        SELECTOR_WITHOUT_CLUSTERS,
                        spans.get(&[&selector_pointer]),
                        format!(
                            "environment `{}` has a cluster selector but uses the list generator",
                            environment.name
                        ),
                    )
                    .with_label("only the clusters generator selects clusters")
                    .with_related_opt(
                        spans.map.get(&generator_pointer).copied(),
                        "the generator is chosen here",
                    )
                    .with_help(
                        "write `argocd generator=clusters { cluster-selector ... }`, or remove the selector to deploy to the spec's clusters by name",
                    ),
                );
            }
            Generator::Clusters { selector } => {
                let Some(provider) = selector.get(PROVIDER_LABEL) else {
                    continue;
                };
                let hidden: Vec<&str> = environment
                    .targets
                    .iter()
                    .map(|target| target.cloud.as_str())
                    .filter(|cloud| cloud != provider)
                    .collect();
                if hidden.is_empty() {
                    continue;
                }
                out.push(
                    Diagnostic::error(
                        TARGET_COVERAGE,
                        spans.get(&[&selector_pointer, &env_pointer(&environment.name, &["argocd"])]),
                        format!(
                            "environment `{}` deploys to {} but its cluster selector only matches `{PROVIDER_LABEL}={provider}`",
                            environment.name,
                            hidden.join(", ")
                        ),
                    )
                    .with_label("these targets would get no Application")
                    .with_help(format!(
                        "remove `{PROVIDER_LABEL}` from the selector: manifold selects each target's cloud through the `{PROVIDER_LABEL}` label itself; to deploy to fewer clouds, change `deploy-to`"
                    )),
                );
            }
            Generator::List => {}
        }
    }
}

/// Checks a plan against the platform: exactly one Application per target, every name a
/// DNS-1123 label, names unique per kind.
pub fn check_plan(platform: &Platform, plan: &Plan, spec_file: FileId, out: &mut Vec<Diagnostic>) {
    let spans = Spans {
        map: &platform.argocd.spans,
        file: spec_file,
    };
    let platform_span = spans.get(&["/platform/name"]);
    for environment in &platform.environments {
        let env_span = spans.get(&[&env_pointer(&environment.name, &[]), "/platform/name"]);
        let set = plan
            .sets
            .iter()
            .filter(|set| set.environment == environment.name)
            .collect::<Vec<_>>();
        let applications: Vec<_> = set.iter().flat_map(|set| &set.applications).collect();
        for target in &environment.targets {
            let count = applications
                .iter()
                .filter(|app| app.cloud == target.cloud && app.cluster == target.cluster)
                .count();
            if count != 1 {
                out.push(
                    Diagnostic::error(
                        TARGET_COVERAGE,
                        env_span,
                        format!(
                            "target {}/{} has {count} Argo CD Applications instead of one",
                            environment.name,
                            target.cloud.as_str()
                        ),
                    )
                    .with_label("in this environment")
                    .with_help("this is a bug in manifold: every (environment, cloud) target gets exactly one Application; please report it with this spec"),
                );
            }
        }
        for app in &applications {
            let has_target = environment
                .targets
                .iter()
                .any(|target| target.cloud == app.cloud && target.cluster == app.cluster);
            if !has_target {
                out.push(
                    Diagnostic::error(
                        TARGET_COVERAGE,
                        env_span,
                        format!(
                            "Argo CD Application `{}` deploys {}/{}, which is not a target",
                            app.name,
                            environment.name,
                            app.cloud.as_str()
                        ),
                    )
                    .with_label("in this environment")
                    .with_help("this is a bug in manifold: Applications are only generated for the environment's targets; please report it with this spec"),
                );
            }
        }
    }
    let mut names: Vec<(&'static str, &str, Span)> = vec![(
        "AppProject",
        plan.project.as_str(),
        spans.get(&["/platform/argocd/project", "/platform/name"]),
    )];
    for set in &plan.sets {
        let env_span = spans.get(&[&env_pointer(&set.environment, &[]), "/platform/name"]);
        names.push(("ApplicationSet", &set.name, env_span));
        for app in &set.applications {
            names.push(("Application", &app.name, env_span));
        }
    }
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (kind, name, span) in names {
        if let Some(problem) = dns_label_problem(name) {
            out.push(
                Diagnostic::error(
                    INVALID_NAME,
                    span,
                    format!("the generated Argo CD {kind} name `{name}` is not a valid DNS-1123 label"),
                )
                .with_label(problem)
                .with_related(platform_span, "the name starts with the platform name")
                .with_help(format!(
                    "{kind} names are `{}` and must have at most 63 characters (Argo CD puts them in a label); shorten the platform or environment name",
                    match kind {
                        "Application" => "<platform>-<environment>-<cloud>",
                        "ApplicationSet" => "<platform>-<environment>",
                        _ => "<project>",
                    }
                )),
            );
        }
        if !seen.insert((kind, name)) {
            out.push(
                Diagnostic::error(
                    DUPLICATE_NAME,
                    span,
                    format!("two generated Argo CD {kind}s are named `{name}`"),
                )
                .with_label("name already generated")
                .with_help("rename the environment so its generated names differ"),
            );
        }
    }
}

/// Why `name` is not a DNS-1123 label, if it is not.
fn dns_label_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("empty")
    } else if name.len() > 63 {
        Some("longer than 63 characters")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        Some("only a-z, 0-9 and '-' are allowed")
    } else if name.starts_with('-') || name.ends_with('-') {
        Some("must start and end with a letter or digit")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{self, Stop};

    const SPEC: &str = r#"
platform shop {
    repo "https://git.example.com/shop.git"
}
cloud aws {
    region eu-west-1
    cluster shop-eks { node-pool general instance-type=t3.large min=1 max=3; }
}
cloud gcp {
    project p
    region europe-west4
    cluster shop-gke { node-pool general machine-type=e2-standard-2 min=1 max=3; }
}
environment prod profile=production {
    namespace shop
    deploy-to aws gcp
}
service web { image web tag="1.0"; }
"#;

    fn platform() -> (Platform, FileId) {
        let compilation = pipeline::compile("platform.kdl", SPEC, Stop::AfterChecks);
        assert!(!compilation.has_errors(), "{:?}", compilation.diagnostics);
        (compilation.platform.expect("a model"), compilation.file)
    }

    fn codes(platform: &Platform, plan: &Plan, file: FileId) -> Vec<&'static str> {
        let mut out = Vec::new();
        check_plan(platform, plan, file, &mut out);
        out.iter().map(|diagnostic| diagnostic.code).collect()
    }

    #[test]
    fn the_emitted_plan_passes() {
        let (platform, file) = platform();
        let plan = emitter::plan(&platform).expect("a plan");
        assert!(codes(&platform, &plan, file).is_empty());
        assert!(check(&platform, file).is_empty());
    }

    #[test]
    fn a_target_without_an_application_is_reported() {
        let (platform, file) = platform();
        let mut plan = emitter::plan(&platform).expect("a plan");
        plan.sets[0].applications.pop();
        assert_eq!(codes(&platform, &plan, file), vec![TARGET_COVERAGE]);
    }

    #[test]
    fn two_applications_for_one_target_are_reported() {
        let (platform, file) = platform();
        let mut plan = emitter::plan(&platform).expect("a plan");
        let copy = plan.sets[0].applications[0].clone();
        plan.sets[0].applications.push(copy);
        // One target with two Applications, and the two share a name.
        assert_eq!(
            codes(&platform, &plan, file),
            vec![TARGET_COVERAGE, DUPLICATE_NAME]
        );
    }

    #[test]
    fn an_application_without_a_target_is_reported() {
        let (platform, file) = platform();
        let mut plan = emitter::plan(&platform).expect("a plan");
        plan.sets[0].applications[1].cluster = "elsewhere".into();
        assert_eq!(
            codes(&platform, &plan, file),
            vec![TARGET_COVERAGE, TARGET_COVERAGE]
        );
    }

    #[test]
    fn invalid_and_duplicate_names_are_reported() {
        let (platform, file) = platform();
        let mut plan = emitter::plan(&platform).expect("a plan");
        plan.sets[0].applications[0].name = "Shop_Prod".into();
        plan.sets[0].applications[1].name = "Shop_Prod".into();
        assert_eq!(
            codes(&platform, &plan, file),
            vec![INVALID_NAME, INVALID_NAME, DUPLICATE_NAME]
        );
    }

    #[test]
    fn dns_labels() {
        assert_eq!(dns_label_problem("shop-prod-aws"), None);
        assert!(dns_label_problem("").is_some());
        assert!(dns_label_problem("-a").is_some());
        assert!(dns_label_problem("a-").is_some());
        assert!(dns_label_problem("A").is_some());
        assert!(dns_label_problem(&"a".repeat(64)).is_some());
        assert_eq!(dns_label_problem(&"a".repeat(63)), None);
    }
}
