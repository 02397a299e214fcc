//! The spec: KDL → JSON form (with spans) → typed [`Spec`].
//!
//! Consumes: one source file. Produces: a [`Form`] (JSON form + span map) and, once the
//! schema has accepted it (see `check`), the typed [`types::Spec`].
//! Invariant: conversion never fails outright: it reports every problem it finds and returns
//! the part of the form it could build.

pub mod form;
pub mod schema;
pub mod types;

pub use form::{Form, SpanMap, Spans, pointer_join};
pub use types::Spec;

use crate::diagnostic::Diagnostic;
use crate::source::{FileId, Sources};

/// Parses and converts a platform spec. Returns `None` when the KDL itself did not parse.
pub fn parse(sources: &Sources, file: FileId) -> (Option<Form>, Vec<Diagnostic>) {
    let text = sources.get(file).text.clone();
    match crate::syntax::parse(file, &text) {
        Err(diagnostics) => (None, diagnostics),
        Ok(document) => {
            let root = schema::platform_schema();
            let (form, diagnostics) = form::convert(file, &document, root, root);
            (Some(form), diagnostics)
        }
    }
}

/// Parses and converts a profile document (`overlays/<name>.kdl`).
pub fn parse_profile(sources: &Sources, file: FileId) -> (Option<Form>, Vec<Diagnostic>) {
    let text = sources.get(file).text.clone();
    match crate::syntax::parse(file, &text) {
        Err(diagnostics) => (None, diagnostics),
        Ok(document) => {
            let root = schema::profile_schema();
            let object = schema::resolve(root, root);
            let (form, diagnostics) = form::convert(file, &document, root, object);
            (Some(form), diagnostics)
        }
    }
}
