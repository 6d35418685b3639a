//! Faults the flags server can cause on demand, like a small toxiproxy: each
//! one hits a chosen share of requests, so users can see how the downloader
//! copes and tests can cause every failure on purpose.

use std::fmt;
use std::os::fd::RawFd;
use std::str::FromStr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, stream};

/// One kind of misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// Reset the connection (TCP RST) before any response.
    Reset,
    /// Send the headers and half the body, then reset the connection.
    ResetBody,
    /// Announce the full `Content-Length`, send half the body, then close.
    Truncate,
    /// Send the body slowly, at `--drip-speed` bytes per second.
    Drip,
    /// Redirect to itself, forever.
    RedirectLoop,
    /// Answer with a body far larger than any flag (64 MiB, no `Content-Length`).
    Huge,
    /// Answer `metadata.json` with invalid JSON (metadata requests only).
    BadJson,
    /// Answer `metadata.json` with a hostile country name (metadata requests only).
    HostileName,
}

impl FaultKind {
    /// Every kind, with its name on the command line.
    pub(crate) const ALL: [(FaultKind, &'static str); 8] = [
        (FaultKind::Reset, "reset"),
        (FaultKind::ResetBody, "reset-body"),
        (FaultKind::Truncate, "truncate"),
        (FaultKind::Drip, "drip"),
        (FaultKind::RedirectLoop, "redirect-loop"),
        (FaultKind::Huge, "huge"),
        (FaultKind::BadJson, "bad-json"),
        (FaultKind::HostileName, "hostile-name"),
    ];

    /// Whether this fault applies to metadata requests only.
    pub(crate) fn metadata_only(self) -> bool {
        matches!(self, FaultKind::BadJson | FaultKind::HostileName)
    }

    fn name(self) -> &'static str {
        FaultKind::ALL
            .iter()
            .find(|(kind, _)| *kind == self)
            .map_or("?", |(_, name)| name)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A fault and the share of requests it hits: `reset=0.1` on the command line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fault {
    /// What goes wrong.
    pub kind: FaultKind,
    /// Share of requests, 0.0 to 1.0.
    pub rate: f64,
}

impl fmt::Display for Fault {
    /// `KIND=RATE`, as the command line takes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.kind, self.rate)
    }
}

/// Why a `--fault` value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid fault '{0}': expected KIND=RATE, KIND one of reset, reset-body, truncate, drip, redirect-loop, huge, bad-json, hostile-name and RATE from 0.0 to 1.0"
)]
pub struct FaultError(String);

impl FromStr for Fault {
    type Err = FaultError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || FaultError(s.to_owned());
        let (name, rate) = s.split_once('=').ok_or_else(err)?;
        let kind = FaultKind::ALL
            .iter()
            .find(|(_, n)| *n == name.trim())
            .map(|(kind, _)| *kind)
            .ok_or_else(err)?;
        let rate: f64 = rate.trim().parse().map_err(|_| err())?;
        if !(0.0..=1.0).contains(&rate) {
            return Err(err());
        }
        Ok(Fault { kind, rate })
    }
}

impl Fault {
    /// Checks that the rates, laid end to end, cover at most every request.
    pub(crate) fn check_total(faults: &[Fault]) -> Result<(), String> {
        let total: f64 = faults.iter().map(|f| f.rate).sum();
        if total > 1.0 + 1e-9 {
            return Err(format!(
                "the fault rates add up to {total}: they are shares of the same requests, so at most 1.0 in all"
            ));
        }
        Ok(())
    }
}

/// Picks the fault of one request from a uniform draw `u` in `[0, 1)`: the
/// rates are laid end to end, so `reset=0.1 truncate=0.2` resets draws below
/// 0.1 and truncates draws from 0.1 to 0.3.
pub(crate) fn pick(faults: &[Fault], u: f64, is_metadata: bool) -> Option<FaultKind> {
    let mut edge = 0.0;
    for fault in faults {
        if fault.kind.metadata_only() && !is_metadata {
            continue;
        }
        edge += fault.rate;
        if u < edge {
            return Some(fault.kind);
        }
    }
    None
}

/// Hostile country names served by `hostile-name`, chosen per code.
pub(crate) const HOSTILE_NAMES: [&str; 6] =
    ["../../etc/x", "/abs", "nul\0byte", "Same", "SAME", "CON"];

/// The hostile name of a code: one of [`HOSTILE_NAMES`], or 5,000 characters.
pub(crate) fn hostile_name(code: &str) -> String {
    let index = code.bytes().map(usize::from).sum::<usize>() % (HOSTILE_NAMES.len() + 1);
    HOSTILE_NAMES
        .get(index)
        .map_or_else(|| "x".repeat(5000), |name| (*name).to_owned())
}

