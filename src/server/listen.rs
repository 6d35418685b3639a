//! The listener every server of the package uses (`flags serve`,
//! `charfinder tcp`, `charfinder http`), so that clients that hold resources
//! cannot take the server down:
//!
//! - a deep accept backlog, so a burst of thousands of connects queues;
//! - a cap on open connections ([`Limits::max_connections`], by default
//!   derived from the open-file limit): beyond it, new connections wait in
//!   the backlog until one closes, instead of exhausting file descriptors;
//! - when `accept` fails anyway (out of descriptors), a backoff, and one
//!   warning per interval instead of a line per failed accept;
//! - a header timeout: an HTTP request's head (or a TCP query line) must
//!   arrive within it, counted from when the server starts waiting: a
//!   connection that sends nothing, or half a request, is closed;
//! - an idle timeout: a connection that moves no byte either way for that
//!   long while the server is not working on its request (a client that
//!   stopped reading) is closed.
//!
//! The HTTP servers speak HTTP/1.1 and cleartext HTTP/2 (prior knowledge)
//! on the same port: [`serve_http`] tells them apart by the first bytes.
//! HTTP/2's own limits are set here on purpose, not left to the library:
//! [`Limits::max_streams`] streams at once per connection (more wait in the
//! client, as the protocol says), 1 MiB flow-control windows per stream and
//! per connection, request header lists of at most [`H2_MAX_HEADER_LIST`],
//! at most [`H2_MAX_PENDING_RESETS`] streams reset by the client before the
//! server took them up (the "rapid reset" attack, CVE-2023-44487), and no
//! keep-alive pings: a connection silent for the idle timeout is closed,
//! whichever protocol it speaks.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

/// How long a server gives the requests in flight after Ctrl-C or SIGTERM
/// before it stops without them: one grace period for every server.
pub const GRACE: Duration = Duration::from_secs(2);

/// The listen backlog: deep, so that bursts of connects are queued rather
/// than refused (the kernel caps it at `net.core.somaxconn`).
pub const BACKLOG: u32 = 65_535;

/// The bounds a server holds its connections to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request's head, or a query line, must arrive within this.
    pub header_timeout: Duration,
    /// A connection with no traffic for this long, while no request of its
    /// is being worked on, is closed.
    pub idle_timeout: Duration,
    /// Open connections at most; more wait in the backlog.
    pub max_connections: usize,
    /// HTTP/2 streams (requests) in flight at once on one connection: the
    /// server's `SETTINGS_MAX_CONCURRENT_STREAMS`.
    pub max_streams: u32,
}

/// The HTTP/2 streams a connection may have in flight by default: 128, as
/// nginx has it (`http2_max_concurrent_streams`).
pub const DEFAULT_MAX_STREAMS: u32 = 128;

/// The HTTP/2 flow-control window of a stream and of a connection: 1 MiB,
/// sixty of the largest flags.
pub const H2_WINDOW: u32 = 1024 * 1024;

/// The largest request header list an HTTP/2 client may send, in bytes as
/// HTTP/2 counts them (`SETTINGS_MAX_HEADER_LIST_SIZE`).
pub const H2_MAX_HEADER_LIST: u32 = 16 * 1024;

/// Streams a client may open and reset before the server took them up.
pub const H2_MAX_PENDING_RESETS: usize = 20;

impl Limits {
    /// Defaults: 10 s for a request head, 60 s idle, and as many
    /// connections as the open-file limit leaves room for.
    pub fn with_open_files(open_files: u64) -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: default_max_connections(open_files),
            max_streams: DEFAULT_MAX_STREAMS,
        }
    }
}

impl std::fmt::Display for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "at most {} connections ({} HTTP/2 streams each), header timeout {}, idle timeout {}",
            self.max_connections,
            self.max_streams,
            crate::duration::human(self.header_timeout),
            crate::duration::human(self.idle_timeout)
        )
    }
}

/// Connections the open-file limit leaves room for: all of it but a
/// hundred descriptors for the rest (files served, the log, the runtime).
pub fn default_max_connections(open_files: u64) -> usize {
    usize::try_from(open_files.saturating_sub(100).max(1)).unwrap_or(usize::MAX)
}

/// Binds `addr` (port 0 picks a free port) with a deep backlog.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// How often a repeated accept failure is reported.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// A listener that holds its connections to [`Limits`].
pub struct Listener {
    inner: TcpListener,
    limits: Limits,
    permits: Arc<Semaphore>,
    /// What the server is called in its warnings.
    name: &'static str,
    warned_full: Option<Instant>,
    warned_errors: Option<Instant>,
}

