//! `manifold commit`: compiles the spec, writes the output into a GitOps repository's working
//! tree and commits exactly the files manifold owns there (see `manifold::gitops`), then
//! pushes when asked.
//!
//! Exit codes: 0 committed, or nothing to commit; 1 the spec has errors, the managed directory
//! is dirty, the repository or the push failed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use manifold::gitops::{self, CommitRequest};

use super::Format;

/// Arguments of `manifold commit`.
#[derive(Debug, Args)]
pub(super) struct CommitArgs {
    /// The spec (default: ./platform.kdl).
    spec: Option<PathBuf>,
    /// The GitOps repository: the root of a clone with a working tree.
    #[arg(long, value_name = "PATH")]
    repo: PathBuf,
    /// The output's directory inside the repository.
    #[arg(long, value_name = "SUBDIR", default_value = ".")]
    dir: String,
    /// Commit on this branch: switched to first, created from the current HEAD (or from
    /// REMOTE/NAME with --push) if missing.
    #[arg(long, value_name = "NAME")]
    branch: Option<String>,
    /// Push the branch to this remote afterwards (never forced; SSH agent or git credential
    /// helper for authentication).
    #[arg(long, value_name = "REMOTE")]
    push: Option<String>,
    /// The commit message, or a template using {platform}, {summary}, {added}, {changed},
    /// {removed}, {objects} and {source}.
    #[arg(long, short, value_name = "TEXT")]
    message: Option<String>,
    /// The author, "Name <email>" (default: git's user.name and user.email, else
    /// "manifold <manifold@localhost>").
    #[arg(long, value_name = "AUTHOR")]
    author: Option<String>,
    /// Commit even when the output directory has uncommitted changes.
    #[arg(long)]
    allow_dirty: bool,
    /// Output format for diagnostics and the result.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Directory of templates replacing built-in ones (as for `compile`).
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
    /// Treat warnings as errors (as for `compile`): `--deny warnings` fails on any warning.
    #[arg(long, value_enum, value_name = "KIND")]
    deny: Vec<super::Deny>,
}

/// Runs `manifold commit`.
pub(super) fn run(args: CommitArgs) -> ExitCode {
    let spec = args.spec.clone().unwrap_or_else(super::default_spec);
    let compilation = match super::compile_to_tree(&spec, args.templates.as_deref(), &args.deny) {
        Ok(compilation) => compilation,
        Err(error) => return super::environment_error(&error, args.format),
    };
    super::print_diagnostics(
        &compilation,
        if compilation.has_errors() {
            args.format
        } else {
            Format::Text
        },
    );
    let (Some(tree), Some(platform)) = (compilation.tree.as_ref(), compilation.platform.as_ref())
    else {
        return ExitCode::from(1);
    };
    if compilation.has_errors() {
        return ExitCode::from(1);
    }
    let request = CommitRequest {
        repo: &args.repo,
        dir: &args.dir,
        branch: args.branch.as_deref(),
        push: args.push.as_deref(),
        message: args.message.as_deref(),
        author: args.author.as_deref(),
        allow_dirty: args.allow_dirty,
        platform: &platform.name,
        source: gitops::source_revision(&spec),
    };
    let report = match gitops::commit(tree, &request) {
        Ok(report) => report,
        Err(error) => return git_error(&error, args.format),
    };
    match args.format {
        Format::Text => {
            if report.switched {
                eprintln!("switched to branch {}", report.branch);
            }
            match &report.commit {
                Some(id) => eprintln!(
                    "committed {} on {}: {}",
                    &id[..id.len().min(12)],
                    report.branch,
                    report.message.lines().next().unwrap_or_default()
                ),
                None => eprintln!(
                    "nothing to commit: the output in {} is up to date on {}",
                    args.repo.join(&args.dir).display(),
                    report.branch
                ),
            }
            if let Some(remote) = &report.pushed {
                eprintln!("pushed {} to {remote}", report.branch);
            }
        }
        Format::Json => {
            let document = serde_json::json!({
                "ok": true,
                "commit": report.commit,
                "branch": report.branch,
                "added": report.summary.added,
                "changed": report.summary.changed,
                "removed": report.summary.removed,
                "message": report.message,
                "pushed": report.pushed,
            });
            println!("{document:#}");
        }
    }
    ExitCode::SUCCESS
}

/// A repository, working-tree or push failure: exit 1.
fn git_error(error: &anyhow::Error, format: Format) -> ExitCode {
    super::fail(
        error,
        format,
        "manifold::cli::git",
        "see the message: it names the files or the remote involved",
    )
}
