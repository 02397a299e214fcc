//! Line diffs of files that are not Kubernetes objects (HCL, the generated README, other YAML).
//!
//! Consumes: a path and the old and new bytes (either may be absent).
//! Produces: a unified diff (`similar`), three lines of context, `a/` and `b/` headers.
//!
//! Invariant: both sides are masked before they are compared, so a secret-looking assignment
//! (`db_password = "…"`, `API_TOKEN: …`) never shows its value, and a change to such a value
//! alone shows only that a masked value changed.

use similar::TextDiff;

use super::yaml::looks_secret;

/// The unified diff of one file, or a one-line note for binary files.
pub(crate) fn unified(path: &str, old: Option<&[u8]>, new: Option<&[u8]>) -> String {
    let old_text = old.map(std::str::from_utf8);
    let new_text = new.map(std::str::from_utf8);
    let (old_text, new_text) = match (old_text.transpose(), new_text.transpose()) {
        (Ok(old_text), Ok(new_text)) => (old_text.unwrap_or(""), new_text.unwrap_or("")),
        _ => return binary_note(old, new),
    };
    let hcl = [".tf", ".tfvars", ".hcl"]
        .iter()
        .any(|ext| path.ends_with(ext));
    let old_masked = mask(old_text, hcl);
    let new_masked = mask(new_text, hcl);
    if old.is_some() && new.is_some() && old_masked == new_masked {
        return "only masked secret-looking values changed\n".to_owned();
    }
    let old_header = if old.is_some() {
        format!("a/{path}")
    } else {
        "/dev/null".to_owned()
    };
    let new_header = if new.is_some() {
        format!("b/{path}")
    } else {
        "/dev/null".to_owned()
    };
    TextDiff::from_lines(old_masked.as_str(), new_masked.as_str())
        .unified_diff()
        .context_radius(3)
        .header(&old_header, &new_header)
        .to_string()
}

fn binary_note(old: Option<&[u8]>, new: Option<&[u8]>) -> String {
    match (old, new) {
        (Some(old), Some(new)) => format!(
            "binary file changed ({} → {} bytes)\n",
            old.len(),
            new.len()
        ),
        (None, Some(new)) => format!("binary file added ({} bytes)\n", new.len()),
        (Some(old), None) => format!("binary file removed ({} bytes)\n", old.len()),
        (None, None) => String::new(),
    }
}

/// `text` with the value of every secret-looking `KEY: value` / `KEY = value` line replaced by
/// `(redacted)`. In HCL only literal strings are masked (references such as
/// `var.db_password` are not secrets).
///
/// A YAML file that holds a `kind: Secret` but could not be read as objects also has every
/// line under its `data:` and `stringData:` keys masked.
fn mask(text: &str, hcl: bool) -> String {
    let secret_yaml = !hcl && text.lines().any(|line| line.trim() == "kind: Secret");
    let mut secret_block: Option<usize> = None;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let indent = content.len() - content.trim_start().len();
        if let Some(block_indent) = secret_block {
            if content.trim().is_empty() {
                out.push_str(line);
                continue;
            }
            if indent > block_indent {
                out.push_str(&mask_secret_line(line, content, indent));
                continue;
            }
            secret_block = None;
        }
        if secret_yaml && matches!(content.trim(), "data:" | "stringData:") {
            secret_block = Some(indent);
        }
        out.push_str(&mask_line(line, hcl));
    }
    out
}

/// A line inside a Secret's `data:`/`stringData:` block: `key: (redacted)`, or `(redacted)` for
/// a continuation line.
fn mask_secret_line(line: &str, content: &str, indent: usize) -> String {
    let ending = &line[content.len()..];
    match content.find(':') {
        Some(separator) => format!("{} (redacted){ending}", &content[..=separator]),
        None => format!("{}(redacted){ending}", &content[..indent]),
    }
}

fn mask_line(line: &str, hcl: bool) -> String {
    let content = line.trim_end_matches(['\n', '\r']);
    let ending = &line[content.len()..];
    let indent = content.len() - content.trim_start().len();
    let mut start = indent;
    for prefix in ["- ", "export "] {
        if content[start..].starts_with(prefix) {
            start += prefix.len();
        }
    }
    let Some(offset) = content[start..].find([':', '=']) else {
        return line.to_owned();
    };
    let separator = start + offset;
    let key = content[start..separator].trim().trim_matches(['"', '\'']);
    let value = content[separator + 1..].trim();
    let plain_key = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let literal = !hcl || value.starts_with('"') || value.starts_with("<<");
    if !plain_key || !looks_secret(key) || value.is_empty() || !literal {
        return line.to_owned();
    }
    format!("{} (redacted){ending}", &content[..=separator])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_diff_with_headers() {
        let diff = unified("a.tf", Some(b"x = 1\ny = 2\n"), Some(b"x = 1\ny = 3\n"));
        assert_eq!(
            diff,
            "--- a/a.tf\n+++ b/a.tf\n@@ -1,2 +1,2 @@\n x = 1\n-y = 2\n+y = 3\n"
        );
        let added = unified("README.md", None, Some(b"hello\n"));
        assert!(
            added.starts_with("--- /dev/null\n+++ b/README.md\n"),
            "{added}"
        );
    }

    #[test]
    fn secret_looking_values_are_masked() {
        assert_eq!(
            mask_line("  db_password = \"hunter2\"\n", true),
            "  db_password = (redacted)\n"
        );
        assert_eq!(
            mask_line("  password = var.db_password\n", true),
            "  password = var.db_password\n"
        );
        assert_eq!(
            mask_line("API_TOKEN: abc\n", false),
            "API_TOKEN: (redacted)\n"
        );
        assert_eq!(
            mask_line("- SECRET_KEY=abc", false),
            "- SECRET_KEY= (redacted)"
        );
        assert_eq!(mask_line("secretKeyRef:\n", false), "secretKeyRef:\n");
        assert_eq!(mask_line("name: api\n", false), "name: api\n");
        let diff = unified("x.tf", Some(b"token = \"a\"\n"), Some(b"token = \"b\"\n"));
        assert_eq!(diff, "only masked secret-looking values changed\n");
    }

    #[test]
    fn secret_yaml_that_is_not_objects_is_masked_under_data() {
        let text =
            "kind: Secret\ndata:\n  tls.crt: LS0tLS1\n  multi: |\n    c2VjcmV0\nother: kept\n";
        assert_eq!(
            mask(text, false),
            "kind: Secret\ndata:\n  tls.crt: (redacted)\n  multi: (redacted)\n    (redacted)\nother: kept\n"
        );
    }

    #[test]
    fn binary_files_are_summarized() {
        assert_eq!(
            unified("x.bin", Some(&[0xff, 0]), Some(&[0xff])),
            "binary file changed (2 → 1 bytes)\n"
        );
    }
}
