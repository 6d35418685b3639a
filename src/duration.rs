//! Durations as people type them (`500ms`, `0.5s`, `2s`) and read them.

use std::time::Duration;

/// Why a duration or delay could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration '{0}': expected a number with a unit, e.g. 500ms, 0.5s or 2s")]
pub struct DurationError(pub String);

/// Parses `500ms`, `0.5s`, `2s`, `1m` or a bare number of seconds (`1.5`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    let err = || DurationError(text.to_owned());
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| err())?;
    let seconds = match unit.trim() {
        "" | "s" | "sec" => value,
        "ms" => value / 1000.0,
        "us" | "µs" => value / 1_000_000.0,
        "m" | "min" => value * 60.0,
        _ => return Err(err()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| err())
}

/// Formats a duration the short way people read it: `500ms`, `1.5s`.
pub(crate) fn format_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0.5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("").is_err());
    }
}
