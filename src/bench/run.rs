//! Running the matrix: for each delay a `flags serve` child (or the user's
//! server), then each cell's runs as measured child processes, each in a
//! fresh output folder. Every child runs in its own process group, so that a
//! terminal's Ctrl-C reaches the bench alone, which then stops them all and
//! reports the cells finished so far.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::baseline::twin_name;
use super::measure::{Children, Measured, measure};
use super::schema::{BenchReport, Cell, CellKind, Machine, MeasuredRun, SCHEMA};
use super::{BenchConfig, Model, Order, OutsideCommand};
use crate::download::observers::progress::{live_bar, live_style};
use crate::download::observers::report::{LoopLag, ideal_time};
use crate::download::plan::{Mode, gif_url};
use crate::download::status::Counts;
use crate::duration::exact;

/// With `--tls`: the certificate and key every server of the bench serves,
/// and the CA its clients are given (`--cacert`, `SSL_CERT_FILE`).
struct TlsFiles {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl TlsFiles {
    /// Makes a CA and a loopback certificate and writes them in `folder`.
    fn write_in(folder: &Path) -> Result<Self> {
        let pems = crate::server::tls::LocalPems::make()
            .context("cannot make the servers' certificate")?;
        let files = Self {
            ca: folder.join("ca.pem"),
            cert: folder.join("cert.pem"),
            key: folder.join("key.pem"),
        };
        for (path, pem) in [
            (&files.ca, &pems.ca),
            (&files.cert, &pems.cert),
            (&files.key, &pems.key),
        ] {
            std::fs::write(path, pem)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(files)
    }
}

/// A `flags serve` child on a free port, stopped when dropped.
struct ServerProcess {
    child: Child,
    base_url: String,
    children: Arc<Children>,
}

impl ServerProcess {
    fn start(
        exe: &Path,
        delay: Duration,
        tls: Option<&TlsFiles>,
        children: &Arc<Children>,
    ) -> Result<Self> {
        let mut command = Command::new(exe);
        command.args(["serve", "--port", "0", "--delay", &exact(delay)]);
        if let Some(tls) = tls {
            command
                .arg("--tls-cert")
                .arg(&tls.cert)
                .arg("--tls-key")
                .arg(&tls.key);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = children
            .spawn(&mut command)
            .context("cannot start flags serve")?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"));
        let server = Self {
            base_url: url.unwrap_or_default().to_owned(),
            child,
            children: Arc::clone(children),
        };
        match url {
            Some(_) => Ok(server),
            None => bail!("flags serve did not say where it listens: {line:?}"),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.children.forget(self.child.id());
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

/// The matrix being run: where runs go, how far it got, and what stops it.
struct Matrix<'a> {
    config: &'a BenchConfig,
    scratch: tempfile::TempDir,
    runs_started: usize,
    bar: ProgressBar,
    children: Arc<Children>,
    cancel: &'a CancellationToken,
    /// The machine's cores, which the speed probe keeps busy.
    cores: usize,
    /// The speed probe taken before each run, in order.
    probes: Vec<f64>,
}

impl Matrix<'_> {
    /// A fresh output folder for the next run.
    fn fresh_dir(&mut self) -> PathBuf {
        self.runs_started += 1;
        self.scratch
            .path()
            .join(format!("run-{}", self.runs_started))
    }

    /// Makes one run of `planned` in a fresh folder; `None` when the bench
    /// was interrupted while it ran (the run is not recorded).
    fn run_one(&mut self, planned: &Planned, warmup: bool) -> Result<Option<MeasuredRun>> {
        self.bar
            .set_message(crate::text::inert(&planned.cell.key()));
        let out = self.fresh_dir();
        std::fs::create_dir_all(&out)
            .with_context(|| format!("cannot make a run folder in {}", out.display()))?;
        // The machine's speed just before the run, in the run's folder.
        self.probes
            .extend(super::probe::machine_seconds(self.cores, &out));
        let measured = measure(&mut planned.job.command(self.config, &out), &self.children)
            .with_context(|| format!("cannot run {}", crate::text::inert(&planned.cell.name)))?;
        if self.cancel.is_cancelled() {
            return Ok(None);
        }
        let mut run = match planned.job {
            Job::Flags { .. } => flags_run(&measured, &out, warmup),
            Job::Outside { .. } => outside_run(&measured, &out, warmup),
        };
        let waterfall = timeline_path(&out);
        if !warmup {
            run.waterfall = std::fs::read_to_string(&waterfall).ok();
        }
        let _ = std::fs::remove_file(&waterfall);
        let _ = std::fs::remove_dir_all(&out);
        self.bar.inc(1);
        Ok(Some(run))
    }
}

/// A cell of the matrix before it runs: what it is, and how to run it.
struct Planned {
    cell: Cell,
    job: Job,
}

/// How a cell's runs are made.
enum Job {
    /// `flags` itself in a model, at a concurrency, against a server.
    Flags {
        /// The binary: this build's, or with `--baseline-exe` the
        /// baseline build's for its twin cells.
        exe: PathBuf,
        model: Model,
        concurrency: usize,
        base: String,
        /// The server's delay.
        delay: Duration,
        /// The CA of an HTTPS server.
        cacert: Option<PathBuf>,
    },
    /// An outside command from `--vs`, with the file of URLs it reads.
    Outside {
        outside: OutsideCommand,
        url_file: PathBuf,
        base: String,
        /// The CA of an HTTPS server.
        cacert: Option<PathBuf>,
    },
}

impl Job {
    /// The command of one run writing into `out`.
    fn command(&self, config: &BenchConfig, out: &Path) -> Command {
        match self {
            Job::Flags {
                exe,
                model,
                concurrency,
                base,
                delay,
                cacert,
            } => {
                let mut command =
                    flags_command(config, exe, (*model, *concurrency), (base, *delay), out);
                if let Some(ca) = cacert {
                    command.arg("--cacert").arg(ca);
                }
                command
            }
            Job::Outside {
                outside,
                url_file,
                base,
                cacert,
            } => outside_command(outside, url_file, (base, cacert.as_deref()), out),
        }
    }
}

/// The order runs are made in: each cell's warm-ups, then its measured
/// runs as (cell, warm-up) pairs. Interleaved: every cell's warm-ups, then
/// rounds, each with run `r` of every cell, in an order shuffled anew each
/// round (the same every time: the seed is fixed), so that a shared
/// machine's slow drift spreads over every cell instead of landing on one.
fn schedule(cells: usize, warmup: usize, runs: usize, order: Order) -> Vec<(usize, bool)> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut plan = Vec::with_capacity(cells * (warmup + runs));
    match order {
        Order::Sequential => {
            for cell in 0..cells {
                plan.extend(std::iter::repeat_n((cell, true), warmup));
                plan.extend(std::iter::repeat_n((cell, false), runs));
            }
        }
        Order::Interleaved => {
            for cell in 0..cells {
                plan.extend(std::iter::repeat_n((cell, true), warmup));
            }
            let mut rng = rand::rngs::StdRng::seed_from_u64(0x00f1_a65e);
            let mut round: Vec<usize> = (0..cells).collect();
            for _ in 0..runs {
                round.shuffle(&mut rng);
                plan.extend(round.iter().map(|cell| (*cell, false)));
            }
        }
    }
    plan
}

/// The child's `--json` report, as far as the bench reads it.
#[derive(Deserialize)]
struct ChildReport {
    counts: Counts,
    /// Its own count of its threads at their peak, which a 5 ms sampler
    /// from outside misses in a run of a few milliseconds.
    #[serde(default)]
    peak_threads: Option<u64>,
    #[serde(default)]
    loop_lag: Option<LoopLag>,
}

/// Runs the whole matrix, or as much of it as runs before `cancel`. Then,
/// while `undecided` names cells of the report so far (the keys of cells
/// whose runs cannot decide yet) and no cell has `max_runs` measured runs,
/// one more round of those cells alone.
pub(crate) fn run(
    config: &BenchConfig,
    cancel: &CancellationToken,
    max_runs: usize,
    undecided: &dyn Fn(&BenchReport) -> Vec<String>,
) -> Result<BenchReport> {
    let downloads = config.jobs.len();
    let machine = Machine::current(&config.workdir);
    let scratch = tempfile::Builder::new()
        .prefix("flags-bench-")
        .tempdir_in(&config.workdir)
        .with_context(|| {
            format!(
                "cannot make a scratch folder in {}",
                config.workdir.display()
            )
        })?;
    let bar = if config.progress {
        live_bar(
            total_runs(config),
            live_style("{spinner} {took} [{bar:20}] {pos}/{len} runs  {wide_msg}"),
        )
    } else {
        ProgressBar::hidden()
    };
    let children = Children::stopped_by(cancel);
    let mut matrix = Matrix {
        config,
        scratch,
        runs_started: 0,
        bar,
        children: Arc::clone(&children),
        cancel,
        cores: machine.cores,
        probes: Vec::new(),
    };
    // Every server is up for the whole bench: interleaved runs need them all.
    let tls = match config.tls {
        true => Some(TlsFiles::write_in(matrix.scratch.path())?),
        false => None,
    };
    let cacert = tls.as_ref().map(|tls| tls.ca.clone());
    let mut servers = Vec::new();
    let mut planned: Vec<Planned> = Vec::new();
    for &delay in &config.delays {
        let base = match &config.server {
            Some(url) => url.clone(),
            None => {
                let server = ServerProcess::start(&config.exe, delay, tls.as_ref(), &children)?;
                let base = server.base_url.clone();
                servers.push(server);
                base
            }
        };
        for &model in &config.models {
            let levels: &[usize] = if model.mode == Mode::Sequential {
                &[1]
            } else {
                &config.concurrency
            };
            for &concurrency in levels {
                let effective = concurrency.min(downloads.max(1));
                // This build's cell, then with --baseline-exe its twin run
                // by the baseline build, interleaved with it.
                let builds = std::iter::once((model.name(), &config.exe)).chain(
                    config
                        .baseline_exe
                        .iter()
                        .map(|exe| (twin_name(&model.name()), exe)),
                );
                for (name, exe) in builds {
                    let mut cell = Cell::new(
                        name,
                        CellKind::Mode,
                        Some(concurrency),
                        delay.as_secs_f64() * 1000.0,
                        downloads,
                    );
                    cell.ideal_seconds =
                        Some(ideal_time(downloads, effective, delay).as_secs_f64());
                    planned.push(Planned {
                        cell,
                        job: Job::Flags {
                            exe: exe.clone(),
                            model,
                            concurrency,
                            base: base.clone(),
                            delay,
                            cacert: cacert.clone(),
                        },
                    });
                }
            }
        }
        if !config.outside.is_empty() {
            let url_file = matrix
                .scratch
                .path()
                .join(format!("urls-{}ms.txt", delay.as_millis()));
            let urls: Vec<String> = config.jobs.iter().map(|c| gif_url(&base, c)).collect();
            std::fs::write(&url_file, urls.join("\n") + "\n")?;
            for outside in &config.outside {
                planned.push(Planned {
                    cell: Cell::new(
                        outside.name.clone(),
                        CellKind::Command,
                        None,
                        delay.as_secs_f64() * 1000.0,
                        downloads,
                    ),
                    job: Job::Outside {
                        outside: outside.clone(),
                        url_file: url_file.clone(),
                        base: base.clone(),
                        cacert: cacert.clone(),
                    },
                });
            }
        }
    }
    let order = schedule(planned.len(), config.warmup, config.runs, config.order);
    for (sequence, (index, warmup)) in order.into_iter().enumerate() {
        if cancel.is_cancelled() {
            break;
        }
        let Some(mut run) = matrix.run_one(&planned[index], warmup)? else {
            break;
        };
        run.sequence = Some(sequence);
        planned[index].cell.runs.push(run);
    }
    let mut sequence = planned.iter().map(|p| p.cell.runs.len()).sum::<usize>();
    for _ in config.runs..max_runs {
        let wanted = undecided(&report(config, &machine, &matrix.probes, &planned, cancel));
        let more: Vec<usize> = (0..planned.len())
            .filter(|&i| wanted.contains(&planned[i].cell.key()))
            .collect();
        if more.is_empty() || cancel.is_cancelled() {
            break;
        }
        for index in more {
            let Some(mut run) = matrix.run_one(&planned[index], false)? else {
                break;
            };
            run.sequence = Some(sequence);
            sequence += 1;
            planned[index].cell.runs.push(run);
        }
    }
    drop(servers);
    matrix.bar.finish_and_clear();
    Ok(report(config, &machine, &matrix.probes, &planned, cancel))
}

/// The report of the runs made so far: the cells with a measured run
/// (an interrupted bench reports those), each summed up.
fn report(
    config: &BenchConfig,
    machine: &Machine,
    probes: &[f64],
    planned: &[Planned],
    cancel: &CancellationToken,
) -> BenchReport {
    let cells: Vec<Cell> = planned
        .iter()
        .map(|p| p.cell.clone())
        .filter(|cell| cell.measured().count() > 0)
        .map(|mut cell| {
            cell.finish();
            cell
        })
        .collect();
    BenchReport {
        schema: SCHEMA.into(),
        flags_version: env!("CARGO_PKG_VERSION").into(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        machine: Machine {
            load_after: super::schema::load_average(),
            speed_probe_seconds: probes.to_vec(),
            ..machine.clone()
        },
        command: config.command_line.clone(),
        downloads: config.jobs.len(),
        runs: config.runs,
        warmup: config.warmup,
        interrupted: cancel.is_cancelled(),
        order: config.order,
        https: config.tls,
        cells,
    }
}

/// How many runs the whole matrix makes, warm-ups included.
fn total_runs(config: &BenchConfig) -> u64 {
    let mode_cells: usize = config
        .models
        .iter()
        .map(|m| match m.mode {
            Mode::Sequential => 1,
            _ => config.concurrency.len(),
        })
        .sum();
    let per_cell = (config.runs + config.warmup) as u64;
    (mode_cells + config.outside.len()) as u64 * config.delays.len() as u64 * per_cell
}

/// Where a run writing into `out` draws its waterfall, when asked to.
fn timeline_path(out: &Path) -> PathBuf {
    out.with_extension("svg")
}

/// One run of `flags` itself, from the server at `base` answering in
/// `delay`: JSON out, no retries, no display.
fn flags_command(
    config: &BenchConfig,
    exe: &Path,
    (model, concurrency): (Model, usize),
    (base, delay): (&str, Duration),
    out: &Path,
) -> Command {
    let mut command = Command::new(exe);
    command
        .args(["--json", "--progress", "never", "--retries", "0"])
        .args(model.child_args());
    if model.mode != Mode::Sequential {
        command.args(["-m", &concurrency.to_string()]);
    }
    command
        .args(["-s", base, "-o"])
        .arg(out)
        .args(config.selection.child_args());
    if config.waterfalls {
        // The server's delay, known here, titles the waterfall.
        command
            .arg("--timeline")
            .arg(timeline_path(out))
            .args(["--server-latency", &exact(delay)]);
    }
    command
}

/// One run of an outside command, in `out`, with its placeholders replaced;
/// against an HTTPS server, `{cacert}` is its CA, which `SSL_CERT_FILE` and
/// `CURL_CA_BUNDLE` also name.
fn outside_command(
    outside: &OutsideCommand,
    url_file: &Path,
    (base, cacert): (&str, Option<&Path>),
    out: &Path,
) -> Command {
    let ca = cacert
        .map(|ca| ca.display().to_string())
        .unwrap_or_default();
    let line = outside
        .command
        .replace("{url_file}", &url_file.display().to_string())
        .replace("{base}", base)
        .replace("{cacert}", &ca)
        .replace("{out}", &out.display().to_string());
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("exec {line}"))
        .current_dir(out);
    if let Some(ca) = cacert {
        command.env("SSL_CERT_FILE", ca).env("CURL_CA_BUNDLE", ca);
    }
    command
}

/// A run of `flags`: its counts, its peak threads and its loop lag come
/// from its `--json` report.
fn flags_run(m: &Measured, _out: &Path, warmup: bool) -> MeasuredRun {
    let report = serde_json::from_slice::<ChildReport>(&m.stdout).ok();
    let counts = report.as_ref().map(|r| r.counts);
    let errors = counts.map_or(0, |c| c.error as u64);
    let mut cost = m.cost.clone();
    if let Some(own) = report.as_ref().and_then(|r| r.peak_threads) {
        cost.peak_threads = cost.peak_threads.max(own);
    }
    MeasuredRun {
        warmup,
        cost,
        loop_lag: report.and_then(|r| r.loop_lag),
        ok: counts.map_or(0, |c| c.ok as u64),
        not_found: counts.map_or(0, |c| c.not_found as u64),
        errors,
        flagged: counts.is_none() || errors > 0 || m.cost.exit_code != Some(0),
        sequence: None,
        waterfall: None,
    }
}

/// A run of an outside command: its `ok` count is the files it left.
fn outside_run(m: &Measured, out: &Path, warmup: bool) -> MeasuredRun {
    let failed = m.cost.exit_code != Some(0);
    MeasuredRun {
        warmup,
        cost: m.cost.clone(),
        loop_lag: None,
        ok: count_files(out),
        not_found: 0,
        errors: u64::from(failed),
        flagged: failed,
        sequence: None,
        waterfall: None,
    }
}
