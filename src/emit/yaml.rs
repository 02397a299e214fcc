//! YAML rendering for the emitters.
//!
//! Consumes: documents built as [`serde_json::Value`]s (the crate enables serde_json's
//! `preserve_order`, so keys come out in insertion order: emitters write `apiVersion`, `kind`,
//! `metadata`, `spec` in that order). Produces: YAML text.
//!
//! Invariants: every rendered file ends with exactly one newline and has no trailing spaces;
//! strings that a YAML 1.1 reader would take for something else (`yes`, `on`, `0755`, `y`,
//! `n`, `1.0`, `~`) stay quoted, so every value keeps its type in every consumer (kubectl,
//! kustomize, Argo CD, yamllint). Rendering is deterministic and never panics.
//!
//! Decisions: serde-saphyr's defaults (two-space indentation, sequences written flush with
//! their parent key, as `kubectl kustomize` writes them) pass the oracles' yamllint config.
//! Multi-line strings become literal block scalars (`|`); when a block scalar would leave
//! trailing spaces or extra blank lines at the end of the file, the document is rendered again
//! with quoted scalars instead, which always round-trips. If serialization itself fails (it
//! cannot for JSON values, but the API says it may), the document is written as JSON, which is
//! valid YAML.
//!
//! serde-saphyr is the reference: a direct writer ([`fast`]) renders the documents that lie
//! inside a subset it is sure of (nearly every Kubernetes object) to the same bytes without
//! going through serde, and hands everything else to serde-saphyr.

use serde_json::Value;
use serde_saphyr::SerializerOptions;

mod fast;

/// Renders one YAML document (no leading `---`), ending with exactly one newline.
///
/// Most documents take the direct writer ([`fast`]); the rest, and every document in debug
/// builds as a check of the direct writer, go through serde-saphyr.
pub fn document(value: &Value) -> String {
    match fast::document(value) {
        Some(text) => {
            debug_assert_eq!(text, serde_saphyr_document(value), "the direct YAML writer");
            text
        }
        None => serde_saphyr_document(value),
    }
}

/// [`document`] through serde-saphyr: the reference rendering.
fn serde_saphyr_document(value: &Value) -> String {
    let preferred = render(value, SerializerOptions::default());
    if let Some(text) = preferred.filter(|text| is_clean(text)) {
        return text;
    }
    let quoted = serde_saphyr::ser_options! { prefer_block_scalars: false };
    match render(value, quoted) {
        Some(text) => text,
        None => render_json(value),
    }
}

/// Renders several documents into one stream, separated by `---` lines, ending with exactly
/// one newline. An empty slice renders as an empty string.
pub fn documents(values: &[Value]) -> String {
    values
        .iter()
        .map(document)
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Serializes with the given options and normalises the end of the text to one newline.
fn render(value: &Value, options: SerializerOptions) -> Option<String> {
    let text = serde_saphyr::to_string_with_options(value, options).ok()?;
    Some(end_with_newline(text))
}

/// The JSON fallback: pretty JSON is a valid YAML document.
fn render_json(value: &Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| String::from("null"));
    end_with_newline(text)
}

/// Appends a newline when the text does not end with one.
fn end_with_newline(mut text: String) -> String {
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Whether the text ends with exactly one newline and no line has trailing whitespace.
fn is_clean(text: &str) -> bool {
    let single_newline = text.ends_with('\n') && !text.ends_with("\n\n");
    let no_trailing_space = text
        .lines()
        .all(|line| !line.ends_with(' ') && !line.ends_with('\t'));
    single_newline && no_trailing_space
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn round_trip(value: &Value) -> Value {
        let text = document(value);
        serde_saphyr::from_str::<Value>(&text).unwrap_or(Value::Null)
    }

    #[test]
    fn yaml_11_specials_stay_quoted() {
        let specials = [
            "yes", "no", "on", "off", "y", "n", "Y", "N", "true", "True", "null", "~", "0755",
            "1.0", "30", "1e3", "12:30",
        ];
        for special in specials {
            let value = json!({ "value": special });
            let text = document(&value);
            assert!(
                text.contains(&format!("'{special}'")) || text.contains(&format!("\"{special}\"")),
                "{special} not quoted in {text:?}"
            );
            assert_eq!(round_trip(&value), value, "{special}");
        }
    }

    #[test]
    fn key_order_is_kept() {
        let value = json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "a" },
            "spec": { "zeta": 1, "alpha": 2 } });
        let text = document(&value);
        assert_eq!(
            text,
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  zeta: 1\n  alpha: 2\n"
        );
    }

    #[test]
    fn multi_line_strings_round_trip() {
        let cases = [
            "line one\nline two",
            "line one\nline two\n",
            "trailing\n\n\n",
            "trailing space \nnext",
            "  leading spaces\nx",
            "tab\there\n",
        ];
        for case in cases {
            let value = json!({ "data": { "script": case } });
            let text = document(&value);
            assert!(is_clean(&text), "{case:?} rendered unclean: {text:?}");
            assert_eq!(round_trip(&value), value, "{case:?}");
        }
    }

    #[test]
    fn long_strings_round_trip() {
        let long = "word ".repeat(40).trim_end().to_owned();
        let value = json!({ "annotation": long });
        let text = document(&value);
        assert!(is_clean(&text));
        assert_eq!(round_trip(&value), value);
    }

    #[test]
    fn documents_are_separated_and_end_with_one_newline() {
        let text = documents(&[json!({ "a": 1 }), json!({ "b": [1, 2] })]);
        assert_eq!(text, "a: 1\n---\nb:\n- 1\n- 2\n");
        assert_eq!(documents(&[]), "");
    }

    #[test]
    fn numbers_and_booleans_keep_their_types() {
        let value = json!({ "port": 8080, "enabled": false, "ratio": 0.5, "quantity": "500m" });
        assert_eq!(
            document(&value),
            "port: 8080\nenabled: false\nratio: 0.5\nquantity: 500m\n"
        );
    }
}
