//! The gitops stage: reading output trees from git, and committing (and pushing) a compiled tree
//! into a GitOps repository. The only module that runs git (through git2/libgit2; no `git`
//! executable is needed).
//!
//! Consumes: a repository path, a managed subdirectory and, for [`commit`], a compiled
//! [`Tree`]. Produces: the files manifold owns at a revision ([`read_tree`]), a commit on a
//! branch and a push ([`commit`]), the spec's own revision ([`source_revision`]).
//!
//! Invariants:
//!
//! - A commit holds exactly the previous commit's tree with the managed paths updated: the
//!   tree's files, the ownership manifest and `.manifold/.gitignore` are added or replaced, and
//!   the files the previous manifest owned that the tree no longer produces are removed.
//!   Nothing else the user staged or changed is committed, and nothing outside the managed
//!   subdirectory is written.
//! - No change, no commit: when that tree equals the previous commit's tree, nothing is
//!   committed.
//! - The managed subdirectory must be clean (no staged, modified or untracked files, apart from
//!   manifold's transient lock, journal and staging area) unless `allow_dirty` is set; a
//!   refusal changes nothing.
//! - Nothing is force-pushed: a push the remote rejects is an error.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::path::{Component, Path};

use anyhow::{Context as _, Result, anyhow, bail};
use git2::build::{CheckoutBuilder, TreeUpdateBuilder};
use git2::{
    BranchType, Cred, CredentialType, ErrorCode, FileMode, ObjectType, Oid, PushOptions,
    RemoteCallbacks, Repository, Signature, Status, StatusOptions,
};

use crate::diff::{self, Diff, Entry, Files, Summary};
use crate::output::{GITIGNORE_PATH, MANIFEST_PATH, Manifest, Tree};

/// The author (and committer) when neither `--author` nor git's `user.name`/`user.email` is set.
pub const DEFAULT_AUTHOR: (&str, &str) = ("manifold", "manifold@localhost");

/// How many changed objects the default commit message lists before it says how many more.
const MESSAGE_OBJECT_LIMIT: usize = 100;

/// What [`commit`] should do.
#[derive(Debug, Clone)]
pub struct CommitRequest<'a> {
    /// The repository (its working tree's root, or any path inside `.git`'s parent).
    pub repo: &'a Path,
    /// The managed subdirectory, relative to the repository root (`""` or `.` for the root).
    pub dir: &'a str,
    /// The branch to commit on (checked out first; created from the current `HEAD`, or from
    /// `<push remote>/<branch>` when that exists, if missing). `None`: the current branch.
    pub branch: Option<&'a str>,
    /// The remote to push the branch to afterwards.
    pub push: Option<&'a str>,
    /// The commit message, or a template with `{platform}`, `{summary}`, `{added}`,
    /// `{changed}`, `{removed}`, `{objects}` and `{source}`. `None`: the default message.
    pub message: Option<&'a str>,
    /// `Name <email>`. `None`: git's `user.name`/`user.email`, else [`DEFAULT_AUTHOR`].
    pub author: Option<&'a str>,
    /// Commit even if the managed subdirectory has uncommitted changes.
    pub allow_dirty: bool,
    /// The platform's name, for the message.
    pub platform: &'a str,
    /// The spec's revision, for the message (see [`source_revision`]).
    pub source: Option<SourceRevision>,
}

/// What [`commit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitReport {
    /// The new commit, or `None` when nothing changed.
    pub commit: Option<String>,
    /// The branch committed on.
    pub branch: String,
    /// The counts of the message's first line.
    pub summary: Summary,
    /// The commit message (also when no commit was made: the one it would have had).
    pub message: String,
    /// The remote pushed to, if any push happened.
    pub pushed: Option<String>,
    /// Whether the branch was switched to (or created) first.
    pub switched: bool,
}

/// Where the spec came from: its repository's `HEAD` and whether the spec differs from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRevision {
    /// The spec's path relative to its repository's root.
    pub path: String,
    /// The full commit id of that repository's `HEAD`.
    pub commit: String,
    /// Whether the spec has uncommitted changes (or is not tracked).
    pub dirty: bool,
}

impl std::fmt::Display for SourceRevision {
    /// `platform.kdl at 0123abcd…` with ` (uncommitted changes)` when dirty.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}", self.path, self.commit)?;
        if self.dirty {
            f.write_str(" (uncommitted changes)")?;
        }
        Ok(())
    }
}

