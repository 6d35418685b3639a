//! The flags server: serves the data set at `/flags/<cc>/<cc>.gif` and
//! `/flags/<cc>/metadata.json`, and can simulate latency and errors so that
//! the three download models can be compared against a slow, flaky server.
//!
//! It runs on axum (over hyper and tokio): axum gives routing, `HEAD`
//! handling and graceful shutdown, the simulated faults need only a
//! handler, and the listener of every server (`listen.rs`) holds the
//! connection-level limits (cap, timeouts, HTTP/2's settings).

pub mod config;
pub(crate) mod connection;
pub mod delay;
pub mod faults;
pub(crate) mod folder;
pub(crate) mod handler;
pub mod listen;
pub mod tls;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{DataSource, ServerConfig};
use connection::connection;
use folder::Folder;
use handler::{ServerState, router};

use listen::Listener;

/// A server running on a tokio runtime, with its address and a way to stop it.
pub(crate) struct RunningServer {
    addr: SocketAddr,
    /// Whether it speaks HTTPS.
    https: bool,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl RunningServer {
    /// The base URL of the flags, e.g. `http://127.0.0.1:8000/flags`.
    pub fn base_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}/flags", self.addr)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stops accepting connections and gives the requests in flight up to
    /// `grace` to finish; those still running then are dropped.
    pub(crate) async fn shutdown(mut self, grace: Duration) -> io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match tokio::time::timeout(grace, &mut self.task).await {
            Ok(Ok(result)) => result,
            // The serving task panicked: a bug, carried on as one.
            Ok(Err(join)) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Ok(Err(_)) => Ok(()),
            Err(_) => {
                self.task.abort();
                Ok(())
            }
        }
    }
}

/// Starts the flags server on the current tokio runtime.
pub(crate) async fn start(config: ServerConfig, addr: SocketAddr) -> io::Result<RunningServer> {
    let folder = match &config.source {
        DataSource::Embedded => None,
        DataSource::Dir(dir) => Some(
            Folder::open(dir, config.recheck)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?,
        ),
    };
    let limits = config.limits;
    let tls = config.tls.as_ref().map(|tls| Arc::clone(&tls.config));
    let https = tls.is_some();
    let state = Arc::new(ServerState::new(config, folder));
    let listener = Listener::new(listen::bind(addr)?, limits, "flags serve");
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let stop = async {
        let _ = rx.await;
    };
    let app = router(state);
    let task = tokio::spawn(async move {
        // The requests in flight get their time in `shutdown`.
        let grace = Duration::from_secs(3600);
        listen::serve_http(listener, app, connection, stop, grace, tls).await;
        Ok(())
    });
    Ok(RunningServer {
        addr,
        https,
        shutdown: Some(tx),
        task,
    })
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
            // Its only client is this process, which is done with it (or
            // was interrupted and abandons what is in flight).
            let _ = runtime.block_on(server.shutdown(Duration::from_millis(100)));
            runtime.shutdown_timeout(Duration::from_millis(100));
        }
    }
}
