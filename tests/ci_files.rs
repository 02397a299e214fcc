//! The files users copy into their own CI: `.pre-commit-hooks.yaml` (run for real by
//! `scripts/precommit-test.sh`) and `examples/ci/github-actions.yml`. Here: they parse, and
//! every manifold command line in them is one the binary accepts.

use std::process::Command;

use serde_json::Value;

fn read_yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|err| panic!("{path}: {err}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|err| panic!("{path} is not valid YAML: {err}"))
}

/// Whether `manifold ARGS --help` parses (clap rejects unknown flags before printing help).
fn accepted(args: &[&str]) -> bool {
    let mut full: Vec<&str> = args.to_vec();
    full.push("--help");
    Command::new(env!("CARGO_BIN_EXE_manifold"))
        .args(&full)
        .output()
        .expect("the manifold binary runs")
        .status
        .success()
}

#[test]
fn pre_commit_hooks_run_real_manifold_commands() {
    let hooks = read_yaml(".pre-commit-hooks.yaml");
    let hooks = hooks.as_array().expect("a list of hooks");
    let ids: Vec<&str> = hooks
        .iter()
        .filter_map(|hook| hook["id"].as_str())
        .collect();
    assert_eq!(ids, ["manifold-check-output", "manifold-diff"]);
    for hook in hooks {
        assert_eq!(hook["language"], "rust", "{hook}");
        assert_eq!(hook["pass_filenames"], false, "{hook}");
        let entry = hook["entry"].as_str().expect("an entry");
        let mut args: Vec<&str> = entry.split_whitespace().skip(1).collect();
        let defaults: Vec<&str> = hook["args"]
            .as_array()
            .expect("default args")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        args.extend(defaults);
        assert!(entry.starts_with("manifold "), "{entry}");
        assert!(accepted(&args), "manifold {args:?} is rejected");
    }
    assert!(
        !accepted(&["diff", "--no-such-flag"]),
        "the check itself works"
    );
}

#[test]
fn the_github_actions_example_previews_and_commits() {
    let workflow = read_yaml("examples/ci/github-actions.yml");
    let jobs = &workflow["jobs"];
    let runs = |job: &str| -> Vec<String> {
        jobs[job]["steps"]
            .as_array()
            .unwrap_or_else(|| panic!("job {job} has steps"))
            .iter()
            .filter_map(|step| step["run"].as_str().map(str::to_owned))
            .collect()
    };
    let preview = runs("preview").join("\n");
    assert!(
        preview.contains(
            "manifold diff \"$SPEC\" --repo gitops --dir \"$GITOPS_DIR\" --format markdown"
        )
    );
    assert!(preview.contains("gh pr comment"));
    let commit = runs("commit").join("\n");
    assert!(
        commit.contains(
            "manifold commit \"$SPEC\" --repo gitops --dir \"$GITOPS_DIR\" --push origin"
        )
    );
    assert!(accepted(&[
        "diff",
        "platform.kdl",
        "--repo",
        "gitops",
        "--dir",
        "deploy",
        "--format",
        "markdown"
    ]));
    assert!(accepted(&[
        "commit",
        "platform.kdl",
        "--repo",
        "gitops",
        "--dir",
        "deploy",
        "--push",
        "origin",
        "--author",
        "manifold <bot@example.com>"
    ]));
}