/// Reads the files manifold owns in `dir` at revision `rev` of the repository at `repo`,
/// straight from git objects (no checkout; bare repositories work). The files are those the
/// manifest `dir/.manifold/owned.json` lists at that revision, or, without a manifest, every
/// file under `dir` (but `.manifold/`). An unborn `HEAD` (a repository without commits) and a
/// `dir` missing at `rev` read as an empty tree.
pub fn read_tree(repo: &Path, rev: &str, dir: &str) -> Result<Files> {
    let dir = normalize_dir(dir)?;
    let repository = open(repo)?;
    let tree = match repository.revparse_single(rev) {
        Ok(object) => object.peel_to_tree().with_context(|| {
            format!(
                "revision {rev} of {} is not a commit or tree",
                repo.display()
            )
        })?,
        Err(_) if rev == "HEAD" && is_unborn(&repository) => return Ok(Files::new()),
        Err(err) => bail!(
            "cannot find revision {rev} in {}: {}; give a branch, tag or commit that exists there",
            repo.display(),
            err.message()
        ),
    };
    owned_files(&repository, &tree, &dir)
}

/// The spec's revision: the `HEAD` of the git repository the spec file lives in, if any.
pub fn source_revision(spec: &Path) -> Option<SourceRevision> {
    let spec = spec.canonicalize().ok()?;
    let repository = Repository::discover(spec.parent()?).ok()?;
    let workdir = repository.workdir()?.canonicalize().ok()?;
    let relative = spec.strip_prefix(&workdir).ok()?;
    let commit = repository.head().ok()?.peel_to_commit().ok()?;
    let status = repository.status_file(relative).unwrap_or(Status::WT_NEW);
    Some(SourceRevision {
        path: slash_path(relative),
        commit: commit.id().to_string(),
        dirty: !status.is_empty() && status != Status::CURRENT,
    })
}

/// Writes `tree` into `request.dir` of the repository's working tree (with
/// [`crate::output::write`], so only files manifold owns are replaced or pruned), then commits
/// exactly the managed paths, and pushes when asked. See the module's invariants.
pub fn commit(tree: &Tree, request: &CommitRequest<'_>) -> Result<CommitReport> {
    let dir = normalize_dir(request.dir)?;
    let repository = open(request.repo)?;
    let Some(workdir) = repository.workdir().map(Path::to_path_buf) else {
        bail!(
            "{} is a bare repository; manifold commit needs a clone with a working tree",
            request.repo.display()
        );
    };
    let author = author_signature(&repository, request.author)?;
    let committer = match request.author {
        Some(_) => repository.signature().unwrap_or_else(|_| author.clone()),
        None => author.clone(),
    };

    // Refuse a dirty managed directory before anything changes (switching branches included).
    let dirty = dirty_paths(&repository, &dir)?;
    if !dirty.is_empty() && !request.allow_dirty {
        let list: Vec<String> = dirty.iter().map(|path| format!("  {path}")).collect();
        bail!(
            "refusing to commit: {} has uncommitted changes that manifold would mix with its own:\n{}\ncommit or discard them first, or pass --allow-dirty",
            if dir.is_empty() {
                "the repository"
            } else {
                dir.as_str()
            },
            list.join("\n")
        );
    }

    let (branch, switched) = match request.branch {
        Some(name) => (
            name.to_owned(),
            switch_branch(&repository, name, request.push)?,
        ),
        None => (current_branch(&repository)?, false),
    };

    let parent = match repository.head() {
        Ok(head) => Some(
            head.peel_to_commit()
                .context("HEAD does not point to a commit")?,
        ),
        Err(_) if is_unborn(&repository) => None,
        Err(err) => return Err(anyhow!(err).context("cannot read HEAD")),
    };
    let base_tree = match &parent {
        Some(commit) => commit.tree()?,
        None => repository.find_tree(repository.treebuilder(None)?.write()?)?,
    };
    let old_files = owned_files(&repository, &base_tree, &dir)?;
    let old_owned = manifest_paths(&repository, &base_tree, &dir)?;

    let out = workdir.join(&dir);
    let written = crate::output::write(tree, &out)
        .with_context(|| format!("cannot write the output into {}", out.display()))?;

    // The managed paths: the tree, the manifest and the .gitignore; the removed ones.
    let mut upserts: Vec<(String, Oid)> = Vec::new();
    for (path, contents) in tree.files() {
        upserts.push((join_dir(&dir, path), repository.blob(contents)?));
    }
    for state in [MANIFEST_PATH, GITIGNORE_PATH] {
        let bytes = std::fs::read(out.join(state))
            .with_context(|| format!("cannot read {}", out.join(state).display()))?;
        upserts.push((join_dir(&dir, state), repository.blob(&bytes)?));
    }
    let removals: BTreeSet<String> = old_owned
        .iter()
        .chain(&written.removed)
        .filter(|path| tree.get(path).is_none())
        .map(|path| join_dir(&dir, path))
        .filter(|path| base_tree.get_path(Path::new(path)).is_ok())
        .collect();
    let mut update = TreeUpdateBuilder::new();
    for path in &removals {
        update.remove(path.as_str());
    }
    for (path, oid) in &upserts {
        update.upsert(path.as_str(), *oid, FileMode::Blob);
    }
    let new_tree_id = update.create_updated(&repository, &base_tree)?;

    let changes = diff::diff(&old_files, tree.files());
    let summary = changes.summary();
    let message = message(request, &changes);
    let mut report = CommitReport {
        commit: None,
        branch: branch.clone(),
        summary,
        message: message.clone(),
        pushed: None,
        switched,
    };
    if new_tree_id != base_tree.id() {
        let new_tree = repository.find_tree(new_tree_id)?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let id = repository
            .commit(
                Some("HEAD"),
                &author,
                &committer,
                &message,
                &new_tree,
                &parents,
            )
            .context("cannot create the commit")?;
        report.commit = Some(id.to_string());
    }
    sync_index(&repository, &upserts, &removals)?;

    if let Some(remote) = request.push
        && needs_push(&repository, remote, &branch)
    {
        push(&repository, remote, &branch)?;
        report.pushed = Some(remote.to_owned());
    }
    Ok(report)
}

