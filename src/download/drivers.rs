//! The three ways of driving the same plan. This is the point of the project,
//! so the drivers sit side by side, each a screen or less; everything they
//! call (the per-flag download, the statuses, the reporting, the saving) is
//! shared.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use futures::{future, stream, StreamExt};

use crate::download::cancel::is_cancelled;
use crate::download::fetch::{AsyncClient, BlockingClient};
use crate::download::plan::{Mode, Plan};
use crate::download::progress::Reporter;
use crate::download::status::{CodeResult, FetchError};

/// Sequential: one blocking client, one request at a time.
pub fn run_sequential(plan: &Plan, reporter: &Reporter) {
    let client = BlockingClient::new(&plan.request, 1);
    for job in 0..plan.codes.len() {
        if is_cancelled() {
            break;
        }
        reporter.record(client.download_flag(plan, job, reporter));
    }
}

/// Threaded: `concurrency` OS threads doing blocking I/O; each takes the next
/// job from a shared counter. They share one client, whose connection pool
/// is sized to the thread count.
pub fn run_threaded(plan: &Plan, reporter: &Reporter) {
    let client = BlockingClient::new(&plan.request, plan.concurrency);
    let next = AtomicUsize::new(0);
    let worker = || loop {
        let job = next.fetch_add(1, Ordering::Relaxed);
        if job >= plan.codes.len() || is_cancelled() {
            break;
        }
        reporter.record(client.download_flag(plan, job, reporter));
    };
    thread::scope(|scope| {
        for i in 0..plan.concurrency {
            let spawned = thread::Builder::new()
                .name(format!("flags-worker-{i}"))
                .spawn_scoped(scope, worker);
            if let Err(error) = spawned {
                eprintln!(
                    "warning: could only start {i} of {} threads: {error}",
                    plan.concurrency
                );
                break;
            }
        }
    });
}

/// Async: one tokio runtime; `concurrency` downloads in flight at once through
/// `buffer_unordered`; each download is a task, so the runtime's workers share
/// them, and each file is saved with `spawn_blocking` inside `download_flag`,
/// so the runtime never waits on the disk.
pub async fn run_async(plan: Arc<Plan>, reporter: Arc<Reporter>) -> Result<(), reqwest::Error> {
    let client = Arc::new(AsyncClient::new(&plan.request, plan.concurrency)?);
    stream::iter(0..plan.codes.len())
        .take_while(|_| future::ready(!is_cancelled()))
        .map(|job| spawn_download(&client, &plan, job, &reporter))
        .buffer_unordered(plan.concurrency)
        .for_each(|result| async { reporter.record(result) })
        .await;
    Ok(())
}

/// Runs one download as its own task; a task that panics is an ERROR.
async fn spawn_download(
    client: &Arc<AsyncClient>,
    plan: &Arc<Plan>,
    job: usize,
    reporter: &Arc<Reporter>,
) -> CodeResult {
    let (client, plan, reporter) = (client.clone(), plan.clone(), reporter.clone());
    let code = plan.codes[job].clone();
    tokio::spawn(async move { client.download_flag(&plan, job, &reporter).await })
        .await
        .unwrap_or_else(|e| {
            CodeResult::failed(
                &code,
                &FetchError::Other(format!("task failed: {e}")),
                None,
                0,
            )
        })
}

/// Threads of the async runtime's blocking pool, where files are saved.
const SAVE_THREADS: usize = 8;

/// How long in-flight work may go on after an interrupt before the run
/// stops waiting for it.
const GRACE: Duration = Duration::from_millis(800);

/// Runs `plan` with the driver of its mode. Returns when the downloads are
/// done or, after Ctrl-C, when in-flight work has finished or the grace
/// period is over; results are in `reporter`.
pub fn drive(plan: Arc<Plan>, reporter: Arc<Reporter>) -> anyhow::Result<()> {
    match plan.mode {
        Mode::Sequential | Mode::Threaded => {
            let (done_tx, done_rx) = mpsc::channel::<()>();
            thread::Builder::new()
                .name("flags-driver".into())
                .spawn(move || {
                    match plan.mode {
                        Mode::Sequential => run_sequential(&plan, &reporter),
                        _ => run_threaded(&plan, &reporter),
                    }
                    let _ = done_tx.send(());
                })?;
            wait_unless_cancelled(&done_rx);
        }
        Mode::Async => {
            // Saves are short; a small blocking pool absorbs bursts of them
            // without growing a thread per finished download.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .max_blocking_threads(SAVE_THREADS)
                .thread_name("flags-async")
                .build()?;
            runtime.block_on(async {
                tokio::select! {
                    result = run_async(plan.clone(), reporter.clone()) => result,
                    () = cancelled_then_grace() => Ok(()),
                }
            })?;
            runtime.shutdown_timeout(GRACE);
        }
    }
    Ok(())
}

/// Blocks until `done` fires, or until the grace period after an interrupt.
fn wait_unless_cancelled(done: &mpsc::Receiver<()>) {
    let mut deadline: Option<Instant> = None;
    loop {
        match done.recv_timeout(Duration::from_millis(20)) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        if is_cancelled() {
            let end = *deadline.get_or_insert_with(|| Instant::now() + GRACE);
            if Instant::now() >= end {
                return;
            }
        }
    }
}

/// Completes a grace period after the run is cancelled.
async fn cancelled_then_grace() {
    while !is_cancelled() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(GRACE).await;
}

/// With `--skip-existing`, records codes whose file is already saved as
/// skipped and returns the plan of the rest; otherwise returns `plan` as is.
pub fn skip_existing(plan: Arc<Plan>, reporter: &Reporter) -> Arc<Plan> {
    if !plan.skip_existing {
        return plan;
    }
    let mut rest = Vec::with_capacity(plan.codes.len());
    for code in &plan.codes {
        match crate::download::store::existing_flag(&plan.output, code) {
            Some(path) => {
                reporter.record(crate::download::status::CodeResult::skipped(code, &path))
            }
            None => rest.push(code.clone()),
        }
    }
    let mut remaining = (*plan).clone();
    remaining.codes = rest;
    Arc::new(remaining)
}
