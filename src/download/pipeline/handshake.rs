//! When a download's TLS handshake began and ended, for the timeline.
//!
//! A request that opens a connection to an https server makes a handshake
//! inside its client: ureq's connector chain in the blocking modes,
//! reqwest's connector in the async mode, neither of which knows which
//! download it works for. Both run inside the request's own poll, though
//! (the blocking modes block in it; reqwest connects within the
//! request's task, unless a connection kept alive answered first), so a
//! request is timed by a task-local clock set around its sending: the
//! run's session store notes the start when rustls asks it for a key
//! exchange hint, which it does as it writes every ClientHello, and the
//! client notes the end when the handshake is done (`RunTls` in the
//! blocking chain, the counting layer on the async connector). A request
//! that rode a kept-alive connection, and any connect finished in the
//! background, note nothing.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use rustls::NamedGroup;
use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;

tokio::task_local! {
    /// The handshake of the request being sent, if it makes one.
    static CLOCK: Clock;
}

/// The two instants of one handshake, as they are noted.
#[derive(Default)]
struct Clock {
    start: Cell<Option<Instant>>,
    end: Cell<Option<Instant>>,
}

/// Sends a request (`sending`) with its handshake timed: its output, and
/// when the handshake it made began and, if it was done, ended. A
/// handshake begun for a request that took a kept-alive connection
/// instead is never done.
pub(crate) async fn timed<F: Future>(
    sending: F,
) -> (F::Output, Option<(Instant, Option<Instant>)>) {
    CLOCK
        .scope(Clock::default(), async {
            let output = sending.await;
            let times = CLOCK.with(|clock| Some((clock.start.get()?, clock.end.get())));
            (output, times)
        })
        .await
}

/// The handshake of the request being sent is done.
pub(crate) fn ended() {
    let _ = CLOCK.try_with(|clock| {
        if clock.start.get().is_some() && clock.end.get().is_none() {
            clock.end.set(Some(Instant::now()));
        }
    });
}

/// A handshake of the request being sent begins (a second one, after a
/// redirect to another server, starts over).
fn began() {
    let _ = CLOCK.try_with(|clock| {
        clock.start.set(Some(Instant::now()));
        clock.end.set(None);
    });
}

/// rustls's own session store (resumption as by default), noting when a
/// handshake begins.
#[derive(Debug)]
pub(crate) struct NotedStore(Arc<dyn ClientSessionStore>);

impl NotedStore {
    /// The store rustls has by default, with its default size.
    pub(crate) fn new() -> Self {
        Self(Arc::new(rustls::client::ClientSessionMemoryCache::new(256)))
    }
}

impl ClientSessionStore for NotedStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.0.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        began();
        self.0.kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.0.set_tls12_session(server_name, value);
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.0.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.0.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.0.insert_tls13_ticket(server_name, value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        self.0.take_tls13_ticket(server_name)
    }
}
