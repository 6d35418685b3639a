//! The async client of the async mode: hyper's client (hyper-util) on
//! tokio, with rustls for https.
//!
//! hyper-util's client is the engine of reqwest; the async mode drives it
//! directly, as the blocking modes drive ureq. reqwest's own layers cost
//! a download 40 % more instructions than ureq's whole client (it parsed
//! each URL twice, and passed each request through a redirect layer and a
//! retry layer that `flags` does not use: its contract follows redirects
//! and its policy retries); `benches/instructions` measures it.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Uri;
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{CaptureConnection, HttpConnector, capture_connection};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::timeout_at;

use crate::download::Run;
use crate::download::contract::{self, Cause, Framing, Next, Stage};
use crate::download::lookup::{LookupError, Lookups};
use crate::download::plan::RequestOptions;
use crate::download::retry::RetryPolicy;
use crate::download::status::{CodeResult, FetchError};
use url::Url;

use super::{
    Attempt, FlagContext, Saved, Target, io_cause, parse_country, root_message, save_flag,
};
use crate::download::timeline::{ConnectionStep, Phase, Recorder, Step};

/// An HTTP client of the run: its connections counted, its names looked
/// up by the run's lookups, https by rustls.
type HttpClient = Client<Counted<HttpsConnector<Proxied>>, Empty<Bytes>>;

/// How many times a request the server refused before processing it (an
/// HTTP/2 `REFUSED_STREAM`, or a graceful `GOAWAY`) is sent again at once,
/// on top of the first: reqwest's default, which `flags` kept. Nothing of
/// such a request was processed, so this is not one of `--retries`.
const RESENDS_OF_REFUSED: usize = 2;

/// The async client of the async mode: hyper-util's client. Over HTTP/1.1
/// it is one client, whose pool keeps idle connections to the server for
/// the downloads still to start; over HTTP/2 it is one client per
/// connection (`--connections N`), each holding one connection that
/// carries its downloads' requests as streams: job `j` rides connection
/// `j % N`. Like the blocking client, it follows no redirects itself: the
/// contract decides.
pub(crate) struct AsyncClient {
    clients: Vec<HttpClient>,
    policy: RetryPolicy,
    max_size: u64,
    /// Bounds each request, from its sending to its body's last byte.
    timeout: Duration,
    /// Whether the clients speak HTTP/2 (else HTTP/1.1).
    http2: bool,
    /// Downloads in all, how many have started, and the signal that all
    /// have: from then on, an HTTP/1.1 connection bringing a flag is closed
    /// after it, not kept idle for a request that will never come (see
    /// [`Self::send`]).
    downloads: usize,
    started: AtomicUsize,
    all_started: Notify,
    concurrency: usize,
}

