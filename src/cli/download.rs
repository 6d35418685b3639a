//! `flags [OPTIONS] [CC]...`: the main job. The options, the server they
//! name (started in the process when it is the embedded one), and the run.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::values::{self, ProgressChoice, SaveArg};
use super::{Failure, Finish, usage};
use crate::download::Spans;
use crate::download::observers::progress::{Display, Lines, Progress, Stdout};
use crate::download::observers::report::{self, Ending};
use crate::download::observers::timeline::Recording;
use crate::download::observers::{trace, waterfall};
use crate::download::pipeline::store::OutputDir;
use crate::download::pipeline::trust::Trust;
use crate::download::plan::{self, Mode, Plan, RequestOptions, Runtime, SaveOptions};
use crate::files::{check_writable, write_atomic};
use crate::server::BackgroundServer;
use crate::server::config::{Preset, ServerConfig};
use crate::server::delay::Delay;
use crate::server::faults::Fault;
use crate::server::tls::ServerTls;
use crate::{outln, sys};

/// Which countries, shared by downloading and benchmarking.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Selection")]
pub struct SelectionArgs {
    /// Country codes: BR, or one letter for its 26 codes (B = BA..BZ)
    /// [default: the 20 most populous countries].
    #[arg(value_name = "CC")]
    pub codes: Vec<String>,
    /// All 194 codes of the data set.
    #[arg(short, long)]
    pub all: bool,
    /// All 676 codes AA..ZZ (482 of them are not found).
    #[arg(short, long, conflicts_with = "all")]
    pub every: bool,
    /// Keep the first N codes (sorted).
    #[arg(short, long, value_name = "N", value_parser = values::count, allow_negative_numbers = true)]
    pub limit: Option<usize>,
}

impl SelectionArgs {
    /// The codes selected, sorted.
    pub fn codes(&self) -> Result<Vec<String>, Failure> {
        plan::select_codes(&self.codes, self.all, self.every, self.limit).map_err(usage)
    }
}

