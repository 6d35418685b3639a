//! Value parsers and the choices of the command line that are not the
//! library's own types (those derive `clap::ValueEnum` where they are
//! defined). Each refusal says what is wrong in words (`'-1' is negative`,
//! `'5s..1s' starts after it ends`).

use std::time::Duration;

use crate::bench::Model;
use crate::download::plan::{Mode, Runtime};
use crate::duration::parse_duration;
use crate::server::delay::Delay;

/// A whole number from 0 up, with the reason in words when it is not one.
pub fn whole(text: &str) -> Result<u64, String> {
    whole_from(text, 0)
}

/// A whole number from `least` up: a negative one is answered with the
/// range the option takes, not a range it refuses.
fn whole_from(text: &str, least: u64) -> Result<u64, String> {
    let t = text.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if t.strip_prefix('-').is_some_and(digits) {
        return Err(format!(
            "'{text}' is negative: give a whole number from {least} up"
        ));
    }
    if !digits(t) {
        return Err(format!("'{text}' is not a whole number"));
    }
    match t.parse::<u64>() {
        Err(_) => Err(format!("'{text}' is too large (at most {})", u64::MAX)),
        Ok(n) if n < least => Err(format!("must be at least {least}")),
        Ok(n) => Ok(n),
    }
}

/// A whole number from `least` up that fits `T`.
fn bounded<T: TryFrom<u64> + std::fmt::Display>(
    text: &str,
    least: u64,
    max: T,
) -> Result<T, String> {
    T::try_from(whole_from(text, least)?)
        .map_err(|_| format!("'{text}' is too large (at most {max})"))
}

/// A count of at least 1 (concurrency, limit, runs, downloads).
pub fn count(text: &str) -> Result<usize, String> {
    bounded(text, 1, usize::MAX)
}

/// Most downloads `--count` may ask for: every one is a result held in
/// memory and a line in the report, so a number typed by mistake (a
/// hundred billion) is refused rather than allocated.
pub const MAX_DOWNLOADS: usize = 1_000_000;

/// `--count`: from 1 up to [`MAX_DOWNLOADS`].
pub fn downloads(text: &str) -> Result<usize, String> {
    match count(text)? {
        n if n > MAX_DOWNLOADS => Err(format!(
            "'{text}' is too many downloads (at most {MAX_DOWNLOADS})"
        )),
        n => Ok(n),
    }
}

/// A count that may be 0 (warm-up runs).
pub fn count_or_zero(text: &str) -> Result<usize, String> {
    bounded(text, 0, usize::MAX)
}

/// Retries: 0 up to 100 (more would only hide a broken server).
pub fn retries(text: &str) -> Result<u32, String> {
    match bounded(text, 0, u32::MAX)? {
        n if n > 100 => Err(format!("'{text}' is too many retries (at most 100)")),
        n => Ok(n),
    }
}

/// Server threads: 1 up to 1,024.
pub fn workers(text: &str) -> Result<u16, String> {
    match bounded(text, 1, u16::MAX)? {
        n if n > 1024 => Err(format!("'{text}' is too many threads (at most 1024)")),
        n => Ok(n),
    }
}

/// A seed: any whole number that fits 64 bits.
pub fn seed(text: &str) -> Result<u64, String> {
    whole(text)
}

/// A TCP port, 0 (any free port) to 65535.
pub fn port(text: &str) -> Result<u16, String> {
    bounded(text, 0, u16::MAX)
}

/// A share from 0.0 to 1.0.
pub fn rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        Ok(_) => Err(format!("'{text}' is outside 0.0 to 1.0")),
        Err(_) => Err(format!("'{text}' is not a number from 0.0 to 1.0")),
    }
}

/// A duration such as `500ms`, `0.5s` or `2s`.
pub fn duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.strip_prefix('-')
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
    {
        return Err(format!(
            "'{text}' is negative: give a duration such as 500ms"
        ));
    }
    parse_duration(text).map_err(|e| e.to_string())
}

/// A duration longer than zero (time limits).
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    match duration(text)? {
        d if d.is_zero() => Err("must be more than 0".into()),
        d => Ok(d),
    }
}

/// A server latency: a duration, or a range `0.5s..5s` in order.
pub fn delay(text: &str) -> Result<Delay, String> {
    if let Some((lo, hi)) = text.split_once("..") {
        let (lo, hi) = (duration(lo)?, duration(hi)?);
        if lo > hi {
            return Err(format!(
                "'{text}' starts after it ends: give the shorter time first"
            ));
        }
    } else {
        duration(text)?;
    }
    text.parse::<Delay>().map_err(|e| e.to_string())
}

