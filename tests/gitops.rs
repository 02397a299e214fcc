//! `manifold commit` and `manifold diff --repo` against real git repositories in temporary
//! directories: a bare "remote" on disk, a clone of it with a user's file, and the spec in a
//! repository of its own. The binary runs with an empty `HOME`, so no user configuration leaks
//! in; the repositories are inspected with git2.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use git2::{Repository, RepositoryInitOptions, Signature};
use tempfile::TempDir;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The starter spec `manifold init` writes: guaranteed to compile.
const STARTER: &str = include_str!("../templates/init.kdl");

/// A user's file in the GitOps repository, outside the managed directory.
const NOTES: &str = "docs/notes.md";

struct Fixture {
    dir: TempDir,
}

impl Fixture {
    /// A bare remote holding one commit (the user's notes), a clone of it, and the starter spec
    /// committed in a repository of its own.
    fn new() -> Result<Fixture, Box<dyn std::error::Error>> {
        let fixture = Fixture {
            dir: TempDir::new()?,
        };
        std::fs::create_dir_all(fixture.home())?;
        let mut options = RepositoryInitOptions::new();
        options.bare(true).initial_head("main");
        Repository::init_opts(fixture.remote(), &options)?;

        let seed_dir = fixture.path("seed");
        let seed = init(&seed_dir)?;
        write(&seed_dir.join(NOTES), "# Notes\n\nWritten by a person.\n")?;
        commit_all(&seed, "docs: notes")?;
        seed.remote("origin", path_str(&fixture.remote()))?
            .push(&["refs/heads/main:refs/heads/main"], None)?;
        Repository::clone(path_str(&fixture.remote()), fixture.clone_dir())?;

        let spec_dir = fixture.path("platform");
        let spec_repo = init(&spec_dir)?;
        write(&fixture.spec(), STARTER)?;
        commit_all(&spec_repo, "platform: starter")?;
        Ok(fixture)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    fn remote(&self) -> PathBuf {
        self.path("remote.git")
    }

    fn clone_dir(&self) -> PathBuf {
        self.path("clone")
    }

    fn spec(&self) -> PathBuf {
        self.path("platform/platform.kdl")
    }

    /// Runs manifold in the fixture's directory with an empty HOME.
    fn manifold(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_manifold"))
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home())
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .output()
            .expect("the manifold binary runs")
    }

    /// `manifold commit SPEC --repo clone --dir deploy --author … EXTRA…`.
    fn commit(&self, extra: &[&str]) -> Output {
        let spec = self.spec();
        let clone = self.clone_dir();
        let mut args = vec![
            "commit",
            path_str(&spec),
            "--repo",
            path_str(&clone),
            "--dir",
            "deploy",
            "--author",
            "Ada Lovelace <ada@example.com>",
        ];
        args.extend_from_slice(extra);
        self.manifold(&args)
    }

    /// Edits the spec, checking that the edit applied.
    fn edit_spec(&self, from: &str, to: &str) -> TestResult {
        let text = std::fs::read_to_string(self.spec())?;
        assert!(
            text.contains(from),
            "the starter spec no longer contains {from:?}"
        );
        write(&self.spec(), &text.replacen(from, to, 1))
    }

    /// What `manifold compile SPEC --out DIR` writes, without its transient (git-ignored)
    /// state: the lock and the no-op fingerprint.
    fn compiled(&self) -> Result<BTreeMap<String, Vec<u8>>, Box<dyn std::error::Error>> {
        let out = self.path("compiled");
        let _ = std::fs::remove_dir_all(&out);
        let output = self.manifold(&["compile", path_str(&self.spec()), "--out", path_str(&out)]);
        assert!(output.status.success(), "{}", stderr(&output));
        let mut files = read_dir_tree(&out)?;
        files.remove(".manifold/lock");
        files.remove(".manifold/fingerprint");
        Ok(files)
    }
}

