//! The async runtime's lag, measured where it happens, on each task of the
//! async mode: how long each poll held its thread (a task that blocks, as
//! an inline save does, holds it for the whole block, and nothing else runs
//! on that thread meanwhile, not even the reading of sockets), and how long
//! the task waited from a wake-up to the poll it led to (a ready task
//! behind others). Nothing wakes on a clock to measure it: a run that waits
//! on the network costs what one that does not wait costs, and the lag is
//! only measured when there is work.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;
use parking_lot::Mutex;

/// How long polls held their thread and how long woken tasks waited for
/// theirs, in microseconds, one entry each.
#[derive(Debug)]
pub(crate) struct Lags {
    /// What wake-up times count from.
    epoch: Instant,
    samples: Mutex<Vec<u32>>,
}

impl Default for Lags {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            samples: Mutex::new(Vec::new()),
        }
    }
}

impl Lags {
    /// `task`, each poll timed, and each wake-up (and now, for its first
    /// poll) to the poll that follows.
    pub(crate) fn timed<F: Future>(self: &Arc<Self>, task: F) -> Timed<F> {
        let woken = Arc::new(WokenAt {
            at: AtomicU64::new(self.now()),
            epoch: self.epoch,
            waker: AtomicWaker::new(),
        });
        Timed {
            task: Box::pin(task),
            waker: Waker::from(Arc::clone(&woken)),
            woken,
            lags: Arc::clone(self),
        }
    }

    /// The lags measured so far, microseconds each.
    pub(crate) fn samples(&self) -> Vec<u32> {
        self.samples.lock().clone()
    }

    /// Notes one poll that came `late` after its wake-up, or that held its
    /// thread that long.
    fn record(&self, late: Duration) {
        let micros = u32::try_from(late.as_micros()).unwrap_or(u32::MAX);
        self.samples.lock().push(micros);
    }

    /// Now, in nanoseconds since the epoch, plus one (0 means "not woken").
    fn now(&self) -> u64 {
        nanos_since(self.epoch)
    }
}

/// Nanoseconds from `epoch` to now, plus one, so that 0 stays free.
fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

/// A task whose polls and waits are timed (see [`Lags::timed`]).
pub(crate) struct Timed<F> {
    task: Pin<Box<F>>,
    /// The waker the task sees: it notes when it was woken, then wakes the
    /// runtime's own waker.
    waker: Waker,
    woken: Arc<WokenAt>,
    lags: Arc<Lags>,
}

impl<F: Future> Future for Timed<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let polled = this.lags.now();
        let woken = this.woken.at.swap(0, Ordering::AcqRel);
        if woken != 0 {
            let late = polled.saturating_sub(woken);
            this.lags.record(Duration::from_nanos(late));
        }
        this.woken.waker.register(cx.waker());
        let poll = this
            .task
            .as_mut()
            .poll(&mut Context::from_waker(&this.waker));
        let held = this.lags.now().saturating_sub(polled);
        this.lags.record(Duration::from_nanos(held));
        poll
    }
}

/// When a task was first woken since its last poll.
#[derive(Debug)]
struct WokenAt {
    /// Nanoseconds since `epoch` plus one; 0 once polled.
    at: AtomicU64,
    epoch: Instant,
    /// The runtime's waker of the task.
    waker: AtomicWaker,
}

impl Wake for WokenAt {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let now = nanos_since(self.epoch);
        let _ = self
            .at
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Relaxed);
        self.waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_that_blocks_its_thread_shows_the_block() {
        let lags = Arc::new(Lags::default());
        futures::executor::block_on(lags.timed(async {
            std::thread::sleep(Duration::from_millis(10));
        }));
        let samples = lags.samples();
        assert!(samples.iter().any(|&us| us >= 10_000), "{samples:?}");
    }

    #[test]
    fn a_task_held_back_by_a_blocked_thread_shows_the_block() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let lags = Arc::new(Lags::default());
        runtime.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let waiter = tokio::spawn(lags.timed(async move { rx.await.unwrap() }));
            let blocker = tokio::spawn(lags.timed(async move {
                tokio::task::yield_now().await;
                tx.send(()).unwrap();
                // Holds the one thread: the waiter, woken above, waits.
                std::thread::sleep(Duration::from_millis(10));
            }));
            blocker.await.unwrap();
            waiter.await.unwrap();
        });
        let samples = lags.samples();
        let max = samples.iter().max().copied().unwrap();
        assert!(max >= 10_000, "{samples:?}");
    }

    #[test]
    fn tasks_that_only_wait_show_no_lag_and_no_wake_up_of_their_own() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let lags = Arc::new(Lags::default());
        runtime.block_on(lags.timed(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }));
        // The first poll and the one the timer's wake-up led to, each
        // waited for and held: four samples, however long the wait.
        assert_eq!(lags.samples().len(), 4);
    }
}
