//! The three ways of driving the same plan. This is the point of the project,
//! so the drivers sit side by side, each a screen or less; everything they
//! call (the per-flag download, the statuses, the reporting, the saving) is
//! shared.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use futures::{stream, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::download::fetch::blocking::BlockingClient;
use crate::download::fetch::nonblocking::AsyncClient;
use crate::download::plan::Mode;
use crate::download::status::CodeResult;
use crate::download::Run;
use crate::errln;

/// Sequential: one blocking client, one request at a time.
pub(crate) fn run_sequential(run: &Run) {
    let client = BlockingClient::new(&run.plan.request, 1);
    for job in 0..run.plan.codes.len() {
        if run.cancel.is_cancelled() {
            break;
        }
        run.progress
            .record(guarded(run, job, || client.download_flag(run, job)));
    }
}

/// Threaded: `concurrency` OS threads doing blocking I/O; each takes the next
/// job from a shared counter. They share one client, whose connection pool
/// is sized to the thread count.
pub(crate) fn run_threaded(run: &Run) {
    let client = BlockingClient::new(&run.plan.request, run.plan.concurrency);
    let next = AtomicUsize::new(0);
    let worker = || loop {
        let job = next.fetch_add(1, Ordering::Relaxed);
        if job >= run.plan.codes.len() || run.cancel.is_cancelled() {
            break;
        }
        run.progress
            .record(guarded(run, job, || client.download_flag(run, job)));
    };
    thread::scope(|scope| {
        for i in 0..run.plan.concurrency {
            let spawned = thread::Builder::new()
                .name(format!("flags-worker-{i}"))
                .spawn_scoped(scope, worker);
            if let Err(error) = spawned {
                let wanted = run.plan.concurrency;
                errln!("warning: could only start {i} of {wanted} threads: {error}");
                break;
            }
        }
    });
}

/// Async: one tokio runtime; `concurrency` downloads in flight at once through
/// `buffer_unordered`; each download is a task, so the runtime's workers share
/// them, and each file is saved with `spawn_blocking` inside `download_flag`,
/// so the runtime never waits on the disk.
pub(crate) async fn run_async(run: Arc<Run>) -> Result<(), reqwest::Error> {
    let client = Arc::new(AsyncClient::new(&run.plan.request, run.plan.concurrency)?);
    stream::iter(0..run.plan.codes.len())
        .take_until(run.cancel.clone().cancelled_owned())
        .map(|job| spawn_download(&client, &run, job))
        .buffer_unordered(run.plan.concurrency)
        .for_each(|result| async { run.progress.record(result) })
        .await;
    Ok(())
}

/// Runs one download as its own task; a task that panics is that code's ERROR.
async fn spawn_download(client: &Arc<AsyncClient>, run: &Arc<Run>, job: usize) -> CodeResult {
    let (client, task_run) = (Arc::clone(client), Arc::clone(run));
    tokio::spawn(async move { client.download_flag(&task_run, job).await })
        .await
        .unwrap_or_else(|error| match error.try_into_panic() {
            Ok(payload) => CodeResult::panicked(&run.plan.codes[job], &*payload),
            Err(error) => CodeResult::panicked(&run.plan.codes[job], &error.to_string()),
        })
}

/// Runs one blocking download; a panic inside it (a bug, ours or a
/// library's) is that code's ERROR, and the run goes on.
fn guarded(run: &Run, job: usize, download: impl FnOnce() -> CodeResult) -> CodeResult {
    panic::catch_unwind(AssertUnwindSafe(download))
        .unwrap_or_else(|payload| CodeResult::panicked(&run.plan.codes[job], &*payload))
}

/// Threads of the async runtime's blocking pool, where files are saved.
const SAVE_THREADS: usize = 8;

/// How long in-flight work may go on after an interrupt before the run
/// stops waiting for it.
const GRACE: Duration = Duration::from_millis(800);

/// Runs the plan with the driver of its mode. Returns when the downloads are
/// done or, after the run is cancelled, when in-flight work has finished or
/// the grace period is over; results are in `run.progress`.
pub(crate) fn drive(run: Arc<Run>) -> std::io::Result<()> {
    match run.plan.mode {
        Mode::Sequential | Mode::Threaded => {
            let (done, finished) = tokio::sync::oneshot::channel::<()>();
            let driver = Arc::clone(&run);
            thread::Builder::new()
                .name("flags-driver".into())
                .spawn(move || {
                    match driver.plan.mode {
                        Mode::Sequential => run_sequential(&driver),
                        _ => run_threaded(&driver),
                    }
                    let _ = done.send(());
                })?;
            // Waiting needs a timer for the grace period, not another thread.
            let waiter = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()?;
            waiter.block_on(async {
                tokio::select! {
                    _ = finished => {}
                    () = cancelled_then_grace(&run.cancel) => {}
                }
            });
        }
        Mode::Async => {
            // Saves are short; a small blocking pool absorbs bursts of them
            // without growing a thread per finished download.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .max_blocking_threads(SAVE_THREADS)
                .thread_name("flags-async")
                .build()?;
            runtime
                .block_on(async {
                    tokio::select! {
                        result = run_async(Arc::clone(&run)) => result,
                        () = cancelled_then_grace(&run.cancel) => Ok(()),
                    }
                })
                .map_err(std::io::Error::other)?;
            runtime.shutdown_timeout(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// Completes a grace period after the run is cancelled.
async fn cancelled_then_grace(cancel: &CancellationToken) {
    cancel.cancelled().await;
    tokio::time::sleep(GRACE).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::download::fetch::PANIC_CODE;
    use crate::download::plan::{Plan, RequestOptions};
    use crate::download::progress::{Lines, Progress};
    use crate::download::status::Status;
    use crate::download::store::OutputDir;
    use crate::server::{BackgroundServer, ServerConfig};

    #[test]
    fn a_panicking_download_is_an_error_and_the_others_complete_in_every_mode() {
        let server = BackgroundServer::start(ServerConfig::default()).unwrap();
        for mode in [Mode::Sequential, Mode::Threaded, Mode::Async] {
            let dir = tempfile::tempdir().unwrap();
            let codes: Vec<String> = ["BR", "CN", PANIC_CODE, "IN", "US"]
                .iter()
                .map(|c| c.to_string())
                .collect();
            let run = Arc::new(Run {
                plan: Plan {
                    codes,
                    base_url: server.base_url().to_owned(),
                    server_delay: None,
                    concurrency: if mode == Mode::Sequential { 1 } else { 3 },
                    mode,
                    request: RequestOptions::default(),
                    skip_existing: false,
                    numbered: false,
                },
                output: OutputDir::prepare(dir.path()).unwrap(),
                progress: Progress::new(5, false, Lines::None, true),
                cancel: CancellationToken::new(),
            });
            drive(Arc::clone(&run)).unwrap();
            let (counts, results) = run.progress.snapshot();
            assert_eq!((counts.ok, counts.error), (4, 1), "{mode}");
            let failed = results.iter().find(|r| r.code == PANIC_CODE).unwrap();
            assert_eq!(failed.status, Status::Error);
            assert_eq!(
                failed.reason.as_deref(),
                Some("internal error: a panic injected by a test"),
                "{mode}"
            );
        }
    }
}