/// Options of the main job, downloading flags.
#[derive(clap::Args, Debug)]
pub struct DownloadArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Download N flags in all, cycling through the codes.
    ///
    /// Each is saved as <CC>-<n>.gif: a workload larger than the data set,
    /// for benchmarks.
    #[arg(long, value_name = "N", value_parser = values::downloads, allow_negative_numbers = true, conflicts_with_all = ["names", "skip_existing"], help_heading = "Selection")]
    pub count: Option<usize>,
    /// How requests are driven.
    #[arg(long, value_enum, default_value_t = Mode::Async, value_name = "MODE", help_heading = "Requests")]
    pub mode: Mode,
    /// Requests in flight at most [default: 30 threaded, 100 async, 5 against remote].
    ///
    /// Never more than the number of downloads; refused in sequential mode,
    /// which makes one request at a time.
    #[arg(short = 'm', long, aliases = ["max-req", "max_req"], value_name = "N", value_parser = values::count, allow_negative_numbers = true, help_heading = "Requests")]
    pub concurrency: Option<usize>,
    /// Time limit of a whole request, body included.
    #[arg(long, default_value = "10s", value_parser = values::positive_duration, value_name = "DURATION", allow_hyphen_values = true, help_heading = "Requests")]
    pub timeout: Duration,
    /// Time limit of establishing a connection.
    #[arg(long, default_value = "3s", value_parser = values::positive_duration, value_name = "DURATION", allow_hyphen_values = true, help_heading = "Requests")]
    pub connect_timeout: Duration,
    /// Extra attempts after a timeout, a reset, a 5xx, 418 or 429.
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = values::retries, allow_negative_numbers = true, help_heading = "Requests")]
    pub retries: u32,
    /// Async mode: every request an HTTP/2 stream.
    ///
    /// Prior knowledge over http://, ALPN over https://. Without it every
    /// mode speaks HTTP/1.1, even to an https:// server that offers h2.
    #[arg(long, help_heading = "Requests")]
    pub http2: bool,
    /// With --http2: spread the streams over N connections [default: 1].
    #[arg(long, value_name = "N", value_parser = values::count, allow_negative_numbers = true, requires = "http2", help_heading = "Requests")]
    pub connections: Option<usize>,
    /// With --http2: streams in flight at most on one connection; the
    /// others wait their turn, their timeout not yet running [default: 100,
    /// the least a server is advised to allow].
    #[arg(long, value_name = "N", value_parser = values::streams, allow_negative_numbers = true, requires = "http2", help_heading = "Requests")]
    pub streams: Option<u32>,
    /// Also trust the CA certificates of this PEM file over https.
    ///
    /// Added to the system's trust store, which SSL_CERT_FILE and
    /// SSL_CERT_DIR replace as they do for curl.
    #[arg(long, value_name = "FILE", help_heading = "Requests")]
    pub cacert: Option<std::path::PathBuf>,
    /// Do not check https certificates (the header says so).
    #[arg(
        short = 'k',
        long,
        conflicts_with = "cacert",
        help_heading = "Requests"
    )]
    pub insecure: bool,
    /// The embedded server speaks HTTPS, its CA trusted for this run.
    #[arg(long, help_heading = "Server")]
    pub tls: bool,
    /// Largest body accepted (suffixes K and M).
    #[arg(long, default_value = "4M", value_parser = values::size, value_name = "BYTES", allow_negative_numbers = true, help_heading = "Requests")]
    pub max_size: u64,
    /// embedded, local, delay, error, remote, or a base URL.
    ///
    /// local, delay and error are `flags serve --preset` on this machine
    /// (ports 8000-8002); remote is the book's site; a URL looks like
    /// http://host:8000/flags.
    #[arg(
        short,
        long,
        default_value = "embedded",
        value_name = "URL",
        help_heading = "Server"
    )]
    pub server: ServerChoice,
    /// Latency of the embedded server per request [default: 100ms..300ms].
    ///
    /// A duration (100ms), a random range (0.5s..5s), or 0 for instant
    /// answers. The default is a distant site's.
    #[arg(long, value_name = "DURATION", value_parser = values::delay, allow_hyphen_values = true, help_heading = "Server")]
    pub server_delay: Option<Delay>,
    /// The known latency of the server at --server (a flags server started
    /// with --delay), for the ideal time and the timeline's title; `flags
    /// bench` passes it to each run.
    #[arg(long, value_name = "DURATION", value_parser = values::duration, hide = true)]
    pub server_latency: Option<Duration>,
    /// Share of requests the embedded server answers with 418, 0 to 1 [default: 0].
    #[arg(long, value_name = "RATE", value_parser = values::rate, allow_negative_numbers = true, help_heading = "Server")]
    pub server_error_rate: Option<f64>,
    /// Seed of the embedded server's random delays, errors and faults.
    #[arg(long, value_name = "N", value_parser = values::seed, allow_negative_numbers = true, help_heading = "Server")]
    pub server_seed: Option<u64>,
    /// A fault of the embedded server, as `flags serve --fault` (repeatable).
    #[arg(long, value_name = "KIND=RATE", help_heading = "Server")]
    pub server_fault: Vec<Fault>,
    /// Folder to save the flags in (created if missing).
    #[arg(
        short,
        long,
        default_value = "downloaded",
        value_name = "DIR",
        help_heading = "Output"
    )]
    pub output: PathBuf,
    /// Fetch metadata.json first; save as <CC>-<Country_Name>.gif.
    #[arg(long, help_heading = "Output")]
    pub names: bool,
    /// Do not request codes whose file is already saved.
    #[arg(long, help_heading = "Output")]
    pub skip_existing: bool,
    /// One line per code as it finishes, and one per retry.
    #[arg(short, long, help_heading = "Output")]
    pub verbose: bool,
    /// Only errors, one line per failed code on stderr.
    ///
    /// No header, no summary, no progress display.
    #[arg(short, long, conflicts_with_all = ["verbose", "json"], help_heading = "Output")]
    pub quiet: bool,
    /// One JSON object instead of the text header and summary.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// Live progress display on stderr.
    #[arg(long, value_enum, default_value_t = ProgressChoice::Auto, value_name = "WHEN", help_heading = "Output")]
    pub progress: ProgressChoice,
    /// Write the run's timeline in the Chrome Trace Event format.
    ///
    /// It opens in ui.perfetto.dev and chrome://tracing.
    #[arg(long, value_name = "FILE", help_heading = "See it")]
    pub trace: Option<PathBuf>,
    /// Draw the run as an SVG waterfall, one row per download.
    #[arg(long, value_name = "FILE", help_heading = "See it")]
    pub timeline: Option<PathBuf>,
    /// Async mode: a worker thread per core, or one thread as asyncio.
    ///
    /// multi: one worker thread per core; current: every task on one thread,
    /// as asyncio does.
    #[arg(long, value_enum, value_name = "RUNTIME", help_heading = "See it")]
    pub runtime: Option<Runtime>,
    /// Async mode: save on the blocking pool, or inline (the mistake).
    ///
    /// offload: on the runtime's blocking pool; inline: with std::fs in the
    /// task itself, blocking the event loop on purpose.
    #[arg(long, value_enum, value_name = "WHERE", help_heading = "See it")]
    pub save: Option<SaveArg>,
    /// Make every save take at least this long: a slow disk.
    ///
    /// FLAGS_SAVE_DELAY sets it for every run a bench or a script starts.
    #[arg(long, env = "FLAGS_SAVE_DELAY", value_name = "DURATION", default_value = "0ms", value_parser = values::duration, allow_hyphen_values = true, help_heading = "See it")]
    pub save_delay: Duration,
    /// Before exiting, sleep this share of the run's own time: a build
    /// made slower on purpose, exactly, which benches/gate gives its
    /// regression gate to catch. FLAGS_SLOWDOWN sets it.
    #[arg(long, env = "FLAGS_SLOWDOWN", value_name = "PERCENT", default_value = "0%", value_parser = values::percent, hide = true)]
    pub slowdown: f64,
}

