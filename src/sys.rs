//! Process utilities every command uses: the open-file limit, stop signals
//! for servers, interrupts for runs, a quiet exit when the reader of our
//! output goes away, and one-line panic messages.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

/// Exit code of an interrupted run, as shells report SIGINT.
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

// --- open files --------------------------------------------------------------

/// Raises the open-file soft limit as far as the hard limit allows, so that
/// thousands of connections can be open at once; returns the new soft limit.
pub(crate) fn raise_open_file_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Why the open-file limit cannot serve a run.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// The limit could not be read or raised.
    #[error("cannot raise the open-file limit: {0}")]
    Raise(#[from] io::Error),
    /// Even the hard limit is below what the run needs.
    #[error("the open-file limit is {limit} but {needed} are needed; raise it (ulimit -n) or lower the concurrency")]
    TooLow {
        /// The limit, raised as far as it goes.
        limit: u64,
        /// What the run needs.
        needed: u64,
    },
}

/// Raises the open-file limit and fails with a clear message when even the
/// hard limit is below `needed`, before any connection is made.
pub(crate) fn require_open_files(needed: u64) -> Result<u64, LimitError> {
    let limit = raise_open_file_limit()?;
    if limit < needed {
        return Err(LimitError::TooLow { limit, needed });
    }
    Ok(limit)
}

// --- stop signals of long-running servers ------------------------------------

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
        use tokio::signal::unix::{signal, SignalKind};
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

// --- interrupts of runs and early exits --------------------------------------

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

// --- output that may be cut off -----------------------------------------------

/// Which standard stream to write to.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// Standard output.
    Out,
    /// Standard error.
    Err,
}

/// Writes to stdout or stderr. When the reader has gone (`flags | head -1`),
/// the process stops quietly, exit code 0, as ripgrep does: no panic, no
/// message. Other write errors are ignored: there is nowhere to report them.
pub fn write(stream: Stream, args: fmt::Arguments<'_>) {
    let result = match stream {
        Stream::Out => {
            let mut out = io::stdout().lock();
            out.write_fmt(args).and_then(|()| out.flush())
        }
        Stream::Err => io::stderr().lock().write_fmt(args),
    };
    if let Err(error) = result {
        if error.kind() == io::ErrorKind::BrokenPipe {
            exit_now(0);
        }
    }
}

/// `println!` that stops quietly when stdout is closed early.
#[macro_export]
macro_rules! outln {
    () => { $crate::sys::write($crate::sys::Stream::Out, format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::sys::write($crate::sys::Stream::Out, format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that stops quietly when stdout is closed early.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::sys::write($crate::sys::Stream::Out, format_args!($($arg)*)) };
}

/// `eprintln!` that stops quietly when stderr is closed early.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::sys::write($crate::sys::Stream::Err, format_args!("{}\n", format_args!($($arg)*)))
    };
}

// --- panics -------------------------------------------------------------------

/// The message a panic was raised with.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic".to_owned()
    }
}

/// Panics print one line, `program: internal error: ... at file:line`, not
/// a backtrace note: a panic is a bug to report, and where it is caught (a
/// download) the run goes on and counts it as an error.
pub fn one_line_panics(program: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = panic_message(info.payload());
        let _ = writeln!(
            io::stderr(),
            "{program}: internal error: {message}{place} (a bug: please report it)"
        );
    }));
}