impl AsyncClient {
    /// The client of `run`: `concurrency` downloads in flight,
    /// `downloads` in all.
    pub(crate) fn new(run: &Arc<Run>) -> Result<Self, ClientError> {
        let options = &run.plan.request;
        let proxy = env_proxy()?.map(Arc::new);
        // HTTPS (the remote server) with rustls over ring and the bundled
        // Mozilla roots, as ureq has it: the same trust in every mode, and
        // no reading of the system's certificate folder at every start.
        let tls = tls_config()?;
        let build = |connection: Option<usize>| {
            let mut http = HttpConnector::new_with_resolver(AsyncLookups(Arc::clone(&run.lookups)));
            // https:// too: the TLS connector wraps this one.
            http.enforce_http(false);
            // A request is one small write: send it at once.
            http.set_nodelay(true);
            let http = Proxied {
                http,
                proxy: proxy.clone(),
            };
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls.clone())
                .https_or_http();
            let mut builder = Client::builder(TokioExecutor::new());
            builder
                .timer(TokioTimer::new())
                .pool_timer(TokioTimer::new())
                // HTTP/1.1's Host header is set by `send`.
                .set_host(false);
            let https = match connection {
                // HTTP/1.1 only, even where TLS offers h2, so that the
                // models stay comparable.
                None => {
                    builder.pool_max_idle_per_host(idle_connections(
                        options,
                        run.plan.concurrency,
                        run.plan.codes.len(),
                    ));
                    https.enable_http1().wrap_connector(http)
                }
                // Prior knowledge over http://, ALPN offering h2 alone
                // over https://; a response head as large as the contract
                // allows.
                Some(_) => {
                    builder
                        .http2_only(true)
                        .http2_max_header_list_size(contract::MAX_HEAD as u32)
                        .pool_max_idle_per_host(1);
                    https.enable_http2().wrap_connector(http)
                }
            };
            builder.build(Counted {
                inner: https,
                connects: Connects {
                    run: Arc::clone(run),
                    connection,
                    timeout: options.connect_timeout,
                },
            })
        };
        let clients = match options.http2 {
            None => vec![build(None)],
            Some(connections) => (0..connections.max(1)).map(|c| build(Some(c))).collect(),
        };
        Ok(Self {
            clients,
            policy: RetryPolicy::new(options.retries),
            max_size: options.max_size,
            timeout: options.timeout,
            http2: options.http2.is_some(),
            downloads: run.plan.codes.len(),
            started: AtomicUsize::new(0),
            all_started: Notify::new(),
            concurrency: run.plan.concurrency,
        })
    }

    /// The client of job `job`'s connection.
    fn client(&self, job: usize) -> &HttpClient {
        &self.clients[job % self.clients.len()]
    }

    /// Downloads job `job` of the run (metadata first with `--names`) and
    /// saves it; the two steps are plain `.await`s one after the other.
    pub(crate) async fn download_flag(&self, run: &Arc<Run>, job: usize) -> CodeResult {
        if self.started.fetch_add(1, Ordering::SeqCst) + 1 == self.downloads {
            self.all_started.notify_waiters();
        }
        let mut ctx = FlagContext::new(run, job);
        let outcome = self.try_download_flag(run, &mut ctx).await;
        ctx.finish(outcome)
    }

    async fn try_download_flag(
        &self,
        run: &Arc<Run>,
        ctx: &mut FlagContext<'_>,
    ) -> Result<Saved, FetchError> {
        if run.plan.request.names {
            let metadata = self.get(run, ctx, Target::Metadata).await?;
            ctx.country = Some(parse_country(&metadata)?);
        }
        let gif = self.get(run, ctx, Target::Flag).await?;
        if run.plan.save.inline {
            // The blocking mistake, on purpose: std::fs on the runtime's thread.
            return save_flag(run, ctx.recorder, ctx.code, ctx.label().as_deref(), &gif);
        }
        let (saver, code, label) = (Arc::clone(run), ctx.code.to_owned(), ctx.label());
        let (job, lane) = (ctx.recorder.job(), ctx.recorder.lane());
        let connection = ctx.recorder.connection();
        tokio::task::spawn_blocking(move || {
            let recorder =
                Recorder::new(saver.timeline.as_ref(), job, &code, lane).on_connection(connection);
            save_flag(&saver, recorder, &code, label.as_deref(), &gif)
        })
        .await
        .map_err(|e| FetchError::Save(e.to_string()))?
    }

    /// GET with retries.
    async fn get(
        &self,
        run: &Run,
        ctx: &mut FlagContext<'_>,
        target: Target,
    ) -> Result<Bytes, FetchError> {
        let url = target.url(run, ctx.code);
        let mut attempt = 0;
        loop {
            match self
                .get_once(
                    run,
                    ctx,
                    &url,
                    Attempt {
                        target,
                        number: attempt,
                    },
                )
                .await
            {
                Err(error) => {
                    let wait = ctx.retry_or_give_up(&self.policy, error, &mut attempt, run)?;
                    let waited = Instant::now();
                    tokio::time::sleep(wait).await;
                    let step = Step {
                        phase: Phase::Backoff,
                        target,
                        attempt,
                    };
                    ctx.recorder.record(step, waited);
                }
                body => return body,
            }
        }
    }

    /// One GET, its redirects followed and its body judged by the contract;
    /// each request and body is a span of the timeline.
    async fn get_once(
        &self,
        run: &Run,
        ctx: &FlagContext<'_>,
        url: &Url,
        attempt: Attempt,
    ) -> Result<Bytes, FetchError> {
        let mut request = contract::Request::new(url.clone(), self.max_size);
        loop {
            let _in_flight = run.gauges.request();
            let sent = Instant::now();
            let deadline = tokio::time::Instant::from_std(sent + self.timeout);
            let response =
                timeout_at(deadline, self.send(ctx, request.url(), attempt.target)).await;
            attempt.record(ctx, Phase::Request, sent);
            let response = response.unwrap_or(Err(Cause::Timeout)).map_err(|cause| {
                if cause == Cause::Refused {
                    ctx.recorder.goaway();
                }
                contract::verdict(cause, Stage::Head)
            })?;
            let Next::Read(framing) =
                request.judge(response.version(), response.status(), response.headers())?
            else {
                continue;
            };
            let receiving = Instant::now();
            let mut body = response.into_body();
            let body_error = |e: hyper::Error| contract::verdict(error_cause(&e), Stage::Body);
            let read = async {
                match framing {
                    // A length the contract allowed: hyper holds the body to
                    // it, and one chunk (the usual case) is kept without a
                    // copy.
                    Framing::Length(_) => Ok(body.collect().await.map_err(body_error)?.to_bytes()),
                    // Otherwise the cap is checked chunk by chunk.
                    _ => {
                        let mut bytes = Vec::new();
                        while let Some(frame) = body.frame().await {
                            if let Ok(data) = frame.map_err(body_error)?.into_data() {
                                bytes.extend_from_slice(&data);
                                request.check_size(bytes.len() as u64)?;
                            }
                        }
                        Ok(Bytes::from(bytes))
                    }
                }
            };
            let read = timeout_at(deadline, read)
                .await
                .unwrap_or(Err(FetchError::Timeout));
            attempt.record(ctx, Phase::Body, receiving);
            let body = read?;
            framing.check(body.len() as u64)?;
            return Ok(body);
        }
    }

    /// Sends a GET of `url` and waits for the answer's head; a request the
    /// server refused before processing it is sent again at once, at most
    /// [`RESENDS_OF_REFUSED`] times.
    ///
    /// A flag still awaited when every download has started is the last
    /// its HTTP/1.1 connection will carry: the connection is closed when
    /// its body ends, during the run's last round trip, where the pool
    /// would have kept it idle and closed it at the end, after the last
    /// download (a thousand connections take 20 ms to close, on the run's
    /// clock). An answer that sends again (a redirect, a retry) takes a new
    /// connection.
    async fn send(
        &self,
        ctx: &FlagContext<'_>,
        url: &Url,
        target: Target,
    ) -> Result<http::Response<hyper::body::Incoming>, Cause> {
        // The contract lets through only URLs that parse as a URI.
        let uri: http::Uri = url
            .as_str()
            .parse()
            .map_err(|e| Cause::Other(format!("cannot send to {url}: {e}")))?;
        // The Host header of HTTP/1.1, made here from the URI's authority
        // (the url crate leaves out a default port and a user has no place
        // in it): hyper's own formats it anew for every request, a twentieth
        // of a download's instructions. HTTP/2 carries it as `:authority`.
        let host = match (&self.http2, uri.authority()) {
            (false, Some(authority)) => {
                let host = authority.as_str().rsplit('@').next().unwrap_or_default();
                Some(
                    http::HeaderValue::from_str(host)
                        .map_err(|e| Cause::Other(format!("cannot send to {url}: {e}")))?,
                )
            }
            _ => None,
        };
        let job = ctx.recorder.job();
        let client = self.client(job);
        // Only the last round's requests can be the last of a connection.
        let may_be_last =
            !self.http2 && target == Target::Flag && job + self.concurrency >= self.downloads;
        let mut resends = 0;
        loop {
            let mut request = http::Request::new(Empty::new());
            *request.uri_mut() = uri.clone();
            let headers = request.headers_mut();
            if let Some(host) = &host {
                headers.insert(http::header::HOST, host.clone());
            }
            headers.insert(http::header::ACCEPT, http::HeaderValue::from_static("*/*"));
            let connection = may_be_last.then(|| capture_connection(&mut request));
            let response = client.request(request);
            let response = match connection {
                Some(connection) => self.closing_if_last(response, connection).await,
                None => response.await,
            };
            match response {
                Ok(response) => return Ok(response),
                Err(error) if resends < RESENDS_OF_REFUSED && refused_before_processing(&error) => {
                    resends += 1;
                }
                Err(error) => return Err(error_cause(&error)),
            }
        }
    }

    /// Awaits `response`; if every download starts before it arrives, marks
    /// its connection so that the pool drops it after the body instead of
    /// keeping it. Marking it later would be too late: a small answer's
    /// connection goes back to the pool as its head arrives.
    async fn closing_if_last<F: Future>(
        &self,
        response: F,
        mut connection: CaptureConnection,
    ) -> F::Output {
        let poison = async {
            let notified = self.all_started.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.started.load(Ordering::SeqCst) < self.downloads {
                notified.await;
            }
            if let Some(connected) = &*connection.wait_for_connection_metadata().await {
                connected.poison();
            }
        };
        tokio::pin!(response);
        tokio::select! {
            biased;
            response = &mut response => return response,
            () = poison => {}
        }
        response.await
    }
}

