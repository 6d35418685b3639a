//! The `flags` command line: a thin clap front end over the library.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{CommandFactory, Parser, Subcommand};

use flags::download::plan::{self, Mode, Plan, RequestOptions, ServerChoice};
use flags::download::progress::{self, ProgressChoice, Reporter};
use flags::download::status::{ideal_time, RunReport};
use flags::download::{cancel, drivers, store};
use flags::server::delay::{parse_duration, Delay};
use flags::server::{self, BackgroundServer, DataSource, ServerConfig};
use flags::spin::SpinMode;

const EXAMPLES: &str = "\
Examples:
  flags                          the 20 most populous countries, async, embedded server
  flags --concurrency 50         the same with 50 requests in flight
  flags --mode threaded -m 20 -a all 194 flags with 20 OS threads
  flags --mode sequential b c    the codes starting with B and C, one at a time
  flags -e --server-delay 100ms  all 676 codes AA..ZZ against a slow embedded server
  flags serve --preset delay     a slow flags server on port 8001
  flags -s delay -v              download from it, one line per flag";

/// Download country flags sequentially, with threads, or async, and compare.
#[derive(Parser, Debug)]
#[command(name = "flags", version, after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    download: DownloadArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the flags server.
    Serve(ServeArgs),
    /// Compare the three models side by side: tables, plots, JSON, CSV, Markdown.
    Bench(Box<BenchArgs>),
    /// The spinner demo: a spinner beside slow work, thread versus async.
    Spin(SpinArgs),
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// Which countries, shared by downloading and benchmarking.
#[derive(clap::Args, Debug)]
struct SelectionArgs {
    /// Country codes: two letters (BR), or one letter for its 26 codes (B = BA..BZ)
    /// [default: the 20 most populous countries].
    #[arg(value_name = "CC")]
    codes: Vec<String>,
    /// All 194 codes of the data set.
    #[arg(short, long)]
    all: bool,
    /// All 676 codes AA..ZZ (482 of them are not found).
    #[arg(short, long, conflicts_with = "all")]
    every: bool,
    /// Keep the first N codes (sorted).
    #[arg(short, long, value_name = "N", value_parser = positive)]
    limit: Option<usize>,
}

impl SelectionArgs {
    fn codes(&self) -> Result<Vec<String>, plan::CodeError> {
        plan::select_codes(&self.codes, self.all, self.every, self.limit)
    }
}

/// Options of the main job, downloading flags.
#[derive(clap::Args, Debug)]
struct DownloadArgs {
    #[command(flatten)]
    selection: SelectionArgs,
    /// Download N flags in all, cycling through the selected codes, each saved
    /// as <CC>-<n>.gif: a workload larger than the data set, for benchmarks.
    #[arg(long, value_name = "N", value_parser = positive, conflicts_with_all = ["names", "skip_existing"])]
    count: Option<usize>,
    /// Requests in flight at most [default: 1 sequential, 30 threaded, 100 async, 5 against remote].
    #[arg(short = 'm', long, alias = "max-req", value_name = "N", value_parser = positive)]
    concurrency: Option<usize>,
    /// How requests are driven.
    #[arg(long, value_enum, default_value_t = Mode::Async)]
    mode: Mode,
    /// embedded, local, delay, error, remote, or a base URL such as http://host:8000/flags.
    #[arg(short, long, default_value = "embedded", value_name = "SERVER")]
    server: ServerChoice,
    /// Latency of the embedded server: 100ms, or a range such as 0.5s..5s.
    #[arg(long, value_name = "DELAY", default_value = "0ms")]
    server_delay: Delay,
    /// Share of requests the embedded server answers with an error (0.0 to 1.0).
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = rate)]
    server_error_rate: f64,
    /// Seed of the embedded server's random delays, errors and faults.
    #[arg(long, value_name = "N")]
    server_seed: Option<u64>,
    /// A fault of the embedded server, as `flags serve --fault` (repeatable).
    #[arg(long, value_name = "KIND=RATE")]
    server_fault: Vec<flags::server::faults::Fault>,
    /// Folder to save the flags in (created if missing).
    #[arg(short, long, default_value = "downloaded", value_name = "DIR")]
    output: PathBuf,
    /// Fetch each country's metadata.json first and save as <CC>-<Country_Name>.gif.
    #[arg(long)]
    names: bool,
    /// Time limit of a whole request, body included.
    #[arg(long, default_value = "10s", value_parser = positive_duration, value_name = "DURATION")]
    timeout: Duration,
    /// Time limit of establishing a connection.
    #[arg(long, default_value = "3s", value_parser = positive_duration, value_name = "DURATION")]
    connect_timeout: Duration,
    /// Extra attempts for errors worth retrying (timeouts, resets, 5xx, 418, 429).
    #[arg(long, default_value_t = 2, value_name = "N")]
    retries: u32,
    /// Largest body accepted, in bytes (suffixes K and M allowed).
    #[arg(long, default_value = "4M", value_parser = size, value_name = "BYTES")]
    max_size: u64,
    /// Do not request codes whose file is already in the output folder.
    #[arg(long)]
    skip_existing: bool,
    /// Print one line per code as it finishes, and each retry.
    #[arg(short, long)]
    verbose: bool,
    /// Print one JSON object instead of the text header and summary.
    #[arg(long)]
    json: bool,
    /// Live progress display on stderr.
    #[arg(long, value_enum, default_value_t = ProgressChoice::Auto)]
    progress: ProgressChoice,
}

