//! Downloading flags: the plan all modes share, the three drivers that are
//! the only part that differs, the per-flag fetch over one client contract,
//! and the statuses, progress, report and saving every mode goes through.

pub mod contract;
pub mod drivers;
pub mod fetch;
pub(crate) mod lookup;
pub mod plan;
pub mod progress;
pub mod report;
pub mod retry;
pub mod status;
pub mod store;
pub mod timeline;
pub mod trace;
pub mod waterfall;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::download::plan::{Mode, Plan};
use crate::download::progress::{Live, Progress};
use crate::download::report::{LoopLag, RunReport, ideal_time};
use crate::download::status::CodeResult;
use crate::download::store::OutputDir;
use crate::download::timeline::{Gauges, Lanes, Recording, Sample, Timeline};

/// Why a run could not be made (a download's failure is not one: it is
/// that code's ERROR).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The server's base URL does not parse.
    #[error("bad server URL {url}: {source}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// Why it does not parse.
        source: url::ParseError,
    },
    /// The HTTP client could not be built (its TLS configuration, the
    /// proxy of the environment).
    #[error("cannot start the HTTP client")]
    Client(#[from] crate::download::fetch::nonblocking::ClientError),
    /// The runtime or a thread could not be started.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Everything a driver works with: what to fetch, where it goes, where
/// results are reported, the token that stops it, and what watches it.
pub(crate) struct Run {
    /// What to fetch and how.
    pub plan: Plan,
    /// Where flags are saved.
    pub output: OutputDir,
    /// Where results are collected and shown.
    pub progress: Progress,
    /// Cancelled by the first Ctrl-C: no new download starts.
    pub cancel: CancellationToken,
    /// When the run started.
    pub(crate) started: Instant,
    /// The plan's base URL, parsed once.
    pub(crate) base: Url,
    /// Requests in flight and OS threads.
    pub(crate) gauges: Gauges,
    /// Slot numbers of the downloads in progress.
    pub(crate) lanes: Lanes,
    /// Every phase of every download, when asked for.
    pub(crate) timeline: Option<Timeline>,
    /// Host names, looked up once each for the whole run.
    pub(crate) lookups: Arc<lookup::Lookups>,
    /// How late the async runtime woke a task that asked to wake every
    /// millisecond, in microseconds.
    pub(crate) lags: Mutex<Vec<u32>>,
    /// When the lag probe asked to wake next, while it waits.
    pub(crate) lag_due: Mutex<Option<Instant>>,
}

impl Run {
    /// A run of `plan` into `output`; `keep_timeline` records every phase.
    pub(crate) fn new(
        plan: Plan,
        output: OutputDir,
        progress: Progress,
        cancel: CancellationToken,
        keep_timeline: bool,
    ) -> Result<Self, RunError> {
        let base = Url::parse(&plan.base_url).map_err(|source| RunError::BadUrl {
            url: plan.base_url.clone(),
            source,
        })?;
        let started = Instant::now();
        let lookups = Arc::new(lookup::Lookups::new(plan.request.connect_timeout));
        Ok(Self {
            base,
            plan,
            output,
            progress,
            cancel,
            started,
            gauges: Gauges::default(),
            lanes: Lanes::default(),
            timeline: keep_timeline.then(|| Timeline::new(started)),
            lookups,
            lags: Mutex::new(Vec::new()),
            lag_due: Mutex::new(None),
        })
    }

    /// Samples the OS threads and the requests in flight: for the live
    /// display, the peaks of the report, and the timeline's counters.
    pub(crate) fn sample(&self) {
        let threads = self.gauges.sample_threads();
        let in_flight = self.gauges.in_flight();
        if let Some(timeline) = &self.timeline {
            timeline.sample(Sample {
                at: self.started.elapsed(),
                in_flight,
                threads,
            });
        }
        self.progress.live(Live {
            in_flight,
            limit: self.plan.concurrency,
            threads,
            connections: self.plan.request.http2.map(|_| self.gauges.connections()),
        });
    }
}

/// How long saves in progress may take to finish when a run ends.
const CLOSE_WAIT: Duration = Duration::from_millis(500);

/// Downloads the plan into `output` and reports the run, with its timeline
/// when `keep_timeline`. After the drivers return, the output folder is
/// closed, so no download still in flight (abandoned after an interrupt) can
/// leave a file behind; an early exit (a second Ctrl-C, a closed pipe)
/// closes it too.
pub(crate) fn run(
    plan: Plan,
    output: OutputDir,
    progress: Progress,
    cancel: CancellationToken,
    keep_timeline: bool,
) -> Result<(RunReport, Option<Recording>), RunError> {
    let closing = output.clone();
    let _on_early_exit = crate::sys::before_early_exit(move || closing.close(CLOSE_WAIT));
    let plan = skip_existing(plan, &output, &progress);
    let run = Arc::new(Run::new(plan, output, progress, cancel, keep_timeline)?);
    drivers::drive(Arc::clone(&run))?;
    let elapsed = run.started.elapsed();
    run.progress.finish();
    run.output.close(CLOSE_WAIT);
    let (counts, results) = run.progress.take_results();
    let plan = &run.plan;
    let interrupted = run.cancel.is_cancelled();
    let ideal_seconds = plan
        .server_delay
        .filter(|d| !d.is_zero())
        .map(|d| ideal_time(plan.codes.len(), plan.concurrency, d).as_secs_f64());
    let elapsed_seconds = elapsed.as_secs_f64();
    let download_seconds: f64 = results.iter().map(|r| r.seconds).sum();
    let requests = run.gauges.sent();
    let connections = (plan.mode == Mode::Async).then(|| run.gauges.connections());
    let report = RunReport {
        mode: plan.mode,
        runtime: (plan.mode == Mode::Async).then_some(plan.runtime),
        concurrency: plan.concurrency,
        http: if plan.request.http2.is_some() {
            "2"
        } else {
            "1.1"
        },
        connections,
        requests,
        lookups: run.lookups.made(),
        requests_per_connection: connections
            .filter(|opened| *opened > 0)
            .map(|opened| requests as f64 / opened as f64),
        server: plan.base_url.clone(),
        output: run.output.path().display().to_string(),
        planned: plan.codes.len() + counts.skipped,
        counts,
        interrupted,
        elapsed_seconds,
        ideal_seconds,
        efficiency: report::efficiency(ideal_seconds, elapsed_seconds, &counts, interrupted),
        download_seconds,
        overlap: (download_seconds > 0.0).then(|| download_seconds / elapsed_seconds.max(1e-9)),
        errors: report::group_errors(&results),
        peak_threads: run.gauges.peak_threads(),
        peak_in_flight: run.gauges.peak_in_flight(),
        loop_lag: (plan.mode == Mode::Async).then(|| LoopLag::of(&run.lags.lock())),
        save_inline: plan.save.inline,
        save_delay_seconds: plan.save.delay.as_secs_f64(),
        results,
    };
    let recording = run.timeline.as_ref().map(|timeline| Recording {
        lookups: run.lookups.spans(run.started),
        ..timeline.recording()
    });
    Ok((report, recording))
}

/// With `--skip-existing`, records codes whose file is already saved as
/// skipped and returns the plan of the rest; otherwise returns `plan` as is.
fn skip_existing(mut plan: Plan, output: &OutputDir, progress: &Progress) -> Plan {
    if plan.skip_existing {
        plan.codes
            .retain(|code| match store::existing_flag(output.path(), code) {
                Some(path) => {
                    progress.record(CodeResult::skipped(code, &path));
                    false
                }
                None => true,
            });
    }
    plan
}