/// The idle connections worth keeping: one per download in flight, but
/// never more than the downloads left to start when the first ones end
/// (`downloads - concurrency`), as no other request could take them up;
/// with `--names` a flag follows its metadata on the same connection.
/// hyper keeps about 30 KB per connection: 10,000 downloads at concurrency
/// 10,000 kept every finished one open until the end of the run.
fn idle_connections(options: &RequestOptions, concurrency: usize, downloads: usize) -> usize {
    if options.names {
        concurrency
    } else {
        concurrency.min(downloads.saturating_sub(concurrency))
    }
}

/// The errors of an error's chain, itself first.
fn chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |e: &&'a (dyn StdError + 'static)| {
        (*e).source()
    })
}

/// Whether the server refused a request before processing it, so that it
/// can be sent again as it is (RFC 9113 8.7): a `REFUSED_STREAM`, or a
/// graceful `GOAWAY` (`NO_ERROR`) that did not count it among the
/// processed.
fn refused_before_processing(error: &hyper_util::client::legacy::Error) -> bool {
    chain(error).any(|e| {
        e.downcast_ref::<h2::Error>().is_some_and(|h2| {
            h2.is_remote()
                && ((h2.is_go_away() && h2.reason() == Some(h2::Reason::NO_ERROR))
                    || (h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM)))
        })
    })
}

