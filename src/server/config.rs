//! What shapes how the flags server answers: where its files come from, its
//! simulated latency, errors and faults, and the classic presets.

use std::path::PathBuf;
use std::time::Duration;

use axum::http::StatusCode;

use super::delay::Delay;
use super::faults::Fault;
use crate::server::listen::Limits;

/// Where the server's files come from.
#[derive(Debug, Clone, Default)]
pub enum DataSource {
    /// The data set compiled into the binary.
    #[default]
    Embedded,
    /// A folder with the same `<cc>/<cc>.gif` layout; files are read per request.
    Dir(PathBuf),
}

/// Everything that shapes how the server answers.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where files come from.
    pub source: DataSource,
    /// Simulated latency per request.
    pub delay: Delay,
    /// Share of requests (0.0 to 1.0) answered with `error_status` instead of the file.
    pub error_rate: f64,
    /// The status of simulated errors (418 by default, as the classic slow server).
    pub error_status: StatusCode,
    /// Seed for delays and errors; `None` draws a random one.
    pub seed: Option<u64>,
    /// Faults to cause on purpose, each on its share of requests.
    pub faults: Vec<Fault>,
    /// Speed of the `drip` fault, in bytes per second.
    pub drip_speed: u64,
    /// Timeouts and the connection cap.
    pub limits: Limits,
    /// How long a `--dir` file's bytes are served as kept before the file
    /// is checked again (zero: at every request).
    pub recheck: Duration,
    /// HTTPS instead of cleartext (`--tls`).
    pub tls: Option<crate::server::tls::ServerTls>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            source: DataSource::Embedded,
            delay: Delay::None,
            error_rate: 0.0,
            error_status: StatusCode::IM_A_TEAPOT,
            seed: None,
            faults: Vec::new(),
            drip_speed: 1000,
            recheck: Duration::from_secs(1),
            tls: None,
            limits: Limits::with_open_files(
                rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft),
            ),
        }
    }
}

/// The classic set-up of three servers, as in "Fluent Python": a fast one,
/// a slow one and a slow, flaky one, on ports 8000, 8001 and 8002.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// Port 8000, no delay.
    Local,
    /// Port 8001, 0.5 to 5 s per request.
    Delay,
    /// Port 8002, 0.5 to 5 s per request and 25 % errors.
    Error,
}

impl Preset {
    /// Every preset, in port order.
    pub(crate) const ALL: [Preset; 3] = [Preset::Local, Preset::Delay, Preset::Error];

    /// Its name on the command line (`--preset`, `-s`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Preset::Local => "local",
            Preset::Delay => "delay",
            Preset::Error => "error",
        }
    }

    /// The port it listens on.
    pub(crate) fn port(self) -> u16 {
        match self {
            Preset::Local => 8000,
            Preset::Delay => 8001,
            Preset::Error => 8002,
        }
    }

    /// Its latency.
    pub(crate) fn delay(self) -> Delay {
        match self {
            Preset::Local => Delay::None,
            Preset::Delay | Preset::Error => {
                Delay::Range(Duration::from_millis(500), Duration::from_secs(5))
            }
        }
    }

    /// Its share of errors.
    pub(crate) fn error_rate(self) -> f64 {
        match self {
            Preset::Error => 0.25,
            _ => 0.0,
        }
    }

    /// Its base URL on this machine, for the downloader's `-s local` etc.
    pub(crate) fn url(self) -> String {
        format!("http://localhost:{}/flags", self.port())
    }
}