#[test]
fn commit_push_then_an_unchanged_spec_makes_no_commit() -> TestResult {
    let fixture = Fixture::new()?;
    let before = head_id(&fixture.clone_dir())?;

    let first = fixture.commit(&["--push", "origin"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stderr(&first).contains("committed "), "{}", stderr(&first));
    assert!(
        stderr(&first).contains("pushed main to origin"),
        "{}",
        stderr(&first)
    );

    let clone = Repository::open(fixture.clone_dir())?;
    let head = clone.head()?.peel_to_commit()?;
    assert_eq!(
        head.parent_id(0)?,
        before,
        "exactly one commit on top of the user's"
    );
    let remote = Repository::open(fixture.remote())?;
    assert_eq!(
        remote.find_reference("refs/heads/main")?.target(),
        Some(head.id()),
        "pushed"
    );

    // The commit holds exactly what `manifold compile` writes, plus the user's notes.
    let committed = commit_files(&clone, head.id(), "deploy")?;
    assert_eq!(committed, fixture.compiled()?);
    assert!(committed.contains_key(".manifold/owned.json"));
    assert!(committed.contains_key(".manifold/.gitignore"));
    assert!(!committed.keys().any(|path| path.ends_with("lock")));
    assert!(commit_files(&clone, head.id(), "docs")?.contains_key("notes.md"));
    assert_eq!(head.author().name().ok(), Some("Ada Lovelace"));
    assert_eq!(head.author().email().ok(), Some("ada@example.com"));
    let message = head.message().unwrap_or_default();
    assert!(message.starts_with("manifold: shop — "), "{message}");
    assert!(
        message.contains("\n\nSource: platform.kdl at "),
        "{message}"
    );
    assert_clean(&clone)?;

    let second = fixture.commit(&["--push", "origin"]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("nothing to commit"),
        "{}",
        stderr(&second)
    );
    assert_eq!(
        head_id(&fixture.clone_dir())?,
        head.id(),
        "no second commit"
    );
    assert_eq!(
        remote.find_reference("refs/heads/main")?.target(),
        Some(head.id())
    );
    Ok(())
}

#[test]
fn a_spec_change_makes_exactly_one_commit_that_counts_the_changes() -> TestResult {
    let fixture = Fixture::new()?;
    let first = fixture.commit(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let before = head_id(&fixture.clone_dir())?;

    fixture.edit_spec("env LOG_LEVEL=info", "env LOG_LEVEL=debug")?;
    fixture.edit_spec("    in prod { replicas 3; }\n", "")?;
    // The preview, read from git objects, says what the commit will count.
    let clone = fixture.clone_dir();
    let preview = fixture.manifold(&[
        "diff",
        path_str(&fixture.spec()),
        "--repo",
        path_str(&clone),
        "--dir",
        "deploy",
        "--format",
        "json",
        "--exit-code",
    ]);
    assert_eq!(preview.status.code(), Some(1), "{}", stderr(&preview));
    let preview: serde_json::Value = serde_json::from_slice(&preview.stdout)?;
    let summary = &preview["summary"];
    assert!(summary["changed"].as_u64() >= Some(1), "{preview}");
    assert!(
        summary["removed"].as_u64() >= Some(1),
        "the prod patch is gone: {preview}"
    );

    let second = fixture.commit(&[]);
    assert!(second.status.success(), "{}", stderr(&second));
    let repository = Repository::open(&clone)?;
    let head = repository.head()?.peel_to_commit()?;
    assert_eq!(head.parent_count(), 1);
    assert_eq!(head.parent_id(0)?, before, "exactly one new commit");
    let message = head.message().unwrap_or_default();
    let expected = format!(
        "manifold: shop — {} added, {} changed, {} removed\n",
        summary["added"], summary["changed"], summary["removed"]
    );
    assert!(
        message.starts_with(&expected),
        "{message}\nexpected {expected}"
    );
    assert!(
        message.contains("~ Deployment web in kubernetes/base/web"),
        "{message}"
    );
    assert!(
        message.contains("- Deployment web (patch) in kubernetes/overlays/prod/aws"),
        "{message}"
    );

    let committed = commit_files(&repository, head.id(), "deploy")?;
    assert_eq!(
        committed,
        fixture.compiled()?,
        "the commit holds the new output"
    );
    assert!(!committed.contains_key("kubernetes/overlays/prod/aws/patches/web.yaml"));
    let deployment = String::from_utf8(committed["kubernetes/base/web/deployment.yaml"].clone())?;
    assert!(deployment.contains("value: debug"), "{deployment}");
    assert!(
        !clone
            .join("deploy/kubernetes/overlays/prod/aws/patches/web.yaml")
            .exists()
    );
    assert_clean(&repository)?;
    Ok(())
}

#[test]
fn a_dirty_managed_directory_is_refused_and_left_as_it_was() -> TestResult {
    let fixture = Fixture::new()?;
    let first = fixture.commit(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let before = head_id(&fixture.clone_dir())?;

    let deploy = fixture.clone_dir().join("deploy");
    let edited = deploy.join("kubernetes/base/web/service.yaml");
    write(&edited, "# edited by hand\n")?;
    write(&deploy.join("scratch.txt"), "mine\n")?;
    fixture.edit_spec("env LOG_LEVEL=info", "env LOG_LEVEL=debug")?;
    let on_disk = read_dir_tree(&deploy)?;

    let refused = fixture.commit(&[]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(message.contains("uncommitted changes"), "{message}");
    assert!(
        message.contains("deploy/kubernetes/base/web/service.yaml"),
        "{message}"
    );
    assert!(message.contains("deploy/scratch.txt"), "{message}");
    assert!(message.contains("--allow-dirty"), "{message}");
    assert_eq!(head_id(&fixture.clone_dir())?, before, "no commit");
    assert_eq!(
        read_dir_tree(&deploy)?,
        on_disk,
        "nothing in the directory changed"
    );

    // --allow-dirty commits manifold's files (restoring the edited one) and leaves the
    // user's untracked file alone and uncommitted.
    let forced = fixture.commit(&["--allow-dirty"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    let repository = Repository::open(fixture.clone_dir())?;
    let head = repository.head()?.peel_to_commit()?;
    assert_eq!(head.parent_id(0)?, before);
    let committed = commit_files(&repository, head.id(), "deploy")?;
    assert!(!committed.contains_key("scratch.txt"));
    assert_eq!(
        std::fs::read_to_string(deploy.join("scratch.txt"))?,
        "mine\n"
    );
    assert_ne!(std::fs::read_to_string(&edited)?, "# edited by hand\n");
    Ok(())
}

#[test]
fn files_elsewhere_in_the_repository_are_untouched() -> TestResult {
    let fixture = Fixture::new()?;
    let clone = fixture.clone_dir();
    let repository = Repository::open(&clone)?;
    // An unstaged edit and a staged new file, both outside the managed directory.
    write(&clone.join(NOTES), "# Notes\n\nEdited, not committed.\n")?;
    write(&clone.join("docs/plan.md"), "staged, not committed\n")?;
    let mut index = repository.index()?;
    index.add_path(Path::new("docs/plan.md"))?;
    index.write()?;

    let output = fixture.commit(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let head = repository.head()?.peel_to_commit()?;
    let docs = commit_files(&repository, head.id(), "docs")?;
    assert_eq!(
        docs.keys().collect::<Vec<_>>(),
        ["notes.md"],
        "the staged file is not committed"
    );
    assert_eq!(docs["notes.md"], b"# Notes\n\nWritten by a person.\n");
    assert_eq!(
        std::fs::read_to_string(clone.join(NOTES))?,
        "# Notes\n\nEdited, not committed.\n"
    );
    let status = repository.status_file(Path::new("docs/plan.md"))?;
    assert!(
        status.contains(git2::Status::INDEX_NEW),
        "still staged: {status:?}"
    );
    let status = repository.status_file(Path::new(NOTES))?;
    assert!(
        status.contains(git2::Status::WT_MODIFIED),
        "still modified: {status:?}"
    );
    Ok(())
}

#[test]
fn a_branch_is_created_from_head_and_pushed() -> TestResult {
    let fixture = Fixture::new()?;
    let main = head_id(&fixture.clone_dir())?;
    let output = fixture.commit(&["--branch", "manifold/update", "--push", "origin"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("switched to branch manifold/update"),
        "{}",
        stderr(&output)
    );

    let repository = Repository::open(fixture.clone_dir())?;
    assert_eq!(repository.head()?.shorthand(), Ok("manifold/update"));
    let head = repository.head()?.peel_to_commit()?;
    assert_eq!(head.parent_id(0)?, main, "branched from main");
    assert_eq!(
        repository.find_reference("refs/heads/main")?.target(),
        Some(main),
        "main is unchanged"
    );
    let remote = Repository::open(fixture.remote())?;
    assert_eq!(
        remote
            .find_reference("refs/heads/manifold/update")?
            .target(),
        Some(head.id())
    );
    assert_eq!(
        remote.find_reference("refs/heads/main")?.target(),
        Some(main)
    );
    Ok(())
}

#[test]
fn a_rejected_push_is_an_error_and_nothing_is_forced() -> TestResult {
    let fixture = Fixture::new()?;
    // Someone else pushes to main after our clone was made.
    let other_dir = fixture.path("other");
    let other = Repository::clone(path_str(&fixture.remote()), &other_dir)?;
    write(&other_dir.join("docs/other.md"), "theirs\n")?;
    commit_all(&other, "docs: theirs")?;
    other
        .find_remote("origin")?
        .push(&["refs/heads/main:refs/heads/main"], None)?;
    let theirs = head_id(&other_dir)?;

    let output = fixture.commit(&["--push", "origin"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("push of main to origin"), "{message}");
    assert!(message.contains("never force-pushes"), "{message}");
    let remote = Repository::open(fixture.remote())?;
    assert_eq!(
        remote.find_reference("refs/heads/main")?.target(),
        Some(theirs),
        "not overwritten"
    );
    Ok(())
}

#[test]
fn diff_reads_a_revision_from_git_objects() -> TestResult {
    let fixture = Fixture::new()?;
    let spec = fixture.spec();
    let remote = fixture.remote();
    // Before any commit the directory is missing at HEAD: everything is new.
    let before = fixture.manifold(&[
        "diff",
        path_str(&spec),
        "--repo",
        path_str(&remote),
        "--dir",
        "deploy",
        "--exit-code",
    ]);
    assert_eq!(before.status.code(), Some(1), "{}", stderr(&before));
    assert!(String::from_utf8(before.stdout)?.contains(" to add, 0 to change, 0 to remove"));

    let committed = fixture.commit(&["--push", "origin"]);
    assert!(committed.status.success(), "{}", stderr(&committed));
    // The bare remote, by branch name: no working tree needed.
    let same = fixture.manifold(&[
        "diff",
        path_str(&spec),
        "--repo",
        path_str(&remote),
        "--rev",
        "main",
        "--dir",
        "deploy",
        "--exit-code",
    ]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    assert_eq!(String::from_utf8(same.stdout)?, "no changes\n");

    fixture.edit_spec("env LOG_LEVEL=info", "env LOG_LEVEL=debug")?;
    let changed = fixture.manifold(&[
        "diff",
        path_str(&spec),
        "--repo",
        path_str(&remote),
        "--dir",
        "deploy",
        "--format",
        "markdown",
    ]);
    assert_eq!(
        changed.status.code(),
        Some(0),
        "changes without --exit-code: {}",
        stderr(&changed)
    );
    let markdown = String::from_utf8(changed.stdout)?;
    assert!(
        markdown.contains("env[LOG_LEVEL].value: \"info\" → \"debug\""),
        "{markdown}"
    );

    let missing = fixture.manifold(&[
        "diff",
        path_str(&spec),
        "--repo",
        path_str(&remote),
        "--rev",
        "no-such-branch",
    ]);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("no-such-branch"),
        "{}",
        stderr(&missing)
    );
    Ok(())
}

#[test]
fn without_author_or_configuration_the_default_author_is_used() -> TestResult {
    let fixture = Fixture::new()?;
    let clone = fixture.clone_dir();
    let output = fixture.manifold(&[
        "commit",
        path_str(&fixture.spec()),
        "--repo",
        path_str(&clone),
        "--dir",
        "deploy",
        "--message",
        "deploy: {platform} ({summary})",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let repository = Repository::open(&clone)?;
    let head = repository.head()?.peel_to_commit()?;
    assert_eq!(head.author().name().ok(), Some("manifold"));
    assert_eq!(head.author().email().ok(), Some("manifold@localhost"));
    let message = head.message().unwrap_or_default();
    assert!(message.starts_with("deploy: shop ("), "{message}");
    assert!(message.ends_with(" changed, 0 removed)"), "{message}");
    Ok(())
}

#[test]
fn spec_errors_commit_nothing() -> TestResult {
    let fixture = Fixture::new()?;
    let before = head_id(&fixture.clone_dir())?;
    fixture.edit_spec("calls api", "calls apii")?;
    let output = fixture.commit(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(head_id(&fixture.clone_dir())?, before);
    assert!(!fixture.clone_dir().join("deploy").exists());
    let diff = fixture.manifold(&["diff", path_str(&fixture.spec()), "--against", "nowhere"]);
    assert_eq!(diff.status.code(), Some(2), "diff exits 2 on spec errors");
    Ok(())
}

#[test]
fn the_writer_keeps_transient_state_out_of_git() -> TestResult {
    let dir = TempDir::new()?;
    let out = dir.path().join("out");
    let mut tree = manifold::output::Tree::new();
    tree.insert("kubernetes/base/api/service.yaml", "kind: Service\n");
    manifold::output::write(&tree, &out)?;
    let gitignore = out.join(manifold::output::GITIGNORE_PATH);
    assert_eq!(
        std::fs::read_to_string(&gitignore)?,
        manifold::output::GITIGNORE
    );
    assert!(out.join(".manifold/lock").exists());

    // `git add -A` takes the manifest and the .gitignore, never the lock.
    let repository = init(&out)?;
    let mut index = repository.index()?;
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
    let staged: Vec<String> = index
        .iter()
        .map(|entry| String::from_utf8_lossy(&entry.path).into_owned())
        .collect();
    assert_eq!(
        staged,
        [
            ".manifold/.gitignore",
            ".manifold/owned.json",
            "kubernetes/base/api/service.yaml"
        ]
    );

    // A missing or edited .gitignore is restored by the next write, even with nothing to do.
    std::fs::remove_file(&gitignore)?;
    manifold::output::write(&tree, &out)?;
    assert_eq!(
        std::fs::read_to_string(&gitignore)?,
        manifold::output::GITIGNORE
    );
    Ok(())
}

fn init(dir: &Path) -> Result<Repository, git2::Error> {
    let mut options = RepositoryInitOptions::new();
    options.initial_head("main");
    Repository::init_opts(dir, &options)
}

/// Stages every file and commits it on the current branch.
fn commit_all(repository: &Repository, message: &str) -> Result<git2::Oid, git2::Error> {
    let mut index = repository.index()?;
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repository.find_tree(index.write_tree()?)?;
    let signature = Signature::now("A Person", "person@example.com")?;
    let parent = repository
        .head()
        .ok()
        .and_then(|head| head.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repository.commit(
        Some("HEAD"),
        &signature,
        &signature,
        message,
        &tree,
        &parents,
    )
}

fn head_id(repo: &Path) -> Result<git2::Oid, git2::Error> {
    Repository::open(repo)?
        .head()?
        .peel_to_commit()
        .map(|commit| commit.id())
}

/// The files under `dir` in a commit's tree.
fn commit_files(
    repository: &Repository,
    commit: git2::Oid,
    dir: &str,
) -> Result<BTreeMap<String, Vec<u8>>, git2::Error> {
    let tree = repository.find_commit(commit)?.tree()?;
    let sub = repository.find_tree(tree.get_path(Path::new(dir))?.id())?;
    let mut files = BTreeMap::new();
    sub.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob)
            && let (Ok(name), Ok(blob)) = (entry.name(), repository.find_blob(entry.id()))
        {
            files.insert(format!("{root}{name}"), blob.content().to_vec());
        }
        git2::TreeWalkResult::Ok
    })?;
    Ok(files)
}

/// Every file under `dir`, by relative path.
fn read_dir_tree(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, Box<dyn std::error::Error>> {
    let mut files = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry?;
        if entry.file_type().is_file() {
            let relative = entry.path().strip_prefix(dir)?;
            let path = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.insert(path, std::fs::read(entry.path())?);
        }
    }
    Ok(files)
}

/// `git status` shows nothing (ignored files aside).
fn assert_clean(repository: &Repository) -> TestResult {
    let mut options = git2::StatusOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true);
    let statuses = repository.statuses(Some(&mut options))?;
    let dirty: Vec<String> = statuses
        .iter()
        .map(|entry| format!("{:?} {}", entry.status(), entry.path().unwrap_or_default()))
        .collect();
    assert!(
        dirty.is_empty(),
        "the clone is dirty after the commit: {dirty:?}"
    );
    Ok(())
}

fn write(path: &Path, text: &str) -> TestResult {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)?;
    Ok(())
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
