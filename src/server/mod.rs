//! The flags server: serves the data set at `/flags/<cc>/<cc>.gif` and
//! `/flags/<cc>/metadata.json`, and can simulate latency and errors so that
//! the three download models can be compared against a slow, flaky server.
//!
//! It runs on axum (over hyper and tokio): axum gives routing, `HEAD` handling
//! and graceful shutdown for free, while the simulated faults only need a
//! handler, so nothing lower-level is warranted.

pub mod delay;
pub mod faults;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io;
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::dataset;
use delay::Delay;
use faults::{Fault, FaultKind, FaultyRequest};

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
    /// Log one line per request to stderr.
    pub verbose: bool,
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
            verbose: false,
        }
    }
}

/// Shared state of a running server.
struct ServerState {
    config: ServerConfig,
    /// Canonical `--dir`, so that symlinks pointing out of it can be refused.
    root: Option<PathBuf>,
    seed: u64,
    /// How many times each path was requested: the n-th request of a path gets
    /// its own random draw, so a retry can succeed where the first try failed,
    /// and the same seed gives the same answers whatever the arrival order.
    hits: Mutex<HashMap<String, u64>>,
}

impl ServerState {
    /// The random source of one request, reproducible from the seed.
    fn rng_for(&self, path: &str) -> StdRng {
        let nth = {
            let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
            match hits.get_mut(path) {
                Some(n) => {
                    *n += 1;
                    *n
                }
                None => {
                    hits.insert(path.to_owned(), 1);
                    1
                }
            }
        };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (self.seed, path, nth).hash(&mut hasher);
        StdRng::seed_from_u64(hasher.finish())
    }
}

/// Builds the router of the flags server.
fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/flags/{cc}/{file}", get(serve_flag_file))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri, State(state): State<Arc<ServerState>>) -> Response {
    if state.config.verbose {
        eprintln!("{method} {uri} -> 404 Not Found");
    }
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// `true` when `cc` is two lower-case ASCII letters and `file` is one of its two files.
fn is_valid_request(cc: &str, file: &str) -> bool {
    cc.len() == 2
        && cc.bytes().all(|b| b.is_ascii_lowercase())
        && (file == "metadata.json" || file.strip_suffix(".gif") == Some(cc))
}

