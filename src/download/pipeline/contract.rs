//! The client contract: what counts as a download, decided once for both
//! HTTP clients. The blocking client (ureq) and the async one (reqwest) only
//! move bytes; every verdict on a response goes through this module, so the
//! three modes cannot disagree on what a server's answer means.
//!
//! - Interim `1xx` answers are skipped by both clients (RFC 9110); a `101`
//!   that reaches us is an ERROR.
//! - Redirects (301, 302, 303, 307, 308; at most `MAX_REDIRECTS`) are
//!   followed here, not by the libraries, and only to `http`/`https` URLs
//!   with a host; any other target is ERROR `bad redirect: <target>`.
//! - Only `200` with a correctly framed body is OK; `404` is NOT_FOUND; every
//!   other status is ERROR naming it.
//! - Framing: exactly one valid `Content-Length` (repeats of the same value
//!   allowed) and a body of exactly that length, or `Transfer-Encoding:
//!   chunked` alone and a chunked body that ends with its last chunk, or
//!   neither and a body ended by the server closing. Anything else is ERROR.
//!   The size cap holds in every case.
//! - No `Accept-Encoding` is sent and bodies are saved as sent.

use http::header::{CONTENT_LENGTH, LOCATION, RETRY_AFTER, TRANSFER_ENCODING};
use http::{HeaderMap, StatusCode, Version};
use url::Url;

use crate::download::status::FetchError;

/// A response head (status line and headers) must be smaller than this.
/// The blocking client stops reading a head at that size; the async one
/// reads more, so the contract checks the head it parsed.
pub(crate) const MAX_HEAD: usize = 16 * 1024;

/// The size of a head as sent: `HTTP/1.1 200 OK`, then `Name: value` lines,
/// each with its CRLF, then the blank line.
fn head_size(headers: &HeaderMap) -> usize {
    let lines: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    "HTTP/1.1 200 OK\r\n".len() + lines + 2
}

/// Most redirects followed for one request.
pub(crate) const MAX_REDIRECTS: u32 = 5;

/// How a response's body is delimited, read from its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length`: exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`; the client library checks the chunks.
    Chunked,
    /// Neither: the body ends when the server closes the connection.
    Close,
}

impl Framing {
    /// How many bytes to reserve for the body before reading it.
    pub(crate) fn capacity(self, max_size: u64) -> usize {
        match self {
            Framing::Length(n) => n.min(max_size) as usize,
            _ => 0,
        }
    }

    /// Checks a body read to its end against the framing announced.
    pub(crate) fn check(self, received: u64) -> Result<(), FetchError> {
        match self {
            Framing::Length(announced) if received < announced => Err(FetchError::Truncated),
            _ => Ok(()),
        }
    }
}

/// What an HTTP client library reported, mapped by each client from its
/// own error types; [`verdict`] decides what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cause {
    /// A time limit passed.
    Timeout,
    /// The connection could not be made.
    Connect(String),
    /// The TLS handshake failed for good (see `trust::tls_reason`).
    Tls(String),
    /// The connection was reset (or, over HTTP/2, the stream).
    Reset,
    /// HTTP/2: the server refused the stream before processing it.
    Refused,
    /// The server closed the connection before the answer was complete.
    Eof,
    /// The bytes received break HTTP.
    Invalid(String),
    /// HTTP/2: our library refused a stream that broke the protocol; in
    /// the body, DATA that disagree with `Content-Length`.
    Malformed(String),
    /// Anything else.
    Other(String),
}

/// Where in a response a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Before the status line and headers were complete.
    Head,
    /// While reading the body.
    Body,
}

/// The status reason of a failure: the same words whichever client met it.
/// A connection closed or reset before the headers were complete is a reset
/// (there was no answer); one closed or reset during the body cut the body
/// short (ureq does not tell the two apart there, and neither need we).
pub(crate) fn verdict(cause: Cause, stage: Stage) -> FetchError {
    match (cause, stage) {
        (Cause::Timeout, _) => FetchError::Timeout,
        (Cause::Refused, _) => FetchError::Refused,
        (Cause::Connect(why), _) => FetchError::Connect(why),
        (Cause::Tls(why), _) => FetchError::Tls(why),
        (Cause::Reset | Cause::Eof, Stage::Head) => FetchError::Reset,
        (Cause::Reset | Cause::Eof, Stage::Body) => FetchError::Truncated,
        (Cause::Invalid(why) | Cause::Malformed(why), Stage::Head) => FetchError::Invalid(why),
        (Cause::Malformed(_), Stage::Body) => FetchError::Truncated,
        (Cause::Invalid(why), Stage::Body) => FetchError::Invalid(why),
        (Cause::Other(why), _) => FetchError::Other(why),
    }
}

