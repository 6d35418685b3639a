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
use crate::download::observers::report::{self, LoopLag, RunReport, TlsHandshakes, ideal_time};
use crate::download::observers::timeline::Recording;
use crate::download::pipeline::store::{self, OutputDir};
use crate::download::pipeline::{Jobs, Network, Store};
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

/// Everything a driver works with: the plan it drives, and each layer's
/// part of the run, which the driver hands to that layer alone: the jobs
/// to the story of a download, the store to a save, the network to the
/// clients, the observers to all of them.
pub(crate) struct Run {
    /// What to fetch and how: the drivers read its mode, concurrency and
    /// runtime, the report the rest.
    pub plan: Plan,
    /// What the story of each download reads.
    pub jobs: Jobs,
    /// Where flags are written.
    pub store: Store,
    /// How the clients reach the server.
    pub network: Network,
    /// Who watches: progress, gauges, timeline.
    pub observers: Arc<Observers>,
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
        Ok(Self {
            jobs: Jobs::new(&plan, urls, cancel),
            store: Store::new(output, plan.save.delay),
            network: Network::new(&plan),
            observers: Arc::new(Observers::new(progress, spans, &plan)),
            plan,
        })
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
    let Run {
        plan,
        jobs,
        store,
        network,
        observers,
    } = &*run;
    let elapsed = observers.started.elapsed();
    observers.progress.finish();
    store.output.close(CLOSE_WAIT);
    let (counts, results) = observers.progress.take_results();
    let interrupted = jobs.cancelled();
    let ideal_seconds = plan
        .server_delay
        .filter(|d| !d.is_zero())
        .map(|d| ideal_time(plan.codes.len(), plan.in_flight_at_most(), d).as_secs_f64());
    let elapsed_seconds = elapsed.as_secs_f64();
    let download_seconds: f64 = results.iter().map(|r| r.seconds).sum();
    let requests = observers.gauges.sent();
    let connections = (plan.mode == Mode::Async).then(|| observers.gauges.connections());
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
        lookups: network.lookups.made(),
        requests_per_connection: connections
            .filter(|opened| *opened > 0)
            .map(|opened| requests as f64 / opened as f64),
        tls: network
            .roots
            .handshakes_made(connections)
            .map(|(handshakes, resumed)| TlsHandshakes {
                handshakes,
                resumed,
            }),
        server: plan.base_url.clone(),
        output: store.output.path().display().to_string(),
        planned: plan.codes.len() + counts.skipped,
        counts,
        interrupted,
        elapsed_seconds,
        ideal_seconds,
        efficiency: report::efficiency(ideal_seconds, elapsed_seconds, &counts, interrupted),
        download_seconds,
        overlap: (download_seconds > 0.0).then(|| download_seconds / elapsed_seconds.max(1e-9)),
        errors: report::group_errors(&results),
        peak_threads: observers.gauges.peak_threads(),
        peak_in_flight: observers.gauges.peak_in_flight(),
        loop_lag: (plan.mode == Mode::Async).then(|| LoopLag::of(&observers.lags.samples())),
        save_inline: plan.save.inline,
        save_delay_seconds: plan.save.delay.as_secs_f64(),
        results,
    };
    let recording = observers.timeline.as_ref().map(|timeline| Recording {
        lookups: network.lookups.spans(observers.started),
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
