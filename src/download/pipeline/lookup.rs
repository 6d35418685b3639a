//! Host names looked up once per run, whatever the mode: the first request
//! to a host looks it up, every other thread and task of the run waits for
//! that answer and shares it. Left to the HTTP libraries, a name cost a
//! `getaddrinfo` per connection, and ureq starts a thread for each (so that
//! a slow lookup can be abandoned): `localhost` cost the threaded mode
//! more than twice what `127.0.0.1` did (docs/performance.md).
//!
//! A lookup is bounded by the connect timeout; a failed one is reported as
//! such (`connection failed: cannot look up NAME: why`), and it too is
//! shared: a name that does not resolve is asked once, not once per flag.
//! IP addresses need no lookup. `SharedLookups` and `AsyncLookups` hand
//! them to ureq and to reqwest as their resolvers.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::download::observers::timeline::LookupSpan;

/// Why a host name gave no address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LookupError {
    /// The resolver answered, with an error or no address.
    #[error("cannot look up {host}: {why}")]
    Failed {
        /// The name.
        host: String,
        /// What the resolver said.
        why: String,
    },
    /// No answer within the connect timeout.
    #[error("looking up {host} took more than {}", crate::duration::human(*.timeout))]
    TimedOut {
        /// The name.
        host: String,
        /// The bound.
        timeout: Duration,
    },
}

/// The addresses of a host, or why there are none.
type Answer = Result<Arc<[IpAddr]>, LookupError>;

/// The lookups of one run.
#[derive(Debug)]
pub(crate) struct Lookups {
    timeout: Duration,
    hosts: Mutex<HashMap<String, Arc<OnceLock<Answer>>>>,
    made: AtomicUsize,
    /// Each lookup made: the name, when it started and ended.
    spans: Mutex<Vec<(String, Instant, Instant)>>,
}

impl Lookups {
    /// Lookups bounded by `timeout` (the connect timeout).
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            hosts: Mutex::new(HashMap::new()),
            made: AtomicUsize::new(0),
            spans: Mutex::new(Vec::new()),
        }
    }

    /// The lookups made, as spans of a run that started at `start`.
    pub(crate) fn spans(&self, start: Instant) -> Vec<LookupSpan> {
        let since = |at: Instant| at.saturating_duration_since(start);
        self.spans
            .lock()
            .iter()
            .map(|(host, from, to)| LookupSpan {
                host: host.clone(),
                start: since(*from),
                end: since(*to),
            })
            .collect()
    }

    /// How many lookups were made: one per host name asked for.
    pub(crate) fn made(&self) -> usize {
        self.made.load(Ordering::Relaxed)
    }

    /// The answer for `host` if it is already known (an IP address always is).
    pub(crate) fn known(&self, host: &str) -> Option<Answer> {
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Some(Ok(Arc::from([ip])));
        }
        self.slot(host).get().cloned()
    }

    /// The addresses of `host`: looked up by the first caller (blocking it,
    /// for at most the timeout), shared with every later one, which waits
    /// for the first's answer.
    pub(crate) fn resolve(&self, host: &str) -> Answer {
        if let Some(known) = self.known(host) {
            return known;
        }
        self.slot(host)
            .get_or_init(|| {
                self.made.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                let answer = look_up(host, self.timeout);
                let span = (host.to_owned(), started, Instant::now());
                self.spans.lock().push(span);
                answer
            })
            .clone()
    }

    fn slot(&self, host: &str) -> Arc<OnceLock<Answer>> {
        let mut hosts = self.hosts.lock();
        Arc::clone(hosts.entry(host.to_owned()).or_default())
    }
}

/// One `getaddrinfo`, on a thread of its own so that it can be abandoned
/// after `timeout` (the C call cannot be interrupted).
fn look_up(host: &str, timeout: Duration) -> Answer {
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_owned();
    let spawned = std::thread::Builder::new()
        .name("flags-lookup".into())
        .spawn(move || {
            let _ = tx.send((name.as_str(), 0).to_socket_addrs());
        });
    let failed = |why: String| LookupError::Failed {
        host: host.to_owned(),
        why,
    };
    if let Err(error) = spawned {
        return Err(failed(error.to_string()));
    }
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) => {
            let mut ips: Vec<IpAddr> = Vec::new();
            for ip in addrs.map(|a: SocketAddr| a.ip()) {
                if !ips.contains(&ip) {
                    ips.push(ip);
                }
            }
            if ips.is_empty() {
                return Err(failed("no address".into()));
            }
            Ok(Arc::from(ips))
        }
        Ok(Err(error)) => Err(failed(error.to_string())),
        Err(_) => Err(LookupError::TimedOut {
            host: host.to_owned(),
            timeout,
        }),
    }
}

/// The run's lookups as ureq's resolver: a host name is looked up once per
/// run (ureq's own resolver starts a thread and calls `getaddrinfo` for
/// every connection), an IP address never.
#[derive(Debug)]
pub(crate) struct SharedLookups(pub(crate) Arc<Lookups>);

impl ureq::unversioned::resolver::Resolver for SharedLookups {
    fn resolve(
        &self,
        uri: &http::Uri,
        _config: &ureq::config::Config,
        _timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or("").trim_matches(['[', ']']);
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let ips = self
            .0
            .resolve(host)
            .map_err(|error| ureq::Error::Io(std::io::Error::other(error)))?;
        let mut addrs = self.empty();
        // ureq keeps 16 addresses at most.
        for ip in ips.iter().take(16) {
            addrs.push(std::net::SocketAddr::new(*ip, port));
        }
        Ok(addrs)
    }
}

/// The run's lookups as reqwest's resolver: a host name is looked up once
/// per run, on the blocking pool (`getaddrinfo` blocks); a name already
/// known answers at once (the connector itself reads IP addresses).
pub(crate) struct AsyncLookups(pub(crate) Arc<Lookups>);

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
) -> Result<reqwest::dns::Addrs, Box<dyn std::error::Error + Send + Sync>> {
    let ips = answer?;
    let addrs: Vec<std::net::SocketAddr> = ips
        .iter()
        .map(|ip| std::net::SocketAddr::new(*ip, 0))
        .collect();
    Ok(Box::new(addrs.into_iter()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_looked_up_once_however_many_ask_and_an_address_never() {
        let lookups = Arc::new(Lookups::new(Duration::from_secs(3)));
        std::thread::scope(|scope| {
            for _ in 0..20 {
                scope.spawn(|| {
                    let addrs = lookups.resolve("localhost").unwrap();
                    assert!(addrs.iter().any(|ip| ip.is_loopback()));
                });
            }
        });
        assert_eq!(lookups.made(), 1);
        assert_eq!(
            lookups.resolve("127.0.0.1").unwrap().as_ref(),
            [IpAddr::from([127, 0, 0, 1])]
        );
        assert_eq!(lookups.made(), 1);
    }

    #[test]
    fn a_failed_lookup_is_said_and_shared() {
        let lookups = Lookups::new(Duration::from_secs(3));
        // A name the resolver refuses before asking anyone (no network).
        let name = "nul\0host";
        let error = lookups.resolve(name).unwrap_err();
        assert!(
            error.to_string().starts_with("cannot look up nul\0host: "),
            "{error}"
        );
        assert_eq!(lookups.resolve(name).unwrap_err(), error);
        assert_eq!(lookups.made(), 1);
    }
}
