//! What each client's errors mean in the contract's terms: ureq's for the
//! blocking modes, reqwest's (hyper's, h2's and rustls's under it) for the
//! async mode. Side by side, so that every lie gets one verdict whichever
//! library met it (docs/reliability.md).

use std::error::Error as StdError;
use std::io;

use crate::download::pipeline::contract::Cause;
use crate::download::pipeline::lookup::LookupError;
use crate::download::pipeline::trust::tls_reason;

/// What an I/O error under an HTTP client means, in the contract's terms.
fn io_cause(error: &io::Error) -> Cause {
    match error.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Cause::Timeout,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => Cause::Reset,
        io::ErrorKind::UnexpectedEof => Cause::Eof,
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
            Cause::Invalid(error.to_string())
        }
        io::ErrorKind::ConnectionRefused => Cause::Connect("connection refused".into()),
        _ => Cause::Other(error.to_string()),
    }
}

/// The innermost message of an error's chain: the most specific one.
fn root_message(error: &(dyn StdError + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// What a ureq error means, in the contract's terms.
pub(super) fn ureq_cause(error: &ureq::Error) -> Cause {
    match error {
        ureq::Error::Timeout(_) => Cause::Timeout,
        ureq::Error::Io(io) => ureq_io_cause(io),
        ureq::Error::Protocol(protocol) => Cause::Invalid(protocol.to_string()),
        ureq::Error::LargeResponseHeader(..) => Cause::Invalid(error.to_string()),
        ureq::Error::HostNotFound => Cause::Connect("host not found".into()),
        ureq::Error::ConnectionFailed => Cause::Connect("connection failed".into()),
        ureq::Error::Tls(why) => Cause::Connect(format!("TLS: {why}")),
        ureq::Error::Rustls(tls) => tls_cause(tls),
        // ureq's decoder stalled: the connection ended with bytes it could
        // not yet decode (a chunk size line cut short, or a chunk's data
        // not followed by CRLF). The body ended before its framing did
        // (found by fuzzing the two clients against each other).
        ureq::Error::BodyStalled => Cause::Eof,
        other => Cause::Other(other.to_string()),
    }
}

/// What a rustls error means: a failure that cannot heal however often
/// it is tried is a TLS verdict (`trust::tls_reason` says which); one cut
/// by the network is a connection error, retried.
fn tls_cause(error: &rustls::Error) -> Cause {
    match tls_reason(error) {
        Some(why) => Cause::Tls(why),
        None => Cause::Connect(format!("TLS: {error}")),
    }
}

/// The rustls error inside an I/O error (both clients wrap it so, the
/// async one in an I/O error of its own), if any.
fn rustls_in(error: &io::Error) -> Option<&rustls::Error> {
    let inner = error.get_ref()?;
    match inner.downcast_ref::<rustls::Error>() {
        Some(tls) => Some(tls),
        None => rustls_in(inner.downcast_ref::<io::Error>()?),
    }
}

/// ureq reports its own errors, and rustls's, wrapped in `io::Error`. A
/// TLS failure is the async client's verdict too.
pub(super) fn ureq_io_cause(error: &io::Error) -> Cause {
    let inner = error.get_ref();
    if let Some(ureq) = inner.and_then(|e| e.downcast_ref::<ureq::Error>()) {
        return ureq_cause(ureq);
    }
    if let Some(lookup) = inner.and_then(|e| e.downcast_ref::<LookupError>()) {
        return Cause::Connect(lookup.to_string());
    }
    if let Some(tls) = rustls_in(error) {
        return tls_cause(tls);
    }
    io_cause(error)
}

/// The errors of an error's chain, itself first.
fn chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |e: &&'a (dyn StdError + 'static)| {
        (*e).source()
    })
}

/// What an error of reqwest (hyper's, the connector's, the TLS
/// library's, under it) means, in the contract's terms.
pub(super) fn reqwest_cause(error: &reqwest::Error) -> Cause {
    if error.is_timeout() {
        return Cause::Timeout;
    }
    if error.is_connect() {
        for e in chain(error) {
            if let Some(tls) = e.downcast_ref::<rustls::Error>() {
                return tls_cause(tls);
            }
            if let Some(tls) = e.downcast_ref::<io::Error>().and_then(rustls_in) {
                return tls_cause(tls);
            }
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
        // A SOCKS proxy that could not be reached: hyper-util's SOCKS error
        // shows its cause only in its Debug form, not as a source (the
        // text is pinned by a_socks_proxy_that_is_not_there_is_connection_
        // refused_in_every_mode, in tests/cases/connections.rs).
        if format!("{error:?}").contains("kind: ConnectionRefused") {
            return Cause::Connect("connection refused".into());
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
            // hyper gives only this text; the matrix scenarios of a chunk's
            // data followed by CR and not LF pin it (tests/common/liar.rs).
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
