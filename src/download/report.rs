//! The report of a run: the JSON object `--json` prints, the text header
//! and summary, and the ideal time they compare with.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;

use crate::download::plan::{Mode, Plan, Runtime};
use crate::download::status::{CodeResult, Counts};
use crate::text::count;

/// The whole run as `--json` prints it; the schema is documented in README.md.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunReport {
    /// `sequential`, `threaded` or `async`.
    pub mode: Mode,
    /// Async mode: `multi` or `current` (`null` in the other modes).
    pub runtime: Option<Runtime>,
    /// Effective concurrency.
    pub concurrency: usize,
    /// Base URL the flags came from.
    pub server: String,
    /// Output folder.
    pub output: String,
    /// How many codes were planned.
    pub planned: usize,
    /// Counts per status.
    pub counts: Counts,
    /// `true` when Ctrl-C stopped the run early.
    pub interrupted: bool,
    /// Wall time of the downloads, in seconds.
    pub elapsed_seconds: f64,
    /// The ideal time `ceil(N / C) * delay`, when the server's delay is known.
    pub ideal_seconds: Option<f64>,
    /// The most OS threads the process had at once.
    pub peak_threads: usize,
    /// The most requests in flight at once.
    pub peak_in_flight: usize,
    /// Async mode: how late the runtime woke a task that asked to wake
    /// every millisecond (`null` in the other modes).
    pub loop_lag: Option<LoopLag>,
    /// Async mode: saves written in the task itself (`--save inline`).
    pub save_inline: bool,
    /// The least time each save took (`--save-delay`), seconds.
    pub save_delay_seconds: f64,
    /// One entry per code that finished, sorted by code.
    pub results: Vec<CodeResult>,
}

/// The ideal time for `n` downloads at concurrency `c` from a server with
/// latency `delay`, transfer time aside: `ceil(n / c) * delay`.
pub(crate) fn ideal_time(n: usize, c: usize, delay: Duration) -> Duration {
    if c == 0 {
        return Duration::ZERO;
    }
    delay * n.div_ceil(c) as u32
}

/// How late an async runtime woke a task that asked to wake every
/// millisecond: near 0 when nothing blocks it, the length of the block when
/// something does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct LoopLag {
    /// The latest wake-up, milliseconds.
    pub max_ms: f64,
    /// 99 % of wake-ups were this late or less, milliseconds.
    pub p99_ms: f64,
    /// How many wake-ups were measured.
    pub samples: usize,
}

impl LoopLag {
    /// The lag of these wake-ups (microseconds each).
    pub fn of(lags_us: &[u32]) -> Self {
        let mut sorted = lags_us.to_vec();
        sorted.sort_unstable();
        let at = |q: f64| {
            let i = ((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1);
            sorted.get(i).map_or(0.0, |us| f64::from(*us) / 1000.0)
        };
        Self {
            max_ms: sorted.last().map_or(0.0, |us| f64::from(*us) / 1000.0),
            p99_ms: at(0.99),
            samples: sorted.len(),
        }
    }
}

/// How a run ended, for its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Every code has a final answer and none is an ERROR.
    Clean,
    /// At least one ERROR.
    Errors,
    /// Ctrl-C or SIGTERM stopped it.
    Interrupted,
}

impl RunReport {
    /// How the run ended.
    pub(crate) fn ending(&self) -> Ending {
        if self.interrupted {
            Ending::Interrupted
        } else if self.counts.error > 0 {
            Ending::Errors
        } else {
            Ending::Clean
        }
    }
}

/// The header printed before a text-mode run, as the classic scripts print
/// it: the site, the codes (listed when there are 10 or fewer), and the
/// connections.
pub(crate) fn header(label: &str, plan: &Plan) -> String {
    let mut text = format!("{label} site: {}\n", plan.base_url);
    let distinct: Vec<&String> = plan
        .codes
        .iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let codes = match distinct.as_slice() {
        [] => String::new(),
        few if few.len() <= 10 => few
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        many => format!("from {} to {}", many[0], many[many.len() - 1]),
    };
    let flags = count(plan.codes.len(), "flag", "flags");
    if plan.numbered {
        let cycled = count(distinct.len(), "code", "codes");
        text.push_str(&format!(
            "Searching for {flags}, cycling through {cycled}: {codes}\n"
        ));
    } else if codes.is_empty() {
        text.push_str(&format!("Searching for {flags}\n"));
    } else {
        text.push_str(&format!("Searching for {flags}: {codes}\n"));
    }
    let c = plan.concurrency;
    text.push_str(&match (plan.mode, c) {
        (Mode::Sequential, _) | (_, 1) => format!("1 connection will be used ({}).", plan.mode),
        (Mode::Threaded, _) => format!("{c} concurrent connections will be used ({c} threads)."),
        (Mode::Async, _) => format!("{c} concurrent connections will be used (async)."),
    });
    text
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n:3} {}", if n == 1 { one } else { many })
}