/// What an error of the client (hyper's, the connector's, the TLS
/// library's) means, in the contract's terms.
fn error_cause(error: &(dyn StdError + 'static)) -> Cause {
    let connect = error
        .downcast_ref::<hyper_util::client::legacy::Error>()
        .is_some_and(|e| e.is_connect());
    if connect {
        for e in chain(error) {
            if let Some(io) = e.downcast_ref::<io::Error>() {
                match io.kind() {
                    io::ErrorKind::TimedOut => return Cause::Timeout,
                    // The same words as the blocking client's.
                    io::ErrorKind::ConnectionRefused => {
                        return Cause::Connect("connection refused".into());
                    }
                    _ => {}
                }
            }
        }
        return Cause::Connect(root_message(error));
    }
    for e in chain(error) {
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            if hyper.is_parse() || hyper.is_parse_status() || hyper.is_parse_too_large() {
                return Cause::Invalid(root_message(hyper));
            }
            if hyper.is_timeout() {
                return Cause::Timeout;
            }
            if hyper.is_incomplete_message() {
                return Cause::Eof;
            }
        } else if let Some(h2) = e.downcast_ref::<h2::Error>() {
            return h2_cause(h2);
        } else if let Some(io) = e.downcast_ref::<io::Error>() {
            // A chunk's data followed by CR, then not LF: ureq waits for
            // the LF and stalls when the connection ends, which it cannot
            // tell from a cut; the body did not arrive as framed, in both
            // clients: truncated. (Data longer than its chunk size, where
            // no CR follows, is invalid in both: "Invalid chunk body CR".)
            if io.to_string() == "Invalid chunk body LF" {
                return Cause::Eof;
            }
            return io_cause(io);
        }
    }
    Cause::Other(root_message(error))
}

