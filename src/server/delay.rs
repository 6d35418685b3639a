//! The server's simulated latency, either fixed or drawn from a range
//! (`0.5s..5s`), in the words of [`duration`](crate::duration).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;

use crate::duration::{DurationError, exact, parse_duration};

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
    /// The delay of every request when it is not drawn at random.
    pub(crate) fn fixed(&self) -> Option<Duration> {
        match *self {
            Delay::None => Some(Duration::ZERO),
            Delay::Fixed(d) => Some(d),
            Delay::Range(lo, hi) if lo >= hi => Some(lo),
            Delay::Range(..) => None,
        }
    }

    /// Draws this request's delay.
    pub(crate) fn sample(&self, rng: &mut impl Rng) -> Duration {
        match *self {
            Delay::None => Duration::ZERO,
            Delay::Fixed(d) => d,
            Delay::Range(lo, hi) if lo >= hi => lo,
            Delay::Range(lo, hi) => rng.random_range(lo..=hi),
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
                    return Err(DurationError::Backwards(s.to_owned()));
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
            Delay::Fixed(d) => write!(f, "{}", exact(d)),
            Delay::Range(lo, hi) => write!(f, "{}..{}", exact(lo), exact(hi)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            "100".parse::<Delay>(),
            Err(DurationError::NoUnit("100".into()))
        );
    }

    #[test]
    fn samples_stay_in_range() {
        let mut rng = rand::rng();
        let d = Delay::Range(Duration::from_millis(10), Duration::from_millis(20));
        for _ in 0..100 {
            let s = d.sample(&mut rng);
            assert!(s >= Duration::from_millis(10) && s <= Duration::from_millis(20));
        }
    }
}
