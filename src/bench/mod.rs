//! `flags bench`: runs the same downloads in each model, repeatedly, as child
//! processes against one shared server, and reports what each costs and how
//! close it came to the ideal `ceil(N / C) * delay`.

pub mod baseline;
pub mod compare;
pub mod export;
pub mod measure;
pub mod probe;
pub mod run;
pub mod schema;
pub mod stats;

use std::path::PathBuf;
use std::time::Duration;

use crate::download::plan::{Mode, Runtime};

pub(crate) use run::run;
pub(crate) use schema::BenchReport;

/// A model the bench compares: a mode, for async its runtime, and
/// whether its requests are HTTP/2 streams over some connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Model {
    /// How requests are driven.
    pub mode: Mode,
    /// The async mode's runtime.
    pub runtime: Runtime,
    /// Async over HTTP/2: the connections its streams ride.
    pub http2: Option<usize>,
}

impl Model {
    /// Its name in the table: the mode, `async-current` for async on the
    /// one-thread runtime, `async-h2` over one HTTP/2 connection and
    /// `async-h2x8` over eight.
    pub fn name(&self) -> String {
        match (self.mode, self.runtime, self.http2) {
            (Mode::Async, _, Some(1)) => "async-h2".to_owned(),
            (Mode::Async, _, Some(n)) => format!("async-h2x{n}"),
            (Mode::Async, Runtime::Current, None) => "async-current".to_owned(),
            (mode, _, _) => mode.to_string(),
        }
    }

    /// The arguments that make a `flags` child run this model.
    fn child_args(&self) -> Vec<String> {
        let mut args = vec!["--mode".to_owned(), self.mode.to_string()];
        if self.mode == Mode::Async && self.runtime == Runtime::Current {
            args.extend(["--runtime".to_owned(), "current".to_owned()]);
        }
        if let Some(connections) = self.http2 {
            args.extend([
                "--http2".to_owned(),
                "--connections".to_owned(),
                connections.to_string(),
            ]);
        }
        args
    }
}

/// What each run downloads: the codes, and with `--count` how many
/// downloads cycle through them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selection {
    /// Upper-case codes, sorted.
    pub codes: Vec<String>,
    /// `--count`: downloads in all, cycling through the codes.
    pub count: Option<usize>,
}

impl Selection {
    /// The arguments that give a `flags` child this selection.
    pub(crate) fn child_args(&self) -> Vec<String> {
        let mut args = self.codes.clone();
        if let Some(count) = self.count {
            args.extend(["--count".to_owned(), count.to_string()]);
        }
        args
    }
}

/// An outside command to compare with, from `--vs NAME=COMMAND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideCommand {
    /// Its name in the table.
    pub name: String,
    /// A shell command line; `{url_file}`, `{base}`, `{out}` and, with
    /// `--tls`, `{cacert}` are replaced.
    pub command: String,
}

impl std::str::FromStr for OutsideCommand {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((name, command)) if !name.trim().is_empty() && !command.trim().is_empty() => {
                Ok(Self {
                    name: name.trim().to_owned(),
                    command: command.trim().to_owned(),
                })
            }
            _ => Err(format!("'{s}' is not NAME=COMMAND")),
        }
    }
}

/// The order a bench makes its runs in.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Round by round: run 1 of every cell, then run 2, each round in a
    /// new order, so that drift of a shared machine spreads over all cells.
    #[default]
    Interleaved,
    /// Cell by cell, every run of one cell before the next.
    Sequential,
}

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct BenchConfig {
    /// The `flags` binary to run as the child.
    pub exe: PathBuf,
    /// The baseline build's `flags` binary (`--baseline-exe`): every
    /// flags cell gets a twin it runs, interleaved with it.
    pub baseline_exe: Option<PathBuf>,
    /// Models to compare.
    pub models: Vec<Model>,
    /// Concurrency values (sequential always runs at 1).
    pub concurrency: Vec<usize>,
    /// Server latencies.
    pub delays: Vec<Duration>,
    /// Measured runs per cell.
    pub runs: usize,
    /// Unmeasured runs per cell before them.
    pub warmup: usize,
    /// Cell by cell, or round by round.
    pub order: Order,
    /// Record every `flags` run's waterfall (for the HTML report).
    pub waterfalls: bool,
    /// What each run downloads, as the child is told.
    pub selection: Selection,
    /// The codes downloaded by one run, in order (repeated with `--count`).
    pub jobs: Vec<String>,
    /// Use this server instead of starting one per delay; the delays are then
    /// what the user says the server's latency is.
    pub server: Option<String>,
    /// Outside commands to compare with.
    pub outside: Vec<OutsideCommand>,
    /// The servers it starts speak HTTPS (`--tls`).
    pub tls: bool,
    /// Where fresh output folders are made (a memory file system by default).
    pub workdir: PathBuf,
    /// Show a progress display on stderr.
    pub progress: bool,
    /// The command line, recorded in the export.
    pub command_line: String,
}
