//! The async client of the async mode: reqwest on tokio, with rustls for
//! https.
//!
//! reqwest brings what a serious client needs and `flags` does not write
//! again: the proxies of the environment (HTTP, and SOCKS through its
//! `socks` feature), TLS over rustls, the `Host` and `Accept` headers,
//! deadlines, and the resending of an HTTP/2 request the server refused
//! before processing it (its default retry policy, which resends only such
//! protocol refusals, at most twice). Its configuration keeps it lean: no
//! redirects (the contract follows them), no TCP keep-alive probes, the
//! run's roots handed over in a prebuilt rustls configuration (the same
//! as the blocking client's, see `trust`); docs/performance.md measures
//! what a download costs. The run's lookups are its resolver, and a layer
//! on its connector counts the connections it opens (and tells a request
//! on a kept-alive connection from one on a new connection).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tower::util::MapFutureLayer;
use url::Url;

use super::causes::reqwest_cause;
use super::contract::{self, Cause, Framing};
use super::handshake;
use super::lookup::AsyncLookups;
use super::{Head, Network, Slot, Target, Transport};
use crate::download::observers::Observers;
use crate::download::plan::RequestOptions;

/// The async client of the async mode: reqwest. Over HTTP/1.1 it is one
/// client, whose pool keeps idle connections to the server for the
/// downloads still to start; over HTTP/2 it is one client per connection
/// (`--connections N`), each holding one connection that carries its
/// downloads' requests as streams: job `j` rides connection `j % N`. Like
/// the blocking client, it follows no redirects itself: the contract
/// decides.
pub(crate) struct AsyncClient {
    clients: Vec<reqwest::Client>,
    /// Over HTTP/2, each connection's streams (`--streams`), one permit a
    /// request in flight on it.
    streams: Vec<Arc<Streams>>,
    /// Whether the clients speak HTTP/2 (else HTTP/1.1).
    http2: bool,
    /// Downloads in all, and how many are in flight at most: which
    /// requests are the last their connection carries (see [`Self::get`]).
    downloads: usize,
    concurrency: usize,
}

impl AsyncClient {
    /// The client of a run reaching its server over `network`, its
    /// connections told to `observers`: `concurrency` downloads in flight,
    /// `downloads` in all.
    pub(crate) fn new(
        network: &Network,
        observers: &Arc<Observers>,
        downloads: usize,
        concurrency: usize,
    ) -> Result<Self, ClientError> {
        let options = &network.options;
        let streams: Vec<Arc<Streams>> = match options.http2 {
            None => Vec::new(),
            Some(connections) => (0..connections.max(1))
                .map(|_| Arc::new(Streams::new(options.streams)))
                .collect(),
        };
        let build = |connection: Option<usize>| {
            let opening = connection.and_then(|c| streams.get(c)).cloned();
            let builder = reqwest::Client::builder()
                .tls_backend_preconfigured(network.roots.client_config(alpn(connection.is_some()))?)
                .timeout(options.timeout)
                .connect_timeout(options.connect_timeout)
                .redirect(reqwest::redirect::Policy::none())
                .referer(false)
                // A download is one short exchange: no keep-alive probes,
                // four socket options fewer per connection.
                .tcp_keepalive(None)
                .tcp_keepalive_interval(None)
                .tcp_keepalive_retries(None)
                .tcp_user_timeout(None)
                .dns_resolver(Arc::new(AsyncLookups(Arc::clone(&network.lookups))))
                .connector_layer(counting_connects(observers, connection, opening));
            let builder = match connection {
                // HTTP/1.1 only, even where TLS offers h2, so that the
                // models stay comparable.
                None => builder
                    .http1_only()
                    .pool_max_idle_per_host(idle_connections(options, concurrency, downloads)),
                // Prior knowledge over http://, ALPN offering h2 alone
                // over https://; a response head as large as the contract
                // allows.
                Some(_) => builder
                    .http2_prior_knowledge()
                    .http2_max_header_list_size(contract::MAX_HEAD as u32)
                    .pool_max_idle_per_host(1),
            };
            builder.build().map_err(ClientError::from)
        };
        let clients = match options.http2 {
            None => vec![build(None)?],
            Some(_) => (0..streams.len())
                .map(|c| build(Some(c)))
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            clients,
            streams,
            http2: options.http2.is_some(),
            downloads,
            concurrency,
        })
    }

    /// The client of job `job`'s connection.
    fn client(&self, job: usize) -> &reqwest::Client {
        &self.clients[job % self.clients.len()]
    }

    /// Sends a GET of `url` on the client of the job's connection and
    /// waits for the answer's head.
    ///
    /// A flag of the last round (fewer downloads left to start than are in
    /// flight) asks for its HTTP/1.1 connection to close after it
    /// (`Connection: close`): no download is left to take it up, and the
    /// pool would otherwise keep it idle and close it at the end, after
    /// the last download, on the run's clock. An answer that sends again
    /// (a redirect, a retry) takes a new connection.
    ///
    /// An HTTP/1.1 request that fails before any answer on a connection
    /// kept alive from an earlier one (the server closed it meanwhile, as
    /// HTTP/1.1 lets a server do) is sent once more at once, as the
    /// blocking client does: RFC 9112 (9.3.1) allows it for a GET, and it
    /// was never answered, so it is not one of `--retries`.
    async fn get(
        &self,
        url: &Url,
        job: usize,
        target: Target,
    ) -> reqwest::Result<reqwest::Response> {
        let last =
            !self.http2 && target == Target::Flag && job + self.concurrency >= self.downloads;
        let request = || {
            let request = self.client(job).get(url.clone());
            if last {
                request.header(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                )
            } else {
                request
            }
        };
        let sent = || {
            OPENED.scope(Cell::new(false), async {
                (request().send().await, OPENED.with(Cell::get))
            })
        };
        match sent().await {
            (Err(error), false)
                if !self.http2 && matches!(reqwest_cause(&error), Cause::Reset | Cause::Eof) =>
            {
                sent().await.0
            }
            (response, _) => response,
        }
    }
}

