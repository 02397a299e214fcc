//! manifold: a declarative infrastructure compiler.
//!
//! One platform spec written in KDL goes in; a deterministic tree of Kustomize bases and
//! overlays (and, as the emitters grow, Terraform, Istio and ArgoCD files) comes out.
//! The modules are declared in pipeline order:
//!
//! `source` → `syntax` → `spec` → `check` → `lower` → `model` → `emit` → `output` → `diff` →
//! `gitops`
//!
//! Only `cli` (in the binary) and `output` touch the filesystem; every stage before them
//! takes values and returns values. `diff` is pure too (two trees in, changes out); only
//! `gitops` runs git (it writes the working tree through `output`).

pub mod diagnostic;
mod hash;
mod parallel;
pub mod quantity;
pub mod source;

pub mod check;
pub mod diff;
pub mod emit;
pub mod explain;
pub mod gitops;
pub mod lower;
pub mod model;
pub mod output;
pub mod profiles;
pub mod spec;
pub mod syntax;

pub mod pipeline;

pub mod synth;