/// A percentage such as `10%` (or `10`).
pub fn percent(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%');
    match number.parse::<f64>() {
        Ok(p) if p >= 0.0 && p.is_finite() => Ok(p / 100.0),
        Ok(_) => Err(format!(
            "'{text}' is negative: give a percentage such as 10%"
        )),
        Err(_) => Err(format!("'{text}' is not a percentage such as 10%")),
    }
}

/// A size in bytes, with `K` and `M` suffixes: `4M`, `500K`, `100000`.
pub fn size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (number, factor) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1024),
        Some('m' | 'M') => (&t[..t.len() - 1], 1024 * 1024),
        _ => (t, 1),
    };
    let n =
        whole(number).map_err(|_| format!("'{text}' is not a size such as 4M, 500K or 100000"))?;
    match n.checked_mul(factor) {
        Some(0) => Err("must be at least 1 byte".into()),
        Some(bytes) => Ok(bytes),
        None => Err(format!("'{text}' is too large")),
    }
}

/// `flags bench --modes`: the three modes, and async on the one-thread runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelArg {
    /// One blocking client, one request at a time.
    Sequential,
    /// N OS threads doing blocking I/O.
    Threaded,
    /// Tokio tasks on a runtime with one worker per core.
    Async,
    /// Tokio tasks all on one thread (--runtime current).
    AsyncCurrent,
    /// Tokio tasks, requests as HTTP/2 streams (--http2, --connections).
    AsyncH2,
}

impl ModelArg {
    /// The model, async-h2's streams over `connections` HTTP/2 connections.
    pub(crate) fn model(self, connections: usize) -> Model {
        let (mode, runtime, http2) = match self {
            ModelArg::Sequential => (Mode::Sequential, Runtime::Multi, None),
            ModelArg::Threaded => (Mode::Threaded, Runtime::Multi, None),
            ModelArg::Async => (Mode::Async, Runtime::Multi, None),
            ModelArg::AsyncCurrent => (Mode::Async, Runtime::Current, None),
            ModelArg::AsyncH2 => (Mode::Async, Runtime::Multi, Some(connections)),
        };
        Model {
            mode,
            runtime,
            http2,
        }
    }
}

/// `--save`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SaveArg {
    /// On the runtime's blocking pool (spawn_blocking): the loop stays free.
    Offload,
    /// With std::fs in the task itself: the loop waits for the disk.
    Inline,
}

/// When to show a live display (`--progress`, `--frames`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressChoice {
    /// Only when the stream it is drawn on is a terminal.
    #[default]
    Auto,
    /// Even when it is a file or a pipe.
    Always,
    /// Never.
    Never,
}

impl ProgressChoice {
    /// Whether to show it, given whether its stream is a terminal.
    pub fn show(self, stream_is_terminal: bool) -> bool {
        match self {
            ProgressChoice::Always => true,
            ProgressChoice::Never => false,
            ProgressChoice::Auto => stream_is_terminal,
        }
    }
}

/// HTTP/2 streams at once on a connection (`--max-streams`, `--streams`):
/// a whole number from 1 to 4,294,967,295, the largest `SETTINGS` can say.
pub fn streams(text: &str) -> Result<u32, String> {
    let n = count(text)?;
    u32::try_from(n).map_err(|_| format!("'{text}' is too many streams (at most {})", u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_say_what_is_wrong() {
        assert_eq!(whole("12"), Ok(12));
        assert_eq!(
            whole("-1"),
            Err("'-1' is negative: give a whole number from 0 up".into())
        );
        assert_eq!(whole("abc"), Err("'abc' is not a whole number".into()));
        assert_eq!(whole("1.5"), Err("'1.5' is not a whole number".into()));
        assert!(
            whole("99999999999999999999")
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!(
            port("70000"),
            Err("'70000' is too large (at most 65535)".into())
        );
        assert_eq!(count("0"), Err("must be at least 1".into()));
        assert_eq!(
            count("-5"),
            Err("'-5' is negative: give a whole number from 1 up".into())
        );
        assert_eq!(downloads("1000000"), Ok(1_000_000));
        assert_eq!(
            downloads("100000000000"),
            Err("'100000000000' is too many downloads (at most 1000000)".into())
        );
        assert_eq!(rate("-0.1"), Err("'-0.1' is outside 0.0 to 1.0".into()));
        assert!(duration("-5s").unwrap_err().contains("negative"));
        assert!(
            delay("5s..1s")
                .unwrap_err()
                .contains("starts after it ends")
        );
        assert_eq!(size("4M"), Ok(4 * 1024 * 1024));
        assert!(
            size("99999999999999999M")
                .unwrap_err()
                .contains("too large")
        );
    }
}