impl Listener {
    /// Listens on `inner` within `limits`; `name` prefixes its warnings.
    pub fn new(inner: TcpListener, limits: Limits, name: &'static str) -> Self {
        Self {
            inner,
            limits,
            permits: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            name,
            warned_full: None,
            warned_errors: None,
        }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The limits it holds connections to.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The next connection, once the cap allows one more: the connection
    /// counts against the cap until the returned stream is dropped.
    pub async fn accept(&mut self) -> (Guarded, SocketAddr) {
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if due(&mut self.warned_full) {
                    let cap = self.limits.max_connections;
                    tracing::warn!(
                        "{}: {cap} connections open, the most allowed; new ones wait until one closes",
                        self.name
                    );
                }
                match Arc::clone(&self.permits).acquire_owned().await {
                    Ok(permit) => permit,
                    Err(_) => std::future::pending().await,
                }
            }
        };
        let mut backoff = Duration::from_millis(10);
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    return (Guarded::new(stream, self.limits.idle_timeout, permit), peer);
                }
                Err(error) => {
                    // Out of file descriptors and the like: wait for some to
                    // close, backing off, and say so once in a while.
                    if due(&mut self.warned_errors) {
                        tracing::warn!(
                            "{}: accept failed: {error} (retrying; this is said once every {}s)",
                            self.name,
                            WARN_EVERY.as_secs()
                        );
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// `true`, and notes now, when the last warning is older than [`WARN_EVERY`].
fn due(last: &mut Option<Instant>) -> bool {
    let now = Instant::now();
    if last.is_some_and(|at| now.duration_since(at) < WARN_EVERY) {
        return false;
    }
    *last = Some(now);
    true
}

/// A connection held to the idle timeout, counting against the cap until
/// dropped. The server marks the time it works on a request with
/// [`Guarded::busy`]; the idle clock does not run then.
pub struct Guarded {
    stream: TcpStream,
    idle: Duration,
    /// When bytes last moved either way.
    moved: tokio::time::Instant,
    /// Armed for `idle` after some earlier move: when it fires, it is put
    /// off to `moved + idle` if bytes moved since, so that a busy
    /// connection touches the timer once per idle period, not per read.
    deadline: Pin<Box<Sleep>>,
    busy: Busy,
    _permit: OwnedSemaphorePermit,
}

impl Guarded {
    fn new(stream: TcpStream, idle: Duration, permit: OwnedSemaphorePermit) -> Self {
        Self {
            stream,
            idle,
            moved: tokio::time::Instant::now(),
            deadline: Box::pin(tokio::time::sleep(idle)),
            busy: Busy::default(),
            _permit: permit,
        }
    }

    /// The socket underneath, for what hyper does not expose (the `reset`
    /// faults set `SO_LINGER` on it).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// A handle to mark the time a request of this connection is worked on.
    pub fn busy(&self) -> Busy {
        self.busy.clone()
    }

    /// Bytes moved: the idle clock starts again.
    fn moved(&mut self) {
        self.moved = tokio::time::Instant::now();
    }

    /// When nothing moved: an error once the idle time is over, unless a
    /// request is being worked on.
    fn stalled(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        if self.busy.0.load(Ordering::Relaxed) > 0 {
            self.moved();
            return None;
        }
        loop {
            match self.deadline.as_mut().poll(cx) {
                Poll::Pending => return None,
                Poll::Ready(()) => {
                    let due = self.moved + self.idle;
                    if due <= tokio::time::Instant::now() {
                        return Some(io::Error::new(io::ErrorKind::TimedOut, "idle connection"));
                    }
                    self.deadline.as_mut().reset(due);
                }
            }
        }
    }

    /// The outcome of a read or write of the stream: a ready one passes
    /// through (restarting the idle clock when bytes `moved`), a pending
    /// one turns into an error once the connection has been idle too long.
    fn watched<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<R>>,
        moved: bool,
    ) -> Poll<io::Result<R>> {
        match poll {
            Poll::Ready(result) => {
                if moved {
                    self.moved();
                }
                Poll::Ready(result)
            }
            Poll::Pending => match self.stalled(cx) {
                Some(error) => Poll::Ready(Err(error)),
                None => Poll::Pending,
            },
        }
    }
}

/// Counts the requests of a connection being worked on.
#[derive(Debug, Clone, Default)]
pub struct Busy(Arc<AtomicUsize>);

impl Busy {
    /// Marks a request as being worked on until the guard drops.
    pub fn enter(&self) -> Working {
        self.0.fetch_add(1, Ordering::Relaxed);
        Working(self.clone())
    }
}

/// A request being worked on.
pub struct Working(Busy);

impl Drop for Working {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.stream).poll_read(cx, buf);
        let after = buf.filled().len();
        self.watched(cx, poll, after > before)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, data);
        self.watched(cx, poll, true)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watched(cx, poll, true)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Serves `router` over HTTP/1.1 and HTTP/2 (cleartext, prior knowledge)
