//! The live side of the one reporting path of every mode: results are
//! collected here as they finish, from any thread, shown on a progress
//! display on stderr and, with `-v`, as one line each.

use std::fmt;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use parking_lot::Mutex;

use crate::download::status::{CodeResult, Counts, FetchError, Status};
use crate::{errln, outln, text};

/// A progress bar on stderr drawn with `template`, ticking by itself; drawn
/// even when stderr is not a terminal (the caller decided to show it).
pub(crate) fn live_bar(total: u64, template: &str) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::term_like(Box::new(console::Term::stderr()))
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) = ProgressStyle::with_template(template) {
        let style = style
            .progress_chars("=> ")
            .with_key("rate", |state: &ProgressState, w: &mut dyn fmt::Write| {
                // No rate before there is one, and one decimal at most.
                if state.pos() > 0 {
                    let _ = write!(w, " {}", text::rate(state.per_sec()));
                }
            })
            .with_key("eta", |state: &ProgressState, w: &mut dyn fmt::Write| {
                if state.pos() > 0 && state.len().is_some_and(|len| state.pos() < len) {
                    let _ = write!(w, " ETA {}", HumanDuration(state.eta()));
                }
            });
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Which per-code lines a run prints as codes finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lines {
    /// None (the default: the summary tells).
    None,
    /// Only errors, on stderr (`--quiet`).
    Errors,
    /// One per code and one per retry (`-v`).
    All,
}

/// Collects results as they finish, from any thread, and shows them.
pub(crate) struct Progress {
    bar: ProgressBar,
    lines: Lines,
    json: bool,
    state: Mutex<(Counts, Vec<CodeResult>)>,
    /// Requests in flight, their limit, and OS threads, last sampled.
    live: Mutex<Option<(usize, usize, usize)>>,
}

impl Progress {
    /// Progress of `total` codes: a live display if `shown`, and the `lines`
    /// asked for (on stderr with `json`, whose stdout is the report).
    pub(crate) fn new(total: usize, shown: bool, lines: Lines, json: bool) -> Self {
        let bar = if shown {
            live_bar(
                total as u64,
                "{spinner:.green} {elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} {msg}{rate}{eta}",
            )
        } else {
            ProgressBar::hidden()
        };
        let progress = Self {
            bar,
            lines,
            json,
            state: Mutex::new((Counts::default(), Vec::with_capacity(total))),
            live: Mutex::new(None),
        };
        progress.update_message(&Counts::default());
        progress
    }

    fn update_message(&self, counts: &Counts) {
        if self.bar.is_hidden() {
            return;
        }
        let live = match *self.live.lock() {
            Some((in_flight, limit, threads)) => {
                format!(" · in flight {in_flight}/{limit} · threads {threads}")
            }
            None => String::new(),
        };
        self.bar.set_message(format!(
            "ok {} · not found {} · errors {}{live}",
            counts.ok, counts.not_found, counts.error
        ));
    }

    /// Shows what is in flight against the limit, and on how many threads.
    pub(crate) fn live(&self, in_flight: usize, limit: usize, threads: usize) {
        *self.live.lock() = Some((in_flight, limit, threads));
        let state = self.state.lock();
        self.update_message(&state.0);
    }

    /// Prints a line above the progress display (stdout, or stderr with `--json`).
    fn println(&self, line: &str) {
        self.bar.suspend(|| {
            if self.json {
                errln!("{line}");
            } else {
                outln!("{line}");
            }
        });
    }

    /// Records one finished code; one abandoned on interrupt is left out.
    pub(crate) fn record(&self, result: CodeResult) {
        if result.abandoned {
            return;
        }
        match self.lines {
            Lines::All => self.println(&result.line()),
            Lines::Errors if result.status == Status::Error => {
                self.bar.suspend(|| errln!("{}", result.line()));
            }
            _ => {}
        }
        let mut state = self.state.lock();
        state.0.add(&result);
        state.1.push(result);
        self.bar.inc(1);
        self.update_message(&state.0);
    }

    /// Notes a retry (shown with `-v`).
    pub(crate) fn retrying(&self, code: &str, attempt: u32, error: &FetchError, wait: Duration) {
        if self.lines == Lines::All {
            self.println(&format!(
                "{code} retry {attempt} in {wait:.2?} after: {error}"
            ));
        }
    }

    /// The results so far, sorted by code, and their counts.
    pub(crate) fn snapshot(&self) -> (Counts, Vec<CodeResult>) {
        let state = self.state.lock();
        let mut results = state.1.clone();
        results.sort_by(|a, b| a.code.cmp(&b.code));
        (state.0, results)
    }

    /// Removes the progress display.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
