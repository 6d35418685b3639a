//! The three ways of driving the same plan. This is the point of the project,
//! so the drivers sit side by side, each a screen or less; everything they
//! call (the per-flag download, the statuses, the reporting, the saving) is
//! shared.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use futures::future::ready;
use futures::{StreamExt, stream};
use tokio_util::sync::CancellationToken;

use crate::download::observers::Observers;
use crate::download::pipeline::blocking::BlockingClient;
use crate::download::pipeline::nonblocking::{AsyncClient, ClientError};
use crate::download::pipeline::{FlagFile, Network, Saved, Transport, download};
use crate::download::plan::{Mode, Runtime};
use crate::download::status::{CodeResult, FetchError};
use crate::download::{Run, RunError};
use crate::errln;

/// Sequential: one blocking client, one request at a time, each file saved
/// where it was downloaded.
pub(crate) fn run_sequential<T: Transport>(run: &Arc<Run>, client: T) {
    for job in 0..run.jobs.len() {
        if run.jobs.cancelled() {
            break;
        }
        let result = guarded(run, job, || download_blocking(&client, run, job));
        run.observers.record(result);
    }
}

/// Threaded: `concurrency` OS threads doing blocking I/O; each takes the next
/// job from a shared counter, with a client of its own (`new_client`) that
/// keeps its one connection (a pool shared by a thousand threads is searched
/// and locked at every request).
pub(crate) fn run_threaded<T: Transport>(
    run: &Arc<Run>,
    new_client: impl Fn(&Network) -> T + Sync,
) {
    let next = AtomicUsize::new(0);
    let worker = || {
        let client = new_client(&run.network);
        loop {
            let job = next.fetch_add(1, Ordering::Relaxed);
            if job >= run.jobs.len() || run.jobs.cancelled() {
                break;
            }
            let result = guarded(run, job, || download_blocking(&client, run, job));
            run.observers.record(result);
        }
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
            if i % SAMPLE_EVERY_SPAWNS == SAMPLE_EVERY_SPAWNS - 1 {
                run.observers.sample();
            }
        }
        // Every worker is running now: the peak, however short the run.
        run.observers.sample();
    });
}

/// Async: one tokio runtime; `concurrency` downloads in flight at once through
/// `buffer_unordered` (itself run as a task, see `drive_async`); each download
/// is a task, so the runtime's workers share them, and each file is saved on
/// the blocking pool (`save_off_the_loop`), so the runtime never waits on the
/// disk.
pub(crate) async fn run_async<T>(run: Arc<Run>, client: T)
where
    T: Transport + Send + Sync + 'static,
{
    let client = Arc::new(client);
    stream::iter(0..run.jobs.len())
        .take_until(run.jobs.cancel.clone().cancelled_owned())
        .map(|job| spawn_download(&client, &run, job))
        .buffer_unordered(run.plan.concurrency)
        .for_each(|result| async { run.observers.record(result) })
        .await;
}

/// Saves on the blocking pool, so that the runtime never waits on the disk;
/// with `--save inline`, on the runtime's thread (the blocking mistake, on
/// purpose).
async fn save_off_the_loop(run: Arc<Run>, flag: FlagFile) -> Result<Saved, FetchError> {
    if run.plan.save.inline {
        return run.store.save(&flag, &run.observers);
    }
    tokio::task::spawn_blocking(move || run.store.save(&flag, &run.observers))
        .await
        .map_err(|e| FetchError::Save(e.to_string()))?
}

/// Runs one download as its own task; a task that panics is that code's ERROR.
async fn spawn_download<T>(client: &Arc<T>, run: &Arc<Run>, job: usize) -> CodeResult
where
    T: Transport + Send + Sync + 'static,
{
    let (client, task_run) = (Arc::clone(client), Arc::clone(run));
    let task = async move {
        let started = Instant::now();
        let saver = Arc::clone(&task_run);
        let save = |flag| save_off_the_loop(saver, flag);
        let result = download(&*client, &task_run.jobs, &task_run.observers, job, save).await;
        result.took(started.elapsed())
    };
    tokio::spawn(run.observers.lags.timed(task))
        .await
        .unwrap_or_else(|error| match error.try_into_panic() {
            Ok(payload) => CodeResult::panicked(run.jobs.code(job), &*payload),
            Err(error) => CodeResult::panicked(run.jobs.code(job), &error.to_string()),
        })
}

/// Downloads job `job` on this thread and saves it here: the blocking
/// transport's steps are finished futures, so one poll runs the story.
fn download_blocking<T: Transport>(client: &T, run: &Arc<Run>, job: usize) -> CodeResult {
    let save = |flag: FlagFile| ready(run.store.save(&flag, &run.observers));
    block_on(download(client, &run.jobs, &run.observers, job, save))
}