/// The real public server used by "Fluent Python".
pub const REMOTE_URL: &str = "https://www.fluentpython.com/data/flags";

/// Where to download from, as given to `--server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerChoice {
    /// A server started inside this process on 127.0.0.1:0.
    Embedded,
    /// A preset label (`local`, `delay`, `error`, `remote`) or a URL.
    Url {
        /// `local`, `delay`, `error`, `remote` or `url`.
        label: String,
        /// Base URL without a trailing slash.
        url: String,
    },
}

impl ServerChoice {
    /// The label shown in the header (`EMBEDDED`, `LOCAL`, `REMOTE`, `URL`).
    pub fn label(&self) -> String {
        match self {
            ServerChoice::Embedded => "EMBEDDED".into(),
            ServerChoice::Url { label, .. } => label.to_uppercase(),
        }
    }

    /// `true` for the real public server, which gets a polite concurrency.
    pub fn is_remote(&self) -> bool {
        matches!(self, ServerChoice::Url { url, .. } if url == REMOTE_URL)
    }
}

/// Why a `--server` value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown server '{0}': expected embedded, local, delay, error, remote or an http(s) URL")]
pub struct ServerChoiceError(String);

impl FromStr for ServerChoice {
    type Err = ServerChoiceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let named = |label: &str, url: String| ServerChoice::Url {
            label: label.into(),
            url,
        };
        let lower = s.to_ascii_lowercase();
        if lower == "embedded" {
            return Ok(ServerChoice::Embedded);
        }
        if lower == "remote" {
            return Ok(named("remote", REMOTE_URL.into()));
        }
        if let Some(preset) = Preset::ALL.into_iter().find(|p| p.name() == lower) {
            return Ok(named(preset.name(), preset.url()));
        }
        let url = url::Url::parse(s).map_err(|_| ServerChoiceError(s.into()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(ServerChoiceError(s.into()));
        }
        Ok(named("url", s.trim_end_matches('/').to_owned()))
    }
}

/// The embedded server's latency when none is given: a site across an
/// ocean, where a request on a fresh connection takes one to three round
/// trips of 50 to 150 ms. With it, the first run shows what concurrency
/// buys; `--server-delay 0` gives the instant server.
pub const DEFAULT_EMBEDDED_DELAY: Delay =
    Delay::Range(Duration::from_millis(100), Duration::from_millis(300));

/// The environment variable that changes the embedded server's default
/// latency (`FLAGS_SERVER_DELAY=0` for instant answers in every run).
pub const DELAY_VARIABLE: &str = "FLAGS_SERVER_DELAY";

