//! `flags serve`: the flags server, with its presets, until Ctrl-C or SIGTERM.

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use axum::http::StatusCode;

use super::values;
use super::{Failure, Finish, usage};
use crate::server::config::{DataSource, Preset, ServerConfig};
use crate::server::delay::Delay;
use crate::server::faults::Fault;
use crate::server::listen::{self, Limits};
use crate::server::tls::ServerTls;
use crate::{errln, outln, server, sys};

const EXAMPLES: &str = "\
Examples:
  flags serve                                   the data set on http://127.0.0.1:8000/flags
  flags serve --preset error                    slow and flaky, on port 8002
  flags serve --port 0 --delay 100ms -v         a free port, 100 ms per request, a log line each
  flags serve --fault reset=0.1 --seed 7        resets 10% of requests, the same ones every time
  flags serve --tls                             HTTPS, with a CA of its own whose file it names";

/// Options of `flags serve`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Details and examples: --help", after_long_help = EXAMPLES)]
pub struct ServeArgs {
    /// Address or host name to listen on.
    #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
    pub bind: String,
    /// Port to listen on (0 picks a free one) [default: 8000, or the preset's].
    #[arg(short, long, value_name = "N", value_parser = values::port, allow_negative_numbers = true)]
    pub port: Option<u16>,
    /// Serve this folder (same <cc>/<cc>.gif layout) instead of the embedded data set.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// With --dir: how long a file is served from memory before it is checked again (0s: every request).
    #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = values::duration, allow_hyphen_values = true, requires = "dir")]
    pub recheck: Duration,
    /// Latency per request: 500ms, or a random range such as 0.5s..5s.
    #[arg(long, value_name = "DURATION", value_parser = values::delay, allow_hyphen_values = true, help_heading = "Simulation")]
    pub delay: Option<Delay>,
    /// Share of requests answered with --error-status (0.0 to 1.0).
    #[arg(long, value_name = "RATE", value_parser = values::rate, allow_negative_numbers = true, help_heading = "Simulation")]
    pub error_rate: Option<f64>,
    /// Status of simulated errors (400 to 599).
    #[arg(long, default_value_t = 418, value_name = "STATUS", value_parser = error_status, allow_negative_numbers = true, help_heading = "Simulation")]
    pub error_status: u16,
    /// Seed for reproducible delays and errors.
    #[arg(long, value_name = "N", value_parser = values::seed, allow_negative_numbers = true, help_heading = "Simulation")]
    pub seed: Option<u64>,
    /// Cause a fault on a share of requests (repeatable).
    ///
    /// KIND: reset, reset-body, truncate, drip, redirect-loop, huge,
    /// bad-json, hostile-name; RATE from 0 to 1.
    #[arg(long = "fault", value_name = "KIND=RATE", help_heading = "Simulation")]
    pub faults: Vec<Fault>,
    /// Speed of the drip fault, in bytes per second.
    #[arg(long, default_value_t = 1000, value_name = "BYTES", value_parser = values::count, allow_negative_numbers = true, help_heading = "Simulation")]
    pub drip_speed: usize,
    /// The classic set-up of the book's three servers.
    #[arg(long, value_enum, value_name = "NAME")]
    pub preset: Option<Preset>,
    /// Log one line per request.
    #[arg(short, long)]
    pub verbose: bool,
    /// Threads that answer requests [default: one per core].
    ///
    /// 1 runs every connection on one thread, as nginx's one worker does:
    /// on a machine the clients share, the server then leaves them a core.
    #[arg(long, value_name = "N", value_parser = values::workers, allow_negative_numbers = true)]
    pub workers: Option<u16>,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with a certificate for
    /// localhost made at start, signed by a CA it writes to a file it names.
    #[arg(long, help_heading = "HTTPS")]
    pub tls: bool,
    /// Serve HTTPS with this certificate chain (PEM) instead.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        help_heading = "HTTPS"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_cert",
        help_heading = "HTTPS"
    )]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Timeouts and the connection cap, shared by every server.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// A request's head (or a query line) must arrive within this; a
    /// connection that sends nothing is closed after it.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = values::positive_duration, allow_hyphen_values = true)]
    pub header_timeout: Duration,
    /// A connection with no traffic for this long, while none of its
    /// requests is being answered, is closed.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = values::positive_duration, allow_hyphen_values = true)]
    pub idle_timeout: Duration,
    /// Open connections at most; more wait until one closes [default: the
    /// open-file limit less 100].
    #[arg(long, value_name = "N", value_parser = values::count, allow_negative_numbers = true)]
    pub max_connections: Option<usize>,
    /// HTTP/2 requests in flight at once on one connection; a client
    /// holds more until one ends (HTTP/2 windows are 1 MiB, request
    /// headers at most 16 KiB, no keep-alive pings: see docs/server.md).
    #[arg(long, default_value_t = listen::DEFAULT_MAX_STREAMS, value_name = "N", value_parser = values::streams, allow_negative_numbers = true)]
    pub max_streams: u32,
}

