//! Durations as people type them (`500ms`, `0.5s`, `2s`) and read them: one
//! parser for every option that takes a time, and one formatter for every
//! time the tools print.

use std::time::Duration;

/// Why a duration or delay could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DurationError {
    /// Not a number followed by a known unit.
    #[error("invalid duration '{0}': expected a number with a unit, e.g. 500ms, 0.5s or 2s")]
    Invalid(String),
    /// A number with no unit, which could mean milliseconds or seconds.
    #[error("'{0}' has no unit: write {0}ms or {0}s")]
    NoUnit(String),
    /// A range whose start is after its end.
    #[error("'{0}' starts after it ends: give the shorter time first")]
    Backwards(String),
}

/// Parses what people type, through `humantime`: `500ms`, `0.5s`, `2s`,
/// `1m`, `250us`, `1m 30s`. A bare number is refused (is `100` a tenth of a
/// second or a minute and a half?), except `0`, which is the same in every
/// unit.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return match t.parse::<f64>() {
            Ok(0.0) => Ok(Duration::ZERO),
            Ok(_) => Err(DurationError::NoUnit(t.to_owned())),
            Err(_) => Err(DurationError::Invalid(text.to_owned())),
        };
    }
    // humantime reads `µs` as `us`; `sec` and `min` it knows.
    humantime::parse_duration(&t.replace('µ', "u"))
        .map_err(|_| DurationError::Invalid(text.to_owned()))
}

/// A duration the way people read it, with three significant figures at
/// most, no zeros that say nothing, and a unit that fits: `350µs`, `2.4ms`,
/// `312ms`, `1.25s`, `1s`, `12.5s`, `2m05s`, `1m`. Never `0.00s` for
/// something that took time.
pub fn human(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0ms".into();
    }
    let us = d.as_secs_f64() * 1e6;
    let ms = us / 1e3;
    let s = ms / 1e3;
    let (number, unit) = if ns < 1_000 {
        (format!("{ns}"), "ns")
    } else if us.round() < 1000.0 {
        (format!("{us:.0}"), "µs")
    } else if (ms * 10.0).round() < 100.0 {
        (format!("{ms:.1}"), "ms")
    } else if ms.round() < 1000.0 {
        (format!("{ms:.0}"), "ms")
    } else if (s * 100.0).round() < 1000.0 {
        (format!("{s:.2}"), "s")
    } else if (s * 10.0).round() < 600.0 {
        (format!("{s:.1}"), "s")
    } else {
        let whole = s.round() as u64;
        return match whole % 60 {
            0 => format!("{}m", whole / 60),
            seconds => format!("{}m{seconds:02}s", whole / 60),
        };
    };
    let number = if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        &number
    };
    format!("{number}{unit}")
}

/// [`human`] of a number of seconds (as reports keep them).
pub fn human_seconds(seconds: f64) -> String {
    human(Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX))
}

/// A duration written so that [`parse_duration`] reads it back exactly:
/// `2s`, `1500ms`, `250us`, `1ns`, and whole seconds apart from the rest
/// once a count of milliseconds or less could overflow humantime's
/// nanoseconds (`58479267000s 50ms`, found by fuzzing). For command lines
/// we build.
pub(crate) fn exact(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        "0ms".into()
    } else if ns.is_multiple_of(1_000_000_000) {
        format!("{}s", ns / 1_000_000_000)
    } else if d.as_secs() >= 1_000_000 {
        format!(
            "{}s {}",
            d.as_secs(),
            exact(Duration::from_nanos(u64::from(d.subsec_nanos())))
        )
    } else if ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else if ns.is_multiple_of(1_000) {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_refuses_bare_numbers() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0.5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(
            parse_duration("100"),
            Err(DurationError::NoUnit("100".into()))
        );
        assert_eq!(
            parse_duration("100").unwrap_err().to_string(),
            "'100' has no unit: write 100ms or 100s"
        );
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2µs"), Ok(Duration::from_micros(2)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn human_times_never_round_to_nothing() {
        let cases = [
            (Duration::ZERO, "0ms"),
            (Duration::from_nanos(40), "40ns"),
            (Duration::from_micros(350), "350µs"),
            (Duration::from_nanos(999_700), "1ms"),
            (Duration::from_micros(2_440), "2.4ms"),
            (Duration::from_micros(9_960), "10ms"),
            (Duration::from_millis(312), "312ms"),
            (Duration::from_micros(999_600), "1s"),
            (Duration::from_millis(2_500), "2.5s"),
            (Duration::from_secs(10), "10s"),
            (Duration::from_secs(60), "1m"),
            (Duration::from_millis(1_254), "1.25s"),
            (Duration::from_millis(12_540), "12.5s"),
            (Duration::from_secs(125), "2m05s"),
        ];
        for (d, want) in cases {
            assert_eq!(human(d), want, "{d:?}");
        }
    }

    #[test]
    fn exact_reads_back() {
        for d in [
            Duration::ZERO,
            Duration::from_secs(2),
            Duration::from_millis(1500),
            Duration::from_micros(250),
            Duration::from_nanos(7),
            Duration::new(58_479_267_000, 50_000_000),
            Duration::new(u64::MAX, 999_999_999),
        ] {
            assert_eq!(parse_duration(&exact(d)), Ok(d), "{}", exact(d));
        }
    }
}
