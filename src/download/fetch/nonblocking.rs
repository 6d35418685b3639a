//! The async client of the async mode: reqwest (over hyper) on tokio.

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

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

/// The async client of the async mode: reqwest (over hyper). Over HTTP/1.1
/// it is one client, whose pool keeps idle connections to the server for
/// the downloads still to start; over HTTP/2 it is one client per
/// connection (`--connections N`), each holding one connection that
/// carries its downloads' requests as streams: job `j` rides connection
/// `j % N`. Like the blocking client, it follows no redirects itself: the
/// contract decides.
pub(crate) struct AsyncClient {
    clients: Vec<reqwest::Client>,
    policy: RetryPolicy,
    max_size: u64,
}

impl AsyncClient {
    /// The client of `run`: `concurrency` downloads in flight,
    /// `downloads` in all.
    pub(crate) fn new(run: &Arc<Run>) -> Result<Self, reqwest::Error> {
        let options = &run.plan.request;
        // HTTPS (the remote server) with rustls over ring and the bundled
        // Mozilla roots, as ureq has it: the same trust in every mode, and
        // no reading of the system's certificate folder at every start
        // (reqwest's default, which took 40 ms of the runtime's thread).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let build = |connection: Option<usize>| {
            let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .filter_map(|der| reqwest::Certificate::from_der(der).ok());
            let builder = reqwest::Client::builder()
                .tls_certs_only(roots)
                .timeout(options.timeout)
                .connect_timeout(options.connect_timeout)
                .redirect(reqwest::redirect::Policy::none())
                .dns_resolver(Arc::new(AsyncLookups(Arc::clone(&run.lookups))))
                .connector_layer(Connects {
                    run: Arc::clone(run),
                    connection,
                });
            match connection {
                // HTTP/1.1 only, even where TLS offers h2, so that the
                // models stay comparable.
                None => builder
                    .http1_only()
                    .pool_max_idle_per_host(idle_connections(
                        options,
                        run.plan.concurrency,
                        run.plan.codes.len(),
                    )),
                // Prior knowledge over http://, ALPN offering h2 alone
                // over https://; a response head as large as the contract
                // allows.
                Some(_) => builder
                    .http2_prior_knowledge()
                    .http2_max_header_list_size(contract::MAX_HEAD as u32)
                    .pool_max_idle_per_host(1),
            }
            .build()
        };
        let clients = match options.http2 {
            None => vec![build(None)?],
            Some(connections) => (0..connections.max(1))
                .map(|c| build(Some(c)))
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            clients,
            policy: RetryPolicy::new(options.retries),
            max_size: options.max_size,
        })
    }

    /// The client of job `job`'s connection.
    fn client(&self, job: usize) -> &reqwest::Client {
        &self.clients[job % self.clients.len()]
    }

    /// Downloads job `job` of the run (metadata first with `--names`) and
    /// saves it; the two steps are plain `.await`s one after the other.
    pub(crate) async fn download_flag(&self, run: &Arc<Run>, job: usize) -> CodeResult {
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
            let client = self.client(ctx.recorder.job());
            let response = client.get(request.url().clone()).send().await;
            attempt.record(ctx, Phase::Request, sent);
            let mut response = response.map_err(|e| {
                let cause = reqwest_cause(&e);
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
            let body_error = |e: reqwest::Error| contract::verdict(reqwest_cause(&e), Stage::Body);
            let read = match framing {
                // A length the contract allowed: hyper holds the body to it,
                // and one chunk (the usual case) is kept without a copy.
                Framing::Length(_) => response.bytes().await.map_err(body_error),
                // Otherwise the cap is checked chunk by chunk.
                _ => {
                    async {
                        let mut body = Vec::new();
                        while let Some(chunk) = response.chunk().await.map_err(body_error)? {
                            body.extend_from_slice(&chunk);
                            request.check_size(body.len() as u64)?;
                        }
                        Ok(Bytes::from(body))
                    }
                    .await
                }
            };
            attempt.record(ctx, Phase::Body, receiving);
            let body = read?;
            framing.check(body.len() as u64)?;
            return Ok(body);
        }
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

/// What a reqwest (hyper) error means, in the contract's terms.
fn reqwest_cause(error: &reqwest::Error) -> Cause {
    if error.is_timeout() {
        return Cause::Timeout;
    }
    if error.is_connect() {
        // The same words as the blocking client's for the common case.
        let mut current: Option<&(dyn StdError + 'static)> = Some(error);
        while let Some(e) = current {
            if e.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::ConnectionRefused)
            {
                return Cause::Connect("connection refused".into());
            }
            current = e.source();
        }
        return Cause::Connect(root_message(error));
    }
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
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
        current = e.source();
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

/// The run's lookups as reqwest's resolver: a host name is looked up once
/// per run, on the blocking pool (`getaddrinfo` blocks); a name already
/// known, or an IP address, answers at once.
struct AsyncLookups(Arc<Lookups>);

impl reqwest::dns::Resolve for AsyncLookups {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        if let Some(answer) = self.0.known(&host) {
            return Box::pin(std::future::ready(addresses(answer)));
        }
        let lookups = Arc::clone(&self.0);
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || lookups.resolve(&host)).await {
                Ok(answer) => addresses(answer),
                Err(error) => Err(Box::new(error) as _),
            }
        })
    }
}

/// A lookup's answer as reqwest takes it (port 0: the URL's is used).
fn addresses(
    answer: Result<Arc<[std::net::IpAddr]>, LookupError>,
) -> Result<reqwest::dns::Addrs, Box<dyn StdError + Send + Sync>> {
    match answer {
        Ok(ips) => {
            let addrs: Vec<std::net::SocketAddr> = ips
                .iter()
                .map(|ip| std::net::SocketAddr::new(*ip, 0))
                .collect();
            Ok(Box::new(addrs.into_iter()))
        }
        Err(error) => Err(Box::new(error)),
    }
}

/// A layer on a client's connector that counts the connections it opens
/// and, over HTTP/2, records each connect as a step of its connection.
#[derive(Clone)]
struct Connects {
    run: Arc<Run>,
    /// The HTTP/2 connection this client holds, if it holds one.
    connection: Option<usize>,
}

impl<S> tower_layer::Layer<S> for Connects {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            connects: self.clone(),
        }
    }
}

/// A connector whose connections are counted.
#[derive(Clone)]
struct Counted<S> {
    inner: S,
    connects: Connects,
}

impl<S, R> tower_service::Service<R> for Counted<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let started = Instant::now();
        let connecting = self.inner.call(request);
        let connects = self.connects.clone();
        Box::pin(async move {
            let connection = connecting.await?;
            connects.run.gauges.connected();
            if let (Some(timeline), Some(c)) = (&connects.run.timeline, connects.connection) {
                timeline.connection(c, ConnectionStep::Connect, started);
            }
            Ok(connection)
        })
    }
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
