//! The report of a run: the JSON object `--json` prints, the text header
//! and summary, and the ideal time they compare with.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;

use crate::download::plan::{Mode, Plan, Runtime};
use crate::download::status::{CodeResult, Counts, Status};
use crate::duration::{human, human_seconds};
use crate::text::{count, inert};

/// The whole run as `--json` prints it; the schema is documented in README.md.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunReport {
    /// `sequential`, `threaded` or `async`.
    pub mode: Mode,
    /// Async mode: `multi` or `current` (`null` in the other modes).
    pub runtime: Option<Runtime>,
    /// Effective concurrency.
    pub concurrency: usize,
    /// The HTTP version spoken: `"1.1"`, or `"2"` with `--http2`.
    pub http: &'static str,
    /// Async mode: connections opened (`null` in the other modes, whose
    /// client does not tell).
    pub connections: Option<usize>,
    /// Requests sent (every attempt and redirect).
    pub requests: usize,
    /// Host names looked up: one per name, however many requests.
    pub lookups: usize,
    /// Async mode: requests per connection opened; over HTTP/2, streams.
    pub requests_per_connection: Option<f64>,
    /// Against an https server: the TLS handshakes made, and how many
    /// resumed a session (`null` over plain HTTP).
    pub tls: Option<TlsHandshakes>,
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
    /// `ideal_seconds / elapsed_seconds`, only where it means something:
    /// every download answered at its first request, none failed, the run
    /// was not interrupted, and the figure is at most 1.
    pub efficiency: Option<f64>,
    /// The time the downloads took, added up (each from its first request
    /// to its end), seconds: what one-at-a-time would have cost.
    pub download_seconds: f64,
    /// `download_seconds / elapsed_seconds`: how many downloads were under
    /// way at once, on average. 1 for sequential; near the concurrency when
    /// overlapping worked.
    pub overlap: Option<f64>,
    /// The errors grouped by reason, most frequent first.
    pub errors: Vec<ErrorGroup>,
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

/// A run's TLS handshakes: a full one verifies the server's certificate,
/// a resumed one skips it and costs a fraction (`flags costs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct TlsHandshakes {
    /// Handshakes made, full and resumed.
    pub handshakes: usize,
    /// Those that resumed a session.
    pub resumed: usize,
}

/// The ideal time for `n` downloads at concurrency `c` from a server with
/// latency `delay`, transfer time aside: `ceil(n / c) * delay`.
pub(crate) fn ideal_time(n: usize, c: usize, delay: Duration) -> Duration {
    if c == 0 {
        return Duration::ZERO;
    }
    delay * n.div_ceil(c) as u32
}

/// The async runtime's lag: how long its tasks' polls held a thread and how
/// long woken tasks waited for one (`observers::lag`): near 0 when nothing
/// blocks it, the length of the block when something does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct LoopLag {
    /// The longest poll or wait, milliseconds.
    pub max_ms: f64,
    /// 99 % of polls and waits were this long or less, milliseconds.
    pub p99_ms: f64,
    /// How many polls and waits were measured.
    pub samples: usize,
}

impl LoopLag {
    /// The lag of these polls and waits (microseconds each).
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

/// Codes that failed for the same reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ErrorGroup {
    /// The reason, as `-q` and `-v` print it.
    pub reason: String,
    /// How many codes failed for it.
    pub count: usize,
    /// Those codes, sorted.
    pub codes: Vec<String>,
}

/// The errors of `results` grouped by reason: the most frequent first,
/// then by reason.
pub(crate) fn group_errors(results: &[CodeResult]) -> Vec<ErrorGroup> {
    let mut groups: Vec<ErrorGroup> = Vec::new();
    for result in results.iter().filter(|r| r.status == Status::Error) {
        let reason = result.reason.clone().unwrap_or_default();
        match groups.iter_mut().find(|g| g.reason == reason) {
            Some(group) => {
                group.count += 1;
                group.codes.push(result.code.clone());
            }
            None => groups.push(ErrorGroup {
                reason,
                count: 1,
                codes: vec![result.code.clone()],
            }),
        }
    }
    for group in &mut groups {
        group.codes.sort();
    }
    groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
    groups
}

