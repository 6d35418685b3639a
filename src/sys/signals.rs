//! Ctrl-C and SIGTERM: a server's stop signals, a run's two-stage
//! interrupt (the first stops starting work, the second exits at once), and
//! the clean-ups that run before any early exit.
//!
//! Why three mechanisms stand side by side: a server waits for its signal
//! inside its tokio runtime (`StopSignals`, tokio's handlers); a run's
//! driver may be blocked in a thread that no runtime polls, so its handler
//! must act from the signal thread itself (`ctrlc`); and an early exit, from
//! that handler or from a closed pipe, must close the output folder first
//! (the exit hooks), whoever triggers it.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::EXIT_INTERRUPTED;

/// Ctrl-C and SIGTERM for a long-running server, listened for from the moment
/// this is made. Make it before announcing the address: a signal that arrives
/// between the announcement and the first wait must stop the server cleanly,
/// not kill it with the default action (tokio installs its handler only when
/// a listener is created).
pub(crate) struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Starts listening; must be called inside a tokio runtime.
    pub(crate) fn listen() -> io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Completes on the first Ctrl-C or SIGTERM and says which it was.
    pub(crate) async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "interrupted",
            _ = self.terminate.recv() => "terminated",
        }
    }
}

/// A clean-up to run before an early exit.
type Hook = Box<dyn Fn() + Send>;

/// What must happen before the process exits early, such as closing the
/// output folder so that no temporary file is left behind; by registration.
static BEFORE_EXIT: Mutex<Vec<(u64, Hook)>> = Mutex::new(Vec::new());
static NEXT_HOOK: AtomicU64 = AtomicU64::new(0);

/// Keeps a clean-up registered with [`before_early_exit`]; dropping it
/// unregisters the clean-up.
#[must_use = "the clean-up is unregistered when this is dropped"]
pub(crate) struct EarlyExitHook(u64);

impl Drop for EarlyExitHook {
    fn drop(&mut self) {
        let mut hooks = BEFORE_EXIT.lock();
        hooks.retain(|(id, _)| *id != self.0);
    }
}

/// Registers `cleanup` to run before any early exit ([`exit_now`]), for as
/// long as the returned hook lives.
pub(crate) fn before_early_exit(cleanup: impl Fn() + Send + 'static) -> EarlyExitHook {
    let id = NEXT_HOOK.fetch_add(1, Ordering::Relaxed);
    let mut hooks = BEFORE_EXIT.lock();
    hooks.push((id, Box::new(cleanup)));
    EarlyExitHook(id)
}

/// Runs the registered clean-ups, then exits with `code` at once, from any
/// thread. The lock is kept, so a second caller waits here until the exit.
pub(crate) fn exit_now(code: u8) -> ! {
    let hooks = BEFORE_EXIT.lock();
    for (_, hook) in hooks.iter() {
        hook();
    }
    std::process::exit(i32::from(code))
}

/// Ctrl-C and SIGTERM for a run: the first cancels `token` (the run stops
/// starting work and reports what it has), the second exits at once with
/// [`EXIT_INTERRUPTED`] after the registered clean-ups.
pub(crate) fn on_interrupt(
    token: CancellationToken,
    first_message: &'static str,
) -> Result<(), ctrlc::Error> {
    ctrlc::set_handler(move || {
        if token.is_cancelled() {
            crate::errln!("\ninterrupted again: exiting now");
            exit_now(EXIT_INTERRUPTED);
        }
        token.cancel();
        crate::errln!("\n{first_message}");
    })
}
