//! The pipeline, end to end in memory: text → diagnostics → model → rendered tree.
//!
//! Consumes: the spec's name and text. Produces: a [`Compilation`] holding every diagnostic
//! and, when there was no error, the model and the output tree.
//! Invariant: no I/O here; the caller decides whether to print, write or compare.

use std::collections::BTreeMap;

use crate::diagnostic::{self, Diagnostic};
use crate::emit::templates::{self, TemplateOverride};
use crate::model::Platform;
use crate::output::Tree;
use crate::source::{FileId, Sources};

/// The result of compiling one spec.
#[derive(Debug)]
pub struct Compilation {
    /// Every file read (the spec and the built-in profiles), for rendering diagnostics.
    pub sources: Sources,
    /// The spec's file id.
    pub file: FileId,
    /// Every diagnostic, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
    /// The model, when the spec had no error.
    pub platform: Option<Platform>,
    /// The rendered output tree, when the spec had no error.
    pub tree: Option<Tree>,
}

impl Compilation {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        diagnostic::has_errors(&self.diagnostics)
    }
}

/// How far to run the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Parse, validate and lower (what `manifold check` needs).
    AfterChecks,
    /// Everything, including rendering the output tree.
    AfterEmit,
}

/// Settings of a compilation besides the spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The user's template overrides (`manifold compile --templates DIR`), keyed by the
    /// built-in template's path relative to `templates/` (`terraform/aws/main.tf.j2`).
    pub templates: BTreeMap<String, TemplateOverride>,
    /// Keep the model's origin tables once the output is emitted (`explain` reads them).
    /// Otherwise they are dropped as soon as the model checks pass: only diagnostics read
    /// them, and emission then reuses their memory (docs/performance.md, "Memory").
    pub keep_origins: bool,
}

/// Compiles a spec held in memory with the built-in templates.
pub fn compile(name: &str, text: &str, stop: Stop) -> Compilation {
    compile_with(name, text, stop, &Config::default())
}

/// Compiles a spec held in memory. A template override that replaces no built-in template,
/// or that fails to parse or render, is an error diagnostic in that template.
pub fn compile_with(name: &str, text: &str, stop: Stop, config: &Config) -> Compilation {
    let mut sources = Sources::new();
    let file = sources.add(name, text);
    let mut compilation = Compilation {
        sources,
        file,
        diagnostics: Vec::new(),
        platform: None,
        tree: None,
    };
    let profiles = match crate::profiles::load(&mut compilation.sources) {
        Ok(profiles) => profiles,
        Err(diagnostics) => {
            compilation.diagnostics = diagnostics;
            return compilation;
        }
    };
    let (form, mut diagnostics) = crate::spec::parse(&compilation.sources, file);
    let Some(form) = form else {
        compilation.diagnostics = diagnostics;
        return compilation;
    };
    // Conversion problems (unknown nodes, duplicates) and schema problems are reported
    // together, so a user sees everything in one run.
    let (checked, mut check_diagnostics) = crate::check::check(file, form, profiles);
    diagnostics.append(&mut check_diagnostics);
    diagnostic::sort(&mut diagnostics);
    compilation.diagnostics = diagnostics;
    let Some(checked) = checked.filter(|_| !diagnostic::has_errors(&compilation.diagnostics))
    else {
        return compilation;
    };
    let mut platform = crate::lower::lower(&checked, name);
    // The model owns everything it needs: the spec's forms go now, so the later stages reuse
    // their memory instead of adding to the peak (docs/performance.md, "Memory").
    drop(checked);
    // The Istio objects are built once: the mesh check reads them, the emitter writes them.
    let mesh = crate::emit::istio::Mesh::build(&platform, stop == Stop::AfterEmit);
    let mut model_diagnostics = crate::check::platform::check(&platform, file, &mesh);
    compilation.diagnostics.append(&mut model_diagnostics);
    diagnostic::sort(&mut compilation.diagnostics);
    if diagnostic::has_errors(&compilation.diagnostics) {
        compilation.platform = Some(platform);
        return compilation;
    }
    if stop == Stop::AfterEmit {
        // Only diagnostics and `explain` read the origin tables; emission reuses their memory.
        if !config.keep_origins {
            platform.forget_origins();
        }
        let mut unknown: Vec<Diagnostic> = config
            .templates
            .iter()
            .filter(|(name, _)| !templates::is_builtin(name))
            .map(|(name, found)| templates::unknown(name, found, &mut compilation.sources))
            .collect();
        if !unknown.is_empty() {
            compilation.diagnostics.append(&mut unknown);
            compilation.platform = Some(platform);
            return compilation;
        }
        let options = crate::emit::Options {
            templates: config.templates.clone(),
        };
        match crate::emit::emit_with(&platform, mesh, &options) {
            Ok(tree) => compilation.tree = Some(tree),
            Err(error) => compilation
                .diagnostics
                .push(templates::diagnostic(&error, &mut compilation.sources)),
        }
    }
    compilation.platform = Some(platform);
    compilation
}