/// The efficiency `ideal / elapsed` where it means something: the ideal
/// assumes one answer per download at the server's latency, so a run with
/// an error, a retry or an interrupt has none, and a figure above 100 %
/// (the server answered faster than its latency, or the ideal is wrong)
/// is not shown.
pub(crate) fn efficiency(
    ideal: Option<f64>,
    elapsed: f64,
    counts: &Counts,
    interrupted: bool,
) -> Option<f64> {
    let ideal = ideal?;
    if interrupted || counts.error > 0 || counts.retries > 0 || elapsed <= 0.0 {
        return None;
    }
    Some(ideal / elapsed).filter(|e| *e <= 1.0)
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
/// it: the site (and what the embedded one simulates), the codes (listed
/// when there are 10 or fewer), the connections, and any `notes` (what was
/// asked for and not used, and why).
pub(crate) fn header(label: &str, site: &str, plan: &Plan, notes: &[String]) -> String {
    let mut text = format!("{label} site: {site}\n");
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
    if let Some(connections) = plan.request.http2 {
        text.push_str(&format!(
            "{} requests at once as HTTP/2 streams over {} (async).",
            plan.in_flight_at_most(),
            count(connections, "connection", "connections")
        ));
    } else {
        text.push_str(&match (plan.mode, c) {
            (Mode::Sequential, _) | (_, 1) => format!("1 connection will be used ({}).", plan.mode),
            (Mode::Threaded, _) => {
                format!("{c} concurrent connections will be used ({c} threads).")
            }
            (Mode::Async, _) => format!("{c} concurrent connections will be used (async)."),
        });
    }
    for note in notes {
        text.push('\n');
        text.push_str(note);
    }
    text
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n:3} {}", if n == 1 { one } else { many })
}

/// How many error reasons the summary lists, and codes per reason.
const SHOWN_REASONS: usize = 6;
const SHOWN_CODES: usize = 5;

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
        text.push_str(&format!("{}\n", plural(c.error, "error:", "errors:")));
        text.push_str(&error_lines(report));
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
        "Elapsed time: {} ({} mode{}, concurrency {})",
        human_seconds(report.elapsed_seconds),
        report.mode,
        match report.runtime {
            Some(Runtime::Current) => ", one-thread runtime",
            _ => "",
        },
        report.concurrency
    ));
    let answered = c.ok + c.not_found > 0;
    if let Some(overlap) = report.overlap.filter(|_| answered) {
        let downloads = c.ok + c.not_found + c.error;
        text.push_str(&format!(
            "\nOverlap: {} took {} in all, ended in {}: {}",
            count(downloads, "download", "downloads"),
            human_seconds(report.download_seconds),
            human_seconds(report.elapsed_seconds),
            // No figure where there is no overlap to measure: below 1× it
            // says only that the downloads were quicker than the run's
            // own costs (and the line stays within 80 columns).
            if report.concurrency == 1 {
                "one at a time.".to_owned()
            } else if overlap < 1.0 {
                "too quick to overlap.".to_owned()
            } else {
                format!("{overlap:.1}× overlap.")
            }
        ));
    }
    if let (Some(ideal), Some(efficiency)) = (report.ideal_seconds, report.efficiency) {
        text.push_str(&format!(
            "\nIdeal time: {} (efficiency {:.0}%)",
            human_seconds(ideal),
            100.0 * efficiency
        ));
    }
    if let (Some(opened), Some(each)) = (report.connections, report.requests_per_connection) {
        let noun = if report.http == "2" {
            "HTTP/2 stream"
        } else {
            "request"
        };
        let s = if report.requests == 1 { "" } else { "s" };
        let requests = format!("{} {noun}{s}", report.requests);
        text.push_str(&format!(
            "\nConnections: {opened} opened for {requests}: {each:.1} per connection."
        ));
    }
    if let Some(tls) = report.tls {
        text.push_str(&format!(
            "\nTLS: {}, {} resumed.",
            count(tls.handshakes, "handshake", "handshakes"),
            tls.resumed
        ));
    }
    text.push_str(&format!(
        "\nAt the peak: {} in flight, {}.",
        count(report.peak_in_flight, "request", "requests"),
        count(report.peak_threads, "OS thread", "OS threads")
    ));
    if let Some(lag) = report.loop_lag {
        text.push_str(&format!(
            "\nEvent loop lag: max {}, p99 {}.",
            human(lag_duration(lag.max_ms)),
            human(lag_duration(lag.p99_ms))
        ));
    }
    text
}

fn lag_duration(ms: f64) -> Duration {
    Duration::from_micros((ms * 1000.0).round().max(0.0) as u64)
}