impl Transport for AsyncClient {
    type Response = reqwest::Response;

    async fn send(&self, url: &Url, job: usize, target: Target) -> Result<Self::Response, Cause> {
        self.get(url, job, target)
            .await
            .map_err(|e| reqwest_cause(&e))
    }

    fn head(response: &Self::Response) -> Head<'_> {
        Head {
            version: response.version(),
            status: response.status(),
            headers: response.headers(),
        }
    }

    async fn read(
        &self,
        mut response: Self::Response,
        framing: Framing,
        limit: u64,
    ) -> Result<Bytes, Cause> {
        let cause = |e: reqwest::Error| reqwest_cause(&e);
        match framing {
            // A length the contract allowed: hyper holds the body to it,
            // and one chunk (the usual case) is kept without a copy.
            Framing::Length(_) => response.bytes().await.map_err(cause),
            // Otherwise the reading stops past the cap.
            _ => {
                let mut body = Vec::new();
                while let Some(chunk) = response.chunk().await.map_err(cause)? {
                    body.extend_from_slice(&chunk);
                    if body.len() as u64 > limit {
                        break;
                    }
                }
                Ok(Bytes::from(body))
            }
        }
    }

    async fn pause(&self, wait: Duration) {
        tokio::time::sleep(wait).await;
    }

    async fn slot(&self, job: usize) -> Option<Slot> {
        let streams = self.streams.get(job % self.clients.len())?;
        Arc::clone(&streams.permits).acquire_owned().await.ok()
    }

    fn connection(&self, job: usize) -> Option<usize> {
        self.http2.then(|| job % self.clients.len())
    }
}

/// The idle connections worth keeping: one per download in flight, but
/// never more than the downloads left to start when the first ones end
/// (`downloads - concurrency`), as no other request could take them up;
/// with `--names` a flag follows its metadata on the same connection. An
/// idle connection holds hyper's buffers until the run ends, which at
/// thousands in flight is most of the peak memory.
fn idle_connections(options: &RequestOptions, concurrency: usize, downloads: usize) -> usize {
    if options.names {
        concurrency
    } else {
        concurrency.min(downloads.saturating_sub(concurrency))
    }
}