/// Options of `flags serve`.
#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on (0 picks a free one) [default: 8000, or the preset's].
    #[arg(short, long)]
    port: Option<u16>,
    /// Serve this folder (same <cc>/<cc>.gif layout) instead of the embedded data set.
    #[arg(long, value_name = "PATH")]
    dir: Option<PathBuf>,
    /// Latency per request: 500ms, or a random range such as 0.5s..5s.
    #[arg(long, value_name = "DELAY")]
    delay: Option<Delay>,
    /// Share of requests answered with --error-status (0.0 to 1.0).
    #[arg(long, value_name = "RATE", value_parser = rate)]
    error_rate: Option<f64>,
    /// Status of simulated errors.
    #[arg(long, default_value_t = 418, value_parser = clap::value_parser!(u16).range(400..=599))]
    error_status: u16,
    /// Seed for reproducible delays and errors.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Cause a fault on a share of requests: KIND=RATE, repeatable. KIND: reset,
    /// reset-body, truncate, drip, redirect-loop, huge, bad-json, hostile-name.
    #[arg(long = "fault", value_name = "KIND=RATE")]
    faults: Vec<flags::server::faults::Fault>,
    /// Speed of the drip fault, in bytes per second.
    #[arg(long, default_value_t = 1000, value_name = "BYTES")]
    drip_speed: u64,
    /// The classic set-up: local = port 8000; delay = 8001 with 0.5s..5s; error = 8002 with 0.5s..5s and 25% errors.
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// Log one line per request.
    #[arg(short, long)]
    verbose: bool,
}

/// Options of `flags bench`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  flags bench --all --modes threaded,async --concurrency 10,50,200 --delay 0ms,100ms \\\n      --export-json bench.json --plot bench.svg --vs 'curl=curl -s --parallel --parallel-max 50 -K {url_file}'"
)]
struct BenchArgs {
    #[command(flatten)]
    selection: SelectionArgs,
    /// N downloads per run, cycling through the codes (workloads beyond the data set).
    #[arg(long, value_name = "N", value_parser = positive)]
    count: Option<usize>,
    /// Modes to compare.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "sequential,threaded,async"
    )]
    modes: Vec<Mode>,
    /// Concurrency values (sequential always runs at 1).
    #[arg(short = 'm', long, value_delimiter = ',', default_value = "1,10,50,200", value_parser = positive)]
    concurrency: Vec<usize>,
    /// Server latencies; a flags server is started for each.
    #[arg(long, value_delimiter = ',', default_value = "0ms,100ms", value_parser = duration)]
    delay: Vec<Duration>,
    /// Measured runs per cell.
    #[arg(long, default_value_t = 5, value_parser = positive)]
    runs: usize,
    /// Unmeasured runs per cell before the measured ones.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Use this flags server instead of starting one; --delay then states its latency.
    #[arg(short, long, value_name = "URL")]
    server: Option<String>,
    /// Also run an outside command, e.g. 'curl=curl -s --parallel -K {url_file}'
    /// ({url_file}, {base} and {out} are replaced; it runs in {out}). Repeatable.
    #[arg(long = "vs", value_name = "NAME=COMMAND")]
    vs: Vec<flags::bench::OutsideCommand>,
    /// Write every run and the statistics as JSON (schema flags-bench/1).
    #[arg(long, value_name = "FILE")]
    export_json: Option<PathBuf>,
    /// Write one CSV row per cell.
    #[arg(long, value_name = "FILE")]
    export_csv: Option<PathBuf>,
    /// Write a Markdown table.
    #[arg(long, value_name = "FILE")]
    export_markdown: Option<PathBuf>,
    /// Draw time and peak RSS against concurrency as SVG.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// A previous --export-json to compare medians with.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// With --baseline: exit 1 when a cell is slower than this (e.g. 10%).
    #[arg(long, default_value = "10%", value_parser = percent, value_name = "PERCENT")]
    max_regression: f64,
    /// Do not run anything: read this earlier --export-json and produce the
    /// table, exports, plot and baseline comparison from it.
    #[arg(long, value_name = "FILE")]
    from: Option<PathBuf>,
    /// Where the runs' output folders go [default: /dev/shm if present, so the disk is not what is measured].
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// Progress display on stderr.
    #[arg(long, value_enum, default_value_t = ProgressChoice::Auto)]
    progress: ProgressChoice,
}