/// Opens a repository, with an error that says what to pass instead.
fn open(path: &Path) -> Result<Repository> {
    Repository::open(path).map_err(|err| {
        anyhow!(
            "{} is not a git repository ({}); pass --repo the root of a clone of the GitOps repository",
            path.display(),
            err.message()
        )
    })
}

/// Whether `HEAD` names a branch that has no commit yet.
fn is_unborn(repository: &Repository) -> bool {
    matches!(repository.head(), Err(err) if err.code() == ErrorCode::UnbornBranch)
        || repository.is_empty().unwrap_or(false)
}

/// The managed subdirectory as `/`-separated relative components (`""` for the root).
fn normalize_dir(dir: &str) -> Result<String> {
    let mut parts = Vec::new();
    for component in Path::new(dir).components() {
        match component {
            Component::CurDir => {}
            Component::Normal(part) => match part.to_str() {
                Some(part) if part != ".git" => parts.push(part.to_owned()),
                _ => bail!("--dir {dir:?} is not a plain directory name inside the repository"),
            },
            _ => bail!("--dir {dir:?} must be a relative path inside the repository, without `..`"),
        }
    }
    Ok(parts.join("/"))
}

/// `dir/path`, or `path` when `dir` is the root.
fn join_dir(dir: &str, path: &str) -> String {
    if dir.is_empty() {
        path.to_owned()
    } else {
        format!("{dir}/{path}")
    }
}