/// The text summary printed after a run (`docs/design.md`, section 5).
pub(crate) fn summary(report: &RunReport) -> String {
    let c = &report.counts;
    let mut text = String::from("--------------------\n");
    text.push_str(&format!(
        "{}\n",
        plural(c.ok, "flag downloaded.", "flags downloaded.")
    ));
    if c.skipped > 0 {
        text.push_str(&format!(
            "{}\n",
            plural(
                c.skipped,
                "already present, skipped.",
                "already present, skipped."
            )
        ));
    }
    if c.not_found > 0 {
        text.push_str(&format!(
            "{}\n",
            plural(c.not_found, "not found.", "not found.")
        ));
    }
    if c.error > 0 {
        text.push_str(&format!("{}\n", plural(c.error, "error.", "errors.")));
    }
    if c.retries > 0 {
        text.push_str(&format!(
            "{:3} {}\n",
            c.retries,
            if c.retries == 1 { "retry." } else { "retries." }
        ));
    }
    if report.interrupted {
        let missing = report.planned.saturating_sub(c.done());
        text.push_str(&format!(
            "Interrupted: {missing} of {} not attempted or abandoned.\n",
            report.planned
        ));
    }
    text.push_str(&format!(
        "Elapsed time: {:.2}s ({} mode{}, concurrency {})",
        report.elapsed_seconds,
        report.mode,
        match report.runtime {
            Some(Runtime::Current) => ", one-thread runtime",
            _ => "",
        },
        report.concurrency
    ));
    // The ideal is that of the whole plan: an interrupted run has no
    // efficiency to speak of.
    if let Some(ideal) = report.ideal_seconds.filter(|_| !report.interrupted) {
        text.push_str(&format!(
            "\nIdeal time: {ideal:.2}s (efficiency {:.0}%)",
            100.0 * ideal / report.elapsed_seconds.max(1e-9)
        ));
    }
    text.push_str(&format!(
        "\nAt the peak: {} in flight, {}.",
        count(report.peak_in_flight, "request", "requests"),
        count(report.peak_threads, "OS thread", "OS threads")
    ));
    if let Some(lag) = report.loop_lag {
        text.push_str(&format!(
            "\nEvent loop lag: max {:.1}ms, p99 {:.1}ms.",
            lag.max_ms, lag.p99_ms
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(interrupted: bool) -> RunReport {
        RunReport {
            mode: Mode::Async,
            runtime: Some(Runtime::Multi),
            concurrency: 1000,
            server: "http://127.0.0.1:1/flags".into(),
            output: "downloads".into(),
            planned: 5000,
            counts: Counts::default(),
            interrupted,
            elapsed_seconds: 12.5,
            ideal_seconds: Some(10.0),
            peak_threads: 6,
            peak_in_flight: 1000,
            loop_lag: None,
            save_inline: false,
            save_delay_seconds: 0.0,
            results: Vec::new(),
        }
    }

    #[test]
    fn an_interrupted_run_claims_no_efficiency() {
        let whole = summary(&report(false));
        assert!(
            whole.contains("Ideal time: 10.00s (efficiency 80%)"),
            "{whole}"
        );
        let cut = summary(&report(true));
        assert!(cut.contains("Interrupted: 5000 of 5000"), "{cut}");
        assert!(
            !cut.contains("Ideal time") && !cut.contains("efficiency"),
            "{cut}"
        );
    }

    #[test]
    fn ideal() {
        assert_eq!(
            ideal_time(20, 50, Duration::from_millis(100)),
            Duration::from_millis(100)
        );
        assert_eq!(
            ideal_time(194, 50, Duration::from_millis(100)),
            Duration::from_millis(400)
        );
        assert_eq!(
            ideal_time(10_000, 1_000, Duration::from_millis(100)),
            Duration::from_secs(1)
        );
    }
}
