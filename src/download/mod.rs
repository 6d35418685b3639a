//! Downloading flags: the plan all modes share, the three drivers that are
//! the only part that differs, the per-flag fetch over one client contract,
//! and the statuses, progress, report and saving every mode goes through.

pub mod contract;
pub mod drivers;
pub mod fetch;
pub mod plan;
pub mod progress;
pub mod report;
pub mod retry;
pub mod status;
pub mod store;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::download::plan::Plan;
use crate::download::progress::Progress;
use crate::download::report::{ideal_time, RunReport};
use crate::download::status::CodeResult;
use crate::download::store::OutputDir;

/// Everything a driver works with: what to fetch, where it goes, where
/// results are reported, and the token that stops it.
pub(crate) struct Run {
    /// What to fetch and how.
    pub plan: Plan,
    /// Where flags are saved.
    pub output: OutputDir,
    /// Where results are collected and shown.
    pub progress: Progress,
    /// Cancelled by the first Ctrl-C: no new download starts.
    pub cancel: CancellationToken,
}

/// How long saves in progress may take to finish when a run ends.
const CLOSE_WAIT: Duration = Duration::from_millis(500);

/// Downloads the plan into `output` and reports the run. After the drivers
/// return, the output folder is closed, so no download still in flight
/// (abandoned after an interrupt) can leave a file behind; an early exit
/// (a second Ctrl-C, a closed pipe) closes it too.
pub(crate) fn run(
    plan: Plan,
    output: OutputDir,
    progress: Progress,
    cancel: CancellationToken,
) -> std::io::Result<RunReport> {
    let closing = output.clone();
    let _on_early_exit = crate::sys::before_early_exit(move || closing.close(CLOSE_WAIT));
    let start = Instant::now();
    let plan = skip_existing(plan, &output, &progress);
    let run = Arc::new(Run {
        plan,
        output,
        progress,
        cancel,
    });
    drivers::drive(Arc::clone(&run))?;
    let elapsed = start.elapsed();
    run.progress.finish();
    run.output.close(CLOSE_WAIT);
    let (counts, results) = run.progress.snapshot();
    let plan = &run.plan;
    Ok(RunReport {
        mode: plan.mode,
        concurrency: plan.concurrency,
        server: plan.base_url.clone(),
        output: run.output.path().display().to_string(),
        planned: plan.codes.len() + counts.skipped,
        counts,
        interrupted: run.cancel.is_cancelled(),
        elapsed_seconds: elapsed.as_secs_f64(),
        ideal_seconds: plan
            .server_delay
            .filter(|d| !d.is_zero())
            .map(|d| ideal_time(plan.codes.len(), plan.concurrency, d).as_secs_f64()),
        results,
    })
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