/// Runs one blocking download; a panic inside it (a bug, ours or a
/// library's) is that code's ERROR, and the run goes on.
fn guarded(run: &Run, job: usize, download: impl FnOnce() -> CodeResult) -> CodeResult {
    let started = Instant::now();
    panic::catch_unwind(AssertUnwindSafe(download))
        .unwrap_or_else(|payload| CodeResult::panicked(run.jobs.code(job), &*payload))
        .took(started.elapsed())
}

/// Threads of the async runtime's blocking pool, where files are saved: one
/// per core (two at least). Creating, writing and renaming a file is work
/// the kernel does on the calling thread's CPU, on tmpfs and on a disk
/// alike, so threads beyond the cores only take turns and wake each other
/// (docs/performance.md has the measurement). The price is paid where a
/// save waits rather than works (`--save-delay`, a network disk): fewer
/// saves overlap.
fn save_threads() -> usize {
    thread::available_parallelism().map_or(2, |cores| cores.get().max(2))
}

/// How long in-flight work may go on after an interrupt before the run
/// stops waiting for it.
const GRACE: Duration = Duration::from_millis(800);

/// How often the OS threads and the requests in flight are sampled for a
/// timeline's counters, which draw them over time. Without a timeline they
/// are sampled when a download starts or ends and where threads appear,
/// never on a clock: a clock would wake the process while it waits, and
/// waiting is what the models are compared on.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// Threads started between two samples while threaded mode starts its
/// workers, where its thread count peaks.
const SAMPLE_EVERY_SPAWNS: usize = 64;

/// Runs the plan with the driver of its mode. Returns when the downloads are
/// done or, after the run is cancelled, when in-flight work has finished or
/// the grace period is over; results are with `run.observers`. Meanwhile the
/// waiting thread samples threads and requests in flight (no thread of its
/// own, so as not to count itself).
pub(crate) fn drive(run: Arc<Run>) -> Result<(), RunError> {
    // The live display has its fields from its first frame.
    run.observers.sample();
    match run.plan.mode {
        Mode::Sequential => drive_blocking(run, |run| {
            run_sequential(run, BlockingClient::new(&run.network))
        }),
        Mode::Threaded => drive_blocking(run, |run| run_threaded(run, BlockingClient::new)),
        Mode::Async => drive_async(run, async_client),
    }
}

/// The async mode's client, for the run's downloads at its concurrency.
fn async_client(run: &Run) -> Result<AsyncClient, ClientError> {
    let (downloads, concurrency) = (run.jobs.len(), run.plan.concurrency);
    AsyncClient::new(&run.network, &run.observers, downloads, concurrency)
}

/// Runs a blocking driver on a thread of its own while this thread waits
/// for it, for the grace period after an interrupt, and samples.
fn drive_blocking(run: Arc<Run>, driver: fn(&Arc<Run>)) -> Result<(), RunError> {
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let driven = Arc::clone(&run);
    thread::Builder::new()
        .name("flags-driver".into())
        .spawn(move || {
            // This thread is one of the run's: the peak counts it.
            driven.observers.sample();
            driver(&driven);
            let _ = done.send(());
        })?;
    // Waiting needs a timer for the grace period, not another thread.
    let waiter = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    waiter.block_on(async {
        tokio::select! {
            _ = finished => {}
            () = cancelled_then_grace(&run.jobs.cancel) => {}
            () = watch(&run.observers) => {}
        }
    });
    run.observers.sample();
    Ok(())
}

/// Runs the async driver on its runtime, its tasks timed from wake-up to
/// poll for the loop's lag (see `observers::lag`).
fn drive_async<T>(
    run: Arc<Run>,
    new_client: impl FnOnce(&Run) -> Result<T, ClientError>,
) -> Result<(), RunError>
where
    T: Transport + Send + Sync + 'static,
{
    let runtime = async_runtime(&run)?;
    let result = runtime.block_on(async {
        let client = new_client(&run)?;
        // The stream that starts downloads runs as a task, on a worker: a
        // download that ends wakes it there, and the one it starts is
        // queued there, not on this thread (a wake-up across threads each
        // time).
        let driving = run_async(Arc::clone(&run), client);
        let mut driver = tokio::spawn(run.observers.lags.timed(driving));
        tokio::select! {
            joined = &mut driver => match joined {
                Err(error) if error.is_panic() => panic::resume_unwind(error.into_panic()),
                _ => {}
            },
            () = cancelled_then_grace(&run.jobs.cancel) => {}
            () = watch(&run.observers) => {}
        };
        driver.abort();
        Ok::<(), ClientError>(())
    });
    // The blocking pool's threads outlive their saves for a while: counting
    // now catches its peak.
    run.observers.sample();
    result?;
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}