/// A relative path with `/` separators.
fn slash_path(path: &Path) -> String {
    path.components()
        .map(|component| component.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The subtree at `dir` of `tree`, if there is one.
fn subtree<'r>(
    repository: &'r Repository,
    tree: &git2::Tree<'r>,
    dir: &str,
) -> Result<Option<git2::Tree<'r>>> {
    if dir.is_empty() {
        return Ok(Some(tree.clone()));
    }
    match tree.get_path(Path::new(dir)) {
        Ok(entry) if entry.kind() == Some(ObjectType::Tree) => {
            Ok(Some(repository.find_tree(entry.id())?))
        }
        Ok(_) => bail!("{dir} is a file in the repository, not a directory"),
        Err(err) if err.code() == ErrorCode::NotFound => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// The manifest's paths in `dir` of `tree` (empty without a manifest).
fn manifest_paths(
    repository: &Repository,
    tree: &git2::Tree<'_>,
    dir: &str,
) -> Result<BTreeSet<String>> {
    Ok(read_manifest(repository, tree, dir)?
        .map(|manifest| manifest.files().keys().cloned().collect())
        .unwrap_or_default())
}

fn read_manifest(
    repository: &Repository,
    tree: &git2::Tree<'_>,
    dir: &str,
) -> Result<Option<Manifest>> {
    let Some(sub) = subtree(repository, tree, dir)? else {
        return Ok(None);
    };
    let entry = match sub.get_path(Path::new(MANIFEST_PATH)) {
        Ok(entry) => entry,
        Err(err) if err.code() == ErrorCode::NotFound => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let blob = repository.find_blob(entry.id())?;
    let manifest = Manifest::parse(blob.content()).map_err(|reason| {
        anyhow!(
            "the ownership manifest {} in git is corrupt ({reason}); fix or remove it in the repository first",
            join_dir(dir, MANIFEST_PATH)
        )
    })?;
    Ok(Some(manifest))
}

/// The files manifold owns in `dir` of `tree` (see [`read_tree`]).
fn owned_files(repository: &Repository, tree: &git2::Tree<'_>, dir: &str) -> Result<Files> {
    let Some(sub) = subtree(repository, tree, dir)? else {
        return Ok(Files::new());
    };
    let mut files = Files::new();
    if let Some(manifest) = read_manifest(repository, tree, dir)? {
        for path in manifest.files().keys() {
            match sub.get_path(Path::new(path)) {
                Ok(entry) if entry.kind() == Some(ObjectType::Blob) => {
                    files.insert(
                        path.clone(),
                        repository.find_blob(entry.id())?.content().to_vec(),
                    );
                }
                Ok(_) => {}
                Err(err) if err.code() == ErrorCode::NotFound => {}
                Err(err) => return Err(err.into()),
            }
        }
        return Ok(files);
    }
    let mut failure = None;
    sub.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
        let Ok(name) = entry.name() else {
            return git2::TreeWalkResult::Ok;
        };
        let path = format!("{root}{name}");
        if path == ".manifold" || path.starts_with(".manifold/") {
            return git2::TreeWalkResult::Skip;
        }
        if entry.kind() == Some(ObjectType::Blob) {
            match repository.find_blob(entry.id()) {
                Ok(blob) => {
                    files.insert(path, blob.content().to_vec());
                }
                Err(err) => {
                    failure = Some(err);
                    return git2::TreeWalkResult::Abort;
                }
            }
        }
        git2::TreeWalkResult::Ok
    })?;
    match failure {
        Some(err) => Err(err.into()),
        None => Ok(files),
    }
}

/// The uncommitted changes (staged, unstaged, untracked) in `dir`, relative to the repository,
/// leaving out manifold's transient state under `.manifold/`.
fn dirty_paths(repository: &Repository, dir: &str) -> Result<Vec<String>> {
    let mut options = StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .renames_head_to_index(false);
    if !dir.is_empty() {
        options.pathspec(dir);
    }
    let statuses = repository
        .statuses(Some(&mut options))
        .context("cannot read the repository's status")?;
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut dirty = Vec::new();
    for entry in statuses.iter() {
        let status = entry.status();
        if status.is_empty() || status == Status::CURRENT || status.contains(Status::IGNORED) {
            continue;
        }
        let Ok(path) = entry.path() else { continue };
        let Some(inside) = path.strip_prefix(&prefix) else {
            continue;
        };
        if is_transient_state(inside) {
            continue;
        }
        dirty.push(path.to_owned());
    }
    dirty.sort();
    Ok(dirty)
}

/// Whether a path of the output directory is manifold's transient state (lock, journal,
/// staging area, temporary files), never committed.
fn is_transient_state(path: &str) -> bool {
    match path.strip_prefix(".manifold/") {
        Some(rest) => rest != "owned.json" && rest != ".gitignore",
        None => false,
    }
}

/// The branch `HEAD` points to.
fn current_branch(repository: &Repository) -> Result<String> {
    let head = repository.find_reference("HEAD")?;
    match head.symbolic_target().ok().flatten() {
        Some(target) => Ok(target
            .strip_prefix("refs/heads/")
            .unwrap_or(target)
            .to_owned()),
        None => {
            bail!("HEAD is detached in the repository; pass --branch NAME to commit on a branch")
        }
    }
}

/// Checks out branch `name` (creating it if missing) unless it is the current one. Returns
/// whether it switched. Fails, changing nothing, if local changes would be overwritten.
fn switch_branch(repository: &Repository, name: &str, remote: Option<&str>) -> Result<bool> {
    if !git2::Branch::name_is_valid(name)? {
        bail!("{name:?} is not a valid branch name");
    }
    let refname = format!("refs/heads/{name}");
    if repository
        .find_reference("HEAD")?
        .symbolic_target()
        .ok()
        .flatten()
        == Some(refname.as_str())
    {
        return Ok(false);
    }
    if is_unborn(repository) && repository.find_branch(name, BranchType::Local).is_err() {
        // No commit to branch from: the first commit will create the branch.
        repository.set_head(&refname)?;
        return Ok(true);
    }
    let start = match repository.find_branch(name, BranchType::Local) {
        Ok(branch) => branch.get().peel_to_commit()?,
        Err(_) => {
            let tracking = remote
                .and_then(|remote| {
                    repository
                        .find_branch(&format!("{remote}/{name}"), BranchType::Remote)
                        .ok()
                })
                .and_then(|branch| branch.get().peel_to_commit().ok());
            let start = match tracking {
                Some(commit) => commit,
                None => repository
                    .head()
                    .and_then(|head| head.peel_to_commit())
                    .context("cannot create the branch: HEAD has no commit")?,
            };
            repository.branch(name, &start, false)?;
            start
        }
    };
    let mut checkout = CheckoutBuilder::new();
    checkout.safe();
    repository
        .checkout_tree(start.as_object(), Some(&mut checkout))
        .map_err(|err| {
            anyhow!(
                "cannot switch to branch {name}: {}; commit or stash the local changes first",
                err.message()
            )
        })?;
    repository.set_head(&refname)?;
    Ok(true)
}

/// The author: `--author "Name <email>"`, else git's configuration, else [`DEFAULT_AUTHOR`].
fn author_signature(repository: &Repository, author: Option<&str>) -> Result<Signature<'static>> {
    match author {
        Some(text) => {
            let (name, email) = parse_author(text).ok_or_else(|| {
                anyhow!("--author {text:?} is not of the form \"Name <email@example.com>\"")
            })?;
            Ok(Signature::now(name, email)?)
        }
        None => match repository.signature() {
            Ok(signature) => Ok(signature),
            Err(_) => Ok(Signature::now(DEFAULT_AUTHOR.0, DEFAULT_AUTHOR.1)?),
        },
    }
}