/// One HTTP/2 connection's streams (`--streams`): a request in flight
/// holds a permit. Until the connection's first connect has ended, one
/// permit alone is out: the first request opens the connection by itself
/// and the others wait for it, rather than many asking hyper's pool at
/// once while no connection exists yet, which could open more than
/// `--connections` of them. The rest come out when that connect ends,
/// however it ends (done, failed, given up).
struct Streams {
    permits: Arc<tokio::sync::Semaphore>,
    held_back: AtomicUsize,
}

impl Streams {
    /// `streams` in all, one of them out until the first connect ends.
    fn new(streams: usize) -> Self {
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(1)),
            held_back: AtomicUsize::new(streams.saturating_sub(1)),
        }
    }

    /// The first connect ended: every stream may go.
    fn open(&self) {
        let held_back = self.held_back.swap(0, Ordering::Relaxed);
        if held_back > 0 {
            self.permits.add_permits(held_back);
        }
    }
}

/// Lets a connection's streams go when a connect ends, done or dropped.
struct OpenWhenDone(Option<Arc<Streams>>);

impl Drop for OpenWhenDone {
    fn drop(&mut self) {
        if let Some(streams) = &self.0 {
            streams.open();
        }
    }
}

/// A layer on a client's connector that counts the connections it opens
/// and notes when their TLS handshakes end (see `handshake`). It stops a
/// connect its request no longer needs ([`ABANDONED`]); over HTTP/2 it
/// records each connect as a step of connection `connection` and lets its
/// held-back streams go when it ends.
fn counting_connects<S, T, E>(
    observers: &Arc<Observers>,
    connection: Option<usize>,
    opening: Option<Arc<Streams>>,
) -> MapFutureLayer<impl FnMut(S) -> CountedConnect<S> + Clone + use<S, T, E>>
where
    S: Future<Output = Result<T, E>> + Send + 'static,
    E: From<&'static str>,
{
    let observers = Arc::clone(observers);
    MapFutureLayer::new(move |connecting: S| {
        let (observers, started) = (Arc::clone(&observers), Instant::now());
        let done = OpenWhenDone(opening.clone());
        let counted = async move {
            // A connection on its way to the pool gets the chance to
            // arrive before this one starts: an HTTP/1.1 one a download is
            // handing back, or the HTTP/2 one another request has just
            // opened (hyper's pool frees its connecting lock as it pools a
            // connection, so a request that found the pool empty a moment
            // before may take the lock and connect too).
            for _ in 0..ROUNDS_BEFORE_CONNECT {
                tokio::task::yield_now().await;
                if abandoned() {
                    return Err(E::from(ABANDONED));
                }
            }
            let mut connecting = std::pin::pin!(connecting);
            let connected = std::future::poll_fn(|cx| match abandoned() {
                true => Poll::Ready(Err(E::from(ABANDONED))),
                false => connecting.as_mut().poll(cx),
            })
            .await;
            drop(done);
            let connected = connected?;
            handshake::ended();
            // The request this connect was for, if it still waits for it.
            let _ = OPENED.try_with(|opened| opened.set(true));
            observers.connected(connection, started);
            Ok(connected)
        };
        Box::pin(counted) as CountedConnect<S>
    })
}

tokio::task_local! {
    /// Whether a request's own task opened a connection while it was being
    /// sent: if not, it went out on one kept alive from an earlier request.
    static OPENED: Cell<bool>;
}

/// Whether the connect being polled runs outside its request's task:
/// hyper finishes it in the background for its pool, the request having
/// taken an idle connection instead.
fn abandoned() -> bool {
    OPENED.try_with(|_| ()).is_err()
}

/// How many times a connect lets the runtime's other tasks run before it
/// starts. A connection on its way back to the pool is a task already
/// woken, on either worker; one round of the run queue is not always
/// enough for it to arrive when handshakes keep the workers busy
/// (docs/performance.md, "Over HTTPS"), and each round costs a request
/// that does need a connection a few microseconds. An HTTP/2 connection
/// just pooled has already woken the request: one round is enough.
const ROUNDS_BEFORE_CONNECT: usize = 3;

