//! Durations as people type them (`500ms`, `0.5s`, `2s`) and the server's
//! simulated latency, which is either fixed or drawn from a range (`0.5s..5s`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;

/// Why a duration or delay could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration '{0}': expected a number with a unit, e.g. 500ms, 0.5s or 2s")]
pub struct DurationError(pub String);

/// Parses `500ms`, `0.5s`, `2s`, `1m` or a bare number of seconds (`1.5`).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
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
pub fn format_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// Simulated per-request latency of the flags server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delay {
    /// Answer at once.
    #[default]
    None,
    /// Always wait this long.
    Fixed(Duration),
    /// Wait a uniformly random time in `[min, max]`, as the classic slow server does.
    Range(Duration, Duration),
}

impl Delay {
    /// Draws this request's delay.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        match *self {
            Delay::None => Duration::ZERO,
            Delay::Fixed(d) => d,
            Delay::Range(lo, hi) if lo >= hi => lo,
            Delay::Range(lo, hi) => rng.gen_range(lo..=hi),
        }
    }

    /// The longest delay this setting can produce.
    pub fn max(&self) -> Duration {
        match *self {
            Delay::None => Duration::ZERO,
            Delay::Fixed(d) => d,
            Delay::Range(_, hi) => hi,
        }
    }
}

impl FromStr for Delay {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once("..") {
            Some((lo, hi)) => {
                let (lo, hi) = (parse_duration(lo)?, parse_duration(hi)?);
                if lo > hi {
                    return Err(DurationError(s.to_owned()));
                }
                Ok(Delay::Range(lo, hi))
            }
            None => match parse_duration(s)? {
                d if d.is_zero() => Ok(Delay::None),
                d => Ok(Delay::Fixed(d)),
            },
        }
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Delay::None => write!(f, "0ms"),
            Delay::Fixed(d) => write!(f, "{}", format_duration(d)),
            Delay::Range(lo, hi) => write!(f, "{}..{}", format_duration(lo), format_duration(hi)),
        }
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

    #[test]
    fn parses_delays() {
        assert_eq!("0ms".parse(), Ok(Delay::None));
        assert_eq!(
            "500ms".parse(),
            Ok(Delay::Fixed(Duration::from_millis(500)))
        );
        assert_eq!(
            "0.5s..5s".parse(),
            Ok(Delay::Range(
                Duration::from_millis(500),
                Duration::from_secs(5)
            ))
        );
        assert!("5s..1s".parse::<Delay>().is_err());
        assert_eq!(
            Delay::Range(Duration::from_millis(500), Duration::from_secs(5)).to_string(),
            "500ms..5s"
        );
    }

    #[test]
    fn samples_stay_in_range() {
        let mut rng = rand::thread_rng();
        let d = Delay::Range(Duration::from_millis(10), Duration::from_millis(20));
        for _ in 0..100 {
            let s = d.sample(&mut rng);
            assert!(s >= Duration::from_millis(10) && s <= Duration::from_millis(20));
        }
    }
}
