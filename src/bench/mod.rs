//! `flags bench`: runs the same downloads in each model, repeatedly, as child
//! processes against one shared server, and reports what each costs and how
//! close it came to the ideal `ceil(N / C) * delay`.

pub mod measure;
pub mod output;
pub mod plot;
pub mod stats;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::download::plan::Mode;
use crate::download::progress::ProgressChoice;
use crate::download::status::ideal_time;
use crate::server::delay::format_duration;
use measure::{measure, Cost, Measured};
use stats::Summary;

/// Version tag of the JSON export; bumped on incompatible changes.
pub const SCHEMA: &str = "flags-bench/1";

/// An outside command to compare with, from `--vs NAME=COMMAND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideCommand {
    /// Its name in the table.
    pub name: String,
    /// A shell command line; `{url_file}`, `{base}` and `{out}` are replaced.
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

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The `flags` binary to run as the child.
    pub exe: PathBuf,
    /// Modes to compare.
    pub modes: Vec<Mode>,
    /// Concurrency values (sequential always runs at 1).
    pub concurrency: Vec<usize>,
    /// Server latencies.
    pub delays: Vec<Duration>,
    /// Measured runs per cell.
    pub runs: usize,
    /// Unmeasured runs per cell before them.
    pub warmup: usize,
    /// The child's selection arguments (codes, `--all`, `--count`, ...).
    pub selection: Vec<String>,
    /// The codes downloaded by one run, in order (repeated with `--count`).
    pub jobs: Vec<String>,
    /// Use this server instead of starting one per delay; the delays are then
    /// what the user says the server's latency is.
    pub server: Option<String>,
    /// Outside commands to compare with.
    pub outside: Vec<OutsideCommand>,
    /// Where fresh output folders are made (a memory file system by default).
    pub workdir: PathBuf,
    /// Progress display on stderr.
    pub progress: ProgressChoice,
    /// The command line, recorded in the export.
    pub command_line: String,
}

/// One measured (or warm-up) run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
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
}

/// One cell of the matrix: a mode (or outside command) at one concurrency and delay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    /// Mode name (`sequential`, `threaded`, `async`) or outside command name.
    pub name: String,
    /// `mode` or `command`.
    pub kind: String,
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
    /// Largest peak RSS of the measured runs, MiB.
    pub peak_rss_mib: f64,
    /// Most threads seen in any measured run.
    pub peak_threads: u64,
    /// Measured runs that had errors or failed.
    pub error_runs: usize,
    /// Every run, warm-ups included.
    pub runs: Vec<Run>,
}

impl Cell {
    /// Identity of a cell across exports: name, concurrency and delay.
    pub fn key(&self) -> String {
        match self.concurrency {
            Some(c) => format!("{} c={c} delay={}ms", self.name, self.delay_ms),
            None => format!("{} delay={}ms", self.name, self.delay_ms),
        }
    }

