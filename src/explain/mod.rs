//! `manifold explain`: where every generated value comes from, and what a spec line affects.
//!
//! Consumes: a spec (name and text) and the compile settings. Produces: for an output field,
//! the tokens of the spec, the profiles and the built-in defaults that determine it, with the
//! override chain the model recorded (highest layer first); for an output file (or a part of
//! one), that for every field; for a spec line, every output file and field its tokens affect.
//!
//! Decisions (ARCHITECTURE.md, "Explain: differential provenance"):
//! - Provenance is measured, not recorded: every token is perturbed in memory and the spec
//!   compiled again ([`perturb`]); the output fields that change are the ones the token
//!   determines ([`fields`]). Emitters need no bookkeeping, derived values (a NetworkPolicy
//!   rule from `calls`, a node count, a floor) name their inputs, and an emitter added later
//!   is covered without a change here.
//! - The model's [`crate::model::Origins`] supply the chain: a token that is the resolved
//!   value of a model pointer is shown with the lower layers it overrode.
//! - A field no perturbation changes is reported as built in: a constant of manifold's
//!   emitters (or of lowering) that no spec, profile or built-in-default token controls.
//! - A forward query perturbs every token (all cores), a spec-line query only the tokens on
//!   that line. This module writes nothing; the CLI saves a full trace ([`Index::to_json`],
//!   keyed by [`Explainer::fingerprint`] and the binary) and reuses it for the next query.
//!
//! Invariant: every field of every output file has an origin: tokens, or built in
//! (`tests/explain.rs` walks the whole tree of the examples).

pub mod fields;
pub mod perturb;
mod render;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::emit::Options;
use crate::model::{Layer, Origin, Origins, Platform};
use crate::output::Tree;
use crate::pipeline::{self, Compilation, Stop};
use crate::profiles::{DEFAULTS, Profile};
use crate::source::{FileId, Sources, Span};
use crate::spec::Form;

pub use fields::{Field, FileFields, Format, Rename};
pub use perturb::{Outcome, Source, Token, TokenKind, Traced, TreeDiff};
pub use render::{field_text, line_text, table_text};

/// Code: the output path names no generated file.
pub const UNKNOWN_FILE: &str = "manifold::explain::unknown-file";
/// Code: the field path names no field of the file.
pub const UNKNOWN_FIELD: &str = "manifold::explain::unknown-field";
/// Code: `--spec-line` names neither the spec nor a built-in profile.
pub const UNKNOWN_SOURCE: &str = "manifold::explain::unknown-source";
/// Code: `--spec-line` names a line without a value.
pub const NO_TOKEN: &str = "manifold::explain::no-token";

/// A compiled spec, ready to be explained.
#[derive(Debug)]
pub struct Explainer {
    compilation: Compilation,
    sources: Sources,
    file: FileId,
    name: String,
    form: Form,
    profiles: BTreeMap<String, Profile>,
    options: Options,
    files: Vec<(String, FileFields)>,
    tokens: Vec<Token>,
    by_span: HashMap<Span, usize>,
    model: String,
}

/// A query that names nothing, as a diagnostic on the query text (or the spec line).
#[derive(Debug)]
pub struct QueryError {
    /// The diagnostic.
    pub diagnostic: Diagnostic,
    /// The sources its span points into (the query is added as `<query>`).
    pub sources: Sources,
}

/// What a forward query names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// One field.
    Field {
        /// File index.
        file: usize,
        /// Field index.
        field: usize,
    },
    /// Every field of a file, or under a prefix of it.
    Fields {
        /// File index.
        file: usize,
        /// The prefix, when one was given.
        prefix: Option<String>,
        /// Field indices.
        fields: Vec<usize>,
    },
}

/// The perturbations of a set of tokens, and the inverse index field → tokens.
#[derive(Debug, Clone)]
pub struct Index {
    traced: BTreeMap<usize, Traced>,
    by_field: HashMap<(u32, u32), Vec<usize>>,
    by_file: HashMap<u32, Vec<usize>>,
}

/// Counts of a trace, for the report line and `--format json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Tokens perturbed.
    pub tokens: usize,
    /// Tokens whose perturbation changed the output.
    pub changed: usize,
    /// Tokens whose valid perturbations changed nothing.
    pub no_effect: usize,
    /// Tokens without a perturbation that compiles.
    pub unperturbable: usize,
    /// Candidate perturbations tried (each a check, and a compile when it passed).
    pub attempts: usize,
}

