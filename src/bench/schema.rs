//! The benchmark's record, as the JSON export holds it (schema
//! `flags-bench/1`, documented in README.md): the machine, and for each cell
//! of the matrix its runs and their statistics.

use serde::{Deserialize, Serialize};

use super::measure::RunCost;
use super::stats::Summary;
use crate::download::observers::report::LoopLag;

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
pub(crate) struct MeasuredRun {
    /// A warm-up run, not used in the statistics.
    pub warmup: bool,
    /// Wall and CPU time, peak RSS and threads, exit code (flat in the JSON).
    #[serde(flatten)]
    pub cost: RunCost,
    /// Flags saved.
    pub ok: u64,
    /// 404s.
    pub not_found: u64,
    /// Codes that ended in ERROR (for an outside command: 1 when it
    /// failed).
    pub errors: u64,
    /// The run had errors or failed: left out of the statistics.
    pub flagged: bool,
    /// Async runs: how late their event loop woke (their own report).
    #[serde(default)]
    pub loop_lag: Option<LoopLag>,
    /// Its place in the order the bench made its runs, from 0 (warm-ups
    /// included): interleaved cells' runs alternate.
    #[serde(default)]
    pub sequence: Option<usize>,
    /// Its waterfall (SVG), recorded for the HTML report; only the median
    /// run's is kept, in its cell.
    #[serde(skip)]
    pub waterfall: Option<String>,
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
    /// The waterfall (SVG) of the clean run nearest the median, when the
    /// bench recorded them (`--export-html`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waterfall: Option<String>,
    /// Every run, warm-ups included.
    pub runs: Vec<MeasuredRun>,
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
            waterfall: None,
            runs: Vec::new(),
        }
    }

    /// Measured runs, warm-ups left out.
    pub(crate) fn measured(&self) -> impl Iterator<Item = &MeasuredRun> {
        self.runs.iter().filter(|r| !r.warmup)
    }

    /// `true` when it had measured runs and every one of them failed.
    pub(crate) fn all_failed(&self) -> bool {
        self.measured().count() > 0 && self.time.is_none()
    }

    /// Computes the statistics from the runs.
    pub(crate) fn finish(&mut self) {
        let measured: Vec<&MeasuredRun> = self.runs.iter().filter(|r| !r.warmup).collect();
        let clean: Vec<&MeasuredRun> = measured.iter().copied().filter(|r| !r.flagged).collect();
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
            // The median run's waterfall: the clean run nearest the median.
            let nearest = self
                .runs
                .iter_mut()
                .filter(|r| !r.warmup && !r.flagged && r.waterfall.is_some())
                .min_by(|a, b| {
                    let distance = |r: &MeasuredRun| (r.cost.wall_seconds - time.median).abs();
                    distance(a).total_cmp(&distance(b))
                });
            if let Some(run) = nearest {
                self.waterfall = run.waterfall.take();
            }
            for run in &mut self.runs {
                run.waterfall = None;
            }
            self.flags_per_second = Some(self.downloads as f64 / time.median.max(1e-9));
            self.efficiency = self
                .ideal_seconds
                .filter(|ideal| *ideal > 0.0)
                .map(|ideal| ideal / time.median.max(1e-9));
        }
    }
}

/// The machine and the build a benchmark ran on: a figure without them
/// misleads, and `flags bench compare` warns when two differ.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Machine {
    /// Logical CPUs.
    pub cores: usize,
    /// CPU model, from /proc/cpuinfo.
    pub cpu: String,
    /// Kernel release.
    pub kernel: String,
    /// Memory, MiB (from /proc/meminfo).
    #[serde(default)]
    pub memory_mib: u64,
    /// One-minute load average when the bench started.
    #[serde(default)]
    pub load_before: f64,
    /// One-minute load average when it ended.
    #[serde(default)]
    pub load_after: f64,
    /// The git commit `flags` was built from (`unknown` outside a checkout).
    #[serde(default)]
    pub git_commit: String,
    /// The rustc that built it.
    #[serde(default)]
    pub rustc: String,
    /// The file system the runs wrote to (`tmpfs`, `ext4`, ...).
    #[serde(default)]
    pub workdir_fs: String,
    /// The machine's speed, measured before each run: seconds that a
    /// fixed piece of work (arithmetic on every core, loopback round
    /// trips, file saves) took (`bench::probe`). Empty in exports made
    /// before it was measured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub speed_probe_seconds: Vec<f64>,
}

impl Machine {
    /// This machine and build, writing runs into `workdir`.
    pub(crate) fn current(workdir: &std::path::Path) -> Self {
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
        let memory_mib = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|l| l.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024);
        Self {
            cores,
            cpu,
            kernel,
            memory_mib,
            load_before: load_average(),
            load_after: load_average(),
            git_commit: env!("FLAGS_GIT_COMMIT").into(),
            rustc: env!("FLAGS_RUSTC").into(),
            workdir_fs: file_system(workdir),
            speed_probe_seconds: Vec::new(),
        }
    }

    /// The short form the table's header shows: `2 cores, load 0.3 → 1.1,
    /// outputs on tmpfs`.
    pub(crate) fn short(&self) -> String {
        format!(
            "{}, load {:.1} → {:.1}, outputs on {}",
            crate::text::count(self.cores, "core", "cores"),
            self.load_before,
            self.load_after,
            crate::text::inert(&self.workdir_fs)
        )
    }
}

/// The one-minute load average (0 where the system does not say).
pub(crate) fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// The name of the file system `path` is on, from `statfs(2)`'s magic.
fn file_system(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return "unknown".into();
    };
    // SAFETY: statfs(2) fills the zeroed struct; the path is NUL-terminated.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c_path.as_ptr(), &mut stat) } != 0 {
        return "unknown".into();
    }
    match stat.f_type as u64 {
        0x0102_1994 => "tmpfs".into(),
        0x8584_58f6 => "ramfs".into(),
        0xef53 => "ext4".into(),
        0x9123_683e => "btrfs".into(),
        0x5846_5342 => "xfs".into(),
        0x794c_7630 => "overlayfs".into(),
        0x6969 => "nfs".into(),
        0x2fc1_2fc1 => "zfs".into(),
        0x0102_1997 => "9p".into(),
        other => format!("0x{other:x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_is_recorded() {
        let machine = Machine::current(std::path::Path::new("/dev/shm"));
        assert_eq!(
            machine.cores,
            std::thread::available_parallelism().unwrap().get()
        );
        if std::path::Path::new("/dev/shm").is_dir() {
            assert_eq!(machine.workdir_fs, "tmpfs");
        }
        assert!(machine.memory_mib > 0);
        assert!(machine.rustc.starts_with("rustc "), "{}", machine.rustc);
        assert!(machine.short().contains(" cores, load ") || machine.cores == 1);
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
    /// Ctrl-C or SIGTERM stopped it: the cells are those with a measured
    /// run before it.
    #[serde(default)]
    pub interrupted: bool,
    /// The order runs were made in: `interleaved` (round by round) or
    /// `sequential` (cell by cell).
    #[serde(default)]
    pub order: super::Order,
    /// The servers it started spoke HTTPS (`--tls`); left out when not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub https: bool,
    /// The cells, in the order they ran.
    pub cells: Vec<Cell>,
}
