//! Lowering of the Argo CD settings: `platform { argocd … }` and each environment's
//! `argocd generator=… { cluster-selector … }` → [`ArgoCd`].
//!
//! Consumes: the checked spec. Produces: the resolved settings with their defaults (namespace
//! `argocd`, project = the platform name, list generators, selector `environment=<env>` for
//! a clusters generator without one) and the spans of the tokens that set them, which the
//! model-level check (`check::platform::argocd`) reports at.

use std::collections::BTreeMap;

use crate::check::CheckedSpec;
use crate::model::{ArgoCd, Generator};
use crate::spec::pointer_join as join;

/// Resolves the Argo CD settings of a checked spec.
pub fn lower(checked: &CheckedSpec) -> ArgoCd {
    let spec = &checked.spec;
    let spans = &checked.form.spans;
    let mut argocd = ArgoCd::default();
    let mut pointers = vec![
        "/platform/name".to_owned(),
        "/platform/argocd".to_owned(),
        "/platform/argocd/namespace".to_owned(),
        "/platform/argocd/project".to_owned(),
    ];
    if let Some(settings) = &spec.platform.argocd {
        if let Some(namespace) = &settings.namespace {
            argocd.namespace = namespace.clone();
        }
        if let Some(project) = &settings.project {
            argocd.project = project.clone();
        }
    }
    if argocd.project.is_empty() {
        argocd.project = spec.platform.name.clone();
    }
    for (name, environment) in &spec.environments {
        let pointer = join("/environments", name);
        let settings = environment.argocd.clone().unwrap_or_default();
        let generator = match settings.generator.as_deref() {
            Some("clusters") => Generator::Clusters {
                selector: match &settings.cluster_selector {
                    Some(selector) => selector
                        .iter()
                        .map(|(key, value)| (key.clone(), value.as_str().to_owned()))
                        .collect(),
                    None => BTreeMap::from([("environment".to_owned(), name.clone())]),
                },
            },
            _ => Generator::List,
        };
        argocd.generators.insert(name.clone(), generator);
        let argocd_pointer = join(&pointer, "argocd");
        pointers.push(join(&argocd_pointer, "generator"));
        pointers.push(join(&argocd_pointer, "cluster-selector"));
        pointers.push(argocd_pointer);
        pointers.push(pointer);
    }
    for pointer in pointers {
        if let Some(found) = spans.get(&pointer) {
            argocd.spans.insert(pointer, found.value);
        }
    }
    argocd
}