/// The summary's lines under `N errors:`: each reason with its count and
/// a few codes, and what to do when nothing listens at the server's URL.
fn error_lines(report: &RunReport) -> String {
    let mut text = String::new();
    for group in report.errors.iter().take(SHOWN_REASONS) {
        let mut codes = group.codes[..group.codes.len().min(SHOWN_CODES)].join(" ");
        if group.codes.len() > SHOWN_CODES {
            codes.push_str(&format!(" and {} more", group.codes.len() - SHOWN_CODES));
        }
        text.push_str(&format!(
            "{:7} {}: {}\n",
            group.count,
            inert(&group.reason),
            inert(&codes)
        ));
    }
    if report.errors.len() > SHOWN_REASONS {
        let rest = report.errors.len() - SHOWN_REASONS;
        text.push_str(&format!(
            "        and {} (-q prints one line per code)\n",
            count(rest, "other reason", "other reasons")
        ));
    }
    let all_refused = report.counts.ok + report.counts.not_found == 0
        && !report.errors.is_empty()
        && report
            .errors
            .iter()
            .all(|g| g.reason.ends_with("connection refused"));
    if all_refused {
        let port = url::Url::parse(&report.server)
            .ok()
            .and_then(|u| u.port_or_known_default())
            .map_or(String::new(), |p| format!(" --port {p}"));
        text.push_str(&format!(
            "Nothing listens at {}: start a flags server there\n\
             (flags serve{port}) or leave out --server to use the embedded one.\n",
            inert(&report.server)
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::download::status::FetchError;

    fn report(interrupted: bool) -> RunReport {
        RunReport {
            mode: Mode::Async,
            runtime: Some(Runtime::Multi),
            concurrency: 1000,
            http: "1.1",
            connections: Some(1000),
            requests: 5000,
            lookups: 0,
            requests_per_connection: Some(5.0),
            tls: None,
            server: "http://127.0.0.1:1/flags".into(),
            output: "downloads".into(),
            planned: 5000,
            counts: Counts::default(),
            interrupted,
            elapsed_seconds: 12.5,
            ideal_seconds: Some(10.0),
            efficiency: efficiency(Some(10.0), 12.5, &Counts::default(), interrupted),
            download_seconds: 0.0,
            overlap: None,
            errors: Vec::new(),
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
            whole.contains("Ideal time: 10s (efficiency 80%)"),
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
    fn efficiency_only_where_it_means_something() {
        let clean = Counts::default();
        assert_eq!(efficiency(Some(1.0), 2.0, &clean, false), Some(0.5));
        assert_eq!(efficiency(None, 2.0, &clean, false), None);
        assert_eq!(efficiency(Some(1.0), 2.0, &clean, true), None);
        // Faster than the ideal: the ideal is wrong, not the run.
        assert_eq!(efficiency(Some(100.0), 0.01, &clean, false), None);
        let failed = Counts { error: 1, ..clean };
        assert_eq!(efficiency(Some(0.1), 0.1, &failed, false), None);
        let retried = Counts {
            retries: 1,
            ..clean
        };
        assert_eq!(efficiency(Some(0.1), 0.2, &retried, false), None);
    }

    #[test]
    fn errors_are_grouped_by_reason_with_a_few_codes() {
        let refused = FetchError::Connect("connection refused".into());
        let teapot = FetchError::status(418, None);
        let mut results: Vec<CodeResult> = ["AA", "BB", "CC", "DD", "EE", "FF", "GG"]
            .iter()
            .map(|code| CodeResult::failed(code, &refused, None, 0))
            .collect();
        results.push(CodeResult::failed("ZZ", &teapot, None, 0));
        let groups = group_errors(&results);
        assert_eq!(groups.len(), 2);
        assert_eq!(
            (groups[0].reason.as_str(), groups[0].count),
            ("connection failed: connection refused", 7)
        );
        let mut run = report(false);
        run.counts.error = 8;
        run.errors = groups;
        let text = summary(&run);
        assert!(
            text.contains(
                "  8 errors:\n      7 connection failed: connection refused: AA BB CC DD EE and 2 more\n      1 HTTP 418 I'm a teapot: ZZ\n"
            ),
            "{text}"
        );
        assert!(!text.contains("Nothing listens"), "{text}");
        run.errors.pop();
        let text = summary(&run);
        assert!(
            text.contains("Nothing listens at http://127.0.0.1:1/flags: start a flags server there\n(flags serve --port 1) or leave"),
            "{text}"
        );
    }

    #[test]
    fn overlap_says_what_concurrency_bought() {
        let mut run = report(false);
        run.counts.ok = 20;
        run.elapsed_seconds = 0.3;
        run.download_seconds = 4.05;
        run.overlap = Some(13.5);
        run.efficiency = None;
        let text = summary(&run);
        assert!(
            text.contains("Elapsed time: 300ms (async mode, concurrency 1000)\nOverlap: 20 downloads took 4.05s in all, ended in 300ms: 13.5× overlap.\n"),
            "{text}"
        );
        assert!(!text.contains("efficiency"), "{text}");
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
