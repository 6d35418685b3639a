//! Downloading flags: the plan all modes share, the three drivers that are
//! the only part that differs, the pipeline of one download (its story
//! written once, over a blocking or an async transport, judged by one
//! client contract, saved atomically), and the observers every mode
//! reports to (progress, gauges, timeline, report).

pub mod drivers;
pub mod observers;
pub mod pipeline;
pub mod plan;
pub mod status;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::download::observers::Observers;
use crate::download::observers::progress::Progress;
use crate::download::observers::report::{self, LoopLag, RunReport, ideal_time};
use crate::download::observers::timeline::Recording;
use crate::download::pipeline::lookup::Lookups;
use crate::download::pipeline::store::{self, OutputDir};
use crate::download::pipeline::trust::Roots;
use crate::download::plan::{FlagUrls, Mode, Plan};
use crate::download::status::CodeResult;

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
    Client(#[from] crate::download::pipeline::nonblocking::ClientError),
    /// The runtime or a thread could not be started.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Everything a driver works with, in three parts: what the plan fixes,
/// what the run's downloads share, and who observes them.
pub(crate) struct Run {
    /// What to fetch and how.
    pub plan: Plan,
    /// What every download of the run uses.
    pub shared: Shared,
    /// Who watches: progress, gauges, timeline.
    pub observers: Observers,
}

/// What the downloads of a run share.
pub(crate) struct Shared {
    /// Every URL of the plan, from its base URL parsed once.
    pub urls: FlagUrls,
    /// Where flags are saved.
    pub output: OutputDir,
    /// Host names, looked up once each for the whole run.
    pub lookups: Arc<Lookups>,
    /// Cancelled by the first Ctrl-C: no new download starts.
    pub cancel: CancellationToken,
    /// What https servers are verified against, read once for the run.
    pub roots: Roots,
    /// The blocking clients' one TLS connector: its rustls configuration
    /// and session cache are the run's, not each thread's.
    pub blocking_tls: Arc<ureq::unversioned::transport::RustlsConnector>,
}

impl Run {
    /// A run of `plan` into `output`, its phases recorded as `spans` says.
    pub(crate) fn new(
        plan: Plan,
        output: OutputDir,
        progress: Progress,
        cancel: CancellationToken,
        spans: Spans,
    ) -> Result<Self, RunError> {
        let urls = FlagUrls::new(&plan.base_url).map_err(|source| RunError::BadUrl {
            url: plan.base_url.clone(),
            source,
        })?;
        let roots = plan.request.trust.roots_for(&plan.base_url);
        let shared = Shared {
            urls,
            output,
            lookups: Arc::new(Lookups::new(plan.request.connect_timeout)),
            cancel,
            roots,
            blocking_tls: Arc::default(),
        };
        let observers = Observers::new(progress, spans, &plan);
        Ok(Self {
            plan,
            shared,
            observers,
        })
    }

    /// Samples the OS threads and the requests in flight (see
    /// [`Observers::sample`]).
    pub(crate) fn sample(&self) {
        self.observers.sample();
    }
}

/// Whether a run records every phase of every download, for `--trace` and
/// `--timeline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spans {
    /// Every phase recorded, the gauges sampled on a clock.
    Recorded,
    /// Only what the report needs.
    Unrecorded,
}

/// How long saves in progress may take to finish when a run ends.
const CLOSE_WAIT: Duration = Duration::from_millis(500);

/// Downloads the plan into `output` and reports the run, with its timeline
/// when its `spans` are recorded. After the drivers return, the output folder is
/// closed, so no download still in flight (abandoned after an interrupt) can
/// leave a file behind; an early exit (a second Ctrl-C, a closed pipe)
/// closes it too.
pub(crate) fn run(
    plan: Plan,
    output: OutputDir,
    progress: Progress,
    cancel: CancellationToken,
    spans: Spans,
) -> Result<(RunReport, Option<Recording>), RunError> {
    let closing = output.clone();
    let _on_early_exit = crate::sys::before_early_exit(move || closing.close(CLOSE_WAIT));
    let plan = skip_existing(plan, &output, &progress);
    let run = Arc::new(Run::new(plan, output, progress, cancel, spans)?);
    drivers::drive(Arc::clone(&run))?;
    let elapsed = run.observers.started.elapsed();
    run.observers.progress.finish();
    run.shared.output.close(CLOSE_WAIT);
    let (counts, results) = run.observers.progress.take_results();
    let plan = &run.plan;
    let interrupted = run.shared.cancel.is_cancelled();
    let ideal_seconds = plan
        .server_delay
        .filter(|d| !d.is_zero())
        .map(|d| ideal_time(plan.codes.len(), plan.in_flight_at_most(), d).as_secs_f64());
    let elapsed_seconds = elapsed.as_secs_f64();
    let download_seconds: f64 = results.iter().map(|r| r.seconds).sum();
    let requests = run.observers.gauges.sent();
    let connections = (plan.mode == Mode::Async).then(|| run.observers.gauges.connections());
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
        lookups: run.shared.lookups.made(),
        requests_per_connection: connections
            .filter(|opened| *opened > 0)
            .map(|opened| requests as f64 / opened as f64),
        server: plan.base_url.clone(),
        output: run.shared.output.path().display().to_string(),
        planned: plan.codes.len() + counts.skipped,
        counts,
        interrupted,
        elapsed_seconds,
        ideal_seconds,
        efficiency: report::efficiency(ideal_seconds, elapsed_seconds, &counts, interrupted),
        download_seconds,
        overlap: (download_seconds > 0.0).then(|| download_seconds / elapsed_seconds.max(1e-9)),
        errors: report::group_errors(&results),
        peak_threads: run.observers.gauges.peak_threads(),
        peak_in_flight: run.observers.gauges.peak_in_flight(),
        loop_lag: (plan.mode == Mode::Async).then(|| LoopLag::of(&run.observers.lags.samples())),
        save_inline: plan.save.inline,
        save_delay_seconds: plan.save.delay.as_secs_f64(),
        results,
    };
    let recording = run.observers.timeline.as_ref().map(|timeline| Recording {
        lookups: run.shared.lookups.spans(run.observers.started),
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