/// The embedded server's latency when `--server-delay` is not given:
/// [`DELAY_VARIABLE`] when set, else [`DEFAULT_EMBEDDED_DELAY`].
fn default_embedded_delay() -> Result<Delay, Failure> {
    match std::env::var(DELAY_VARIABLE) {
        Ok(text) => values::delay(&text).map_err(|why| usage(format!("{DELAY_VARIABLE}: {why}"))),
        Err(_) => Ok(DEFAULT_EMBEDDED_DELAY),
    }
}

/// What the embedded server simulates, for the header's second line:
/// `simulating a distant site: 100ms..300ms per request`.
fn simulated(config: &ServerConfig) -> String {
    let mut parts = vec![match config.delay {
        Delay::None => "no simulated latency".to_owned(),
        Delay::Fixed(d) => format!("simulating {} per request", crate::duration::human(d)),
        Delay::Range(..) if config.delay == DEFAULT_EMBEDDED_DELAY => {
            format!("simulating a distant site: {} per request", config.delay)
        }
        Delay::Range(..) => format!("simulating {} per request", config.delay),
    }];
    if config.error_rate > 0.0 {
        parts.push(format!("{:.0}% errors", config.error_rate * 100.0));
    }
    for fault in &config.faults {
        parts.push(format!("fault {}={}", fault.kind, fault.rate));
    }
    if let Some(seed) = config.seed {
        parts.push(format!("seed {seed}"));
    }
    parts.join(", ")
}

impl DownloadArgs {
    /// The embedded server's configuration, or a usage error when options
    /// for it are given with another server.
    fn embedded_config(&self) -> Result<Option<ServerConfig>, Failure> {
        let given = self.server_delay.is_some()
            || self.server_error_rate.is_some()
            || self.server_seed.is_some()
            || !self.server_fault.is_empty();
        match self.server {
            ServerChoice::Embedded => {
                Fault::check_total(&self.server_fault).map_err(usage)?;
                let delay = match self.server_delay {
                    Some(delay) => delay,
                    None => default_embedded_delay()?,
                };
                let random = matches!(delay, Delay::Range(..))
                    || self.server_error_rate.is_some_and(|rate| rate > 0.0)
                    || !self.server_fault.is_empty();
                if self.server_seed.is_some() && !random {
                    return Err(usage(
                        "--server-seed draws the embedded server's random delays, errors and faults again; with a fixed --server-delay and no errors or faults there is nothing to draw",
                    ));
                }
                Ok(Some(ServerConfig {
                    delay,
                    error_rate: self.server_error_rate.unwrap_or(0.0),
                    seed: self.server_seed,
                    faults: self.server_fault.clone(),
                    ..ServerConfig::default()
                }))
            }
            ServerChoice::Url { .. } if given => Err(usage(
                "--server-delay, --server-error-rate, --server-seed and --server-fault shape the embedded server; they cannot change another --server",
            )),
            ServerChoice::Url { .. } => Ok(None),
        }
    }
}