/// `Name <email>` → (`Name`, `email`).
fn parse_author(text: &str) -> Option<(&str, &str)> {
    let text = text.trim();
    let open = text.rfind('<')?;
    let email = text[open + 1..].strip_suffix('>')?.trim();
    let name = text[..open].trim();
    (!name.is_empty() && !email.is_empty() && !email.contains(['<', '>'])).then_some((name, email))
}

/// The commit message: `request.message` with its placeholders filled, or the default one.
fn message(request: &CommitRequest<'_>, changes: &Diff) -> String {
    let summary = changes.summary();
    let counts = format!(
        "{} added, {} changed, {} removed",
        summary.added, summary.changed, summary.removed
    );
    let counts = if summary.is_empty() {
        format!("{counts} (no object or text changes)")
    } else {
        counts
    };
    let objects = object_lines(changes);
    let source = request
        .source
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    if let Some(template) = request.message {
        return template
            .replace("{platform}", request.platform)
            .replace("{summary}", &counts)
            .replace("{added}", &summary.added.to_string())
            .replace("{changed}", &summary.changed.to_string())
            .replace("{removed}", &summary.removed.to_string())
            .replace("{objects}", &objects)
            .replace("{source}", &source);
    }
    let mut text = format!("manifold: {} — {counts}\n", request.platform);
    if !objects.is_empty() {
        text.push('\n');
        text.push_str(&objects);
        text.push('\n');
    }
    if !source.is_empty() {
        text.push_str(&format!("\nSource: {source}\n"));
    }
    text
}

/// One line per changed object or file (`+ Service api in kubernetes/base/api`), capped.
fn object_lines(changes: &Diff) -> String {
    let mut lines: Vec<String> = changes
        .entries
        .iter()
        .take(MESSAGE_OBJECT_LIMIT)
        .map(|entry| match entry {
            Entry::Object(object) => format!(
                "{} {} in {}",
                object.change.sign(),
                object.label(),
                object.target
            ),
            Entry::File(file) => format!("{} {}", file.change.sign(), file.path),
        })
        .collect();
    if changes.entries.len() > MESSAGE_OBJECT_LIMIT {
        lines.push(format!(
            "… and {} more",
            changes.entries.len() - MESSAGE_OBJECT_LIMIT
        ));
    }
    lines.join("\n")
}

