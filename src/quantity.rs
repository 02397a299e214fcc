//! Kubernetes quantities (`500m`, `2`, `1.5`, `512Mi`, `2Gi`) and `REQUEST..LIMIT` ranges.
//!
//! Consumes: strings from the spec. Produces: a numeric value in base units for comparisons;
//! the text itself is what manifold writes out, so users see exactly what they wrote.

/// A parsed quantity: its text and its value in base units (cores, bytes, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    /// The text as written.
    pub text: String,
    /// The value in base units.
    pub value: f64,
}

/// Parses a Kubernetes quantity. Returns `None` for anything Kubernetes would reject.
pub fn parse(text: &str) -> Option<Quantity> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed != text {
        return None;
    }
    let number_end = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(trimmed.len());
    let (number, suffix) = trimmed.split_at(number_end);
    if number.is_empty() || number.starts_with('-') || number.matches('.').count() > 1 {
        return None;
    }
    if number.strip_prefix('+').unwrap_or(number).is_empty() || number == "." {
        return None;
    }
    let base: f64 = number.parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0_f64.powi(2),
        "Gi" => 1024.0_f64.powi(3),
        "Ti" => 1024.0_f64.powi(4),
        "Pi" => 1024.0_f64.powi(5),
        "Ei" => 1024.0_f64.powi(6),
        exponent if exponent.starts_with(['e', 'E']) => {
            let power: i32 = exponent[1..].parse().ok()?;
            10f64.powi(power)
        }
        _ => return None,
    };
    let value = base * multiplier;
    value.is_finite().then(|| Quantity {
        text: text.to_owned(),
        value,
    })
}

/// A `REQUEST..LIMIT` range, or a single quantity used for both.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    /// The request.
    pub request: Quantity,
    /// The limit.
    pub limit: Quantity,
}

/// Why a range did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    /// One side is not a quantity; holds that side's text.
    Invalid(String),
}

/// Parses `"500m..2"` (request..limit) or a single quantity.
pub fn parse_range(text: &str) -> Result<Range, RangeError> {
    match text.split_once("..") {
        Some((request, limit)) => {
            let request = parse(request).ok_or_else(|| RangeError::Invalid(request.to_owned()))?;
            let limit = parse(limit).ok_or_else(|| RangeError::Invalid(limit.to_owned()))?;
            Ok(Range { request, limit })
        }
        None => {
            let quantity = parse(text).ok_or_else(|| RangeError::Invalid(text.to_owned()))?;
            Ok(Range {
                request: quantity.clone(),
                limit: quantity,
            })
        }
    }
}

/// Parses a duration such as `30s`, `5m`, `1h` or `250ms` into seconds (rounded up).
pub fn duration_seconds(text: &str) -> Option<u64> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let number: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(number.div_ceil(1000)),
        "s" => Some(number),
        "m" => number.checked_mul(60),
        "h" => number.checked_mul(3600),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubernetes_quantities() {
        assert_eq!(parse("500m").unwrap().value, 0.5);
        assert_eq!(parse("2").unwrap().value, 2.0);
        assert_eq!(parse("1.5").unwrap().value, 1.5);
        assert_eq!(parse("512Mi").unwrap().value, 512.0 * 1024.0 * 1024.0);
        assert_eq!(parse("1e3").unwrap().value, 1000.0);
        assert!(parse("5 cores").is_none());
        assert!(parse("-1").is_none());
        assert!(parse("").is_none());
        assert!(parse("Gi").is_none());
    }

    #[test]
    fn parses_ranges() {
        let range = parse_range("500m..2").unwrap();
        assert_eq!(range.request.value, 0.5);
        assert_eq!(range.limit.value, 2.0);
        assert_eq!(
            parse_range("1..x"),
            Err(RangeError::Invalid("x".to_owned()))
        );
    }

    #[test]
    fn parses_durations() {
        assert_eq!(duration_seconds("30s"), Some(30));
        assert_eq!(duration_seconds("5m"), Some(300));
        assert_eq!(duration_seconds("250ms"), Some(1));
        assert_eq!(duration_seconds("1d"), None);
    }
}
