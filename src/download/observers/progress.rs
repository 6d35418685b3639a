//! The live side of the one reporting path of every mode: results are
//! collected here as they finish, from any thread, shown on a progress
//! display on stderr and, with `-v`, as one line each.

use std::fmt;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use parking_lot::Mutex;

use crate::download::status::{CodeResult, Counts, FetchError, Status};
use crate::{errln, outln, text};

/// A progress bar on stderr drawn in `style`, ticking by itself from now;
/// drawn even when stderr is not a terminal (the caller decided to show it).
pub(crate) fn live_bar(total: u64, style: ProgressStyle) -> ProgressBar {
    let bar = quiet_bar(total, style);
    start_ticking(&bar);
    bar
}

/// Draws `bar`'s first frame now, then every [`TICK`] from a thread of
/// indicatif's. Drawn here, not left to that thread: on a busy machine it
/// may first run after a short run has ended, which then showed nothing
/// even with `--progress always`.
fn start_ticking(bar: &ProgressBar) {
    bar.tick();
    bar.enable_steady_tick(TICK);
}

/// How often a live display redraws itself.
const TICK: Duration = Duration::from_millis(100);

/// [`live_bar`], drawn only once told to tick.
fn quiet_bar(total: u64, style: ProgressStyle) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::term_like(Box::new(console::Term::stderr()))
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    bar.set_style(style);
    bar
}

/// The style of `template`, with `{took}`: the time since the start, in
/// the one format every time is printed in. An invalid template (a bug)
/// falls back to indicatif's default.
pub(crate) fn live_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
        .with_key("took", |state: &ProgressState, w: &mut dyn fmt::Write| {
            let _ = write!(w, "{:>6}", crate::duration::human(state.elapsed()));
        })
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

/// Requests in flight against their limit, and the process's OS threads,
/// as last sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Live {
    /// Requests in flight now.
    pub in_flight: usize,
    /// The most that may be in flight (the concurrency).
    pub limit: usize,
    /// OS threads of the process.
    pub threads: usize,
    /// Over HTTP/2, the connections opened so far.
    pub connections: Option<usize>,
}

/// What the live line shows besides indicatif's own state.
#[derive(Debug, Clone, Copy, Default)]
struct Shown {
    counts: Counts,
    live: Option<Live>,
}

/// The figures of one frame of the live line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    /// Since the run started.
    pub elapsed: Duration,
    /// Codes finished, and planned.
    pub done: u64,
    /// Codes planned.
    pub total: u64,
    /// Results so far.
    pub counts: Counts,
    /// In flight and threads, once sampled.
    pub live: Option<Live>,
    /// Flags finished per second.
    pub per_second: f64,
    /// Time left at that rate.
    pub eta: Duration,
}

/// The live line after the spinner, in at most `width` columns: the time,
/// the count and the results always; then, while they fit, in this order of
/// use, requests in flight, threads, a bar, the rate and the time left. One
/// time format (as the summary's), units on every figure.
pub(crate) fn live_line(frame: &Frame, width: usize) -> String {
    // Numbers padded to the widths they will reach, so that fields keep
    // their places from one frame to the next.
    let digits = frame.total.max(1).ilog10() as usize + 1;
    let c = &frame.counts;
    let mut results = format!("ok {:>digits$}", c.ok);
    if c.not_found > 0 {
        results.push_str(&format!(" · not found {}", c.not_found));
    }
    if c.error > 0 {
        results.push_str(&format!(" · errors {}", c.error));
    }
    let head = format!("{:>6}", crate::duration::human(frame.elapsed));
    let count = format!("{:>digits$}/{}", frame.done, frame.total);
    let started = frame.done > 0;
    let blank = |field: String| " ".repeat(console::measure_text_width(&field));
    let rate = format!(
        " · {:>5} flags/s",
        text::rate(frame.per_second).replace("/s", "")
    );
    let eta = format!(" · ETA {:>6}", crate::duration::human(frame.eta));
    let optional = [
        frame.live.map(|l| {
            let w = l.limit.max(1).ilog10() as usize + 1;
            match l.connections {
                Some(n) => format!(
                    " · in flight {:>w$}/{} over {}",
                    l.in_flight,
                    l.limit,
                    text::count(n, "connection", "connections")
                ),
                None => format!(" · in flight {:>w$}/{}", l.in_flight, l.limit),
            }
        }),
        frame.live.map(|l| format!(" · {:>4} threads", l.threads)),
        None, // the bar's place
        Some(if started { rate.clone() } else { blank(rate) }),
        Some(if started && frame.done < frame.total {
            eta
        } else {
            blank(eta)
        }),
    ];
    const BAR: usize = 2;
    const BAR_MIN: usize = 10;
    const BAR_MAX: usize = 30;
    let fixed = |s: &str| console::measure_text_width(s);
    let mut used = fixed(&head) + 1 + fixed(&count) + 3 + fixed(&results);
    let mut keep = [false; 5];
    let mut bar_width = 0;
    for (i, field) in optional.iter().enumerate() {
        if i == BAR {
            // " [" + bar + "]"
            if used + 3 + BAR_MIN <= width {
                keep[i] = true;
                bar_width = BAR_MIN;
                used += 3 + BAR_MIN;
            }
        } else if let Some(field) = field
            && used + fixed(field) <= width
        {
            keep[i] = true;
            used += fixed(field);
        }
    }
    if keep[BAR] {
        bar_width += (width - used).min(BAR_MAX - BAR_MIN);
    }
    let mut line = head;
    if keep[BAR] {
        let filled = (bar_width as u64 * frame.done)
            .checked_div(frame.total)
            .unwrap_or(0) as usize;
        let mut bar = "=".repeat(filled.min(bar_width));
        if filled < bar_width {
            bar.push('>');
            bar.push_str(&" ".repeat(bar_width - filled - 1));
        }
        line.push_str(&format!(" [{bar}]"));
    }
    line.push_str(&format!(" {count} · {results}"));
    for (i, field) in optional.iter().enumerate() {
        if let (true, Some(field)) = (keep[i] && i != BAR, field) {
            line.push_str(field);
        }
    }
    // Narrower than even the essentials: cut, never wrap.
    let line = console::truncate_str(&line, width, "…");
    line.trim_end().to_owned()
}