/// Brings the repository's index in line with the commit for the managed paths only, so that
/// `git status` shows them clean and whatever else the user staged stays staged.
fn sync_index(
    repository: &Repository,
    upserts: &[(String, Oid)],
    removals: &BTreeSet<String>,
) -> Result<()> {
    let mut index = repository
        .index()
        .context("cannot open the repository's index")?;
    for path in removals {
        match index.remove_path(Path::new(path)) {
            Ok(()) => {}
            Err(err) if err.code() == ErrorCode::NotFound => {}
            Err(err) => return Err(err.into()),
        }
    }
    for (path, _) in upserts {
        index
            .add_path(Path::new(path))
            .with_context(|| format!("cannot stage {path}"))?;
    }
    index.write().context("cannot write the repository's index")
}

/// Whether `branch` differs from what the repository last saw of it on `remote`.
fn needs_push(repository: &Repository, remote: &str, branch: &str) -> bool {
    let local = repository
        .find_reference(&format!("refs/heads/{branch}"))
        .ok()
        .and_then(|reference| reference.target());
    let tracked = repository
        .find_reference(&format!("refs/remotes/{remote}/{branch}"))
        .ok()
        .and_then(|reference| reference.target());
    local.is_some() && local != tracked
}

/// Pushes `branch` to the same name on `remote`, without force, with the standard credential
/// sources: an SSH agent for SSH, git's credential helpers for HTTPS.
fn push(repository: &Repository, remote_name: &str, branch: &str) -> Result<()> {
    let mut remote = repository.find_remote(remote_name).map_err(|err| {
        anyhow!(
            "cannot push: the repository has no remote {remote_name:?} ({}); pass --push the name of a configured remote",
            err.message()
        )
    })?;
    let config = repository.config()?;
    let tried_agent = Cell::new(false);
    let tried_helper = Cell::new(false);
    let tried_default = Cell::new(false);
    let rejected = RefCell::new(Vec::new());
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(|url, username, allowed| {
        let user = username.unwrap_or("git");
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(user);
        }
        if allowed.contains(CredentialType::SSH_KEY) && !tried_agent.replace(true) {
            return Cred::ssh_key_from_agent(user);
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) && !tried_helper.replace(true) {
            return Cred::credential_helper(&config, url, username);
        }
        if allowed.contains(CredentialType::DEFAULT) && !tried_default.replace(true) {
            return Cred::default();
        }
        Err(git2::Error::from_str(
            "no usable credentials (tried the SSH agent and git's credential helpers)",
        ))
    });
    callbacks.push_update_reference(|refname, status| {
        if let Some(reason) = status {
            rejected.borrow_mut().push(format!("{refname}: {reason}"));
        }
        Ok(())
    });
    let mut options = PushOptions::new();
    options.remote_callbacks(callbacks);
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    let pushed = remote.push(&[refspec.as_str()], Some(&mut options));
    drop(options);
    pushed.map_err(|err| {
        anyhow!(
            "push of {branch} to {remote_name} failed: {}; the commit stays in the local clone: if the remote has commits this clone lacks, pull (or re-clone) and run manifold commit again (manifold never force-pushes)",
            err.message().trim_end_matches('.')
        )
    })?;
    let rejected = rejected.into_inner();
    if !rejected.is_empty() {
        bail!(
            "{remote_name} rejected the push of {branch}: {}; manifold never force-pushes: update the clone and run manifold commit again",
            rejected.join("; ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authors_are_name_and_email() {
        assert_eq!(
            parse_author("Ada Lovelace <ada@example.com>"),
            Some(("Ada Lovelace", "ada@example.com"))
        );
        assert_eq!(parse_author("ada@example.com"), None);
        assert_eq!(parse_author("<ada@example.com>"), None);
    }

    #[test]
    fn managed_directories_stay_inside_the_repository() {
        assert_eq!(normalize_dir("").unwrap_or_default(), "");
        assert_eq!(normalize_dir(".").unwrap_or_default(), "");
        assert_eq!(
            normalize_dir("./deploy/shop/").unwrap_or_default(),
            "deploy/shop"
        );
        assert!(normalize_dir("../elsewhere").is_err());
        assert!(normalize_dir("/abs").is_err());
        assert!(normalize_dir(".git/hooks").is_err());
    }

    #[test]
    fn transient_state_is_never_dirty() {
        assert!(is_transient_state(".manifold/lock"));
        assert!(is_transient_state(".manifold/staging/0"));
        assert!(is_transient_state(".manifold/journal.json"));
        assert!(!is_transient_state(".manifold/owned.json"));
        assert!(!is_transient_state(".manifold/.gitignore"));
        assert!(!is_transient_state("README.md"));
    }
}