/// Makes the kernel answer the connection's close with a reset (RST) instead
/// of an orderly FIN: `SO_LINGER` with a zero timeout. `fd` must be a
/// socket its caller holds open for the call (the handler's connection, or
/// the fuzzing server's stream).
pub(crate) fn set_reset_on_close(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `fd` is an open socket for the call (the caller holds it:
    // hyper owns a handler's connection until after the handler), and
    // setsockopt only reads `linger`.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// A body broken on purpose: hyper ends the response there.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Broken(&'static str);

fn broken(message: &'static str) -> Result<Bytes, Broken> {
    Err(Broken(message))
}

/// What a fault needs to know of the request it spoils.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FaultyRequest<'a> {
    /// Upper- or lower-case country code.
    pub code: &'a str,
    /// The request path, without the query.
    pub path: &'a str,
    /// How many redirects of the loop came before this request.
    pub hop: u32,
    /// The connection's socket, to reset it; `None` over HTTP/2, where a
    /// fault resets its own stream, not the connection every stream rides.
    pub fd: Option<RawFd>,
    /// Bytes per second of `drip`.
    pub drip_speed: u64,
}

/// The response of a file request hit by `kind`; `file` is what a healthy
/// answer would send.
pub(crate) fn respond(
    kind: FaultKind,
    file: Bytes,
    content_type: &'static str,
    request: FaultyRequest<'_>,
) -> Response {
    let FaultyRequest {
        code,
        path,
        hop,
        fd,
        drip_speed,
    } = request;
    let full_length = file.len();
    let with_length = |body: Body, length: usize| {
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        response
    };
    match kind {
        FaultKind::Reset => {
            let Some(fd) = fd else {
                // HTTP/2: RST_STREAM before any header.
                let mut response = Response::new(Body::empty());
                response
                    .extensions_mut()
                    .insert(crate::server::listen::ResetStream);
                return response;
            };
            set_reset_on_close(fd);
            with_length(
                Body::from_stream(stream::once(async { broken("reset") })),
                full_length,
            )
        }
        FaultKind::ResetBody | FaultKind::Truncate => {
            if let (FaultKind::ResetBody, Some(fd)) = (kind, fd) {
                set_reset_on_close(fd);
            }
            let half = file.slice(..full_length / 2);
            if kind == FaultKind::Truncate && fd.is_none() {
                // HTTP/2: a stream that ends (END_STREAM) short of its length.
                return with_length(Body::from(half), full_length);
            }
            let chunks = stream::iter([Ok(half)]).chain(stream::once(async {
                // Let the first half reach the client before the connection goes.
                tokio::time::sleep(Duration::from_millis(50)).await;
                broken("cut short")
            }));
            with_length(Body::from_stream(chunks), full_length)
        }
        FaultKind::Drip => {
            let per_tick = (drip_speed / 10).max(1) as usize;
            let chunks: Vec<Bytes> = file.chunks(per_tick).map(Bytes::copy_from_slice).collect();
            let drip = stream::iter(chunks).then(|chunk| async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok::<_, std::io::Error>(chunk)
            });
            with_length(Body::from_stream(drip), full_length)
        }
        FaultKind::RedirectLoop => {
            let location = format!("{path}?hop={}", hop + 1);
            (
                StatusCode::FOUND,
                [(header::LOCATION, location)],
                "redirect\n",
            )
                .into_response()
        }
        FaultKind::Huge => {
            let block = Bytes::from(vec![0u8; 64 * 1024]);
            let blocks =
                stream::iter((0..1024).map(move |_| Ok::<_, std::io::Error>(block.clone())));
            let mut response = Response::new(Body::from_stream(blocks));
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
        }
        FaultKind::BadJson => {
            let body = Bytes::from_static(b"{\"country\": \"Bra");
            let length = body.len();
            with_length(Body::from(body), length)
        }
        FaultKind::HostileName => {
            let metadata = serde_json::json!({
                "tld_cc": format!(".{}", code.to_ascii_lowercase()),
                "iso_cc": code.to_ascii_uppercase(),
                "country": hostile_name(code),
            });
            let body = metadata.to_string().into_bytes();
            let length = body.len();
            with_length(Body::from(body), length)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_faults() {
        assert_eq!(
            "reset=0.1".parse(),
            Ok(Fault {
                kind: FaultKind::Reset,
                rate: 0.1
            })
        );
        assert_eq!(
            "hostile-name=1".parse::<Fault>().map(|f| f.kind),
            Ok(FaultKind::HostileName)
        );
        assert!("reset".parse::<Fault>().is_err());
        assert!("reset=2".parse::<Fault>().is_err());
        assert!("explode=0.1".parse::<Fault>().is_err());
    }

    #[test]
    fn rates_are_laid_end_to_end() {
        let faults = [
            Fault {
                kind: FaultKind::Reset,
                rate: 0.1,
            },
            Fault {
                kind: FaultKind::BadJson,
                rate: 0.2,
            },
            Fault {
                kind: FaultKind::Truncate,
                rate: 0.2,
            },
        ];
        assert_eq!(pick(&faults, 0.05, false), Some(FaultKind::Reset));
        assert_eq!(pick(&faults, 0.15, false), Some(FaultKind::Truncate));
        assert_eq!(pick(&faults, 0.15, true), Some(FaultKind::BadJson));
        assert_eq!(pick(&faults, 0.45, true), Some(FaultKind::Truncate));
        assert_eq!(pick(&faults, 0.9, true), None);
    }
}
