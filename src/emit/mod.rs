//! Emitters: pure functions from the [`crate::model::Platform`] to rendered files.
//!
//! Consumes: the model only (never KDL, never the filesystem). Produces: a map of relative
//! output paths to file contents, merged into one [`crate::output::Tree`].
//! Invariant: output bytes depend only on the model; every map is ordered, nothing reads the
//! clock, the environment or the machine.

pub mod argocd;
pub mod hardening;
pub mod istio;
pub mod kustomize;
pub mod readme;
pub mod scaling;
pub mod templates;
pub mod terraform;
pub mod yaml;

use std::collections::BTreeMap;

use crate::model::Platform;
use crate::output::Tree;

/// Files produced by one emitter: relative path → contents.
pub type Files = BTreeMap<String, String>;

/// The `metadata.annotations` map of a rendered object, created when missing; `None` when
/// the object has no `metadata` object.
pub(crate) fn annotations_mut(
    object: &mut serde_json::Value,
) -> Option<&mut serde_json::Map<String, serde_json::Value>> {
    use serde_json::{Map, Value};
    let Some(Value::Object(metadata)) = object.get_mut("metadata") else {
        return None;
    };
    match metadata
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()))
    {
        Value::Object(annotations) => Some(annotations),
        _ => None,
    }
}

/// A JSON object of `entries`, in order, moving each value in. `json!` copies every value it
/// interpolates through serde (a whole pod spec, say), which cost a large compile a few
/// percent of its time; the objects' large parts are built with this instead.
pub(crate) fn object<const N: usize>(entries: [(&str, serde_json::Value); N]) -> serde_json::Value {
    serde_json::Value::Object(
        entries
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect(),
    )
}

/// A Kubernetes object of `kind` in `api_version`, its `metadata` and `spec` moved in.
pub(crate) fn resource(
    api_version: &str,
    kind: &str,
    metadata: impl Into<serde_json::Value>,
    spec: impl Into<serde_json::Value>,
) -> serde_json::Value {
    object([
        ("apiVersion", api_version.into()),
        ("kind", kind.into()),
        ("metadata", metadata.into()),
        ("spec", spec.into()),
    ])
}

pub use templates::{Options, TemplateError, TemplateOverride};

/// [`emit_with`] with the built-in templates, which always render: on the impossible
/// template failure this returns an empty tree (callers that take user templates use
/// [`emit_with`] and report the error).
pub fn emit(platform: &Platform) -> Tree {
    let mesh = istio::Mesh::build(platform, true);
    emit_with(platform, mesh, &Options::default()).unwrap_or_default()
}

/// Runs every emitter and collects their files into one tree.
///
/// Emitters of objects that live in the Kustomize overlays (scaling, network policies,
/// routing) run first and return files under `kubernetes/overlays/<env>/<cloud>/`; the
/// Kustomize emitter then lists them in each overlay's `resources`. Other families write
/// their own directories.
///
/// `mesh` is the Istio objects built with their files ([`istio::Mesh::build`]; the pipeline
/// builds them once, for the mesh check and for this).
///
/// Fails only when a template (a user's override, with `options`) does not parse or render.
pub fn emit_with(
    platform: &Platform,
    mesh: istio::Mesh,
    options: &Options,
) -> Result<Tree, TemplateError> {
    let mut tree = Tree::new();
    // Both put their policy objects into the guardrail sync wave themselves
    // (`argocd::add_policy_wave`).
    let mut overlay_extras = mesh.into_files();
    overlay_extras.extend(scaling::emit(platform));
    for (path, contents) in kustomize::emit(platform, &overlay_extras) {
        tree.insert(path, contents);
    }
    for (path, contents) in overlay_extras {
        tree.insert(path, contents);
    }
    // Argo CD reads the Kustomize tree (kinds for its whitelists; every path must exist).
    for (path, contents) in argocd::emit(platform, &tree) {
        tree.insert(path, contents);
    }
    debug_assert!(
        argocd::plan(platform).is_none_or(|plan| argocd::missing_overlays(&plan, &tree).is_empty()),
        "an ApplicationSet points at an overlay directory that was not emitted"
    );
    for (path, contents) in terraform::emit(platform, options)? {
        tree.insert(path, contents);
    }
    let readme = readme::emit(platform, &tree);
    tree.insert("README.md", readme);
    Ok(tree)
}