/// What to do with a response whose headers have arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// A 200: read the body, delimited so.
    Read(Framing),
    /// Follow a redirect to this URL.
    Follow(Url),
}

/// One request's way through redirects: the URL to ask next and how many
/// hops were made.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    url: Url,
    hops: u32,
    max_size: u64,
}

impl Request {
    /// A request for `url`, bodies capped at `max_size` bytes.
    pub(crate) fn new(url: Url, max_size: u64) -> Self {
        Self {
            url,
            hops: 0,
            max_size,
        }
    }

    /// The URL to ask now.
    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// The verdict on a response's status and headers: read its body, or
    /// ask again elsewhere (this request then points there), or fail.
    pub(crate) fn judge(
        &mut self,
        version: Version,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Result<Next, FetchError> {
        if head_size(headers) >= MAX_HEAD {
            return Err(FetchError::Invalid(format!(
                "a response head of {MAX_HEAD} bytes or more"
            )));
        }
        // A head whose framing is broken is broken whatever its status: no
        // client can tell where its body ends (and ureq refuses it before
        // its status is seen, so the async client must too).
        let framing = framing(headers)?;
        // HTTP/1.0 has no chunked coding: its framing is faulty (RFC 9112,
        // 6.1). hyper read such a body to the close, chunk sizes and all,
        // and saved it (found by fuzzing).
        if version == Version::HTTP_10 && headers.contains_key(TRANSFER_ENCODING) {
            return Err(FetchError::Invalid(
                "Transfer-Encoding in an HTTP/1.0 response".into(),
            ));
        }
        match status.as_u16() {
            200 => match framing {
                Framing::Length(n) if n > self.max_size => Err(FetchError::TooLarge(self.max_size)),
                _ => Ok(Next::Read(framing)),
            },
            404 => Err(FetchError::NotFound),
            301 | 302 | 303 | 307 | 308 => match redirect_target(&self.url, headers)? {
                None => Err(status_error(status, headers)),
                Some(_) if self.hops >= MAX_REDIRECTS => Err(FetchError::Redirects),
                Some(target) => {
                    self.hops += 1;
                    self.url = target.clone();
                    Ok(Next::Follow(target))
                }
            },
            _ => Err(status_error(status, headers)),
        }
    }

    /// Checks a body's running size against the cap.
    pub(crate) fn check_size(&self, received: u64) -> Result<(), FetchError> {
        if received > self.max_size {
            Err(FetchError::TooLarge(self.max_size))
        } else {
            Ok(())
        }
    }
}

/// A status that is not a download: ERROR naming it, with the server's
/// `Retry-After` (seconds) when it sent one.
fn status_error(status: StatusCode, headers: &HeaderMap) -> FetchError {
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs);
    FetchError::status(status.as_u16(), retry_after)
}

/// The framing a response announces, or why it is invalid.
pub(crate) fn framing(headers: &HeaderMap) -> Result<Framing, FetchError> {
    let invalid = |why: &str| Err(FetchError::Invalid(why.to_owned()));
    let mut length: Option<u64> = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        let Ok(text) = value.to_str() else {
            return invalid("Content-Length is not text");
        };
        for element in text.split(',') {
            let element = element.trim();
            if element.is_empty() || !element.bytes().all(|b| b.is_ascii_digit()) {
                return invalid(&format!("bad Content-Length {text:?}"));
            }
            let Ok(n) = element.parse::<u64>() else {
                return invalid(&format!("bad Content-Length {text:?}"));
            };
            if length.is_some_and(|seen| seen != n) {
                return invalid("conflicting Content-Length headers");
            }
            length = Some(n);
        }
    }
    let codings: Vec<&http::HeaderValue> = headers.get_all(TRANSFER_ENCODING).iter().collect();
    match (codings.as_slice(), length) {
        ([], Some(n)) => Ok(Framing::Length(n)),
        ([], None) => Ok(Framing::Close),
        ([only], None) if only.as_bytes().eq_ignore_ascii_case(b"chunked") => Ok(Framing::Chunked),
        (_, Some(_)) => invalid("both Transfer-Encoding and Content-Length"),
        (_, None) => invalid("unsupported Transfer-Encoding"),
    }
}