/// Downloads the flags: checks everything it can before any request (codes,
/// options, output folder, open-file limit), then runs and reports.
pub fn run(args: DownloadArgs) -> Result<Finish, Failure> {
    let started = std::time::Instant::now();
    args.check_combinations()?;
    let codes = args.selection.codes()?;
    let embedded_config = args.embedded_config()?;
    let mode = args.mode;
    let (runtime, save) = args.runtime_and_save(mode)?;
    args.check_outputs()?;
    let jobs = match args.count {
        Some(count) => Plan::repeat_codes(&codes, count),
        None => codes,
    };
    let output = OutputDir::prepare(&args.output).map_err(anyhow::Error::from)?;
    let concurrency = mode.concurrency(args.concurrency, args.server.is_remote(), jobs.len());
    sys::require_open_files(plan::open_files_needed(
        concurrency,
        embedded_config.is_some(),
    ))?;
    let mut trust = args.trust()?;
    let mut notes = Vec::new();
    if trust.insecure {
        notes.push("Insecure: https certificates are not checked (--insecure).".to_owned());
    }
    if let Some(asked) = args.concurrency.filter(|asked| *asked > concurrency) {
        notes.push(format!(
            "Concurrency: {asked} requested, {concurrency} used: only {}.",
            crate::text::count(jobs.len(), "flag", "flags")
        ));
    }
    let (http2, streams) = args.http2_limits(concurrency, &mut notes);
    let site = embedded_config.as_ref().map(simulated);
    // The server first: the plan is made once, with its URL and latency.
    let (embedded, base_url, server_delay) = match embedded_config {
        Some(config) => {
            let (server, delay) = start_embedded(config, args.tls, &mut trust)?;
            let url = server.base_url().to_owned();
            (Some(server), url, delay)
        }
        None => match &args.server {
            ServerChoice::Url { url, .. } => (None, url.clone(), args.server_latency),
            ServerChoice::Embedded => unreachable!("the embedded server has a configuration"),
        },
    };
    let plan = Plan {
        server_delay,
        request: RequestOptions {
            timeout: args.timeout,
            connect_timeout: args.connect_timeout,
            retries: args.retries,
            max_size: args.max_size,
            names: args.names,
            http2,
            streams,
            trust,
        },
        skip_existing: args.skip_existing,
        numbered: args.count.is_some(),
        runtime,
        save,
        ..Plan::new(jobs, base_url, mode, concurrency)
    };
    if !args.json && !args.quiet {
        let site = match site {
            // On a line of its own: with the URL, it passed 80 columns.
            Some(simulated) => format!("{}\n  {simulated}", plan.base_url),
            None => plan.base_url.clone(),
        };
        outln!(
            "{}",
            report::header(&args.server.label(), &site, &plan, &notes)
        );
    }
    let cancel = CancellationToken::new();
    sys::on_interrupt(
        cancel.clone(),
        "interrupted: finishing the downloads in flight (Ctrl-C again to exit now)",
    )
    .context("cannot install the Ctrl-C handler")?;
    let progress = args.progress(plan.codes.len());
    let server_delay = plan.server_delay;
    let spans = match args.trace.is_some() || args.timeline.is_some() {
        true => Spans::Recorded,
        false => Spans::Unrecorded,
    };
    let (report, recording) = crate::download::run(plan, output, progress, cancel, spans)?;
    drop(embedded);
    if let Some(recording) = &recording {
        args.write_recording(recording, &report, server_delay)?;
    }
    if args.json {
        let json = crate::text::json_pretty(&report).context("cannot write the report")?;
        outln!("{json}");
    } else if !args.quiet {
        outln!("{}", report::summary(&report));
    }
    let slower = started.elapsed().as_secs_f64() * args.slowdown;
    if let Ok(slower) = Duration::try_from_secs_f64(slower.min(3600.0)) {
        std::thread::sleep(slower);
    }
    Ok(match report.ending() {
        Ending::Clean => Finish::Done,
        Ending::Errors => Finish::Errors,
        Ending::Interrupted => Finish::Interrupted,
    })
}

impl DownloadArgs {
    /// Refuses options that cannot go together, before anything runs.
    fn check_combinations(&self) -> Result<(), Failure> {
        if self.all_with_codes() {
            return Err(usage(
                "--all and --every already select their codes; give codes or one of them, not both",
            ));
        }
        if self.tls && matches!(self.server, ServerChoice::Url { .. }) {
            return Err(usage(
                "--tls makes the embedded server speak HTTPS; another --server speaks what its URL says (https://...)",
            ));
        }
        let mode = self.mode;
        if mode == Mode::Sequential && self.concurrency.is_some() {
            return Err(usage(
                "--concurrency does nothing in sequential mode, which makes one request at a time; use --mode threaded or async",
            ));
        }
        if self.http2 && mode != Mode::Async {
            return Err(usage(format!(
                "--http2 needs --mode async: the {mode} mode's client ({}) speaks HTTP/1.1 only",
                mode.client()
            )));
        }
        Ok(())
    }

    /// What the run trusts over https: `--cacert`, `--insecure`.
    fn trust(&self) -> Result<Trust, Failure> {
        Ok(Trust {
            cacert: match &self.cacert {
                Some(path) => Trust::read_cacert(path).map_err(usage)?,
                None => Vec::new(),
            },
            insecure: self.insecure,
        })
    }