/// A token as reports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRef {
    /// The layer: `in prod (service api-gateway)`, `service api-gateway`, `defaults`,
    /// `environment prod`, `platform`, `cloud aws`, `profile production`, `built-in default`.
    pub layer: String,
    /// The setting, relative to its block: `autoscale.replicas.max`, `image.tag`.
    pub setting: String,
    /// `value` or `name`.
    pub kind: &'static str,
    /// The file (`<builtin>/overlays/production.kdl` for a profile); empty when the value has
    /// no token (a default in manifold's code).
    pub file: String,
    /// 1-based line (0 without a token).
    pub line: usize,
    /// 1-based column (0 without a token).
    pub column: usize,
    /// The token as written.
    pub text: String,
    #[serde(skip)]
    span: Option<Span>,
    #[serde(skip)]
    rank: u8,
}

/// How a token determines a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The token is the resolved value of the model setting the field shows.
    Set,
    /// The field is derived from the token (a reference, a floor, a computed value).
    Derived,
    /// The token names something the field shows or is keyed by.
    Name,
    /// The whole file exists because of the token (without it, or with another value, the
    /// file is not generated).
    Presence,
}

/// One token that determines a field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contribution {
    /// Set, derived or name.
    pub role: Role,
    /// The token.
    #[serde(flatten)]
    pub token: TokenRef,
    /// The perturbation that showed it (`"1.4.2"` → `"2.5.3"`).
    pub perturbed_to: String,
    /// For `set`: the model setting (`service api-gateway in prod/aws: /autoscale/replicas/max`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// For `set`: the lower layers the value overrode, highest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<TokenRef>,
}

/// Where one output field comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldReport {
    /// Output file.
    pub file: String,
    /// Field path.
    pub field: String,
    /// The value (JSON for YAML/JSON files, the text otherwise).
    pub value: serde_json::Value,
    /// `spec` (some token determines it) or `built-in` (none does: a constant of manifold).
    pub origin: &'static str,
    /// The tokens, highest layer first: `set` ones, then `derived`, `name` and `presence`.
    pub sources: Vec<Contribution>,
}

/// What one spec line affects.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineReport {
    /// The source file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The line's text.
    pub text: String,
    /// The tokens on the line.
    pub tokens: Vec<LineToken>,
    /// The affected output files and fields, in path order.
    pub files: Vec<FileHits>,
}

/// One token of a spec line and what its perturbation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineToken {
    /// The token.
    #[serde(flatten)]
    pub token: TokenRef,
    /// `changed`, `no-effect` (valid perturbations changed nothing) or `unperturbable` (no
    /// perturbation compiled, so its effect is unknown).
    pub status: &'static str,
    /// The perturbation applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perturbed_to: Option<String>,
    /// How many output fields it affects.
    pub fields: usize,
    /// Output files that would no longer be generated.
    pub removes_files: usize,
    /// Output files that would be generated in addition.
    pub adds_files: Vec<String>,
}

/// The affected fields of one output file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileHits {
    /// Output file.
    pub file: String,
    /// Tokens without which the file is not generated at all (indices into
    /// [`LineReport::tokens`]).
    pub whole_file: Vec<usize>,
    /// Its affected fields.
    pub fields: Vec<FieldHit>,
}

/// One affected output field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldHit {
    /// Field path.
    pub field: String,
    /// Its value.
    pub value: serde_json::Value,
    /// Which of the line's tokens affect it (indices into [`LineReport::tokens`]).
    pub tokens: Vec<usize>,
}

impl Explainer {
    /// Compiles a spec. A spec with errors (nothing to explain) comes back as its compilation,
    /// for its diagnostics to be printed.
    pub fn new(
        name: &str,
        text: &str,
        config: &pipeline::Config,
    ) -> Result<Explainer, Box<Compilation>> {
        let config = pipeline::Config {
            keep_origins: true,
            ..config.clone()
        };
        let compilation = pipeline::compile_with(name, text, Stop::AfterEmit, &config);
        if compilation.has_errors() || compilation.tree.is_none() {
            return Err(Box::new(compilation));
        }
        // The same stages the pipeline ran, kept apart so tokens can be perturbed.
        let mut sources = Sources::new();
        let file = sources.add(name, text);
        let Ok(profiles) = crate::profiles::load(&mut sources) else {
            return Err(Box::new(compilation));
        };
        let (Some(form), _) = crate::spec::parse(&sources, file) else {
            return Err(Box::new(compilation));
        };
        let files = compilation
            .tree
            .as_ref()
            .map(|tree| {
                tree.files()
                    .iter()
                    .map(|(path, bytes)| (path.clone(), FileFields::read(path, bytes)))
                    .collect()
            })
            .unwrap_or_default();
        let mut tokens = perturb::tokens(&form, &Source::Spec);
        for (profile_name, profile) in &profiles {
            tokens.extend(perturb::tokens(
                &profile.form,
                &Source::Profile(profile_name.clone()),
            ));
        }
        let by_span = tokens
            .iter()
            .enumerate()
            .map(|(idx, token)| (token.span, idx))
            .collect();
        let model = compilation
            .platform
            .as_ref()
            .map(|platform| format!("{platform:?}"))
            .unwrap_or_default();
        Ok(Explainer {
            compilation,
            sources,
            file,
            name: name.to_owned(),
            form,
            profiles,
            options: Options {
                templates: config.templates.clone(),
            },
            files,
            tokens,
            by_span,
            model,
        })
    }