/// on `listener` until `stop` completes, then gives the requests in flight
/// `grace` to finish. Each request carries `ConnectInfo(info(connection,
/// peer))` in its extensions; an HTTP/1.1 request's head must arrive within
/// the header timeout (hyper's own, which also closes a kept-alive
/// connection idle that long), and a request being handled stops the idle
/// clock. With `tls`, every connection is HTTPS, its handshake held to the
/// header timeout too, and ALPN chooses HTTP/2 or HTTP/1.1.
pub async fn serve_http<T>(
    mut listener: Listener,
    router: axum::Router,
    info: impl Fn(&Guarded, SocketAddr) -> T,
    stop: impl Future<Output = ()>,
    grace: Duration,
    tls: Option<Arc<rustls::ServerConfig>>,
) where
    T: Clone + Send + Sync + 'static,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let limits = listener.limits();
    let builder = Arc::new(http_builder(limits));
    let mut stop = std::pin::pin!(stop);
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let service = connection_service(router.clone(), info(&io, peer), io.busy());
        let watcher = graceful.watcher();
        let builder = Arc::clone(&builder);
        let acceptor = tls.clone().map(tokio_rustls::TlsAcceptor::from);
        tokio::spawn(async move {
            // hyper gives a connection its buffers (about 11 KB) at once; a
            // connection that has sent nothing yet waits without them, so
            // that thousands of idle ones cost little. It too must send
            // within the header timeout.
            let mut byte = [0u8; 1];
            let first_byte =
                tokio::time::timeout(limits.header_timeout, io.stream().peek(&mut byte)).await;
            if !matches!(first_byte, Ok(Ok(1))) {
                return;
            }
            match acceptor {
                None => {
                    let io = hyper_util::rt::TokioIo::new(io);
                    let _ = watcher.watch(builder.serve_connection(io, service)).await;
                }
                Some(_) if byte[0] != TLS_HANDSHAKE_RECORD => {
                    let _ =
                        tokio::time::timeout(limits.header_timeout, refuse_plain_http(io)).await;
                }
                Some(acceptor) => {
                    let handshake = acceptor.accept(io);
                    let Ok(Ok(io)) = tokio::time::timeout(limits.header_timeout, handshake).await
                    else {
                        return;
                    };
                    let io = hyper_util::rt::TokioIo::new(io);
                    let _ = watcher.watch(builder.serve_connection(io, service)).await;
                }
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
}

/// The first byte of every TLS connection: a handshake record's type.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// What a TLS port answers a client that speaks plain HTTP to it, as nginx
/// does: a 400 in plain text that says to use https, rather than a TLS
/// alert that the client cannot read. The request is read after the
/// answer (up to 64 KiB), so that closing with it unread does not reset
/// the connection under the answer.
async fn refuse_plain_http(mut io: Guarded) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const ANSWER: &str = "This port speaks HTTPS: use https:// to reach it.\n";
    let head = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{ANSWER}",
        ANSWER.len()
    );
    io.write_all(head.as_bytes()).await?;
    io.shutdown().await?;
    let mut sink = [0u8; 4096];
    let mut read = 0;
    while read < 64 * 1024 {
        match io.read(&mut sink).await? {
            0 => break,
            n => read += n,
        }
    }
    Ok(())
}

/// The service of one connection: `router`, with `info` in each request's
/// extensions, the connection `busy` while a request is worked on, and a
/// response marked [`ResetStream`] turned into an error (hyper then resets
/// the stream). `serve_http` serves each accepted connection with it; the
/// fuzz targets serve in-memory connections with it.
pub(crate) fn connection_service<T>(
    router: axum::Router,
    info: T,
    busy: Busy,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = ResetStream,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static
where
    T: Clone + Send + Sync + 'static,
{
    use tower::Service;

    hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(info.clone()));
        let working = busy.enter();
        let mut router = router.clone();
        async move {
            let Ok(response) = router.call(request).await;
            drop(working);
            match response.extensions().get::<ResetStream>() {
                Some(reset) => Err(*reset),
                None => Ok(response),
            }
        }
    })
}

/// A response that carries this extension is not sent: over HTTP/2 its
/// stream is reset (`RST_STREAM`) before any header, the others on the
/// connection going on; over HTTP/1.1 the connection closes. The `reset`
/// fault uses it over HTTP/2, where resetting the socket would take every
/// stream of the connection with it.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the stream is reset on purpose")]
pub struct ResetStream;

/// The connection builder of the HTTP servers: HTTP/1.1 or HTTP/2, told
/// apart by the connection's first bytes, each held to `limits`.
pub(crate) fn http_builder(
    limits: Limits,
) -> hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor> {
    use hyper_util::rt::{TokioExecutor, TokioTimer};

    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams)
        .initial_stream_window_size(H2_WINDOW)
        .initial_connection_window_size(H2_WINDOW)
        .max_header_list_size(H2_MAX_HEADER_LIST)
        .max_pending_accept_reset_streams(H2_MAX_PENDING_RESETS)
        .keep_alive_interval(None);
    builder
}