async fn serve_flag_file(
    State(state): State<Arc<ServerState>>,
    ConnectInfo(conn): ConnectInfo<Connection>,
    Path((cc, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    method: Method,
) -> Response {
    let path = format!("/flags/{cc}/{file}");
    let log = |status: &dyn std::fmt::Display, delay: Duration| {
        if state.config.verbose {
            let code = cc.to_ascii_uppercase();
            eprintln!("{method} {path} {code} -> {status} (delay {delay:.2?})");
        }
    };
    if !is_valid_request(&cc, &file) {
        log(&StatusCode::NOT_FOUND, Duration::ZERO);
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    let is_metadata = file == "metadata.json";
    let content_type = if is_metadata {
        "application/json"
    } else {
        "image/gif"
    };
    // A request already in the redirect loop stays in it.
    let hop = query
        .as_deref()
        .and_then(|q| q.strip_prefix("hop="))
        .and_then(|n| n.parse::<u32>().ok());
    let (delay, fail, fault) = match hop {
        Some(_) => (Duration::ZERO, false, Some(FaultKind::RedirectLoop)),
        None => {
            let mut rng = state.rng_for(&path);
            let delay = state.config.delay.sample(&mut rng);
            let fail = rng.gen_bool(state.config.error_rate.clamp(0.0, 1.0));
            let fault = faults::pick(&state.config.faults, rng.gen(), is_metadata);
            (delay, fail, fault)
        }
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if fail {
        let status = state.config.error_status;
        log(&status, delay);
        let reason = status.canonical_reason().unwrap_or("simulated error");
        let mut response = (status, format!("{reason}\n")).into_response();
        if matches!(status.as_u16(), 429 | 503) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        return response;
    }
    let Some(bytes) = load(&state, &cc, &file).await else {
        log(&StatusCode::NOT_FOUND, delay);
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    if let Some(kind) = fault {
        log(&format_args!("fault {kind}"), delay);
        let request = FaultyRequest {
            code: &cc,
            path: &path,
            hop: hop.unwrap_or(0),
            fd: conn.fd,
            drip_speed: state.config.drip_speed,
        };
        return faults::respond(kind, bytes, content_type, request);
    }
    log(&StatusCode::OK, delay);
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Reads one file of the data set; `None` when it does not exist or would
/// lead outside the data set.
async fn load(state: &ServerState, cc: &str, file: &str) -> Option<Bytes> {
    match &state.root {
        None => dataset::embedded_file(&format!("{cc}/{file}")).map(Bytes::from_static),
        Some(root) => {
            let real = tokio::fs::canonicalize(root.join(cc).join(file))
                .await
                .ok()?;
            if !real.starts_with(root) {
                return None;
            }
            tokio::fs::read(real).await.ok().map(Bytes::from)
        }
    }
}

/// A server running on a tokio runtime, with its address and a way to stop it.
pub struct RunningServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl RunningServer {
    /// The address it listens on (with the real port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL of the flags, e.g. `http://127.0.0.1:8000/flags`.
    pub fn base_url(&self) -> String {
        format!("http://{}/flags", self.addr)
    }

    /// Stops accepting connections and waits for the server to finish.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match tokio::time::timeout(Duration::from_secs(2), &mut self.task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(io::Error::other(join)),
            Err(_) => {
                self.task.abort();
                Ok(())
            }
        }
    }

    /// Waits until the server stops by itself (it only does on an I/O error).
    pub async fn wait(self) -> io::Result<()> {
        self.task.await.map_err(io::Error::other)?
    }
}

/// What the handler knows of a connection: the peer, and the socket, so that
/// the `reset` faults can make its close a TCP reset.
#[derive(Debug, Clone, Copy)]
pub struct Connection {
    /// The client's address.
    pub peer: SocketAddr,
    /// The connection's socket (`None` for the listener's own address).
    pub fd: Option<std::os::fd::RawFd>,
}

/// The server's listener: a tokio listener that tags each connection with its
/// socket, and rides out accept errors such as running out of file descriptors.
struct FlagsListener(tokio::net::TcpListener);

impl axum::serve::Listener for FlagsListener {
    type Io = tokio::net::TcpStream;
    type Addr = Connection;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let fd = Some(std::os::fd::AsRawFd::as_raw_fd(&stream));
                    return (stream, Connection { peer, fd });
                }
                Err(error) => {
                    // EMFILE and friends: wait for connections to close.
                    eprintln!("flags serve: accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Connection {
            peer: self.0.local_addr()?,
            fd: None,
        })
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, FlagsListener>>
    for Connection
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, FlagsListener>) -> Self {
        *stream.remote_addr()
    }
}

/// Binds `addr` (port 0 picks a free port) with a deep accept backlog, so that
/// thousands of clients connecting at once are queued rather than refused.
fn bind(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(65_535)
}

/// Starts the flags server on the current tokio runtime.
pub async fn start(config: ServerConfig, addr: SocketAddr) -> io::Result<RunningServer> {
    let root = match &config.source {
        DataSource::Embedded => None,
        DataSource::Dir(dir) => Some(canonical_dir(dir)?),
    };
    let seed = config.seed.unwrap_or_else(rand::random);
    let state = Arc::new(ServerState {
        config,
        root,
        seed,
        hits: Mutex::new(HashMap::new()),
    });
    let listener = bind(addr)?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let app = router(state).into_make_service_with_connect_info::<Connection>();
    let task = tokio::spawn(async move {
        axum::serve(FlagsListener(listener), app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    Ok(RunningServer {
        addr,
        shutdown: Some(tx),
        task,
    })
}

fn canonical_dir(dir: &FsPath) -> io::Result<PathBuf> {
    let real = std::fs::canonicalize(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    if !real.is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    Ok(real)
}

/// A flags server on its own small runtime, for callers that are not async
/// (the downloader's sequential and threaded modes, tests). Stopped on drop.
pub struct BackgroundServer {
    runtime: Option<tokio::runtime::Runtime>,
    server: Option<RunningServer>,
    base_url: String,
}

impl BackgroundServer {
    /// Starts a server with `config` on `127.0.0.1:0`.
    pub fn start(config: ServerConfig) -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(4)
            .thread_name("flags-server")
            .enable_all()
            .build()?;
        let server = runtime.block_on(start(config, SocketAddr::from(([127, 0, 0, 1], 0))))?;
        Ok(Self {
            base_url: server.base_url(),
            runtime: Some(runtime),
            server: Some(server),
        })
    }

    /// The base URL of the flags, e.g. `http://127.0.0.1:40123/flags`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let (Some(runtime), Some(server)) = (self.runtime.take(), self.server.take()) {
            let _ = runtime.block_on(server.shutdown());
            runtime.shutdown_timeout(Duration::from_millis(500));
        }
    }
}

/// Raises the open-file soft limit as far as the hard limit allows, so that
/// thousands of connections can be open at once; returns the new soft limit.
pub fn raise_open_file_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Raises the open-file limit and fails with a clear message when even the
/// hard limit is below `needed`, before any connection is made.
pub fn require_open_files(needed: u64) -> io::Result<u64> {
    let limit = raise_open_file_limit()?;
    if limit < needed {
        return Err(io::Error::other(format!(
            "the open-file limit is {limit} but {needed} are needed; raise it (ulimit -n) or lower the concurrency"
        )));
    }
    Ok(limit)
}

/// Ctrl-C and SIGTERM for a long-running server, listened for from the moment
/// this is made. Make it before announcing the address: a signal that arrives
/// between the announcement and the first wait must stop the server cleanly,
/// not kill it with the default action (tokio installs its handler only when
/// a listener is created).
pub struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Starts listening; must be called inside a tokio runtime.
    pub fn listen() -> io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Completes on the first Ctrl-C or SIGTERM and says which it was.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "interrupted",
            _ = self.terminate.recv() => "terminated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_files_of_a_code_are_valid() {
        assert!(is_valid_request("br", "br.gif"));
        assert!(is_valid_request("br", "metadata.json"));
        assert!(!is_valid_request("br", "us.gif"));
        assert!(!is_valid_request("..", "metadata.json"));
        assert!(!is_valid_request("BR", "BR.gif"));
        assert!(!is_valid_request("b", "b.gif"));
        assert!(!is_valid_request("br", "../br.gif"));
    }
}