    /// The baseline compilation (diagnostics, model, tree).
    pub fn compilation(&self) -> &Compilation {
        &self.compilation
    }

    /// The spec, the profiles and the built-in defaults, for rendering tokens.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// The output files, in path order, with their fields.
    pub fn files(&self) -> &[(String, FileFields)] {
        &self.files
    }

    /// Every perturbable token (the spec's first, then each profile's).
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    fn platform(&self) -> Option<&Platform> {
        self.compilation.platform.as_ref()
    }

    fn tree(&self) -> &Tree {
        static EMPTY: std::sync::OnceLock<Tree> = std::sync::OnceLock::new();
        self.compilation
            .tree
            .as_ref()
            .unwrap_or_else(|| EMPTY.get_or_init(Tree::new))
    }

    /// Perturbs the given tokens (indices into [`Explainer::tokens`]) and indexes the result.
    pub fn trace(&self, selection: &[usize]) -> Index {
        let inputs = perturb::Inputs {
            name: &self.name,
            file: self.file,
            form: &self.form,
            profiles: &self.profiles,
            options: &self.options,
            model: &self.model,
        };
        let tokens: Vec<Token> = selection
            .iter()
            .filter_map(|idx| self.tokens.get(*idx).cloned())
            .collect();
        let baseline = Base {
            tree: self.tree(),
            files: &self.files,
        };
        let results = perturb::run_all(&inputs, &tokens, &baseline);
        Index::new(selection.iter().copied().zip(results).collect())
    }

    /// Perturbs every token.
    pub fn trace_all(&self) -> Index {
        let all: Vec<usize> = (0..self.tokens.len()).collect();
        self.trace(&all)
    }

    /// What a saved trace of this spec must match to be reused ([`Index::to_json`]): the
    /// spec's name and text, the template overrides, the tokens and the baseline output (the
    /// caller adds the binary's identity, which fixes the profiles and the emitters).
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        let mut part = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        part(self.name.as_bytes());
        part(self.sources.get(self.file).text.as_bytes());
        for (name, template) in &self.options.templates {
            part(name.as_bytes());
            part(template.text.as_bytes());
        }
        for token in &self.tokens {
            part(format!("{token:?}").as_bytes());
        }
        for (path, bytes) in self.tree().files() {
            part(path.as_bytes());
            part(bytes);
        }
        hash.finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// A trace saved with [`Index::to_json`], if it is one of every token of this spec.
    pub fn load_trace(&self, json: &str) -> Option<Index> {
        let traced: BTreeMap<usize, Traced> = serde_json::from_str(json).ok()?;
        let complete =
            traced.len() == self.tokens.len() && traced.keys().copied().eq(0..self.tokens.len());
        let in_range = traced.values().all(|traced| match &traced.outcome {
            Outcome::Changed { diff, .. } => {
                diff.fields.iter().all(|(file, field)| {
                    self.files
                        .get(*file as usize)
                        .is_some_and(|(_, fields)| (*field as usize) < fields.fields.len())
                }) && diff
                    .vanished
                    .iter()
                    .all(|file| (*file as usize) < self.files.len())
            }
            _ => true,
        });
        (complete && in_range).then(|| Index::new(traced))
    }
}

impl Index {
    fn new(traced: BTreeMap<usize, Traced>) -> Index {
        let mut by_field: HashMap<(u32, u32), Vec<usize>> = HashMap::new();
        let mut by_file: HashMap<u32, Vec<usize>> = HashMap::new();
        for (idx, result) in &traced {
            if let Outcome::Changed { diff, .. } = &result.outcome {
                for field in &diff.fields {
                    by_field.entry(*field).or_default().push(*idx);
                }
                for file in &diff.vanished {
                    by_file.entry(*file).or_default().push(*idx);
                }
            }
        }
        Index {
            traced,
            by_field,
            by_file,
        }
    }

