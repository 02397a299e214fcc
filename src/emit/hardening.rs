//! checkov suppressions (issue 10): the `checkov.io/skip-<CHECK>` annotations manifold puts
//! on the Kubernetes objects it writes, each with the reason, for the checkov findings that
//! are not weaknesses of the output. README.md ("Hardening") lists every one.
//!
//! Consumes: one rendered object (JSON form) and which [`Part`] of the tree it is.
//! Produces: the same object with `metadata.annotations["checkov.io/skip-CKV_K8S_NN"] =
//! "CKV_K8S_NN=<reason>"` added.
//!
//! Invariants:
//!
//! - **A suppression names its cause.** Complete objects (bases, version Deployments) are only
//!   suppressed for causes visible in the object itself: no `metadata.namespace` (the overlay's
//!   kustomization sets it), an image without a digest (the spec pins by tag), secrets as
//!   `secretKeyRef` variables, a UID below 10000 or a writable root filesystem the spec asked
//!   for. Anything else checkov finds (a privileged container, a missing probe or limit) stays
//!   a finding.
//! - **A patch is suppressed only for what it leaves to its base.** A strategic-merge patch
//!   holds only the fields an environment changes, so checkov (which reads it as a whole
//!   object) fails every check whose fields it omits. Those fields come unchanged from the
//!   base, which is checked in full without these suppressions; a field the patch does set is
//!   judged like a complete object's. (The annotations merge into the built object, where they
//!   hide nothing the base check did not already see.)
//! - One annotation key per check (`checkov.io/skip-CKV_K8S_21`), not numbered ones, so the
//!   suppressions of a base and of its patch merge without overwriting each other; reasons
//!   never contain `=` (checkov splits the value on it).

use serde_json::Value;

/// Which part of the tree an object belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// A complete object (a base object or a version Deployment of an overlay).
    Complete,
    /// A strategic-merge patch of an overlay.
    Patch,
}

/// The reason for objects without a namespace.
const NAMESPACE: &str =
    "namespace-less by design: the overlay's kustomization sets the environment's namespace";
/// The reason for tag-only images.
const DIGEST: &str =
    "the spec pins the image by tag; give the image node a digest to pin it by digest";
/// The reason for secret references in variables.
const SECRET_ENV: &str = "the spec's secret nodes are secretKeyRef references in variables (never values); mounting them as files needs the application's support";
/// The reason for a patch's omitted fields.
const PATCH: &str =
    "strategic-merge patch: it leaves these fields to its base, which is checked in full";

/// Adds the suppressions `object` needs. Objects other than Deployments and StatefulSets
/// only ever get the namespace one.
pub fn annotate(object: &mut Value, part: Part) {
    let skips = suppressions(object, part);
    if skips.is_empty() {
        return;
    }
    if let Some(annotations) = super::annotations_mut(object) {
        for (check, reason) in skips {
            debug_assert!(!reason.contains('='), "checkov splits on `=`: {reason}");
            annotations.insert(
                format!("checkov.io/skip-{check}"),
                Value::String(format!("{check}={reason}")),
            );
        }
    }
}