/// Why a connect stops once its request has taken a pooled connection:
/// over HTTP/1.1 as many connections as downloads in flight are enough,
/// over HTTP/2 `--connections` is a promise, and over TLS each one more is
/// a full handshake for nothing. hyper finishes such a connect in the
/// background for its pool, and drops this error unseen.
const ABANDONED: &str = "connect no longer needed: its request took a pooled connection";

/// A connect, counted when it ends.
type CountedConnect<S> = Pin<Box<dyn Future<Output = <S as Future>::Output> + Send>>;

/// The one protocol ALPN offers: HTTP/1.1 alone, or h2 alone with
/// `http2`, so that the models stay comparable.
fn alpn(http2: bool) -> &'static [u8] {
    if http2 { b"h2" } else { b"http/1.1" }
}

/// Why the async client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// rustls refused its configuration.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// reqwest refused its configuration (a proxy of the environment it
    /// cannot use, among others).
    #[error("{0}")]
    Build(#[from] reqwest::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::download::Spans;
    use crate::download::observers::progress::{Display, Lines, Progress, Stdout};
    use crate::download::plan::{Mode, Plan};
    use std::sync::atomic::AtomicBool;
    use tower::{Layer, Service, ServiceExt};

    /// The observers of a run that shows nothing.
    fn observers() -> Arc<Observers> {
        let plan = Plan::new(
            vec!["BR".into()],
            "http://127.0.0.1:1".into(),
            Mode::Async,
            1,
        );
        let progress = Progress::new(1, Display::Hidden, Lines::None, Stdout::Text);
        Arc::new(Observers::new(progress, Spans::Unrecorded, &plan))
    }

    /// A connect that succeeds at once, noting that it was polled.
    struct Ready(Arc<AtomicBool>);

    impl Future for Ready {
        type Output = Result<(), String>;

        fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<Self::Output> {
            self.0.store(true, Ordering::SeqCst);
            Poll::Ready(Ok(()))
        }
    }

    /// A connect through the counting layer, over HTTP/1.1 or over
    /// HTTP/2 connection 0, and whether the connector underneath it was
    /// polled.
    async fn connect(
        observers: &Arc<Observers>,
        http2: bool,
    ) -> (CountedConnect<Ready>, Arc<AtomicBool>) {
        let polled = Arc::new(AtomicBool::new(false));
        let connector = {
            let polled = Arc::clone(&polled);
            tower::service_fn(move |()| Ready(Arc::clone(&polled)))
        };
        let opening = http2.then(|| Arc::new(Streams::new(4)));
        let layer = counting_connects::<Ready, (), String>(observers, http2.then_some(0), opening);
        let mut service = layer.layer(connector);
        let connecting = service.ready().await.unwrap().call(());
        (connecting, polled)
    }

    #[tokio::test]
    async fn a_connect_stops_unpolled_when_its_request_took_a_pooled_connection() {
        for http2 in [false, true] {
            let observers = observers();
            // Its request still waits for it: it connects, and is counted.
            let (connecting, polled) = connect(&observers, http2).await;
            let opened = OPENED.scope(Cell::new(false), connecting).await;
            assert_eq!(opened, Ok(()), "http2 {http2}");
            assert!(polled.load(Ordering::SeqCst));
            assert_eq!(observers.gauges.connections(), 1);
            // Its request was polled again and took a pooled connection:
            // hyper goes on with the connect in a task of its own.
            let (mut connecting, polled) = connect(&observers, http2).await;
            let first = OPENED.scope(Cell::new(false), async { futures::poll!(&mut connecting) });
            assert!(first.await.is_pending(), "http2 {http2}");
            let rest = tokio::spawn(connecting).await.unwrap();
            assert_eq!(rest, Err(ABANDONED.to_owned()), "http2 {http2}");
            assert!(!polled.load(Ordering::SeqCst), "http2 {http2}");
            assert_eq!(observers.gauges.connections(), 1, "http2 {http2}");
        }
    }

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
