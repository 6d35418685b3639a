//! The one reporting path of every mode: live progress on stderr, `-v` lines,
//! the header and summary on stdout, or one JSON object with `--json`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::download::status::{CodeResult, Counts, FetchError, RunReport};

/// When to show the live progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressChoice {
    /// Only when stderr is a terminal.
    #[default]
    Auto,
    /// Even when stderr is a file or a pipe.
    Always,
    /// Never.
    Never,
}

impl ProgressChoice {
    /// Whether to show it, given whether its stream is a terminal.
    pub fn show(self, stream_is_terminal: bool) -> bool {
        match self {
            ProgressChoice::Always => true,
            ProgressChoice::Never => false,
            ProgressChoice::Auto => stream_is_terminal,
        }
    }
}

/// Collects results as they finish, from any thread, and shows them.
pub struct Reporter {
    bar: ProgressBar,
    verbose: bool,
    json: bool,
    state: Mutex<(Counts, Vec<CodeResult>)>,
}

impl Reporter {
    /// A reporter for `total` codes.
    pub fn new(total: usize, progress: ProgressChoice, verbose: bool, json: bool) -> Self {
        let bar = if progress.show(std::io::stderr().is_terminal()) {
            let target = if std::io::stderr().is_terminal() {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::term_like(Box::new(console::Term::stderr()))
            };
            let bar = ProgressBar::with_draw_target(Some(total as u64), target);
            let style = ProgressStyle::with_template(
                "{spinner:.green} {elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} {msg} {per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        } else {
            ProgressBar::hidden()
        };
        let reporter = Self {
            bar,
            verbose,
            json,
            state: Mutex::new((Counts::default(), Vec::with_capacity(total))),
        };
        reporter.update_message(&Counts::default());
        reporter
    }

    fn update_message(&self, counts: &Counts) {
        self.bar.set_message(format!(
            "ok {} · not found {} · errors {}",
            counts.ok, counts.not_found, counts.error
        ));
    }

    /// Prints a line above the progress display (stdout, or stderr with `--json`).
    fn println(&self, line: &str) {
        self.bar.suspend(|| {
            if self.json {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        });
    }

    /// Records one finished code; one abandoned on interrupt is left out.
    pub fn record(&self, result: CodeResult) {
        if result.abandoned {
            return;
        }
        if self.verbose {
            self.println(&result.line());
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0.add(&result);
        state.1.push(result);
        self.bar.inc(1);
        self.update_message(&state.0);
    }

    /// Notes a retry (shown with `-v`).
    pub fn retrying(&self, code: &str, attempt: u32, error: &FetchError, wait: Duration) {
        if self.verbose {
            self.println(&format!(
                "{code} retry {attempt} in {wait:.2?} after: {error}"
            ));
        }
    }

    /// The results so far, sorted by code, and their counts.
    pub fn snapshot(&self) -> (Counts, Vec<CodeResult>) {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut results = state.1.clone();
        results.sort_by(|a, b| a.code.cmp(&b.code));
        (state.0, results)
    }

    /// Removes the progress display.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The header printed before a text-mode run.
pub fn header(
    label: &str,
    base_url: &str,
    codes: &[String],
    concurrency: usize,
    mode: crate::download::plan::Mode,
) -> String {
    let mut text = format!("{label} site: {base_url}\n");
    match (codes.first(), codes.last()) {
        (Some(first), Some(last)) if codes.len() > 1 => {
            text.push_str(&format!(
                "Searching for {} flags: from {first} to {last}\n",
                codes.len()
            ));
        }
        (Some(only), _) => text.push_str(&format!("Searching for 1 flag: {only}\n")),
        _ => text.push_str("Searching for 0 flags\n"),
    }
    let unit = match mode {
        crate::download::plan::Mode::Sequential => {
            "1 connection will be used (sequential).".to_owned()
        }
        crate::download::plan::Mode::Threaded => {
            format!("{concurrency} concurrent connections will be used ({concurrency} threads).")
        }
        crate::download::plan::Mode::Async => {
            format!("{concurrency} concurrent connections will be used (async).")
        }
    };
    text.push_str(&unit);
    text
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n:3} {}", if n == 1 { one } else { many })
}

/// The text summary of `../shared/design.md` section 5.
pub fn summary(report: &RunReport) -> String {
    let c = &report.counts;
    let mut text = String::from("--------------------\n");
    text.push_str(&format!(
        "{}\n",
        plural(c.ok, "flag downloaded.", "flags downloaded.")
    ));
    if c.skipped > 0 {
        text.push_str(&format!(
            "{}\n",
            plural(
                c.skipped,
                "already present, skipped.",
                "already present, skipped."
            )
        ));
    }
    if c.not_found > 0 {
        text.push_str(&format!(
            "{}\n",
            plural(c.not_found, "not found.", "not found.")
        ));
    }
    if c.error > 0 {
        text.push_str(&format!("{}\n", plural(c.error, "error.", "errors.")));
    }
    if c.retries > 0 {
        text.push_str(&format!(
            "{:3} {}\n",
            c.retries,
            if c.retries == 1 { "retry." } else { "retries." }
        ));
    }
    if report.interrupted {
        let missing = report.planned.saturating_sub(c.done());
        text.push_str(&format!(
            "Interrupted: {missing} of {} not attempted or abandoned.\n",
            report.planned
        ));
    }
    text.push_str(&format!(
        "Elapsed time: {:.2}s ({} mode, concurrency {})",
        report.elapsed_seconds, report.mode, report.concurrency
    ));
    if let Some(ideal) = report.ideal_seconds {
        text.push_str(&format!(
            "\nIdeal time: {ideal:.2}s (efficiency {:.0}%)",
            100.0 * ideal / report.elapsed_seconds.max(1e-9)
        ));
    }
    text
}