/// The checks to suppress on `object`, with their reasons, in check order.
pub fn suppressions(object: &Value, part: Part) -> Vec<(&'static str, String)> {
    let mut skips: Vec<(&'static str, String)> = Vec::new();
    if object.pointer("/metadata/namespace").is_none() {
        skips.push(("CKV_K8S_21", NAMESPACE.to_owned()));
    }
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !matches!(kind, "Deployment" | "StatefulSet") {
        return skips;
    }
    let pod = object.pointer("/spec/template/spec");
    let containers: Vec<&Value> = pod
        .and_then(|pod| pod.get("containers"))
        .and_then(Value::as_array)
        .map(|list| list.iter().collect())
        .unwrap_or_default();
    let field = |container: &Value, path: &str| container.pointer(path).cloned();

    // Image digest (CKV_K8S_43): a tag-only image; a patch without images leaves them to the base.
    let images: Vec<&str> = containers
        .iter()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .collect();
    if images.iter().any(|image| !image.contains("@sha256:"))
        || (part == Part::Patch && images.is_empty())
    {
        skips.push(("CKV_K8S_43", DIGEST.to_owned()));
    }
    // Secrets as variables (CKV_K8S_35).
    if containers.iter().any(|c| {
        c.get("env").and_then(Value::as_array).is_some_and(|env| {
            env.iter()
                .any(|var| var.pointer("/valueFrom/secretKeyRef").is_some())
        })
    }) {
        skips.push(("CKV_K8S_35", SECRET_ENV.to_owned()));
    }
    // A UID below 10000 (CKV_K8S_40), only ever there because the spec set run-as-user.
    let uids: Vec<i64> =
        std::iter::once(pod.and_then(|pod| pod.pointer("/securityContext/runAsUser")))
            .chain(
                containers
                    .iter()
                    .map(|c| c.pointer("/securityContext/runAsUser")),
            )
            .flatten()
            .filter_map(Value::as_i64)
            .collect();
    if let Some(low) = uids.iter().find(|uid| **uid < 10_000) {
        skips.push((
            "CKV_K8S_40",
            format!("the spec sets run-as-user {low} (the image's own user)"),
        ));
    }
    // A writable root filesystem (CKV_K8S_22), only ever there because the spec asked for it.
    if containers
        .iter()
        .any(|c| field(c, "/securityContext/readOnlyRootFilesystem") == Some(Value::Bool(false)))
    {
        skips.push((
            "CKV_K8S_22",
            "the spec sets read-only-root-filesystem #false (the image writes outside its volumes)"
                .to_owned(),
        ));
    }
    if part == Part::Patch {
        skips.extend(omitted(pod, &containers));
    }
    skips.sort_by_key(|skip| check_number(skip.0));
    skips.dedup_by(|a, b| a.0 == b.0);
    skips
}

/// The checks a patch fails only because it omits the fields they read: pod-level ones when
/// the patch has no such pod field (checkov fails them even without a pod template),
/// container-level ones when a container of the patch omits the field.
fn omitted(pod: Option<&Value>, containers: &[&Value]) -> Vec<(&'static str, String)> {
    const POD: &[(&str, &[&str])] = &[
        ("CKV_K8S_23", &["/securityContext/runAsNonRoot"]),
        ("CKV_K8S_29", &["/securityContext"]),
        ("CKV_K8S_31", &["/securityContext/seccompProfile"]),
        ("CKV_K8S_38", &["/automountServiceAccountToken"]),
        ("CKV_K8S_40", &["/securityContext/runAsUser"]),
    ];
    const CONTAINER: &[(&str, &[&str])] = &[
        ("CKV_K8S_8", &["/livenessProbe"]),
        ("CKV_K8S_9", &["/readinessProbe"]),
        ("CKV_K8S_10", &["/resources/requests/cpu"]),
        ("CKV_K8S_11", &["/resources/limits/cpu"]),
        ("CKV_K8S_12", &["/resources/requests/memory"]),
        ("CKV_K8S_13", &["/resources/limits/memory"]),
        ("CKV_K8S_14", &["/image"]),
        ("CKV_K8S_15", &["/imagePullPolicy"]),
        ("CKV_K8S_20", &["/securityContext/allowPrivilegeEscalation"]),
        ("CKV_K8S_22", &["/securityContext/readOnlyRootFilesystem"]),
        ("CKV_K8S_28", &["/securityContext/capabilities/drop"]),
        ("CKV_K8S_30", &["/securityContext"]),
        ("CKV_K8S_37", &["/securityContext/capabilities/drop"]),
        ("CKV_K8S_43", &["/image"]),
    ];
    let absent = |value: Option<&Value>, paths: &[&str]| {
        value.is_none_or(|value| paths.iter().all(|path| value.pointer(path).is_none()))
    };
    let mut skips = Vec::new();
    for (check, paths) in POD {
        let container_paths: Vec<String> = paths
            .iter()
            .filter(|path| path.starts_with("/securityContext/"))
            .map(|path| (*path).to_owned())
            .collect();
        let in_containers = containers
            .iter()
            .any(|c| container_paths.iter().any(|path| c.pointer(path).is_some()));
        if absent(pod, paths) && !in_containers {
            skips.push((*check, PATCH.to_owned()));
        }
    }
    for (check, paths) in CONTAINER {
        if containers.iter().any(|c| absent(Some(c), paths)) {
            skips.push((*check, PATCH.to_owned()));
        }
    }
    skips
}

/// The number of a check id, for ordering (`CKV_K8S_8` before `CKV_K8S_10`).
fn check_number(check: &str) -> u32 {
    check
        .rsplit('_')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ids(object: &Value, part: Part) -> Vec<&'static str> {
        suppressions(object, part)
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    #[test]
    fn complete_objects_are_suppressed_only_for_visible_causes() {
        let hardened = json!({
            "kind": "Deployment",
            "metadata": {"name": "a", "namespace": "n"},
            "spec": {"template": {"spec": {
                "securityContext": {"runAsUser": 10001},
                "containers": [{"name": "a", "image": "r/a@sha256:00", "env": [{"name": "X", "value": "1"}]}],
            }}},
        });
        assert!(ids(&hardened, Part::Complete).is_empty());
        let base = json!({
            "kind": "Deployment",
            "metadata": {"name": "a"},
            "spec": {"template": {"spec": {
                "securityContext": {"runAsUser": 999},
                "containers": [{
                    "name": "a", "image": "r/a:1",
                    "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
                    "securityContext": {"readOnlyRootFilesystem": false, "privileged": true},
                }],
            }}},
        });
        assert_eq!(
            ids(&base, Part::Complete),
            [
                "CKV_K8S_21",
                "CKV_K8S_22",
                "CKV_K8S_35",
                "CKV_K8S_40",
                "CKV_K8S_43"
            ]
        );
        let service = json!({"kind": "Service", "metadata": {"name": "a"}});
        assert_eq!(ids(&service, Part::Complete), ["CKV_K8S_21"]);
    }

    #[test]
    fn patches_are_suppressed_for_what_they_leave_to_the_base() {
        let storage_only = json!({
            "kind": "StatefulSet",
            "metadata": {"name": "a"},
            "spec": {"volumeClaimTemplates": []},
        });
        assert_eq!(
            ids(&storage_only, Part::Patch),
            [
                "CKV_K8S_21",
                "CKV_K8S_23",
                "CKV_K8S_29",
                "CKV_K8S_31",
                "CKV_K8S_38",
                "CKV_K8S_40",
                "CKV_K8S_43"
            ]
        );
        // a patch that sets a field is judged on it: no CKV_K8S_9 when it sets the probe, and
        // a writable root filesystem it asks for is the spec's choice
        let container = json!({
            "kind": "Deployment",
            "metadata": {"name": "a"},
            "spec": {"template": {"spec": {"containers": [{
                "name": "a",
                "readinessProbe": {"tcpSocket": {"port": 1}},
                "securityContext": {"readOnlyRootFilesystem": false},
            }]}}},
        });
        let found = ids(&container, Part::Patch);
        assert!(!found.contains(&"CKV_K8S_9"), "{found:?}");
        assert!(
            found.contains(&"CKV_K8S_8") && found.contains(&"CKV_K8S_22"),
            "{found:?}"
        );
        let mut annotated = container.clone();
        annotate(&mut annotated, Part::Patch);
        let annotations = annotated
            .pointer("/metadata/annotations")
            .unwrap()
            .as_object()
            .unwrap();
        assert_eq!(annotations.len(), found.len());
        for (key, value) in annotations {
            let value = value.as_str().unwrap();
            let (id, reason) = value.split_once('=').unwrap();
            assert_eq!(key, &format!("checkov.io/skip-{id}"));
            assert!(!reason.contains('=') && !reason.is_empty());
        }
    }
}