/// Where a redirect leads: `None` when it has no `Location` (or an empty
/// one), an error when the target is not an `http`/`https` URL with a host
/// that both clients can send (an `http::Uri`).
pub(crate) fn redirect_target(
    current: &Url,
    headers: &HeaderMap,
) -> Result<Option<Url>, FetchError> {
    let Some(location) = headers.get(LOCATION) else {
        return Ok(None);
    };
    if location.is_empty() {
        return Ok(None);
    }
    let shown = String::from_utf8_lossy(location.as_bytes()).into_owned();
    let bad = || FetchError::BadRedirect(shown.clone());
    let text = location.to_str().map_err(|_| bad())?;
    let target = current.join(text.trim()).map_err(|_| bad())?;
    let usable = matches!(target.scheme(), "http" | "https")
        && target.host_str().is_some_and(|h| !h.is_empty())
        && target.as_str().parse::<http::Uri>().is_ok();
    if usable { Ok(Some(target)) } else { Err(bad()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn framing_rules() {
        assert_eq!(framing(&headers(&[])), Ok(Framing::Close));
        assert_eq!(
            framing(&headers(&[("content-length", "12")])),
            Ok(Framing::Length(12))
        );
        assert_eq!(
            framing(&headers(&[
                ("content-length", "12"),
                ("content-length", "12")
            ])),
            Ok(Framing::Length(12))
        );
        assert_eq!(
            framing(&headers(&[("transfer-encoding", "Chunked")])),
            Ok(Framing::Chunked)
        );
        for bad in [
            vec![("content-length", "-5")],
            vec![("content-length", "12abc")],
            vec![("content-length", "")],
            vec![("content-length", "+12")],
            vec![("content-length", "99999999999999999999999")],
            vec![("content-length", "12"), ("content-length", "13")],
            vec![("content-length", "12, 13")],
            vec![("transfer-encoding", "chunked"), ("content-length", "3")],
            vec![("transfer-encoding", "gzip")],
            vec![("transfer-encoding", "gzip, chunked")],
        ] {
            assert!(
                matches!(framing(&headers(&bad)), Err(FetchError::Invalid(_))),
                "{bad:?}"
            );
        }
        assert_eq!(Framing::Length(10).check(5), Err(FetchError::Truncated));
        assert_eq!(Framing::Length(10).check(10), Ok(()));
        assert_eq!(Framing::Close.check(0), Ok(()));
    }

    #[test]
    fn statuses_and_redirects() {
        let mut request = Request::new(
            Url::parse("http://127.0.0.1:1/flags/br/br.gif").unwrap(),
            100,
        );
        let none = HeaderMap::new();
        assert_eq!(
            request.judge(Version::HTTP_11, StatusCode::OK, &none),
            Ok(Next::Read(Framing::Close))
        );
        assert_eq!(
            request.judge(Version::HTTP_11, StatusCode::NOT_FOUND, &none),
            Err(FetchError::NotFound)
        );
        for code in [101, 201, 204, 299, 300, 302, 304, 500] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(
                matches!(request.judge(Version::HTTP_11, status, &none), Err(FetchError::Status { code: c, .. }) if c == code),
                "{code}"
            );
        }
        assert_eq!(
            request.judge(
                Version::HTTP_11,
                StatusCode::OK,
                &headers(&[("content-length", "101")])
            ),
            Err(FetchError::TooLarge(100))
        );
        let relative = headers(&[("location", "/x/br.gif")]);
        assert_eq!(
            request.judge(Version::HTTP_11, StatusCode::FOUND, &relative),
            Ok(Next::Follow(
                Url::parse("http://127.0.0.1:1/x/br.gif").unwrap()
            ))
        );
        for target in [
            "file:///etc/passwd",
            "data:,x",
            "mailto:a@b.c",
            "http://",
            "http://[::1",
            // A URL the url crate reads (a backtick in its host) that
            // http::Uri, which both clients send, refuses (found by
            // fuzzing: each client said so in words of its own).
            "\\\\a`b",
        ] {
            assert_eq!(
                request.judge(
                    Version::HTTP_11,
                    StatusCode::FOUND,
                    &headers(&[("location", target)])
                ),
                Err(FetchError::BadRedirect(target.into())),
                "{target}"
            );
        }
    }

    #[test]
    fn at_most_five_redirects() {
        let mut request = Request::new(Url::parse("http://127.0.0.1:1/a").unwrap(), 100);
        let again = headers(&[("location", "/a")]);
        for _ in 0..MAX_REDIRECTS {
            assert!(matches!(
                request.judge(Version::HTTP_11, StatusCode::FOUND, &again),
                Ok(Next::Follow(_))
            ));
        }
        assert_eq!(
            request.judge(Version::HTTP_11, StatusCode::FOUND, &again),
            Err(FetchError::Redirects)
        );
    }
}