    /// The trace as JSON, for [`Explainer::load_trace`].
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.traced).unwrap_or_default()
    }
}

impl Explainer {
    /// Resolves `PATH`, `PATH#FIELD` or `PATH#PREFIX`.
    pub fn query(&self, text: &str) -> Result<Query, Box<QueryError>> {
        let (path_text, field_text) = match text.split_once('#') {
            Some((path, field)) => (path, Some(field)),
            None => (text, None),
        };
        let Some(file) = self.find_file(path_text) else {
            let paths: Vec<&str> = self.files.iter().map(|(path, _)| path.as_str()).collect();
            let under: Vec<&str> = paths
                .iter()
                .copied()
                .filter(|path| path.starts_with(&format!("{}/", path_text.trim_end_matches('/'))))
                .collect();
            let help = if under.is_empty() {
                match closest(path_text, paths.iter().copied()) {
                    Some(best) => format!("the closest generated file is `{best}`"),
                    None => "the output tree is empty".to_owned(),
                }
            } else {
                format!(
                    "`{}` is a directory; name one of its {} files, e.g. `{}`",
                    path_text.trim_end_matches('/'),
                    under.len(),
                    under[0]
                )
            };
            return Err(self.query_error(
                text,
                (0, path_text.len()),
                UNKNOWN_FILE,
                format!("`{path_text}` is not a generated file"),
                "no such file in the output tree",
                help,
            ));
        };
        let fields = &self.files[file].1;
        let Some(field_text) = field_text.filter(|field| !field.is_empty()) else {
            return Ok(Query::Fields {
                file,
                prefix: None,
                fields: fields.all(),
            });
        };
        if let Some(field) = fields.find(field_text) {
            return Ok(Query::Field { file, field });
        }
        let under = fields.under(field_text);
        if !under.is_empty() {
            return Ok(Query::Fields {
                file,
                prefix: Some(field_text.to_owned()),
                fields: under,
            });
        }
        let help = match closest(field_text, fields.fields.iter().map(|f| f.path.as_str())) {
            Some(best) => format!(
                "did you mean `{best}`? `manifold explain {}` lists every field",
                self.files[file].0
            ),
            None => "the file has no fields".to_owned(),
        };
        let start = path_text.len() + 1;
        Err(self.query_error(
            text,
            (start, field_text.len()),
            UNKNOWN_FIELD,
            format!("`{}` has no field `{field_text}`", self.files[file].0),
            "no such field",
            help,
        ))
    }

    fn find_file(&self, path: &str) -> Option<usize> {
        let path = path.trim_start_matches("./");
        if let Ok(idx) = self
            .files
            .binary_search_by(|(name, _)| name.as_str().cmp(path))
        {
            return Some(idx);
        }
        // `out/kubernetes/...`: the tree path as a suffix, when exactly one matches.
        let mut matches = self
            .files
            .iter()
            .enumerate()
            .filter(|(_, (name, _))| path.ends_with(&format!("/{name}")));
        let first = matches.next()?;
        matches.next().is_none().then_some(first.0)
    }

    fn query_error(
        &self,
        text: &str,
        (start, len): (usize, usize),
        code: &'static str,
        message: String,
        label: &str,
        help: String,
    ) -> Box<QueryError> {
        let mut sources = self.sources.clone();
        let file = sources.add("<query>", text);
        Box::new(QueryError {
            diagnostic: Diagnostic::error(code, Span::new(file, start, len), message)
                .with_label(label)
                .with_help(help),
            sources,
        })
    }

