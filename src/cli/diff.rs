//! `manifold diff`: compiles the spec in memory and shows, object by object, what the new
//! output changes compared with a directory (`--against DIR`) or with the output committed in
//! a git repository (`--repo PATH [--rev REV] [--dir SUBDIR]`, read from git objects).
//!
//! Exit codes, like `kubectl diff`: 0 no change (or changes without `--exit-code`), 1 changes
//! with `--exit-code`, 2 any error (the spec's included).

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use manifold::diff::{self, Files, render};
use manifold::output::{MANIFEST_PATH, Manifest};

use super::Format;

/// Arguments of `manifold diff`.
#[derive(Debug, Args)]
pub(super) struct DiffArgs {
    /// The spec (default: ./platform.kdl).
    spec: Option<PathBuf>,
    /// Compare with the output directory DIR (the files its manifest owns; a missing
    /// directory counts as empty).
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "repo",
        required_unless_present = "repo"
    )]
    against: Option<PathBuf>,
    /// Compare with the output committed in this git repository (read from git objects, no
    /// checkout; bare repositories work).
    #[arg(long, value_name = "PATH")]
    repo: Option<PathBuf>,
    /// The revision of --repo to compare with (a branch, tag or commit).
    #[arg(long, value_name = "REV", default_value = "HEAD", requires = "repo")]
    rev: String,
    /// The output's directory inside --repo.
    #[arg(long, value_name = "SUBDIR", default_value = ".", requires = "repo")]
    dir: String,
    /// How to print the changes.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    format: DiffFormat,
    /// Exit 1 when there are changes (default: 0 whenever the diff ran).
    #[arg(long)]
    exit_code: bool,
    /// Directory of templates replacing built-in ones (as for `compile`).
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
    /// Treat warnings as errors (as for `compile`): `--deny warnings` fails on any warning.
    #[arg(long, value_enum, value_name = "KIND")]
    deny: Vec<super::Deny>,
}

/// How `manifold diff` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum DiffFormat {
    /// Field paths with old → new values, unified diffs for text files (colour on a terminal).
    Text,
    /// A pull-request comment: summary table and collapsible details, capped in size.
    Markdown,
    /// One JSON document (format 1, see the README).
    Json,
}

/// Runs `manifold diff`.
pub(super) fn run(args: DiffArgs) -> ExitCode {
    let diagnostics_format = match args.format {
        DiffFormat::Json => Format::Json,
        DiffFormat::Text | DiffFormat::Markdown => Format::Text,
    };
    let spec = args.spec.clone().unwrap_or_else(super::default_spec);
    let compilation = match super::compile_to_tree(&spec, args.templates.as_deref(), &args.deny) {
        Ok(compilation) => compilation,
        Err(error) => return failure(&error, diagnostics_format),
    };
    let tree = match compilation.tree.as_ref() {
        Some(tree) if !compilation.has_errors() => {
            // Warnings go to stderr, so stdout holds only the diff.
            super::print_diagnostics(&compilation, Format::Text);
            tree
        }
        _ => {
            super::print_diagnostics(&compilation, diagnostics_format);
            return ExitCode::from(2);
        }
    };
    let old = match (&args.against, &args.repo) {
        (Some(dir), _) => read_directory(dir),
        (None, Some(repo)) => manifold::gitops::read_tree(repo, &args.rev, &args.dir),
        (None, None) => Err(anyhow::anyhow!("give --against DIR or --repo PATH")),
    };
    let old = match old {
        Ok(old) => old,
        Err(error) => return failure(&error, diagnostics_format),
    };
    let changes = diff::diff(&old, tree.files());
    let rendered = match args.format {
        DiffFormat::Text => render::text(&changes, color()),
        DiffFormat::Markdown => render::markdown(&changes, render::MARKDOWN_LIMIT),
        DiffFormat::Json => render::json(&changes),
    };
    let mut stdout = std::io::stdout().lock();
    if stdout.write_all(rendered.as_bytes()).is_err() {
        return ExitCode::from(2);
    }
    if args.exit_code && !changes.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints an environment failure as `compile` does, but exits 2.
fn failure(error: &anyhow::Error, format: Format) -> ExitCode {
    let _ = super::environment_error(error, format);
    ExitCode::from(2)
}

/// Colour for stdout: only on a terminal, never with `NO_COLOR` set.
fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
        && std::io::stdout().is_terminal()
}

/// The output tree in `dir`: the files its manifest owns, or every file (but `.manifold/` and
/// `.git/`) when it has no manifest. A missing directory is an empty tree.
fn read_directory(dir: &Path) -> anyhow::Result<Files> {
    let mut files = Files::new();
    if !dir.exists() {
        eprintln!(
            "note: {} does not exist; every file counts as new",
            dir.display()
        );
        return Ok(files);
    }
    if !dir.is_dir() {
        anyhow::bail!(
            "{} is not a directory; give --against the output directory",
            dir.display()
        );
    }
    let manifest_path = dir.join(MANIFEST_PATH);
    match std::fs::read(&manifest_path) {
        Ok(bytes) => {
            let manifest = Manifest::parse(&bytes).map_err(|reason| {
                anyhow::anyhow!(
                    "the ownership manifest {} is corrupt ({reason}); restore it from git, or compare with another directory",
                    manifest_path.display()
                )
            })?;
            for path in manifest.files().keys() {
                let on_disk = path
                    .split('/')
                    .fold(dir.to_path_buf(), |joined, part| joined.join(part));
                match std::fs::read(&on_disk) {
                    Ok(bytes) => {
                        files.insert(path.clone(), bytes);
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    Err(error) => anyhow::bail!("cannot read {}: {error}", on_disk.display()),
                }
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let walk = walkdir::WalkDir::new(dir)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|entry| {
                    entry.depth() == 0
                        || (entry.file_name() != ".manifold" && entry.file_name() != ".git")
                });
            for entry in walk {
                let entry = entry
                    .map_err(|error| anyhow::anyhow!("cannot read {}: {error}", dir.display()))?;
                if !entry.file_type().is_file() {
                    continue;
                }
                let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
                let path = relative
                    .components()
                    .map(|part| part.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                let bytes = std::fs::read(entry.path()).map_err(|error| {
                    anyhow::anyhow!("cannot read {}: {error}", entry.path().display())
                })?;
                files.insert(path, bytes);
            }
        }
        Err(error) => anyhow::bail!("cannot read {}: {error}", manifest_path.display()),
    }
    Ok(files)
}
