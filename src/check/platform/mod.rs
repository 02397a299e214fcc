//! Checks over the resolved model: the rules that need every layer applied and every
//! resource in view at once (capacity against quotas and node pools, HPA against PDB, routes
//! against subsets, clusters against their providers).
//!
//! Consumes: the [`Platform`]. Produces: diagnostics pointing at the spec (or profile) tokens
//! recorded in each value's [`crate::model::Origin`].
//! Invariant: these rules never modify the model; one module per concern, each exposing
//! `check(&Platform) -> Vec<Diagnostic>`.

pub mod argocd;
pub mod instances;
pub mod mesh;
pub mod scaling;
pub mod terraform;

use crate::diagnostic::Diagnostic;
use crate::emit::istio::Mesh;
use crate::model::Platform;
use crate::source::{FileId, Span};

/// Runs every model-level rule; `built` holds every target's mesh objects
/// ([`crate::emit::istio::Mesh::build`], which the emitter then reuses).
pub fn check(platform: &Platform, spec_file: FileId, built: &Mesh) -> Vec<Diagnostic> {
    // The mesh rules beside the others, reported first as ever.
    std::thread::scope(|scope| {
        let mesh = scope.spawn(|| mesh::check(platform, spec_file, built));
        let mut others = scaling::check(platform, spec_file);
        others.extend(argocd::check(platform, spec_file));
        others.extend(terraform::check(platform, spec_file));
        let mut diagnostics = mesh
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        diagnostics.extend(others);
        diagnostics
    })
}

/// The span to report a model value at: its origin's span, else the top of the spec.
pub fn origin_span(origins: &crate::model::Origins, pointers: &[&str], spec_file: FileId) -> Span {
    pointers
        .iter()
        .find_map(|pointer| origins.get(pointer).and_then(|origin| origin.span))
        .unwrap_or(Span::new(spec_file, 0, 0))
}
