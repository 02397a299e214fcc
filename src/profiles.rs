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

/// Adds every built-in profile to `sources` and loads it.
pub fn load(sources: &mut Sources) -> Result<BTreeMap<String, Profile>, Vec<Diagnostic>> {
    let mut profiles = BTreeMap::new();
    let mut diagnostics = Vec::new();
    for (name, text) in BUILTIN {
        let file = sources.add(format!("<builtin>/overlays/{name}.kdl"), *text);
        let (form, mut found) = spec::parse_profile(sources, file);
        let Some(form) = form else {
            diagnostics.append(&mut found);
            continue;
        };
        found.extend(validate(&form, Document::Profile));
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