    /// The tokens on `line` of `file` (the spec's path, or a profile:
    /// `overlays/production.kdl`, `production.kdl`, `<builtin>/overlays/builtin.kdl`).
    pub fn line_tokens(
        &self,
        file: &str,
        line: usize,
    ) -> Result<(FileId, Vec<usize>), Box<QueryError>> {
        let query = format!("{file}:{line}");
        let Some(file_id) = self.find_source(file) else {
            let names: Vec<String> = self.sources.iter().map(|(_, f)| f.name.clone()).collect();
            return Err(self.query_error(
                &query,
                (0, file.len()),
                UNKNOWN_SOURCE,
                format!("`{file}` is neither the spec nor a built-in profile"),
                "no such source",
                format!(
                    "give one of: {}",
                    names
                        .iter()
                        .map(|name| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        let source = self.sources.get(file_id);
        let on_line: Vec<usize> = self
            .tokens
            .iter()
            .enumerate()
            .filter(|(_, token)| {
                token.span.file == file_id && source.line_col(token.span.start).0 == line
            })
            .map(|(idx, _)| idx)
            .collect();
        if !on_line.is_empty() {
            return Ok((file_id, on_line));
        }
        let mut lines: Vec<usize> = self
            .tokens
            .iter()
            .filter(|token| token.span.file == file_id)
            .map(|token| source.line_col(token.span.start).0)
            .collect();
        lines.sort_unstable();
        lines.dedup();
        let before = lines.iter().rev().find(|candidate| **candidate < line);
        let after = lines.iter().find(|candidate| **candidate > line);
        let nearest = [before, after]
            .into_iter()
            .flatten()
            .map(|candidate| format!("{candidate}"))
            .collect::<Vec<_>>()
            .join(" and ");
        let help = if nearest.is_empty() {
            "this file has no values".to_owned()
        } else {
            format!("the nearest lines with values are {nearest}")
        };
        match source.line_start(line) {
            Some(start) if line >= 1 => {
                let len = source.line_text(line).len();
                Err(Box::new(QueryError {
                    diagnostic: Diagnostic::error(
                        NO_TOKEN,
                        Span::new(file_id, start, len),
                        format!("line {line} of {} sets no value", source.name),
                    )
                    .with_label("no value on this line")
                    .with_help(help),
                    sources: self.sources.clone(),
                }))
            }
            _ => Err(self.query_error(
                &query,
                (file.len() + 1, query.len() - file.len() - 1),
                NO_TOKEN,
                format!("{} has no line {line}", source.name),
                "no such line",
                help,
            )),
        }
    }

    fn find_source(&self, file: &str) -> Option<FileId> {
        let file = file.trim_start_matches("./");
        let files: Vec<(FileId, &str)> = self
            .sources
            .iter()
            .map(|(id, source)| (id, source.name.as_str()))
            .collect();
        let exact = files
            .iter()
            .find(|(_, name)| name.trim_start_matches("./") == file);
        if let Some((id, _)) = exact {
            return Some(*id);
        }
        let suffix: Vec<FileId> = files
            .iter()
            .filter(|(_, name)| {
                name.ends_with(&format!("/{file}")) || file.ends_with(&format!("/{name}"))
            })
            .map(|(id, _)| *id)
            .collect();
        (suffix.len() == 1).then(|| suffix[0])
    }

    /// Every field of a query, explained.
    pub fn explain(&self, index: &Index, query: &Query) -> Vec<FieldReport> {
        match query {
            Query::Field { file, field } => vec![self.field_report(index, *file, *field)],
            Query::Fields { file, fields, .. } => fields
                .iter()
                .map(|field| self.field_report(index, *file, *field))
                .collect(),
        }
    }

    /// Where one field comes from.
    pub fn field_report(&self, index: &Index, file: usize, field: usize) -> FieldReport {
        let (path, fields) = &self.files[file];
        let data = &fields.fields[field];
        let key = (file as u32, field as u32);
        let mut sources: Vec<Contribution> = index
            .by_field
            .get(&key)
            .into_iter()
            .flatten()
            .map(|idx| self.contribution(index, *idx, path))
            .collect();
        sources.extend(
            index
                .by_file
                .get(&(file as u32))
                .into_iter()
                .flatten()
                .map(|idx| Contribution {
                    role: Role::Presence,
                    token: self.token_ref(&self.tokens[*idx]),
                    perturbed_to: self.perturbed_to(index, *idx),
                    model: None,
                    overrides: Vec::new(),
                }),
        );
        sources.sort_by(|a, b| {
            (a.role, std::cmp::Reverse(a.token.rank), a.token.span).cmp(&(
                b.role,
                std::cmp::Reverse(b.token.rank),
                b.token.span,
            ))
        });
        FieldReport {
            file: path.clone(),
            field: data.path.clone(),
            value: data
                .json
                .clone()
                .unwrap_or_else(|| serde_json::Value::String(data.value.clone())),
            origin: if sources.is_empty() {
                "built-in"
            } else {
                "spec"
            },
            sources,
        }
    }

    fn contribution(&self, index: &Index, idx: usize, output_path: &str) -> Contribution {
        let token = &self.tokens[idx];
        let token_ref = self.token_ref(token);
        let perturbed_to = self.perturbed_to(index, idx);
        if token.kind == TokenKind::Name {
            return Contribution {
                role: Role::Name,
                token: token_ref,
                perturbed_to,
                model: None,
                overrides: Vec::new(),
            };
        }
        match self.model_origin(token, output_path) {
            Some((model, origin, pointer)) => Contribution {
                role: Role::Set,
                token: token_ref,
                perturbed_to,
                model: Some(model),
                overrides: origin
                    .overridden
                    .iter()
                    .map(|below| self.origin_ref(below, &pointer))
                    .collect(),
            },
            None => Contribution {
                role: Role::Derived,
                token: token_ref,
                perturbed_to,
                model: None,
                overrides: Vec::new(),
            },
        }
    }

    fn perturbed_to(&self, index: &Index, idx: usize) -> String {
        match index.traced.get(&idx).map(|traced| &traced.outcome) {
            Some(Outcome::Changed { to, .. }) => to.clone(),
            _ => String::new(),
        }
    }

    /// The model setting whose resolved value is this token, preferring the output file's
    /// target and the services its path names.
    fn model_origin<'p>(
        &'p self,
        token: &Token,
        output_path: &str,
    ) -> Option<(String, &'p Origin, String)> {
        let platform = self.platform()?;
        let builtin_pointer = match &token.source {
            Source::Profile(name) if name == DEFAULTS.0 => token.pointer.strip_prefix("/profile"),
            _ => None,
        };
        let matches = |origin: &Origin, pointer: &str| match builtin_pointer {
            Some(wanted) => *origin.layer == Layer::Builtin && pointer == wanted,
            None => origin.span == Some(token.span),
        };
        for (label, origins) in self.origin_tables(platform, output_path) {
            for (pointer, origin) in origins {
                if matches(origin, pointer) {
                    return Some((format!("{label}: {pointer}"), origin, pointer.to_owned()));
                }
            }
        }
        None
    }

    /// The origin tables to search for a file, most relevant first.
    fn origin_tables<'p>(
        &self,
        platform: &'p Platform,
        output_path: &str,
    ) -> Vec<(String, &'p Origins)> {
        let parts: Vec<&str> = output_path.split('/').collect();
        let file_name = parts.last().copied().unwrap_or("");
        let mut tables: Vec<(u8, usize, String, &'p Origins)> = Vec::new();
        let named = |service: &str| {
            file_name.contains(service) || output_path.contains(&format!("/{service}/"))
        };
        for service in &platform.base {
            let preference = match parts.as_slice() {
                ["kubernetes", "base", name, ..] if *name == service.name => 0,
                ["kubernetes", "base", ..] => 1,
                _ => 4,
            };
            tables.push((
                preference,
                usize::MAX - service.name.len(),
                format!("service {} (base)", service.name),
                &service.origins,
            ));
        }
        for environment in &platform.environments {
            let in_env = matches!(parts.as_slice(), ["kubernetes", "overlays", env, ..] if *env == environment.name)
                || file_name == format!("applicationset-{}.yaml", environment.name);
            tables.push((
                if in_env { 1 } else { 5 },
                0,
                format!("environment {}", environment.name),
                &environment.origins,
            ));
            for target in &environment.targets {
                let in_target = matches!(parts.as_slice(), ["kubernetes", "overlays", env, cloud, ..]
                    if *env == environment.name && *cloud == target.cloud.as_str());
                for service in &target.services {
                    let preference = match (in_target, named(&service.name)) {
                        (true, true) => 0,
                        (true, false) => 1,
                        (false, true) => 2,
                        (false, false) => 3,
                    };
                    tables.push((
                        preference,
                        usize::MAX - service.name.len(),
                        format!(
                            "service {} in {}/{}",
                            service.name,
                            environment.name,
                            target.cloud.as_str()
                        ),
                        &service.origins,
                    ));
                }
            }
        }
        tables.sort_by_key(|(preference, length, _, _)| (*preference, *length));
        tables
            .into_iter()
            .map(|(_, _, label, origins)| (label, origins))
            .collect()
    }

    /// A token as reports show it.
    fn token_ref(&self, token: &Token) -> TokenRef {
        let (layer, setting, rank) = self.describe(&token.source, &token.pointer);
        let source = self.sources.get(token.span.file);
        let (line, column) = source.line_col(token.span.start);
        let text = source
            .text
            .get(token.span.start..token.span.end())
            .unwrap_or("")
            .to_owned();
        TokenRef {
            layer,
            setting,
            kind: match token.kind {
                TokenKind::Value => "value",
                TokenKind::Name => "name",
            },
            file: source.name.clone(),
            line,
            column,
            text,
            span: Some(token.span),
            rank,
        }
    }

    /// A lower layer of a chain.
    fn origin_ref(&self, origin: &Origin, model_pointer: &str) -> TokenRef {
        let span = origin.span.or_else(|| {
            // Built-in defaults carry no span in the model; their tokens are in builtin.kdl.
            let defaults = self.profiles.get(DEFAULTS.0)?;
            let spans = defaults
                .form
                .spans
                .get(&format!("/profile{model_pointer}"))?;
            Some(spans.value)
        });
        if let Some(token) = span.and_then(|span| self.by_span.get(&span)) {
            return self.token_ref(&self.tokens[*token]);
        }
        let layer = match &*origin.layer {
            Layer::Builtin => "built-in default".to_owned(),
            Layer::Profile(name) => format!("profile {name}"),
            Layer::Environment(name) => format!("environment {name}"),
            Layer::Defaults => "defaults".to_owned(),
            Layer::Service => "service".to_owned(),
            Layer::Override(env) => format!("in {env}"),
            Layer::CloudOverride(env, cloud) => format!("in {env} cloud={cloud}"),
            Layer::Derived => "derived".to_owned(),
        };
        let (file, line, column, text) = match span {
            Some(span) => {
                let source = self.sources.get(span.file);
                let (line, column) = source.line_col(span.start);
                let text = source
                    .text
                    .get(span.start..span.end())
                    .unwrap_or("")
                    .to_owned();
                (source.name.clone(), line, column, text)
            }
            None => (String::new(), 0, 0, String::new()),
        };
        TokenRef {
            layer,
            setting: model_pointer.trim_start_matches('/').replace('/', "."),
            kind: "value",
            file,
            line,
            column,
            text,
            span,
            rank: 0,
        }
    }

    /// The layer, setting and rank (higher wins) of a pointer in a document.
    fn describe(&self, source: &Source, pointer: &str) -> (String, String, u8) {
        let segments: Vec<String> = pointer
            .split('/')
            .skip(1)
            .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
            .collect();
        let dotted = |rest: &[String]| rest.join(".");
        match source {
            Source::Profile(name) => {
                let rest = segments.get(1..).unwrap_or(&[]);
                if name == DEFAULTS.0 {
                    ("built-in default".to_owned(), dotted(rest), 1)
                } else {
                    (format!("profile {name}"), dotted(rest), 2)
                }
            }
            Source::Spec => match segments.as_slice() {
                [services, service, overrides, idx, rest @ ..]
                    if services == "services" && overrides == "overrides" =>
                {
                    let block = format!("/services/{}/overrides/{idx}", escape(service));
                    let env = self
                        .form
                        .value
                        .pointer(&format!("{block}/environment"))
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("?");
                    let cloud = self
                        .form
                        .value
                        .pointer(&format!("{block}/cloud"))
                        .and_then(serde_json::Value::as_str);
                    let (layer, rank) = match cloud {
                        Some(cloud) => (format!("in {env} cloud={cloud} (service {service})"), 7),
                        None => (format!("in {env} (service {service})"), 6),
                    };
                    (layer, dotted(rest), rank)
                }
                [services, service, rest @ ..] if services == "services" => {
                    (format!("service {service}"), dotted(rest), 5)
                }
                [defaults, rest @ ..] if defaults == "defaults" => {
                    ("defaults".to_owned(), dotted(rest), 4)
                }
                [environments, env, rest @ ..] if environments == "environments" => {
                    (format!("environment {env}"), dotted(rest), 3)
                }
                [clouds, cloud, rest @ ..] if clouds == "clouds" => {
                    (format!("cloud {cloud}"), dotted(rest), 3)
                }
                [platform, rest @ ..] if platform == "platform" => {
                    ("platform".to_owned(), dotted(rest), 3)
                }
                other => (
                    other.first().cloned().unwrap_or_default(),
                    dotted(other.get(1..).unwrap_or(&[])),
                    3,
                ),
            },
        }
    }

    /// What the tokens on one spec line affect (their index must come from [`Explainer::trace`]
    /// over the same tokens).
    pub fn line_report(
        &self,
        index: &Index,
        file: FileId,
        line: usize,
        tokens: &[usize],
    ) -> LineReport {
        let source = self.sources.get(file);
        let mut line_tokens = Vec::new();
        let mut hits: BTreeMap<(u32, u32), Vec<usize>> = BTreeMap::new();
        let mut whole: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (position, idx) in tokens.iter().enumerate() {
            let traced = index.traced.get(idx);
            let empty = TreeDiff::default();
            let (status, perturbed_to, diff, added) = match traced.map(|traced| &traced.outcome) {
                Some(Outcome::Changed { to, diff }) => {
                    ("changed", Some(to.clone()), diff, diff.added.clone())
                }
                Some(Outcome::NoEffect { to, added }) => {
                    ("no-effect", Some(to.clone()), &empty, added.clone())
                }
                _ => ("unperturbable", None, &empty, Vec::new()),
            };
            for field in &diff.fields {
                hits.entry(*field).or_default().push(position);
            }
            for file in &diff.vanished {
                whole.entry(*file).or_default().push(position);
            }
            line_tokens.push(LineToken {
                token: self.token_ref(&self.tokens[*idx]),
                status,
                perturbed_to,
                fields: diff.fields.len(),
                removes_files: diff.vanished.len(),
                adds_files: added,
            });
        }
        let mut files: BTreeMap<u32, FileHits> = BTreeMap::new();
        for (file_idx, positions) in whole {
            files.insert(
                file_idx,
                FileHits {
                    file: self.files[file_idx as usize].0.clone(),
                    whole_file: positions,
                    fields: Vec::new(),
                },
            );
        }
        for ((file_idx, field_idx), positions) in hits {
            let (path, fields) = &self.files[file_idx as usize];
            let data = &fields.fields[field_idx as usize];
            let hit = FieldHit {
                field: data.path.clone(),
                value: data
                    .json
                    .clone()
                    .unwrap_or_else(|| serde_json::Value::String(data.value.clone())),
                tokens: positions,
            };
            files
                .entry(file_idx)
                .or_insert_with(|| FileHits {
                    file: path.clone(),
                    whole_file: Vec::new(),
                    fields: Vec::new(),
                })
                .fields
                .push(hit);
        }
        let files: Vec<FileHits> = files.into_values().collect();
        LineReport {
            file: source.name.clone(),
            line,
            text: source.line_text(line).to_owned(),
            tokens: line_tokens,
            files,
        }
    }
}

impl Index {
    /// Counts of the trace.
    pub fn stats(&self) -> Stats {
        let mut stats = Stats {
            tokens: self.traced.len(),
            changed: 0,
            no_effect: 0,
            unperturbable: 0,
            attempts: 0,
        };
        for traced in self.traced.values() {
            stats.attempts += traced.attempts as usize;
            match traced.outcome {
                Outcome::Changed { .. } => stats.changed += 1,
                Outcome::NoEffect { .. } => stats.no_effect += 1,
                Outcome::Unperturbable => stats.unperturbable += 1,
            }
        }
        stats
    }

    /// The outcome of each traced token, by token index.
    pub fn outcomes(&self) -> impl Iterator<Item = (usize, &Traced)> {
        self.traced.iter().map(|(idx, traced)| (*idx, traced))
    }

    /// The tokens that determine a field (file index, field index): those that change it and
    /// those without which its file is not generated.
    pub fn sources_of(&self, file: usize, field: usize) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .by_field
            .get(&(file as u32, field as u32))
            .into_iter()
            .chain(self.by_file.get(&(file as u32)))
            .flatten()
            .copied()
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The baseline output, for [`perturb::Baseline`].
struct Base<'a> {
    tree: &'a Tree,
    files: &'a [(String, FileFields)],
}

impl perturb::Baseline for Base<'_> {
    fn diff(&self, tree: &Tree, rename: Option<&Rename>) -> TreeDiff {
        let mut diff = TreeDiff::default();
        let mut matched: Vec<&str> = Vec::new();
        for (file_idx, (path, fields)) in self.files.iter().enumerate() {
            let before = self.tree.get(path);
            let found = match tree.get(path) {
                Some(after) => Some((path.clone(), after)),
                None => rename
                    .and_then(|rename| rename.apply(path))
                    .and_then(|renamed| tree.get(&renamed).map(|after| (renamed, after))),
            };
            let Some((found_path, after)) = found else {
                diff.vanished.push(file_idx as u32);
                continue;
            };
            if let Some((key, _)) = tree.files().get_key_value(&found_path) {
                matched.push(key.as_str());
            }
            if Some(after) == before {
                continue;
            }
            diff.fields.extend(
                fields
                    .changed(after, rename)
                    .into_iter()
                    .map(|field| (file_idx as u32, field as u32)),
            );
        }
        matched.sort_unstable();
        diff.added = tree
            .files()
            .keys()
            .filter(|path| matched.binary_search(&path.as_str()).is_err())
            .cloned()
            .collect();
        diff
    }
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The candidate closest to `word` (edit distance, ties to the first), if any.
fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (crate::diagnostic::edit_distance(word, candidate), candidate))
        .min_by_key(|(score, _)| *score)
        .map(|(_, candidate)| candidate)
}
