//! The built-in environment profiles (`overlays/*.kdl`), embedded in the binary.
//!
//! Consumes: the embedded KDL texts. Produces: [`Profile`]s, parsed and validated with the
//! same converter and schema as user specs, so each profile value keeps a span for `explain`.
//! Invariant: a profile that does not load is a bug in manifold (a test loads all of them).

use std::collections::BTreeMap;

use crate::check::schema::{Document, validate};
use crate::diagnostic::Diagnostic;
use crate::source::{FileId, Sources};
use crate::spec::types::{ProfileDocument, ProfileSettings};
use crate::spec::{self, Form};

/// The embedded profiles: name and KDL text.
pub const BUILTIN: &[(&str, &str)] = &[
    ("development", include_str!("../overlays/development.kdl")),
    ("staging", include_str!("../overlays/staging.kdl")),
    ("production", include_str!("../overlays/production.kdl")),
];

/// The built-in defaults (resolution layer 1: what every environment and service starts
/// from), loaded like a profile and kept in [`load`]'s map under this name, so each default
/// has a span and `manifold explain` can trace (and perturb) it. No environment can select
/// it: the schema's `profile=` values are the three profiles above.
pub const DEFAULTS: (&str, &str) = ("builtin", include_str!("../overlays/builtin.kdl"));

/// A loaded profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// development, staging or production.
    pub name: String,
    /// One line on what it is for.
    pub description: String,
    /// The settings.
    pub settings: ProfileSettings,
    /// The JSON form and spans (the settings live under `/profile`).
    pub form: Form,
    /// The file it was loaded from.
    pub file: FileId,
}

/// Adds every built-in profile, and the built-in defaults ([`DEFAULTS`]), to `sources` and
/// loads them.
pub fn load(sources: &mut Sources) -> Result<BTreeMap<String, Profile>, Vec<Diagnostic>> {
    let mut profiles = BTreeMap::new();
    let mut diagnostics = Vec::new();
    for (name, text) in BUILTIN.iter().chain([&DEFAULTS]) {
        let file = sources.add(format!("<builtin>/overlays/{name}.kdl"), *text);
        let (form, mut found) = spec::parse_profile(sources, file);
        let Some(form) = form else {
            diagnostics.append(&mut found);
            continue;
        };
        if *name == DEFAULTS.0 {
            // Checked against the profile schema under a profile's name.
            let mut named = form.clone();
            if let Some(slot) = named.value.pointer_mut("/profile/name") {
                *slot = serde_json::Value::from(BUILTIN[0].0);
            }
            found.extend(validate(&named, Document::Profile));
        } else {
            found.extend(validate(&form, Document::Profile));
        }
        if crate::diagnostic::has_errors(&found) {
            diagnostics.append(&mut found);
            continue;
        }
        match serde_json::from_value::<ProfileDocument>(form.value.clone()) {
            Ok(document) => {
                profiles.insert(
                    (*name).to_owned(),
                    Profile {
                        name: document.profile.name,
                        description: document.profile.description.unwrap_or_default(),
                        settings: document.profile.settings,
                        form,
                        file,
                    },
                );
            }
            Err(error) => diagnostics.push(Diagnostic::error(
                crate::check::INTERNAL,
                form.spans.value(""),
                format!("built-in profile `{name}` does not load: {error}"),
            )),
        }
    }
    if diagnostics.is_empty() {
        Ok(profiles)
    } else {
        Err(diagnostics)
    }
}
