//! Specs generated for the reliability tests (issue 10): large ones for the crash and
//! concurrency tests, and helpers that compare an output directory with a tree compiled in
//! memory. Shared by `tests/crash.rs`, `tests/ownership.rs` and `tests/bad_input.rs`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use manifold::output::{MANIFEST_PATH, Manifest, Tree};
use manifold::pipeline::{self, Stop};

/// A valid spec with `services` services in three environments on one cluster. `variant`
/// changes every image tag and renames every fourth service, so two variants differ in
/// changed, added and removed files.
pub fn spec(services: usize, variant: u32) -> String {
    let mut text = String::from(
        r#"platform big {
    repo "https://git.example.com/platform/big-gitops.git" branch=main
    labels team=platform
    registry "ghcr.io/example"
}

cloud aws {
    region eu-west-1
    cluster big-eks {
        kubernetes "1.31"
        node-pool general instance-type=m5.4xlarge min=3 max=60 desired=3
    }
}

environment dev profile=development {
    namespace big-dev
    deploy-to aws
}

environment staging profile=staging {
    namespace big-staging
    deploy-to aws
}

environment prod profile=production {
    namespace big
    deploy-to aws
}
"#,
    );
    for index in 0..services {
        let name = if index % 4 == 0 {
            format!("svc-v{variant}-{index:03}")
        } else {
            format!("svc-{index:03}")
        };
        let _ = write!(
            text,
            r#"
service {name} {{
    image {name} tag="1.{variant}.{index}"
    port http 8080
    resources cpu="100m..200m" memory="128Mi..256Mi"
    probe readiness http="/ready" port=http
    probe liveness http="/live" port=http
    env LOG_LEVEL=info VARIANT="{variant}"
    replicas 2
    in prod {{ replicas 3; }}
}}
"#
        );
    }
    text
}

/// Compiles `text` in memory; panics with the diagnostics if it does not produce a tree.
pub fn tree(name: &str, text: &str) -> Tree {
    let compilation = pipeline::compile(name, text, Stop::AfterEmit);
    match compilation.tree {
        Some(tree) => tree,
        None => panic!(
            "{name} does not compile: {:?}",
            compilation
                .diagnostics
                .iter()
                .map(|d| format!("{} {}", d.code, d.message))
                .collect::<Vec<_>>()
        ),
    }
}

/// Every file under `dir` (relative `/` paths → bytes), `.manifold/` excluded.
pub fn read_outputs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    if !dir.exists() {
        return files;
    }
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.expect("walk the output directory");
        if !entry.file_type().is_file() {
            continue;
        }
        let relative = entry
            .path()
            .strip_prefix(dir)
            .expect("under the directory")
            .components()
            .map(|part| part.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if relative.starts_with(".manifold/") {
            continue;
        }
        files.insert(
            relative,
            std::fs::read(entry.path()).expect("read an output file"),
        );
    }
    files
}

/// Whether `dir` holds exactly `tree` (plus `extra` files that are not manifold's) and the
/// manifest of exactly `tree`.
pub fn holds(dir: &Path, tree: &Tree, extra: &BTreeMap<String, Vec<u8>>) -> bool {
    let mut expected = tree.files().clone();
    expected.extend(
        extra
            .iter()
            .map(|(path, bytes)| (path.clone(), bytes.clone())),
    );
    let manifest = std::fs::read(dir.join(MANIFEST_PATH)).ok();
    read_outputs(dir) == expected && manifest == Some(Manifest::from_tree(tree).to_bytes())
}

/// A short description of how `dir` differs from `tree`, for assertion messages.
pub fn describe(dir: &Path, tree: &Tree) -> String {
    let disk = read_outputs(dir);
    let missing = tree
        .files()
        .keys()
        .filter(|p| !disk.contains_key(*p))
        .count();
    let changed = tree
        .files()
        .iter()
        .filter(|(p, b)| disk.get(*p).is_some_and(|d| d != *b))
        .count();
    let extra = disk.keys().filter(|p| tree.get(p).is_none()).count();
    format!(
        "{missing} missing, {changed} changed, {extra} extra of {} files",
        tree.len()
    )
}