/// The async mode's runtime: one worker per core, or every task on the
/// calling thread (`--runtime current`, as asyncio runs). Either way saves
/// go to a small blocking pool, which absorbs bursts of them without
/// growing a thread per finished download. Each thread it starts is a
/// sample, so the peak of threads is exact with no clock.
fn async_runtime(run: &Run) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match run.plan.runtime {
        Runtime::Multi => tokio::runtime::Builder::new_multi_thread(),
        Runtime::Current => tokio::runtime::Builder::new_current_thread(),
    };
    let sampled = Arc::downgrade(&run.observers);
    builder
        .enable_all()
        .max_blocking_threads(save_threads())
        .thread_name("flags-async")
        .on_thread_start(move || {
            if let Some(observers) = sampled.upgrade() {
                observers.sample();
            }
        })
        .build()
}

/// Samples threads and requests in flight on a clock while it is polled,
/// for a timeline's counters; without a timeline, never completes and
/// never wakes.
async fn watch(observers: &Observers) {
    if observers.timeline.is_none() {
        return std::future::pending().await;
    }
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        observers.sample();
    }
}

/// Completes a grace period after the run is cancelled.
async fn cancelled_then_grace(cancel: &CancellationToken) {
    cancel.cancelled().await;
    tokio::time::sleep(GRACE).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::download::Spans;
    use crate::download::observers::progress::{Display, Lines, Progress, Stdout};
    use crate::download::pipeline::contract::{Cause, Framing};
    use crate::download::pipeline::store::OutputDir;
    use crate::download::pipeline::{Head, Target};
    use crate::download::plan::Plan;
    use crate::download::status::Status;
    use crate::server::{BackgroundServer, ServerConfig};

    /// The transport it wraps, except that asking for India's flag panics.
    struct PanicsOnIndia<T>(T);

    impl<T: Transport> Transport for PanicsOnIndia<T> {
        type Response = T::Response;

        async fn send(
            &self,
            url: &url::Url,
            job: usize,
            target: Target,
        ) -> Result<T::Response, Cause> {
            if url.path().ends_with("/in/in.gif") {
                panic!("a panic injected by a test");
            }
            self.0.send(url, job, target).await
        }

        fn head(response: &T::Response) -> Head<'_> {
            T::head(response)
        }

        async fn read(
            &self,
            response: T::Response,
            framing: Framing,
            limit: u64,
        ) -> Result<bytes::Bytes, Cause> {
            self.0.read(response, framing, limit).await
        }

        async fn pause(&self, wait: Duration) {
            self.0.pause(wait).await;
        }
    }

    #[test]
    fn a_panicking_download_is_an_error_and_the_others_complete_in_every_mode() {
        let server = BackgroundServer::start(ServerConfig::default()).unwrap();
        for mode in [Mode::Sequential, Mode::Threaded, Mode::Async] {
            let dir = tempfile::tempdir().unwrap();
            let codes: Vec<String> = ["BR", "CN", "IN", "RU", "US"]
                .iter()
                .map(|c| c.to_string())
                .collect();
            let concurrency = if mode == Mode::Sequential { 1 } else { 3 };
            let plan = Plan::new(codes, server.base_url().to_owned(), mode, concurrency);
            let output = OutputDir::prepare(dir.path()).unwrap();
            let progress = Progress::new(5, Display::Hidden, Lines::None, Stdout::Json);
            let cancel = CancellationToken::new();
            let run = Run::new(plan, output, progress, cancel, Spans::Recorded);
            let run = Arc::new(run.unwrap());
            match mode {
                Mode::Sequential => drive_blocking(Arc::clone(&run), |run| {
                    run_sequential(run, PanicsOnIndia(BlockingClient::new(&run.network)))
                }),
                Mode::Threaded => drive_blocking(Arc::clone(&run), |run| {
                    run_threaded(run, |network| PanicsOnIndia(BlockingClient::new(network)))
                }),
                Mode::Async => {
                    drive_async(Arc::clone(&run), |run| async_client(run).map(PanicsOnIndia))
                }
            }
            .unwrap();
            let (counts, results) = run.observers.progress.take_results();
            assert_eq!((counts.ok, counts.error), (4, 1), "{mode}");
            let failed = results.iter().find(|r| r.code == "IN").unwrap();
            assert_eq!(failed.status, Status::Error);
            assert_eq!(
                failed.reason.as_deref(),
                Some("internal error: a panic injected by a test"),
                "{mode}"
            );
        }
    }
}
