//! The spinner demo: a spinner animates while a slow function runs, once with
//! a thread and once with an async task, and what happens when async code
//! blocks the runtime.

use std::io::Write;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{out, outln};

/// The spinner's frames.
const FRAMES: [char; 4] = ['\\', '|', '/', '-'];
/// Time between frames.
const TICK: Duration = Duration::from_millis(100);
/// What the spinner says.
const MESSAGE: &str = "thinking!";
/// What the slow function returns.
pub(crate) const ANSWER: u64 = 42;

/// Which version of the demo to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SpinMode {
    /// A spinner thread; the main thread runs the slow function.
    Thread,
    /// A spinner task; the slow function is an async sleep.
    Async,
    /// The async version, but the slow function blocks the runtime: the spinner freezes.
    Blocking,
    /// The blocking version with the slow function moved to `spawn_blocking`: the spinner lives.
    AsyncOffload,
}

/// Writes spinner frames, or the message once when frames are off.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Display {
    /// Animate frames (a terminal) or print the message once (a pipe).
    pub frames: bool,
}

impl Display {
    fn frame(&self, ch: char) {
        if self.frames {
            out!("\r{ch} {MESSAGE}");
            let _ = std::io::stdout().flush();
        }
    }

    fn start(&self) {
        if !self.frames {
            outln!("{MESSAGE}");
        }
    }

    /// Erases the spinner's line.
    fn erase(&self) {
        if self.frames {
            let blanks = " ".repeat(MESSAGE.len() + 2);
            out!("\r{blanks}\r");
            let _ = std::io::stdout().flush();
        }
    }
}

/// Runs one version of the demo and returns the slow function's answer.
pub(crate) fn run(mode: SpinMode, seconds: Duration, display: Display) -> std::io::Result<u64> {
    let answer = match mode {
        SpinMode::Thread => supervisor_thread(seconds, display)?,
        SpinMode::Async | SpinMode::Blocking | SpinMode::AsyncOffload => {
            // One thread for everything, so that blocking it shows.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()?;
            runtime.block_on(supervisor_async(mode, seconds, display))
        }
    };
    outln!("Answer: {answer}");
    Ok(answer)
}

// --- thread version -------------------------------------------------------

fn spin_thread(done: mpsc::Receiver<()>, display: Display) {
    display.start();
    for ch in FRAMES.iter().cycle() {
        display.frame(*ch);
        // Wait one tick, or less if told to stop.
        if done.recv_timeout(TICK) != Err(mpsc::RecvTimeoutError::Timeout) {
            break;
        }
    }
    display.erase();
}

fn slow_blocking(seconds: Duration) -> u64 {
    thread::sleep(seconds);
    ANSWER
}

fn supervisor_thread(seconds: Duration, display: Display) -> std::io::Result<u64> {
    let (done_tx, done_rx) = mpsc::channel();
    let (start, started) = mpsc::channel::<()>(); // as Python's Thread.start()
    let spinner = thread::Builder::new()
        .name("spinner".into())
        .spawn(move || {
            let _ = started.recv();
            spin_thread(done_rx, display)
        })?;
    outln!("spinner object: {:?}", spinner.thread());
    let _ = start.send(());
    let answer = slow_blocking(seconds);
    let _ = done_tx.send(());
    let _ = spinner.join();
    Ok(answer)
}

// --- async version --------------------------------------------------------

async fn spin_async(cancel: CancellationToken, display: Display) {
    display.start();
    for ch in FRAMES.iter().cycle() {
        display.frame(*ch);
        tokio::select! {
            // Stopping wins over a tick that is also due, so a spinner that
            // was frozen does not draw one more frame on its way out.
            biased;
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(TICK) => {}
        }
    }
    display.erase();
}

async fn slow_async(seconds: Duration) -> u64 {
    tokio::time::sleep(seconds).await;
    ANSWER
}

async fn supervisor_async(mode: SpinMode, seconds: Duration, display: Display) -> u64 {
    let cancel = CancellationToken::new();
    let spinner = tokio::spawn(spin_async(cancel.clone(), display));
    outln!("spinner object: {spinner:?}");
    // Let the spinner draw its first frame before the slow work starts.
    tokio::task::yield_now().await;
    let answer = match mode {
        SpinMode::Blocking => slow_blocking(seconds), // freezes the only thread
        SpinMode::AsyncOffload => tokio::task::spawn_blocking(move || slow_blocking(seconds))
            .await
            .unwrap_or(ANSWER),
        _ => slow_async(seconds).await,
    };
    cancel.cancel();
    let _ = spinner.await;
    answer
}
