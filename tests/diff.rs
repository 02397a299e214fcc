//! The resource-level diff: each case in `tests/inputs/diff/<case>/{old,new}/` is a pair of
//! output trees; its snapshot holds the three renderings (text, markdown, JSON). Update with
//! `INSTA_UPDATE=always cargo test --test diff` (or `cargo insta review`) and read the diff.

use std::path::Path;

use manifold::diff::{self, Diff, Files, Summary, render};

/// Reads every file under `dir` into a tree (paths relative, `/`-separated).
fn read_tree(dir: &Path) -> Files {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|entry| entry.expect("walkable fixture"))
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| {
            let relative = entry.path().strip_prefix(dir).expect("inside the fixture");
            let path = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            (path, std::fs::read(entry.path()).expect("readable fixture"))
        })
        .collect()
}

fn case(name: &str) -> Diff {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/inputs/diff")
        .join(name);
    diff::diff(&read_tree(&root.join("old")), &read_tree(&root.join("new")))
}

/// The three renderings of a diff, one after the other.
fn renderings(diff: &Diff) -> String {
    format!(
        "==== text\n{}==== markdown\n{}==== json\n{}",
        render::text(diff, false),
        render::markdown(diff, render::MARKDOWN_LIMIT),
        render::json(diff)
    )
}

fn check(name: &str, expected: Summary) -> Diff {
    let diff = case(name);
    assert_eq!(diff.summary(), expected, "{}", render::text(&diff, false));
    insta::assert_snapshot!(name, renderings(&diff));
    diff
}

fn json(diff: &Diff) -> serde_json::Value {
    serde_json::from_str(&render::json(diff)).expect("the JSON rendering parses")
}

#[test]
fn reordered_containers_are_one_order_change() {
    let diff = check(
        "reordered_containers",
        Summary {
            added: 0,
            changed: 1,
            removed: 0,
        },
    );
    let document = json(&diff);
    let fields = &document["changes"][0]["fields"];
    assert_eq!(
        fields.as_array().map(Vec::len),
        Some(1),
        "only the order changed: {fields}"
    );
    assert_eq!(fields[0]["path"], "spec.template.spec.containers");
    assert_eq!(fields[0]["change"], "reordered");
    assert_eq!(fields[0]["old"], serde_json::json!(["api", "proxy"]));
    assert_eq!(fields[0]["new"], serde_json::json!(["proxy", "api"]));
}

#[test]
fn a_changed_env_value_is_one_field_path() {
    let diff = check(
        "changed_env_value",
        Summary {
            added: 0,
            changed: 1,
            removed: 0,
        },
    );
    assert!(render::text(&diff, false).contains(
        "~ spec.template.spec.containers[api].env[LOG_LEVEL].value: \"info\" → \"debug\""
    ));
    let document = json(&diff);
    let change = &document["changes"][0];
    assert_eq!(change["kind"], "Deployment");
    assert_eq!(change["name"], "api");
    assert_eq!(change["target"], "kubernetes/base/api");
    assert_eq!(change["fields"][0]["old"], "info");
    assert_eq!(change["fields"][0]["new"], "debug");
}

#[test]
fn a_renamed_file_holding_the_same_object_is_no_change() {
    // The AppProject and the HPA moved to other files; only the kustomization's list of
    // resources really changed.
    let diff = check(
        "renamed_file",
        Summary {
            added: 0,
            changed: 1,
            removed: 0,
        },
    );
    let document = json(&diff);
    assert_eq!(document["changes"][0]["kind"], "Kustomization");
    let text = render::text(&diff, false);
    assert!(!text.contains("AppProject"), "{text}");
    assert!(!text.contains("HorizontalPodAutoscaler"), "{text}");
}

