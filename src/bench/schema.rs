//! The benchmark's record, as the JSON export holds it (schema
//! `flags-bench/1`, documented in README.md): the machine, and for each cell
//! of the matrix its runs and their statistics.

use serde::{Deserialize, Serialize};

use super::measure::Cost;
use super::stats::Summary;
use crate::download::report::LoopLag;

/// Version tag of the JSON export; bumped on incompatible changes.
pub(crate) const SCHEMA: &str = "flags-bench/1";

/// What a cell measures: one of our modes, or an outside command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CellKind {
    /// A mode of `flags` (`name` is the mode).
    Mode,
    /// An outside command from `--vs` (`name` is its name).
    Command,
}

/// One measured (or warm-up) run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Run {
    /// A warm-up run, not used in the statistics.
    pub warmup: bool,
    /// Wall and CPU time, peak RSS and threads, exit code (flat in the JSON).
    #[serde(flatten)]
    pub cost: Cost,
    /// Flags saved.
    pub ok: u64,
    /// 404s.
    pub not_found: u64,
    /// Errors.
    pub errors: u64,
    /// The run had errors or failed: left out of the statistics.
    pub flagged: bool,
    /// Async runs: how late their event loop woke (their own report).
    #[serde(default)]
    pub loop_lag: Option<LoopLag>,
}

/// One cell of the matrix: a mode (or outside command) at one concurrency and delay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Cell {
    /// Mode name (`sequential`, `threaded`, `async`) or outside command name.
    pub name: String,
    /// `mode` or `command`.
    pub kind: CellKind,
    /// Requested concurrency (`null` for outside commands).
    pub concurrency: Option<usize>,
    /// Server latency, milliseconds.
    pub delay_ms: f64,
    /// Downloads per run.
    pub downloads: usize,
    /// `ceil(N / C) * delay`, seconds (`null` for outside commands).
    pub ideal_seconds: Option<f64>,
    /// Wall time over the clean measured runs.
    pub time: Option<Summary>,
    /// `ideal / median` (`null` when the ideal is 0 or unknown).
    pub efficiency: Option<f64>,
    /// Downloads per second at the median.
    pub flags_per_second: Option<f64>,
    /// Median user + system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// That CPU time per download, microseconds.
    #[serde(default)]
    pub cpu_us_per_download: Option<f64>,
    /// Largest peak RSS of the measured runs, MiB.
    pub peak_rss_mib: f64,
    /// Most threads seen in any measured run.
    pub peak_threads: u64,
    /// Async cells: the median over clean runs of their loop lag's p99, ms.
    #[serde(default)]
    pub loop_lag_p99_ms: Option<f64>,
    /// Async cells: the latest wake-up of any measured run, ms.
    #[serde(default)]
    pub loop_lag_max_ms: Option<f64>,
    /// Measured runs that had errors or failed.
    pub error_runs: usize,
    /// Every run, warm-ups included.
    pub runs: Vec<Run>,
}

impl Cell {
    /// Identity of a cell across exports: name, concurrency and delay.
    pub(crate) fn key(&self) -> String {
        match self.concurrency {
            Some(c) => format!("{} c={c} delay={}ms", self.name, self.delay_ms),
            None => format!("{} delay={}ms", self.name, self.delay_ms),
        }
    }

    /// An empty cell of `kind` named `name`.
    pub(crate) fn new(
        name: String,
        kind: CellKind,
        concurrency: Option<usize>,
        delay_ms: f64,
        downloads: usize,
    ) -> Self {
        Cell {
            name,
            kind,
            concurrency,
            delay_ms,
            downloads,
            ideal_seconds: None,
            time: None,
            efficiency: None,
            flags_per_second: None,
            cpu_seconds: None,
            cpu_us_per_download: None,
            peak_rss_mib: 0.0,
            peak_threads: 0,
            loop_lag_p99_ms: None,
            loop_lag_max_ms: None,
            error_runs: 0,
            runs: Vec::new(),
        }
    }

    /// Measured runs, warm-ups left out.
    pub(crate) fn measured(&self) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(|r| !r.warmup)
    }

    /// `true` when it had measured runs and every one of them failed.
    pub(crate) fn all_failed(&self) -> bool {
        self.measured().count() > 0 && self.time.is_none()
    }

    /// Computes the statistics from the runs.
    pub(crate) fn finish(&mut self) {
        let measured: Vec<&Run> = self.runs.iter().filter(|r| !r.warmup).collect();
        let clean: Vec<&Run> = measured.iter().copied().filter(|r| !r.flagged).collect();
        self.error_runs = measured.len() - clean.len();
        self.time = Summary::of(
            &clean
                .iter()
                .map(|r| r.cost.wall_seconds)
                .collect::<Vec<_>>(),
        );
        let cpu: Vec<f64> = clean
            .iter()
            .map(|r| r.cost.user_seconds + r.cost.system_seconds)
            .collect();
        self.cpu_seconds = Summary::of(&cpu).map(|s| s.median);
        self.cpu_us_per_download = self
            .cpu_seconds
            .map(|cpu| cpu / self.downloads.max(1) as f64 * 1e6);
        let p99: Vec<f64> = clean
            .iter()
            .filter_map(|r| r.loop_lag.map(|l| l.p99_ms))
            .collect();
        self.loop_lag_p99_ms = Summary::of(&p99).map(|s| s.median);
        self.loop_lag_max_ms = measured
            .iter()
            .filter_map(|r| r.loop_lag.map(|l| l.max_ms))
            .reduce(f64::max);
        self.peak_rss_mib = measured
            .iter()
            .map(|r| r.cost.peak_rss_kib)
            .max()
            .unwrap_or(0) as f64
            / 1024.0;
        self.peak_threads = measured
            .iter()
            .map(|r| r.cost.peak_threads)
            .max()
            .unwrap_or(0);
        if let Some(time) = self.time {
            self.flags_per_second = Some(self.downloads as f64 / time.median.max(1e-9));
            self.efficiency = self
                .ideal_seconds
                .filter(|ideal| *ideal > 0.0)
                .map(|ideal| ideal / time.median.max(1e-9));
        }
    }
}

/// The machine a benchmark ran on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Machine {
    /// Logical CPUs.
    pub cores: usize,
    /// CPU model, from /proc/cpuinfo.
    pub cpu: String,
    /// Kernel release.
    pub kernel: String,
}

impl Machine {
    /// The machine this runs on.
    pub(crate) fn current() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self { cores, cpu, kernel }
    }
}

/// A whole benchmark: the JSON export's schema (see README.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BenchReport {
    /// `flags-bench/1`.
    pub schema: String,
    /// Version of `flags` that ran it.
    pub flags_version: String,
    /// When it ran, seconds since the Unix epoch.
    pub created_unix: u64,
    /// Where it ran.
    pub machine: Machine,
    /// The command line.
    pub command: String,
    /// Downloads per run.
    pub downloads: usize,
    /// Measured runs per cell.
    pub runs: usize,
    /// Warm-up runs per cell.
    pub warmup: usize,
    /// Ctrl-C or SIGTERM stopped it: the cells are those finished before.
    #[serde(default)]
    pub interrupted: bool,
    /// The cells, in the order they ran.
    pub cells: Vec<Cell>,
}