/// Options of `flags spin`.
#[derive(clap::Args, Debug)]
struct SpinArgs {
    /// thread, async, blocking (async code that blocks: the spinner freezes) or async-offload.
    #[arg(long, value_enum, default_value_t = SpinMode::Thread)]
    mode: SpinMode,
    /// How long the slow function takes.
    #[arg(long, default_value = "3s", value_parser = duration, value_name = "DURATION")]
    seconds: Duration,
    /// Animate frames: auto (only on a terminal), always, never.
    #[arg(long, value_enum, default_value_t = ProgressChoice::Auto)]
    frames: ProgressChoice,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Preset {
    Local,
    Delay,
    Error,
}

fn positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a whole number")),
    }
}

fn rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("'{text}' is not a rate between 0.0 and 1.0")),
    }
}

fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| e.to_string())
}

fn positive_duration(text: &str) -> Result<Duration, String> {
    match duration(text)? {
        d if d.is_zero() => Err("must be more than 0".into()),
        d => Ok(d),
    }
}

fn percent(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%');
    match number.parse::<f64>() {
        Ok(p) if p >= 0.0 && p.is_finite() => Ok(p / 100.0),
        _ => Err(format!("'{text}' is not a percentage such as 10%")),
    }
}

fn size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (number, factor) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1024),
        Some('m' | 'M') => (&t[..t.len() - 1], 1024 * 1024),
        _ => (t, 1),
    };
    match number.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n * factor),
        _ => Err(format!("'{text}' is not a size such as 4M, 500K or 100000")),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => return usage_error(first_line(&error.to_string())),
    };
    let result = match cli.command {
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Bench(args)) => bench(*args),
        Some(Command::Spin(args)) => {
            let frames = args.frames.show(std::io::stdout().is_terminal());
            flags::spin::run(args.mode, args.seconds, flags::spin::Display { frames })
                .map(|_| ExitCode::SUCCESS)
                .context("spinner demo failed")
        }
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut Cli::command(), "flags", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        None => download(cli.download),
    };
    result.unwrap_or_else(|error| {
        eprintln!("flags: error: {error:#}");
        ExitCode::from(1)
    })
}

/// Usage errors exit with 2 and one line on stderr.
fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("flags: {message} (see --help)");
    ExitCode::from(2)
}

/// The first non-empty line of clap's error, without its `error: ` prefix
/// kept twice.
fn first_line(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or(text);
    let mut message = line.trim_start_matches("error: ").to_owned();
    if let Some(values) = text.lines().find(|l| l.contains("[possible values:")) {
        message.push_str(&format!(" {}", values.trim()));
    }
    message
}

