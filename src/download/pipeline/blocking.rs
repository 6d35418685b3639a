//! The blocking client of the sequential and threaded modes: ureq 3, a truly
//! blocking client (no hidden runtime thread). Its TLS is the run's: a
//! connector in ureq's chain that makes the handshake with the rustls
//! configuration `trust` builds for both clients (the same verifier, so
//! the same verdicts and one count of full handshakes).

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, LazyBuffers, NextTimeout,
    SocksConnector, TcpConnector, Transport as UreqTransport, TransportAdapter,
};
use url::Url;

use super::causes::{ureq_cause, ureq_io_cause};
use super::contract::{self, Cause, Framing};
use super::handshake;
use super::lookup::SharedLookups;
use super::trust::Roots;
use super::{Head, Network, Target, Transport};

/// The blocking client of the sequential and threaded modes: one ureq agent
/// per thread, keeping that thread's one connection (a pool shared by many
/// threads is searched linearly under a lock in ureq 3). It follows no
/// redirects and turns no status into an error: the contract decides.
pub(crate) struct BlockingClient {
    agent: ureq::Agent,
    /// Connections the agent has opened: a request that fails without
    /// opening one went out on a connection kept alive from an earlier one.
    connects: Arc<AtomicUsize>,
    /// Whether the server reset the connection since the last request was
    /// sent: ureq ends a body read to the close at a reset as at a close.
    reset: Arc<AtomicBool>,
}

impl BlockingClient {
    /// A client for one thread, reaching the server over `network`.
    pub(crate) fn new(network: &Network) -> Self {
        let options = &network.options;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(Some(options.connect_timeout))
            .timeout_global(Some(options.timeout))
            .max_idle_connections(1)
            .max_idle_connections_per_host(1)
            // ureq's default buffers are 128 KB each way per connection,
            // touched and zeroed, a thousand times over in threaded mode; a
            // request is 150 bytes, and the input buffer grows for larger
            // headers (docs/performance.md has the memory it saves).
            .input_buffer_size(contract::MAX_HEAD)
            .max_response_header_size(contract::MAX_HEAD - 1)
            .output_buffer_size(2 * 1024)
            .build();
        let (connects, reset) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let watch = WatchConnections {
            connects: Arc::clone(&connects),
            reset: Arc::clone(&reset),
        };
        let agent = ureq::Agent::with_parts(
            config,
            // ureq's default chain, with the run's TLS in it: every
            // thread's client shares one rustls configuration (the roots
            // parsed once, the async client's verifier) and its session
            // cache (so a thread can resume a session another began).
            ().chain(SocksConnector::default())
                .chain(ConnectProxyConnector::default())
                .chain(TcpConnector::default())
                .chain(RunTls(Arc::clone(&network.roots)))
                .chain(watch),
            SharedLookups(Arc::clone(&network.lookups)),
        );
        Self {
            agent,
            connects,
            reset,
        }
    }
}

impl Transport for BlockingClient {
    type Response = http::Response<ureq::Body>;

    async fn send(&self, url: &Url, _job: usize, _target: Target) -> Result<Self::Response, Cause> {
        self.get(url).map_err(|e| ureq_cause(&e))
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
        response: Self::Response,
        framing: Framing,
        limit: u64,
    ) -> Result<Bytes, Cause> {
        let mut body = Vec::with_capacity(framing.capacity(limit));
        response
            .into_body()
            .into_reader()
            .take(limit + 1)
            .read_to_end(&mut body)
            .map_err(|e| ureq_io_cause(&e))?;
        // A body read to the close that a reset ended may be cut short:
        // hyper says so, ureq took the reset for the close.
        if framing == Framing::Close && self.reset.load(Ordering::Relaxed) {
            return Err(Cause::Reset);
        }
        Ok(Bytes::from(body))
    }

    async fn pause(&self, wait: Duration) {
        std::thread::sleep(wait);
    }
}

impl BlockingClient {
    /// GETs `url` and waits for the answer's head. A request that fails
    /// before any answer on a connection kept alive from an earlier one
    /// (the server closed it meanwhile, as HTTP/1.1 lets a server do) is
    /// sent once more at once, on a new connection: RFC 9112 (9.3.1) allows
    /// it for a GET, hyper does the same in the async mode, and since it was
    /// never answered it is not one of `--retries`.
    fn get(&self, url: &Url) -> Result<http::Response<ureq::Body>, ureq::Error> {
        self.reset.store(false, Ordering::Relaxed);
        let opened = self.connects.load(Ordering::Relaxed);
        match self.agent.get(url.as_str()).call() {
            Err(error)
                if self.connects.load(Ordering::Relaxed) == opened
                    && matches!(ureq_cause(&error), Cause::Reset | Cause::Eof) =>
            {
                self.agent.get(url.as_str()).call()
            }
            response => response,
        }
    }
}

/// The last link of the agent's connectors: counts each connection the
/// ones before it opened, and watches it for a reset.
#[derive(Debug)]
struct WatchConnections {
    connects: Arc<AtomicUsize>,
    reset: Arc<AtomicBool>,
}

/// The TLS of every https connection of the blocking clients: rustls with
/// the run's one configuration (see [`Roots::blocking_config`]), each
/// completed handshake counted. Its steps are those of ureq's own rustls
/// connector, whose configuration cannot take the run's verifier.
struct RunTls(Arc<Roots>);

impl std::fmt::Debug for RunTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunTls")
    }
}

impl<In: UreqTransport> Connector<In> for RunTls {
    type Out = Box<dyn UreqTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(transport.boxed()));
        }
        let config = self.0.blocking_config()?;
        let host = details.uri.host().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| ureq::Error::Tls("not a host name TLS can verify"))?;
        let mut tls = ClientConnection::new(config, name)?;
        let mut socket = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        socket.set_timeout(details.timeout);
        tls.complete_io(&mut socket)?;
        handshake::ended();
        self.0.handshakes.completed();
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Box::new(TlsTransport {
            buffers,
            stream: StreamOwned::new(tls, socket),
        })))
    }
}

/// A connection over TLS, as ureq's own rustls transport is.
struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl UreqTransport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

impl Connector<Box<dyn UreqTransport>> for WatchConnections {
    type Out = Box<dyn UreqTransport>;

    fn connect(
        &self,
        _: &ConnectionDetails,
        opened: Option<Box<dyn UreqTransport>>,
    ) -> Result<Option<Box<dyn UreqTransport>>, ureq::Error> {
        let Some(inner) = opened else {
            return Ok(None);
        };
        self.connects.fetch_add(1, Ordering::Relaxed);
        Ok(Some(Box::new(ResetNoted {
            inner,
            reset: Arc::clone(&self.reset),
        })))
    }
}

/// A connection whose resets are noted.
#[derive(Debug)]
struct ResetNoted {
    inner: Box<dyn UreqTransport>,
    reset: Arc<AtomicBool>,
}

impl UreqTransport for ResetNoted {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let input = self.inner.await_input(timeout);
        if let Err(ureq::Error::Io(e)) = &input
            && matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
            )
        {
            self.reset.store(true, Ordering::Relaxed);
        }
        input
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}