/// The width the live line may take: the terminal's, less the spinner and
/// the last column (writing there makes some terminals wrap).
fn line_width() -> usize {
    let (_, columns) = console::Term::stderr().size();
    usize::from(columns.max(40)).saturating_sub(3)
}

/// Collects results as they finish, from any thread, and shows them.
pub(crate) struct Progress {
    bar: ProgressBar,
    lines: Lines,
    json: bool,
    state: Mutex<(Counts, Vec<CodeResult>)>,
    /// What the live line shows, read by its drawing.
    shown: Arc<Mutex<Shown>>,
}

/// Whether the live display is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Display {
    /// The spinner and progress line on stderr.
    Live,
    /// Nothing drawn.
    Hidden,
}

/// What stdout carries, which decides where result lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stdout {
    /// The header, result lines and the summary.
    Text,
    /// The JSON report alone: result lines go to stderr.
    Json,
}

impl Progress {
    /// Progress of `total` codes: the `display` and the `lines` asked for,
    /// on stdout or, when it carries the JSON report, on stderr.
    pub(crate) fn new(total: usize, display: Display, lines: Lines, stdout: Stdout) -> Self {
        let json = stdout == Stdout::Json;
        let state: Arc<Mutex<Shown>> = Arc::default();
        let bar = if display == Display::Live {
            let drawn = Arc::clone(&state);
            let style = live_style("{spinner:.green} {line}").with_key(
                "line",
                move |progress: &ProgressState, w: &mut dyn fmt::Write| {
                    let shown = *drawn.lock();
                    let frame = Frame {
                        elapsed: progress.elapsed(),
                        done: progress.pos(),
                        total: progress.len().unwrap_or(0),
                        counts: shown.counts,
                        live: shown.live,
                        per_second: progress.per_sec(),
                        eta: progress.eta(),
                    };
                    let _ = w.write_str(&live_line(&frame, line_width()));
                },
            );
            // Its first frame waits for the first sample of requests in
            // flight and threads, so that no field appears later.
            quiet_bar(total as u64, style)
        } else {
            ProgressBar::hidden()
        };
        Self {
            bar,
            lines,
            json,
            state: Mutex::new((Counts::default(), Vec::with_capacity(total))),
            shown: state,
        }
    }

    /// Shows what is in flight against the limit, and on how many threads.
    pub(crate) fn live(&self, live: Live) {
        let first = self.shown.lock().live.replace(live).is_none();
        if first && !self.bar.is_hidden() {
            start_ticking(&self.bar);
        }
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
        if !self.bar.is_hidden() {
            self.shown.lock().counts = state.0;
        }
        self.bar.inc(1);
    }

    /// Notes a retry (shown with `-v`).
    pub(crate) fn retrying(&self, code: &str, attempt: u32, error: &FetchError, wait: Duration) {
        if self.lines == Lines::All {
            self.println(&format!(
                "{code} retry {attempt} in {} after: {}",
                crate::duration::human(wait),
                text::inert(&error.to_string())
            ));
        }
    }

    /// The run's results, sorted by code, and their counts: taken, not
    /// copied, as the run has ended and copying them would be most of what
    /// a run does after its last download.
    pub(crate) fn take_results(&self) -> (Counts, Vec<CodeResult>) {
        let mut state = self.state.lock();
        let mut results = std::mem::take(&mut state.1);
        results.sort_by(|a, b| a.code.cmp(&b.code));
        (state.0, results)
    }

    /// Whether the live display is drawn.
    pub(crate) fn shown(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// Removes the progress display.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(done: u64) -> Frame {
        Frame {
            elapsed: Duration::from_millis(1_234),
            done,
            total: 194,
            counts: Counts {
                ok: done as usize - 3,
                not_found: 1,
                error: 2,
                ..Counts::default()
            },
            live: Some(Live {
                in_flight: 50,
                limit: 50,
                threads: 1017,
                connections: None,
            }),
            per_second: 97.3,
            eta: Duration::from_millis(1_100),
        }
    }

    #[test]
    fn the_live_line_fits_and_drops_the_least_useful_first() {
        assert_eq!(
            live_line(&frame(97), 117),
            " 1.23s [========>        ]  97/194 · ok  94 · not found 1 · errors 2 · in flight 50/50 · 1017 threads ·  97.3 flags/s"
        );
        assert_eq!(
            live_line(&frame(97), 77),
            " 1.23s  97/194 · ok  94 · not found 1 · errors 2 · in flight 50/50"
        );
        let widest = live_line(&frame(97), 200);
        assert!(widest.contains(" ·  97.3 flags/s · ETA   1.1s"), "{widest}");
        assert!(
            widest.contains(&format!("[{}>{}]", "=".repeat(15), " ".repeat(14))),
            "{widest}"
        );
        for width in [37, 60, 77, 117, 200] {
            for done in [0, 1, 97, 194] {
                let line = live_line(&frame(done.max(3)), width);
                assert!(
                    console::measure_text_width(&line) <= width,
                    "{width}: {line}"
                );
            }
        }
    }
}