fn download(args: DownloadArgs) -> Result<ExitCode> {
    let codes = match args.selection.codes() {
        Ok(codes) => codes,
        Err(error) => return Ok(usage_error(error)),
    };
    let codes = match args.count {
        Some(count) => Plan::repeat_codes(&codes, count),
        None => codes,
    };
    let concurrency = args
        .concurrency
        .unwrap_or_else(|| {
            if args.server.is_remote() {
                plan::REMOTE_CONCURRENCY
            } else {
                args.mode.default_concurrency()
            }
        })
        .min(codes.len().max(1));
    let concurrency = if args.mode == Mode::Sequential {
        1
    } else {
        concurrency
    };
    store::prepare_output_dir(&args.output)
        .with_context(|| format!("cannot write to output folder {}", args.output.display()))?;
    // One socket per connection, two when the embedded server is in-process.
    let sockets = if matches!(args.server, ServerChoice::Embedded) {
        2
    } else {
        1
    };
    flags::server::require_open_files(concurrency as u64 * sockets + 64)?;

    let embedded = match args.server {
        ServerChoice::Embedded => Some(
            BackgroundServer::start(ServerConfig {
                delay: args.server_delay,
                error_rate: args.server_error_rate,
                seed: args.server_seed,
                faults: args.server_fault.clone(),
                ..ServerConfig::default()
            })
            .context("cannot start the embedded flags server")?,
        ),
        ServerChoice::Url { .. } => None,
    };
    let base_url = match (&embedded, &args.server) {
        (Some(server), _) => server.base_url().to_owned(),
        (None, ServerChoice::Url { url, .. }) => url.clone(),
        (None, ServerChoice::Embedded) => bail!("embedded server missing"),
    };
    // The ideal is known when we control the server's latency.
    let known_delay = match (&embedded, args.server_delay) {
        (Some(_), Delay::None) => Some(Duration::ZERO),
        (Some(_), Delay::Fixed(d)) => Some(d),
        _ => None,
    };

    let plan = Arc::new(Plan {
        codes,
        base_url,
        output: args.output.clone(),
        concurrency,
        mode: args.mode,
        request: RequestOptions {
            timeout: args.timeout,
            connect_timeout: args.connect_timeout,
            retries: args.retries,
            max_size: args.max_size,
            names: args.names,
        },
        skip_existing: args.skip_existing,
        numbered: args.count.is_some(),
    });
    if !args.json {
        println!(
            "{}",
            progress::header(
                &args.server.label(),
                &plan.base_url,
                &plan.codes,
                concurrency,
                args.mode
            )
        );
    }
    cancel::install(Some(args.output.clone())).context("cannot install the Ctrl-C handler")?;

    let reporter = Arc::new(Reporter::new(
        plan.codes.len(),
        args.progress,
        args.verbose,
        args.json,
    ));
    let start = Instant::now();
    let plan = flags::download::drivers::skip_existing(plan, &reporter);
    drivers::drive(Arc::clone(&plan), Arc::clone(&reporter))?;
    let elapsed = start.elapsed();
    reporter.finish();
    let interrupted = cancel::is_cancelled();
    if interrupted {
        store::remove_leftovers(&args.output);
    }
    drop(embedded);

    let (counts, results) = reporter.snapshot();
    let report = RunReport {
        mode: args.mode,
        concurrency,
        server: plan.base_url.clone(),
        output: args.output.display().to_string(),
        planned: plan.codes.len() + counts.skipped,
        counts,
        interrupted,
        elapsed_seconds: elapsed.as_secs_f64(),
        ideal_seconds: known_delay
            .filter(|d| !d.is_zero())
            .map(|d| ideal_time(plan.codes.len(), concurrency, d).as_secs_f64()),
        results,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", progress::summary(&report));
    }
    Ok(if interrupted {
        ExitCode::from(cancel::EXIT_INTERRUPTED as u8)
    } else if report.counts.error > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn serve(args: ServeArgs) -> Result<ExitCode> {
    let (preset_port, preset_delay, preset_errors) = match args.preset {
        None | Some(Preset::Local) => (8000, Delay::None, 0.0),
        Some(Preset::Delay) => (8001, slow(), 0.0),
        Some(Preset::Error) => (8002, slow(), 0.25),
    };
    let config = ServerConfig {
        source: args.dir.map_or(DataSource::Embedded, DataSource::Dir),
        delay: args.delay.unwrap_or(preset_delay),
        error_rate: args.error_rate.unwrap_or(preset_errors),
        error_status: axum::http::StatusCode::from_u16(args.error_status)
            .context("invalid --error-status")?,
        seed: args.seed,
        faults: args.faults,
        drip_speed: args.drip_speed.max(1),
        verbose: args.verbose,
    };
    let addr = SocketAddr::new(args.bind, args.port.unwrap_or(preset_port));
    // A server with a low limit still serves; it says how many it can hold.
    let limit = server::raise_open_file_limit().context("cannot read the open-file limit")?;
    if limit < 10_240 {
        eprintln!(
            "flags serve: warning: the open-file limit is {limit}, so fewer than 10,000 connections can be open at once; raise it with ulimit -n"
        );
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        let mut stop = server::StopSignals::listen().context("cannot listen for Ctrl-C")?;
        let description = format!(
            "{} (delay {}, error rate {}, error status {})",
            match &config.source {
                DataSource::Embedded => "embedded data set".to_owned(),
                DataSource::Dir(dir) => dir.display().to_string(),
            },
            config.delay,
            config.error_rate,
            config.error_status.as_u16(),
        );
        let running = server::start(config, addr)
            .await
            .with_context(|| format!("cannot serve on {addr}"))?;
        println!(
            "Serving {description} on {} (open-file limit {limit})",
            running.base_url()
        );
        if std::io::stdout().is_terminal() {
            println!("Press Ctrl-C to stop.");
        }
        let why = stop.recv().await;
        eprintln!("{why}: stopping");
        running.shutdown().await.context("server error")?;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

fn slow() -> Delay {
    Delay::Range(Duration::from_millis(500), Duration::from_secs(5))
}

fn bench(args: BenchArgs) -> Result<ExitCode> {
    let codes = match args.selection.codes() {
        Ok(codes) => codes,
        Err(error) => return Ok(usage_error(error)),
    };
    if let Some(server) = &args.server {
        if let Err(error) = server.parse::<ServerChoice>() {
            return Ok(usage_error(error));
        }
    }
    let mut selection: Vec<String> = codes.clone();
    let jobs = match args.count {
        Some(count) => {
            selection.extend(["--count".to_owned(), count.to_string()]);
            Plan::repeat_codes(&codes, count)
        }
        None => codes,
    };
    // Read the baseline first: a bad file should fail before minutes of runs.
    let baseline = match &args.baseline {
        Some(path) => Some(read_bench_json(path, "baseline")?),
        None => None,
    };
    let earlier = match &args.from {
        Some(path) => Some(read_bench_json(path, "earlier export")?),
        None => None,
    };
    let workdir = args.workdir.clone().unwrap_or_else(|| {
        let shm = PathBuf::from("/dev/shm");
        if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        }
    });
    let max_concurrency = args.concurrency.iter().copied().max().unwrap_or(1) as u64;
    server::require_open_files(max_concurrency + 64)?;
    let config = flags::bench::BenchConfig {
        exe: std::env::current_exe().context("cannot find the flags binary")?,
        modes: args.modes.clone(),
        concurrency: args.concurrency.clone(),
        delays: args.delay.clone(),
        runs: args.runs,
        warmup: args.warmup,
        selection,
        jobs,
        server: args
            .server
            .clone()
            .map(|s| s.trim_end_matches('/').to_owned()),
        outside: args.vs.clone(),
        workdir,
        progress: args.progress,
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let report = match earlier {
        Some(report) => report,
        None => {
            cancel::install(None).context("cannot install the Ctrl-C handler")?;
            flags::bench::run(&config)?
        }
    };
    print!("{}", flags::bench::output::table(&report));
    let write = |path: &PathBuf, text: String| {
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    if let Some(path) = &args.export_json {
        write(path, serde_json::to_string_pretty(&report)?)?;
    }
    if let Some(path) = &args.export_csv {
        write(path, flags::bench::output::csv(&report))?;
    }
    if let Some(path) = &args.export_markdown {
        write(path, flags::bench::output::markdown(&report))?;
    }
    if let Some(path) = &args.plot {
        flags::bench::plot::plot(&report, path)?;
    }
    if let Some(baseline) = baseline {
        let (regressions, unmatched) =
            flags::bench::compare(&report, &baseline, args.max_regression);
        for key in &unmatched {
            println!("baseline: no comparable cell for {key}");
        }
        if !regressions.is_empty() {
            for r in &regressions {
                println!(
                    "REGRESSION {}: median {:.4}s vs baseline {:.4}s ({:+.1}%, allowed {:.1}%)",
                    r.key,
                    r.current,
                    r.baseline,
                    r.slowdown() * 100.0,
                    args.max_regression * 100.0
                );
            }
            return Ok(ExitCode::from(1));
        }
        println!(
            "baseline: no cell slower than {:.1}% over its baseline median",
            args.max_regression * 100.0
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn read_bench_json(path: &std::path::Path, what: &str) -> Result<flags::bench::BenchReport> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a flags bench JSON export", path.display()))
}