/// What an HTTP/2 error means, in the contract's terms, so that each lie
/// gets the verdict of its HTTP/1.1 twin:
///
/// - a stream above the last one of the server's `GOAWAY`, or reset with
///   `REFUSED_STREAM`, was refused before processing: safe to send again;
/// - any other reset by the server (`RST_STREAM`) is a reset: before the
///   headers, "connection reset"; in the body, a truncated body;
/// - a stream our h2 library reset is a malformed one: in the body, DATA
///   that disagree with `Content-Length` (h2 refuses DATA that fall short
///   of it or overshoot it alike, and says which only in its debug log), so
///   a truncated body; before the headers, an invalid response;
/// - a connection our library gave up on (a `GOAWAY` it sent) did not speak
///   HTTP/2, such as a server that answers the preface in HTTP/1.1;
/// - the connection's own I/O errors are read as the blocking client reads
///   them.
fn h2_cause(error: &h2::Error) -> Cause {
    if let Some(io) = error.get_io() {
        return io_cause(io);
    }
    let reason = error.reason().unwrap_or(h2::Reason::INTERNAL_ERROR);
    if error.is_remote() {
        if error.is_go_away() || reason == h2::Reason::REFUSED_STREAM {
            return Cause::Refused;
        }
        return Cause::Reset;
    }
    if error.is_reset() && reason == h2::Reason::PROTOCOL_ERROR {
        return Cause::Malformed(format!("HTTP/2 stream error ({reason:?})"));
    }
    if error.is_go_away() && error.is_library() {
        return Cause::Invalid(format!("not HTTP/2 ({reason:?})"));
    }
    Cause::Other(error.to_string())
}

/// The run's lookups as the connector's resolver: a host name is looked
/// up once per run, on the blocking pool (`getaddrinfo` blocks); a name
/// already known answers at once (the connector itself reads IP addresses).
#[derive(Clone)]
struct AsyncLookups(Arc<Lookups>);

/// What a resolver's answer becomes: addresses of port 0, for the
/// connector to give the URL's port.
type Resolving =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, LookupError>> + Send>>;

impl tower_service::Service<Name> for AsyncLookups {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = LookupError;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), LookupError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        if let Some(answer) = self.0.known(&host) {
            return Box::pin(std::future::ready(addresses(answer)));
        }
        let lookups = Arc::clone(&self.0);
        Box::pin(async move {
            let why = |error: tokio::task::JoinError| LookupError::Failed {
                host: name.as_str().to_owned(),
                why: error.to_string(),
            };
            addresses(
                tokio::task::spawn_blocking(move || lookups.resolve(&host))
                    .await
                    .map_err(why)?,
            )
        })
    }
}

/// A lookup's answer as the connector takes it (port 0: the URL's is used).
fn addresses(
    answer: Result<Arc<[std::net::IpAddr]>, LookupError>,
) -> Result<std::vec::IntoIter<SocketAddr>, LookupError> {
    let ips = answer?;
    let addrs: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect();
    Ok(addrs.into_iter())
}

/// What a client's connector counts and bounds: the connections it opens
/// and, over HTTP/2, each connect as a step of its connection; the connect
/// timeout bounds a connect whole (look-up, TCP and TLS).
#[derive(Clone)]
struct Connects {
    run: Arc<Run>,
    /// The HTTP/2 connection this client holds, if it holds one.
    connection: Option<usize>,
    timeout: Duration,
}

/// A connector whose connections are counted and bounded.
#[derive(Clone)]
struct Counted<S> {
    inner: S,
    connects: Connects,
}

/// An error of the connector, any kind.
type BoxError = Box<dyn StdError + Send + Sync>;

impl<S, R> tower_service::Service<R> for Counted<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let started = Instant::now();
        let connecting = self.inner.call(request);
        let connects = self.connects.clone();
        Box::pin(async move {
            let connection = tokio::time::timeout(connects.timeout, connecting)
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
                .map_err(Into::into)?;
            connects.run.gauges.connected();
            if let (Some(timeline), Some(c)) = (&connects.run.timeline, connects.connection) {
                timeline.connection(c, ConnectionStep::Connect, started);
            }
            Ok(connection)
        })
    }
}