    /// With `--http2`, its connections (at most one per request in flight)
    /// and streams per connection; a note for each limit that binds.
    fn http2_limits(&self, concurrency: usize, notes: &mut Vec<String>) -> (Option<usize>, usize) {
        let streams = self.streams.map_or(plan::DEFAULT_STREAMS, |n| n as usize);
        if !self.http2 {
            return (None, streams);
        }
        let asked = self.connections.unwrap_or(1);
        if asked > concurrency {
            notes.push(format!(
                "Connections: {asked} requested, {concurrency} used: one per request in flight at most."
            ));
        }
        let connections = asked.min(concurrency);
        let most = connections.saturating_mul(streams);
        if most < concurrency {
            notes.push(format!(
                "HTTP/2: {} × {streams} streams: {most} in flight at most (--streams).",
                crate::text::count(connections, "connection", "connections"),
            ));
        }
        (Some(connections), streams)
    }

    /// The live display and the lines of `total` codes, as asked.
    fn progress(&self, total: usize) -> Progress {
        let shown = match (self.quiet, self.progress) {
            (true, ProgressChoice::Auto) => false,
            (_, choice) => choice.show(std::io::stderr().is_terminal()),
        };
        let lines = match (self.quiet, self.verbose) {
            (true, _) => Lines::Errors,
            (_, true) => Lines::All,
            _ => Lines::None,
        };
        let display = if shown {
            Display::Live
        } else {
            Display::Hidden
        };
        let stdout = if self.json {
            Stdout::Json
        } else {
            Stdout::Text
        };
        Progress::new(total, display, lines, stdout)
    }

    /// Writes the run's `--trace` and `--timeline`, each whole or not at all.
    fn write_recording(
        &self,
        recording: &Recording,
        report: &report::RunReport,
        server_delay: Option<Duration>,
    ) -> Result<(), Failure> {
        if let Some(path) = &self.trace {
            let trace = trace::chrome_trace(recording, report).to_string();
            write_atomic(path, trace.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        if let Some(path) = &self.timeline {
            let svg = waterfall::svg(recording, report, server_delay)?;
            write_atomic(path, svg.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}

/// Starts the embedded server of `config`, over HTTPS with `tls` (its CA
/// then trusted for this run only): the server, and its latency when it is
/// fixed, for the ideal time.
fn start_embedded(
    mut config: ServerConfig,
    tls: bool,
    trust: &mut Trust,
) -> Result<(BackgroundServer, Option<Duration>), Failure> {
    if tls {
        let made =
            ServerTls::made_here().context("cannot make the embedded server's certificate")?;
        trust.cacert.extend(made.ca_der());
        config.tls = Some(made);
    }
    let delay = match config.delay {
        Delay::None => Some(Duration::ZERO),
        Delay::Fixed(d) => Some(d),
        Delay::Range(..) => None,
    };
    let server =
        BackgroundServer::start(config).context("cannot start the embedded flags server")?;
    Ok((server, delay))
}

impl DownloadArgs {
    /// The async mode's runtime and the saves, refused in a mode they do
    /// not apply to.
    fn runtime_and_save(&self, mode: Mode) -> Result<(Runtime, SaveOptions), Failure> {
        if mode != Mode::Async && (self.runtime.is_some() || self.save.is_some()) {
            return Err(usage(
                "--runtime and --save choose how the async mode runs; use them with --mode async",
            ));
        }
        let runtime = self.runtime.unwrap_or_default();
        let save = SaveOptions {
            inline: self.save == Some(SaveArg::Inline),
            delay: self.save_delay,
        };
        Ok((runtime, save))
    }

    /// Checks `--trace` and `--timeline` before anything runs.
    fn check_outputs(&self) -> Result<(), Failure> {
        if let Some(path) = &self.trace {
            check_writable(path, &["json"], "a Chrome trace")?;
        }
        if let Some(path) = &self.timeline {
            check_writable(path, &["svg"], "an SVG timeline")?;
        }
        Ok(())
    }

    /// `-a BR` or `-e BR`: codes that the selection would silently drop.
    fn all_with_codes(&self) -> bool {
        (self.selection.all || self.selection.every) && !self.selection.codes.is_empty()
    }
}