    fn finish(&mut self) {
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
pub struct Machine {
    /// Logical CPUs.
    pub cores: usize,
    /// CPU model, from /proc/cpuinfo.
    pub cpu: String,
    /// Kernel release.
    pub kernel: String,
}

impl Machine {
    fn current() -> Self {
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
pub struct BenchReport {
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
    /// The cells, in the order they ran.
    pub cells: Vec<Cell>,
}

/// A `flags serve` child on a free port, killed when dropped.
struct ServerProcess {
    child: Child,
    base_url: String,
}

impl ServerProcess {
    fn start(exe: &Path, delay: Duration) -> Result<Self> {
        let mut child = Command::new(exe)
            .args(["serve", "--port", "0", "--delay", &format_duration(delay)])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start flags serve")?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        let Some(base_url) = line.split_whitespace().find(|w| w.starts_with("http://")) else {
            let _ = child.kill();
            bail!("flags serve did not say where it listens: {line:?}");
        };
        let base_url = base_url.to_owned();
        Ok(Self { child, base_url })
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn count_files(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            Ok(t) if t.is_file() => 1,
            _ => 0,
        })
        .sum()
}

fn progress_bar(total: u64, choice: ProgressChoice) -> ProgressBar {
    use std::io::IsTerminal;
    if !choice.show(std::io::stderr().is_terminal()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} runs  {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Runs the whole matrix.
pub fn run(config: &BenchConfig) -> Result<BenchReport> {
    let downloads = config.jobs.len();
    let scratch = tempfile::Builder::new()
        .prefix("flags-bench-")
        .tempdir_in(&config.workdir)
        .with_context(|| {
            format!(
                "cannot make a scratch folder in {}",
                config.workdir.display()
            )
        })?;
    let mode_cells: usize = config
        .modes
        .iter()
        .map(|m| {
            if *m == Mode::Sequential {
                1
            } else {
                config.concurrency.len()
            }
        })
        .sum();
    let per_cell = (config.runs + config.warmup) as u64;
    let total_runs =
        (mode_cells + config.outside.len()) as u64 * config.delays.len() as u64 * per_cell;
    let bar = progress_bar(total_runs, config.progress);
    let mut cells = Vec::new();
    let mut run_number = 0usize;
    let mut fresh_dir = || {
        run_number += 1;
        scratch.path().join(format!("run-{run_number}"))
    };

    for &delay in &config.delays {
        let server = match &config.server {
            Some(_) => None,
            None => Some(ServerProcess::start(&config.exe, delay)?),
        };
        let base = match (&server, &config.server) {
            (Some(s), _) => s.base_url.clone(),
            (None, Some(url)) => url.clone(),
            (None, None) => bail!("no server"),
        };
        for &mode in &config.modes {
            let levels: &[usize] = if mode == Mode::Sequential {
                &[1]
            } else {
                &config.concurrency
            };
            for &concurrency in levels {
                let effective = concurrency.min(downloads.max(1));
                let mut cell = new_cell(
                    mode.to_string(),
                    "mode",
                    Some(concurrency),
                    delay,
                    downloads,
                );
                cell.ideal_seconds = Some(ideal_time(downloads, effective, delay).as_secs_f64());
                bar.set_message(cell.key());
                for i in 0..config.warmup + config.runs {
                    let out = fresh_dir();
                    let mut command = Command::new(&config.exe);
                    command
                        .args(["--json", "--progress", "never", "--retries", "0", "--mode"])
                        .arg(mode.to_string())
                        .args(["-m", &concurrency.to_string(), "-s", &base, "-o"])
                        .arg(&out)
                        .args(&config.selection);
                    let measured = measure(&mut command).context("cannot run flags")?;
                    cell.runs.push(flags_run(&measured, i < config.warmup));
                    let _ = std::fs::remove_dir_all(&out);
                    bar.inc(1);
                }
                cell.finish();
                cells.push(cell);
            }
        }
        if !config.outside.is_empty() {
            let url_file = scratch
                .path()
                .join(format!("urls-{}ms.txt", delay.as_millis()));
            let urls: Vec<String> = config
                .jobs
                .iter()
                .map(|code| {
                    let cc = code.to_ascii_lowercase();
                    format!("{base}/{cc}/{cc}.gif")
                })
                .collect();
            std::fs::write(&url_file, urls.join("\n") + "\n")?;
            for outside in &config.outside {
                let mut cell = new_cell(outside.name.clone(), "command", None, delay, downloads);
                bar.set_message(cell.key());
                for i in 0..config.warmup + config.runs {
                    let out = fresh_dir();
                    std::fs::create_dir_all(&out)?;
                    let line = outside
                        .command
                        .replace("{url_file}", &url_file.display().to_string())
                        .replace("{base}", &base)
                        .replace("{out}", &out.display().to_string());
                    let mut command = Command::new("sh");
                    command
                        .arg("-c")
                        .arg(format!("exec {line}"))
                        .current_dir(&out);
                    let measured =
                        measure(&mut command).with_context(|| format!("cannot run {line}"))?;
                    let ok = count_files(&out);
                    let failed = measured.cost.exit_code != Some(0);
                    cell.runs.push(Run {
                        ok,
                        errors: u64::from(failed),
                        flagged: failed,
                        ..base_run(&measured, i < config.warmup)
                    });
                    let _ = std::fs::remove_dir_all(&out);
                    bar.inc(1);
                }
                cell.finish();
                cells.push(cell);
            }
        }
        drop(server);
    }
    bar.finish_and_clear();
    Ok(BenchReport {
        schema: SCHEMA.into(),
        flags_version: env!("CARGO_PKG_VERSION").into(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        machine: Machine::current(),
        command: config.command_line.clone(),
        downloads,
        runs: config.runs,
        warmup: config.warmup,
        cells,
    })
}

fn new_cell(
    name: String,
    kind: &str,
    concurrency: Option<usize>,
    delay: Duration,
    downloads: usize,
) -> Cell {
    Cell {
        name,
        kind: kind.into(),
        concurrency,
        delay_ms: delay.as_secs_f64() * 1000.0,
        downloads,
        ideal_seconds: None,
        time: None,
        efficiency: None,
        flags_per_second: None,
        cpu_seconds: None,
        peak_rss_mib: 0.0,
        peak_threads: 0,
        error_runs: 0,
        runs: Vec::new(),
    }
}

fn base_run(m: &Measured, warmup: bool) -> Run {
    Run {
        warmup,
        cost: m.cost.clone(),
        ok: 0,
        not_found: 0,
        errors: 0,
        flagged: false,
    }
}

/// A run of `flags` itself: its counts come from its `--json` output.
fn flags_run(m: &Measured, warmup: bool) -> Run {
    let report: serde_json::Value = serde_json::from_slice(&m.stdout).unwrap_or_default();
    let count = |key: &str| report["counts"][key].as_u64();
    let (ok, not_found, errors) = (count("ok"), count("not_found"), count("error"));
    let parsed = ok.is_some() && errors.is_some();
    let errors = errors.unwrap_or(0);
    Run {
        ok: ok.unwrap_or(0),
        not_found: not_found.unwrap_or(0),
        errors,
        flagged: !parsed || errors > 0 || m.cost.exit_code != Some(0),
        ..base_run(m, warmup)
    }
}

/// A cell whose median got slower than the baseline's by more than allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    /// The cell's key.
    pub key: String,
    /// Baseline median, seconds.
    pub baseline: f64,
    /// Current median, seconds.
    pub current: f64,
}

impl Regression {
    /// How much slower, as a fraction (0.25 = 25 % slower).
    pub fn slowdown(&self) -> f64 {
        self.current / self.baseline - 1.0
    }
}

/// Compares medians with a previous export: cells slower than the baseline by
/// more than `max_regression` (0.10 = 10 %). Cells missing from either side
/// are not compared; their keys are returned second.
pub fn compare(
    current: &BenchReport,
    baseline: &BenchReport,
    max_regression: f64,
) -> (Vec<Regression>, Vec<String>) {
    let mut regressions = Vec::new();
    let mut unmatched = Vec::new();
    for cell in &current.cells {
        let old = baseline.cells.iter().find(|b| b.key() == cell.key());
        match (cell.time, old.and_then(|b| b.time)) {
            (Some(now), Some(then)) => {
                if now.median > then.median * (1.0 + max_regression) {
                    regressions.push(Regression {
                        key: cell.key(),
                        baseline: then.median,
                        current: now.median,
                    });
                }
            }
            _ => unmatched.push(cell.key()),
        }
    }
    (regressions, unmatched)
}