/// Why the async client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// rustls refused its configuration.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// The proxy of the environment is one this client cannot go through.
    #[error("{0}")]
    Proxy(String),
}

/// The variables a proxy is read from, in ureq's order: the first one set
/// is the proxy of every URL, whatever its scheme.
const PROXY_VARIABLES: [&str; 6] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
];

/// The run's proxy, read from the environment as ureq (the blocking
/// modes' client) reads it, so that every mode goes the same way: the
/// first of [`PROXY_VARIABLES`] that is set, for every URL but the hosts
/// of `NO_PROXY`. Like ureq, the client tunnels through it with `CONNECT`,
/// for http:// as for https://. ureq also takes SOCKS and https:// proxies;
/// this client refuses them at start, in words, rather than go another way.
fn env_proxy() -> Result<Option<Matcher>, ClientError> {
    let Some((variable, value)) = PROXY_VARIABLES.iter().find_map(|variable| {
        let value = std::env::var(variable).ok()?;
        (!value.trim().is_empty()).then(|| (*variable, value.trim().to_owned()))
    }) else {
        return Ok(None);
    };
    let value = if value.contains("://") {
        value
    } else {
        format!("http://{value}")
    };
    if !value.starts_with("http://") {
        return Err(ClientError::Proxy(format!(
            "{variable}={}: the async mode goes through HTTP proxies only (the blocking modes take SOCKS and https:// ones too)",
            crate::text::inert(&value)
        )));
    }
    let no = ["NO_PROXY", "no_proxy"]
        .iter()
        .find_map(|variable| std::env::var(variable).ok())
        .unwrap_or_default();
    Ok(Some(Matcher::builder().all(value).no(no).build()))
}

/// The connector under TLS: straight to the server, or through the run's
/// proxy with a `CONNECT` tunnel.
#[derive(Clone)]
struct Proxied {
    http: HttpConnector<AsyncLookups>,
    proxy: Option<Arc<Matcher>>,
}

impl tower_service::Service<Uri> for Proxied {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The HTTP connector is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, target: Uri) -> Self::Future {
        let mut http = self.http.clone();
        let Some(proxy) = self.proxy.as_ref().and_then(|m| m.intercept(&target)) else {
            return Box::pin(async move { http.call(target).await.map_err(Into::into) });
        };
        let mut tunnel = Tunnel::new(proxy.uri().clone(), http);
        if let Some(auth) = proxy.basic_auth() {
            tunnel = tunnel.with_auth(auth.clone());
        }
        Box::pin(async move {
            // The tunnel asks for the target's port, 443 when the URI has
            // none: an http:// URI gets its 80 first.
            let target = with_port(&target)?;
            tunnel.call(target).await.map_err(Into::into)
        })
    }
}

/// `uri` with its port written out (80 for http, 443 for https).
fn with_port(uri: &Uri) -> Result<Uri, BoxError> {
    if uri.port().is_some() {
        return Ok(uri.clone());
    }
    let host = uri.host().unwrap_or_default();
    let (scheme, port) = match uri.scheme_str() {
        Some("https") => ("https", 443),
        _ => ("http", 80),
    };
    Ok(format!("{scheme}://{host}:{port}/").parse::<Uri>()?)
}

/// The TLS configuration of every https connection: rustls over ring with
/// the bundled Mozilla roots, as ureq has them.
fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_connections_are_kept_only_for_downloads_left_to_start() {
        let plain = RequestOptions::default();
        let names = RequestOptions {
            names: true,
            ..RequestOptions::default()
        };
        assert_eq!(idle_connections(&plain, 1000, 10_000), 1000);
        assert_eq!(idle_connections(&plain, 150, 194), 44);
        assert_eq!(idle_connections(&plain, 10_000, 10_000), 0);
        assert_eq!(idle_connections(&plain, 50, 20), 0);
        // Each flag follows its metadata on the connection it came on.
        assert_eq!(idle_connections(&names, 194, 194), 194);
    }
}