impl LimitArgs {
    /// The limits, the connection cap derived from `open_files` unless given.
    pub fn limits(&self, open_files: u64) -> Limits {
        Limits {
            header_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self
                .max_connections
                .unwrap_or_else(|| listen::default_max_connections(open_files)),
            max_streams: self.max_streams,
        }
    }
}

fn error_status(text: &str) -> Result<u16, String> {
    match values::port(text)? {
        code @ 400..=599 => Ok(code),
        _ => Err(format!("'{text}' is not an error status (400 to 599)")),
    }
}

impl ServeArgs {
    /// The server's configuration: the preset's, with explicit options on top.
    fn config(&self) -> Result<(ServerConfig, u16), Failure> {
        let preset = self.preset.unwrap_or(Preset::Local);
        Fault::check_total(&self.faults).map_err(usage)?;
        let source = match &self.dir {
            None => DataSource::Embedded,
            Some(dir) if dir.is_dir() => DataSource::Dir(dir.clone()),
            Some(dir) if dir.exists() => {
                let error = anyhow::anyhow!("'{}' is a file, not a folder", dir.display());
                return Err(Failure::Runtime(error));
            }
            Some(dir) => {
                let error = anyhow::anyhow!("no such folder: {}", dir.display());
                return Err(Failure::Runtime(error));
            }
        };
        let config = ServerConfig {
            source,
            delay: self.delay.unwrap_or(preset.delay()),
            error_rate: self.error_rate.unwrap_or(preset.error_rate()),
            error_status: StatusCode::from_u16(self.error_status)
                .map_err(|_| usage(format!("invalid --error-status {}", self.error_status)))?,
            seed: self.seed,
            faults: self.faults.clone(),
            drip_speed: self.drip_speed as u64,
            recheck: self.recheck,
            limits: self
                .limits
                .limits(sys::raise_open_file_limit().unwrap_or(1024)),
            tls: self.tls()?,
        };
        Ok((config, self.port.unwrap_or(preset.port())))
    }

    /// HTTPS as asked: the operator's certificate, or one made now.
    fn tls(&self) -> Result<Option<ServerTls>, Failure> {
        let made = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => ServerTls::from_files(cert, key),
            _ if self.tls => ServerTls::made_here(),
            _ => return Ok(None),
        };
        made.map(Some).map_err(usage)
    }

    /// The address to listen on: `--bind` (an address or a host name) and the port.
    fn address(&self, port: u16) -> Result<SocketAddr, Failure> {
        (self.bind.as_str(), port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| usage(format!("cannot resolve --bind '{}'", self.bind)))
    }
}

/// Serves until Ctrl-C or SIGTERM.
pub fn run(args: ServeArgs) -> Result<Finish, Failure> {
    crate::logs::init(args.verbose);
    let (config, port) = args.config()?;
    let addr = args.address(port)?;
    // A server with a low limit still serves; it says how many it can hold.
    let limit = sys::raise_open_file_limit().context("cannot read the open-file limit")?;
    if limit < 10_240 {
        errln!(
            "flags serve: warning: the open-file limit is {limit}, so fewer than 10,000 connections can be open at once; raise it with ulimit -n"
        );
    }
    let limits = config.limits;
    let ca_pem = config.tls.as_ref().and_then(|tls| tls.ca_pem.clone());
    let runtime = server_runtime(args.workers).context("cannot start the tokio runtime")?;
    let served = runtime.block_on(async move {
        let mut stop = sys::StopSignals::listen().context("cannot listen for Ctrl-C")?;
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
            .with_context(|| format!("cannot listen on {addr}"))?;
        outln!(
            "Serving {description} on {} (open-file limit {limit}; {limits})",
            running.base_url()
        );
        if let Some(ca_pem) = &ca_pem {
            let path = write_ca(ca_pem, running.port())?;
            outln!(
                "HTTPS: its CA is {}\n  trust it with --cacert (curl, flags) or SSL_CERT_FILE (Python)",
                path.display()
            );
        }
        if std::io::stdout().is_terminal() {
            outln!("Press Ctrl-C to stop.");
        }
        let why = stop.recv().await;
        errln!("{why}: stopping");
        running
            .shutdown(listen::GRACE)
            .await
            .context("server error")?;
        Ok(Finish::Done)
    });
    // A request stuck on the file system must not hold the exit up.
    runtime.shutdown_timeout(Duration::from_millis(500));
    served
}

/// Writes the CA of `flags serve --tls` on `port` where clients can read
/// it, whole or not at all: `flags-serve-ca-PORT.pem` in the temporary
/// folder.
fn write_ca(pem: &str, port: u16) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    let folder = std::env::temp_dir();
    let path = folder.join(format!("flags-serve-ca-{port}.pem"));
    let mut file = tempfile::NamedTempFile::new_in(&folder)
        .with_context(|| format!("cannot write the CA in {}", folder.display()))?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.persist(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The server's runtime: `workers` threads, or one per core; one thread is
/// tokio's current-thread scheduler, with no work to share between threads.
fn server_runtime(workers: Option<u16>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match workers {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(usize::from(n));
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build()
}