#[test]
fn added_and_removed_objects_are_one_line_each() {
    let diff = check(
        "added_and_removed",
        Summary {
            added: 1,
            changed: 2,
            removed: 1,
        },
    );
    let text = render::text(&diff, false);
    assert!(
        text.contains("  + Service api-admin (service.yaml)\n"),
        "{text}"
    );
    assert!(
        text.contains("  - ConfigMap api-settings (configmap.yaml)\n"),
        "{text}"
    );
    assert!(text.contains("+output \"cluster_endpoint\" {"), "{text}");
    assert!(
        text.ends_with("1 to add, 2 to change, 1 to remove\n"),
        "{text}"
    );
    let markdown = render::markdown(&diff, render::MARKDOWN_LIMIT);
    assert!(markdown.contains("- `+` **Service api-admin** added in `kubernetes/base/api`"));
    assert!(markdown.contains("- `-` **ConfigMap api-settings** removed in `kubernetes/base/api`"));
    let document = json(&diff);
    let changes = document["changes"].as_array().expect("changes");
    let by_name = |name: &str| {
        changes
            .iter()
            .find(|change| change["name"] == name)
            .unwrap_or_else(|| panic!("{name} is listed"))
    };
    assert_eq!(by_name("api-admin")["change"], "added");
    assert_eq!(by_name("api-admin")["oldPath"], serde_json::Value::Null);
    assert_eq!(by_name("api-settings")["change"], "removed");
    assert_eq!(by_name("api-settings")["fields"], serde_json::json!([]));
}

#[test]
fn secret_values_never_appear() {
    let diff = check(
        "secrets",
        Summary {
            added: 1,
            changed: 3,
            removed: 0,
        },
    );
    let all = renderings(&diff);
    for secret in [
        "hunter2",
        "swordfish",
        "aHVudGVyMg",
        "c3dvcmRmaXNo",
        "YWRtaW4",
        "c2stbGl2ZS0xMjM0NQ",
        "sk-live-12345",
        "correct-horse-battery-staple",
        "tok-old-0001",
        "tok-new-0002",
    ] {
        assert!(!all.contains(secret), "{secret:?} leaked:\n{all}");
    }
    let text = render::text(&diff, false);
    assert!(
        text.contains("~ data.password: (redacted, 7 bytes) → (redacted, 9 bytes)"),
        "{text}"
    );
    assert!(
        text.contains("+ data.api-key: (redacted, 13 bytes)"),
        "{text}"
    );
    let document = json(&diff);
    let fields = document["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .flat_map(|change| change["fields"].as_array().cloned().unwrap_or_default())
        .collect::<Vec<_>>();
    let password = fields
        .iter()
        .find(|field| field["path"] == "data.password")
        .expect("data.password changed");
    assert_eq!(password["redacted"], true);
    assert_eq!(password["oldBytes"], 7);
    assert_eq!(password["newBytes"], 9);
    assert!(password.get("old").is_none() && password.get("new").is_none());
}

#[test]
fn identical_trees_have_no_changes_in_any_format() {
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/inputs/diff/changed_env_value/new");
    let tree = read_tree(&root);
    let diff = diff::diff(&tree, &tree);
    assert!(diff.is_empty());
    assert_eq!(render::text(&diff, false), "no changes\n");
    assert!(
        render::markdown(&diff, render::MARKDOWN_LIMIT)
            .starts_with("### manifold diff: no changes\n")
    );
    assert_eq!(json(&diff)["changes"], serde_json::json!([]));
}

#[test]
fn markdown_is_capped_with_a_truncation_note() {
    let mut old = Files::new();
    let mut new = Files::new();
    for index in 0..200 {
        let path = format!("kubernetes/base/svc-{index:03}/deployment.yaml");
        let document = |replicas: u32| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc-{index:03}\nspec:\n  replicas: {replicas}\n"
            )
        };
        old.insert(path.clone(), document(1).into_bytes());
        new.insert(path, document(2).into_bytes());
    }
    let diff = diff::diff(&old, &new);
    let limit = 8_000;
    let markdown = render::markdown(&diff, limit);
    assert!(markdown.len() <= limit, "{} bytes", markdown.len());
    assert!(markdown.contains("> **Truncated:**"), "{markdown}");
    assert!(
        markdown.contains("of 200 changes are not shown"),
        "{markdown}"
    );
    assert!(markdown.starts_with("### manifold diff: 0 to add, 200 to change, 0 to remove\n"));
}

#[test]
fn text_colour_is_only_added_when_asked() {
    let diff = case("changed_env_value");
    assert!(!render::text(&diff, false).contains('\x1b'));
    assert!(render::text(&diff, true).contains("\x1b[33m"));
}
