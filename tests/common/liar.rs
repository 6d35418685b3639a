//! A flags server that lies: raw TCP on 127.0.0.1:0, answering each request
//! with the misbehaviour its path names. The client contract's conformance
//! matrix (tests/cases/contract.rs) runs every scenario in every mode.
//!
//! A scenario's base URL is `http://127.0.0.1:PORT/<scenario>/flags`, so the
//! client asks for `/<scenario>/flags/br/br.gif`. A second listener on
//! another port answers the same way, for redirects that change port.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

/// What every mode must conclude from a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Status OK and this file saved.
    Ok(Saved),
    /// Status NOT_FOUND, nothing saved.
    NotFound,
    /// Status ERROR, nothing saved, with a reason starting with this.
    Error(&'static str),
}

/// The bytes an OK scenario must leave in `BR.gif`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// The bundled BR flag.
    Flag,
    /// Its first half (the server announced, and so sent, only that much).
    FirstHalf,
    /// Nothing: an empty body, correctly framed.
    Empty,
    /// The bytes of [`GZIP_BODY`], saved as sent.
    Gzip,
}

/// Bytes served with `Content-Encoding: gzip`; they must be saved as sent.
pub const GZIP_BODY: &[u8] = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03not really a gif";

/// One misbehaviour and its verdict.
pub struct Scenario {
    /// Its name, the first segment of its URL path.
    pub name: &'static str,
    /// Status codes, framing, redirects, headers or slowness.
    pub group: &'static str,
    /// What the server does, in words (the README's table).
    pub what: &'static str,
    /// What every mode must conclude.
    pub expect: Expect,
    answer: fn(&mut Reply) -> Next,
}

/// What happens to the connection after an answer.
enum Next {
    /// Read the next request on it.
    KeepAlive,
    /// Close it (FIN).
    Close,
}

/// The request being answered and the means to answer it.
struct Reply<'a> {
    stream: &'a mut TcpStream,
    /// The request path, e.g. `/ok/flags/br/br.gif`.
    path: String,
    /// Lower-case header names with their values.
    headers: Vec<(String, String)>,
    /// The bundled BR flag.
    body: &'static [u8],
    /// The other listener's address.
    other: SocketAddr,
    /// A port where nothing listens.
    closed_port: u16,
    stop: &'a AtomicBool,
}

impl Reply<'_> {
    fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
        let _ = self.stream.flush();
    }

    /// Status line, headers and blank line.
    fn head(&mut self, status: &str, headers: &[(&str, String)]) {
        let mut text = format!("HTTP/1.1 {status}\r\n");
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        self.send(text.as_bytes());
    }

    /// A complete answer with `Content-Length`.
    fn full(&mut self, status: &str, extra: &[(&str, String)], body: &[u8]) -> Next {
        let mut headers = vec![("Content-Length", body.len().to_string())];
        headers.extend(extra.iter().cloned());
        self.head(status, &headers);
        self.send(body);
        Next::KeepAlive
    }

    /// The flag, correctly framed with `Content-Length`.
    fn flag(&mut self) -> Next {
        let body = self.body;
        self.full("200 OK", &[("Content-Type", "image/gif".into())], body)
    }

    /// A redirect with a small framed body.
    fn redirect(&mut self, status: &str, location: &str) -> Next {
        self.full(status, &[("Location", location.into())], b"moved\n")
    }

    /// Waits `ms` unless the server is stopping.
    fn pause(&self, ms: u64) -> bool {
        thread::sleep(Duration::from_millis(ms));
        !self.stop.load(Ordering::Relaxed)
    }

    /// Makes the close a TCP reset.
    fn reset(&mut self) -> Next {
        set_linger_zero(self.stream);
        Next::Close
    }

    /// The `n` in `/<scenario>/<n>/flags/...`, for redirect chains.
    fn hop(&self) -> u32 {
        self.path
            .split('/')
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    fn half(&self) -> &'static [u8] {
        &self.body[..self.body.len() / 2]
    }
}

fn set_linger_zero(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket this thread owns, with a valid linger.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

const OK: Expect = Expect::Ok(Saved::Flag);
const INVALID: Expect = Expect::Error("invalid response");
const TRUNCATED: Expect = Expect::Error("truncated body");
const RESET: Expect = Expect::Error("connection reset");
const TIMED_OUT: Expect = Expect::Error("timed out");
const BAD_REDIRECT: Expect = Expect::Error("bad redirect");
const TOO_MANY: Expect = Expect::Error("too many redirects");
const TOO_LARGE: Expect = Expect::Error("body larger than");

macro_rules! scenario {
    ($group:literal, $name:literal, $what:literal, $expect:expr, $answer:expr) => {
        Scenario {
            name: $name,
            group: $group,
            what: $what,
            expect: $expect,
            answer: $answer,
        }
    };
}

/// Every scenario of the conformance matrix.
pub const SCENARIOS: &[Scenario] = &[
    // --- status codes -----------------------------------------------------
    scenario!("status", "ok", "200 with Content-Length", OK, |r| r.flag()),
    scenario!(
        "status",
        "continue-then-close",
        "100 Continue, then 200 with no length, then close",
        OK,
        |r| {
            r.send(b"HTTP/1.1 100 Continue\r\n\r\n");
            r.head("200 OK", &[]);
            let body = r.body;
            r.send(body);
            Next::Close
        }
    ),
    scenario!(
        "status",
        "continue-keep-alive",
        "100 Continue, then 200 with Content-Length on a kept-alive connection",
        OK,
        |r| {
            r.send(b"HTTP/1.1 100 Continue\r\n\r\n");
            r.flag()
        }
    ),
    scenario!(
        "status",
        "early-hints",
        "103 Early Hints with a Link header, then 200",
        OK,
        |r| {
            r.head(
                "103 Early Hints",
                &[("Link", "</style.css>; rel=preload".into())],
            );
            r.flag()
        }
    ),
    scenario!(
        "status",
        "two-interim",
        "102 Processing and 103, then 200",
        OK,
        |r| {
            r.send(b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n");
            r.flag()
        }
    ),
    scenario!(
        "status",
        "switching-protocols",
        "101 Switching Protocols to websocket",
        Expect::Error("HTTP 101"),
        |r| {
            r.head(
                "101 Switching Protocols",
                &[
                    ("Upgrade", "websocket".into()),
                    ("Connection", "Upgrade".into()),
                ],
            );
            let body = r.body;
            r.send(body);
            Next::Close
        }
    ),
    scenario!(
        "status",
        "created",
        "201 Created with the flag",
        Expect::Error("HTTP 201"),
        |r| {
            let body = r.body;
            r.full("201 Created", &[], body)
        }
    ),
    scenario!(
        "status",
        "no-content",
        "204 No Content",
        Expect::Error("HTTP 204"),
        |r| {
            r.head("204 No Content", &[]);
            Next::KeepAlive
        }
    ),
    scenario!(
        "status",
        "partial-content",
        "206 Partial Content with the first half",
        Expect::Error("HTTP 206"),
        |r| {
            let (half, len) = (r.half(), r.body.len());
            let range = format!("bytes 0-{}/{len}", half.len() - 1);
            r.full("206 Partial Content", &[("Content-Range", range)], half)
        }
    ),
    scenario!(
        "status",
        "status-299",
        "an unassigned 2xx, 299",
        Expect::Error("HTTP 299"),
        |r| {
            let body = r.body;
            r.full("299 Whatever", &[], body)
        }
    ),
    scenario!(
        "status",
        "multiple-choices",
        "300 with no Location",
        Expect::Error("HTTP 300"),
        |r| { r.full("300 Multiple Choices", &[], b"pick one\n") }
    ),
    scenario!(
        "status",
        "found-no-location",
        "302 with no Location",
        Expect::Error("HTTP 302"),
        |r| { r.full("302 Found", &[], b"somewhere\n") }
    ),
    scenario!(
        "status",
        "found-empty-location",
        "302 with an empty Location",
        Expect::Error("HTTP 302"),
        |r| { r.full("302 Found", &[("Location", String::new())], b"somewhere\n") }
    ),
    scenario!(
        "status",
        "not-modified",
        "304 Not Modified",
        Expect::Error("HTTP 304"),
        |r| {
            r.head("304 Not Modified", &[]);
            Next::KeepAlive
        }
    ),
    scenario!(
        "status",
        "forbidden",
        "403 Forbidden",
        Expect::Error("HTTP 403"),
        |r| { r.full("403 Forbidden", &[], b"no\n") }
    ),
    scenario!(
        "status",
        "not-found",
        "404 Not Found",
        Expect::NotFound,
        |r| { r.full("404 Not Found", &[], b"not found\n") }
    ),
    scenario!(
        "status",
        "gone",
        "410 Gone",
        Expect::Error("HTTP 410"),
        |r| { r.full("410 Gone", &[], b"gone\n") }
    ),
    scenario!(
        "status",
        "server-error",
        "500 Internal Server Error",
        Expect::Error("HTTP 500"),
        |r| { r.full("500 Internal Server Error", &[], b"oops\n") }
    ),
    scenario!(
        "status",
        "unavailable",
        "503 with Retry-After",
        Expect::Error("HTTP 503"),
        |r| {
            r.full(
                "503 Service Unavailable",
                &[("Retry-After", "1".into())],
                b"later\n",
            )
        }
    ),
    scenario!(
        "status",
        "status-599",
        "an unassigned 5xx, 599",
        Expect::Error("HTTP 599"),
        |r| { r.full("599 Whatever", &[], b"?\n") }
    ),
    scenario!(
        "status",
        "status-garbage",
        "status line `HTTP/1.1 2x0 OK`",
        INVALID,
        |r| {
            r.send(b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n");
            Next::Close
        }
    ),
    // --- framing ----------------------------------------------------------
    scenario!(
        "framing",
        "chunked",
        "200, chunked in three chunks",
        OK,
        |r| {
            r.head("200 OK", &[("Transfer-Encoding", "chunked".into())]);
            for piece in r.body.chunks(r.body.len() / 3 + 1) {
                let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
                chunk.extend_from_slice(piece);
                chunk.extend_from_slice(b"\r\n");
                r.send(&chunk);
            }
            r.send(b"0\r\n\r\n");
            Next::KeepAlive
        }
    ),
    scenario!(
        "framing",
        "close-delimited",
        "200 with no length, body ended by closing",
        OK,
        |r| {
            r.head("200 OK", &[]);
            let body = r.body;
            r.send(body);
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "length-short",
        "Content-Length of the flag, half of it sent, then close",
        TRUNCATED,
        |r| {
            let (len, half) = (r.body.len(), r.half());
            r.head("200 OK", &[("Content-Length", len.to_string())]);
            r.send(half);
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "length-long",
        "Content-Length of half the flag, the whole flag sent",
        Expect::Ok(Saved::FirstHalf),
        |r| {
            let (len, body) = (r.half().len(), r.body);
            r.head("200 OK", &[("Content-Length", len.to_string())]);
            r.send(body);
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "length-negative",
        "`Content-Length: -5`",
        INVALID,
        |r| {
            r.head("200 OK", &[("Content-Length", "-5".into())]);
            let body = r.body;
            r.send(body);
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "length-garbage",
        "`Content-Length: 12abc`",
        INVALID,
        |r| {
            r.head("200 OK", &[("Content-Length", "12abc".into())]);
            let body = r.body;
            r.send(body);
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "length-empty",
        "an empty `Content-Length`",
        INVALID,
        |r| {
            r.head("200 OK", &[("Content-Length", String::new())]);
            let body = r.body;
            r.send(body);
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "not-found-length-empty",
        "404 with an empty `Content-Length` (found by fuzzing: the async client said NOT_FOUND)",
        INVALID,
        |r| {
            r.head("404 Not Found", &[("Content-Length", String::new())]);
            r.send(b"not found\n");
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "error-te-unknown",
        "503 with `Transfer-Encoding: gzip` (found by fuzzing: the async client said HTTP 503)",
        INVALID,
        |r| {
            r.head(
                "503 Service Unavailable",
                &[("Transfer-Encoding", "gzip".into())],
            );
            r.send(b"busy\n");
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "length-conflict",
        "two different `Content-Length` headers",
        INVALID,
        |r| {
            let len = r.body.len();
            r.head(
                "200 OK",
                &[
                    ("Content-Length", len.to_string()),
                    ("Content-Length", "100".into()),
                ],
            );
            let body = r.body;
            r.send(body);
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "length-repeated",
        "the same `Content-Length` twice",
        OK,
        |r| {
            let len = r.body.len();
            r.head(
                "200 OK",
                &[
                    ("Content-Length", len.to_string()),
                    ("Content-Length", len.to_string()),
                ],
            );
            let body = r.body;
            r.send(body);
            Next::KeepAlive
        }
    ),
    scenario!(
        "framing",
        "length-zero",
        "200 with `Content-Length: 0`",
        Expect::Ok(Saved::Empty),
        |r| { r.full("200 OK", &[], b"") }
    ),
    scenario!(
        "framing",
        "length-huge",
        "`Content-Length: 99999999999`",
        TOO_LARGE,
        |r| {
            r.head("200 OK", &[("Content-Length", "99999999999".into())]);
            let body = r.body;
            r.send(body);
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "chunked-short",
        "a chunk of the flag's size announced, half sent, then close",
        TRUNCATED,
        |r| {
            r.head("200 OK", &[("Transfer-Encoding", "chunked".into())]);
            let (len, half) = (r.body.len(), r.half());
            r.send(format!("{len:x}\r\n").as_bytes());
            r.send(half);
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "chunked-no-terminator",
        "every chunk sent but not the last, empty one; then close",
        TRUNCATED,
        |r| {
            r.head("200 OK", &[("Transfer-Encoding", "chunked".into())]);
            let body = r.body;
            r.send(format!("{:x}\r\n", body.len()).as_bytes());
            r.send(body);
            r.send(b"\r\n");
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "chunked-bad-hex",
        "chunk size `zz`",
        INVALID,
        |r| {
            r.head("200 OK", &[("Transfer-Encoding", "chunked".into())]);
            r.send(b"zz\r\nabc\r\n0\r\n\r\n");
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "chunk-not-ended",
        "a chunk's data followed by CR and not LF, then close (found by fuzzing: ureq said 'body data reading stalled', reqwest 'invalid response')",
        TRUNCATED,
        |r| {
            r.head("200 OK", &[("Transfer-Encoding", "chunked".into())]);
            r.send(b"5\r\nhello\r\xc3\xa9\n0\r\n\r\n");
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "chunk-too-long",
        "a chunk's data longer than its size (found by fuzzing)",
        INVALID,
        |r| {
            r.head("200 OK", &[("Transfer-Encoding", "chunked".into())]);
            r.send(b"4\r\nhello\r\n0\r\n\r\n");
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "chunk-size-cut",
        "a chunk size line cut short by the close (found by fuzzing: ureq said 'invalid response', reqwest 'truncated body')",
        TRUNCATED,
        |r| {
            r.head("200 OK", &[("Transfer-Encoding", "chunked".into())]);
            r.send(b"5\r\nhello\r\n4");
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "http10-chunked",
        "an HTTP/1.0 200 with `Transfer-Encoding: chunked` (found by fuzzing: the async client saved the chunks' syntax as the flag)",
        INVALID,
        |r| {
            r.send(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "chunked-and-length",
        "`Transfer-Encoding: chunked` and a wrong `Content-Length`",
        INVALID,
        |r| {
            r.head(
                "200 OK",
                &[
                    ("Transfer-Encoding", "chunked".into()),
                    ("Content-Length", "10".into()),
                ],
            );
            let body = r.body;
            r.send(format!("{:x}\r\n", body.len()).as_bytes());
            r.send(body);
            r.send(b"\r\n0\r\n\r\n");
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "huge-close-delimited",
        "8 MiB with no length (over `--max-size`)",
        TOO_LARGE,
        |r| {
            r.head("200 OK", &[]);
            let block = vec![b'x'; 64 * 1024];
            for _ in 0..128 {
                if r.stream.write_all(&block).is_err() {
                    break;
                }
            }
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "huge-chunked",
        "8 MiB in chunks (over `--max-size`)",
        TOO_LARGE,
        |r| {
            r.head("200 OK", &[("Transfer-Encoding", "chunked".into())]);
            let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
            chunk.extend(std::iter::repeat_n(b'x', 64 * 1024));
            chunk.extend_from_slice(b"\r\n");
            for _ in 0..128 {
                if r.stream.write_all(&chunk).is_err() {
                    break;
                }
            }
            r.send(b"0\r\n\r\n");
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "close-mid-headers",
        "half a status line and header, then close",
        RESET,
        |r| {
            r.send(b"HTTP/1.1 200 OK\r\nContent-Le");
            Next::Close
        }
    ),
    scenario!(
        "framing",
        "close-at-once",
        "closes without sending a byte",
        RESET,
        |_| Next::Close
    ),
    scenario!(
        "framing",
        "reset-at-once",
        "resets (RST) without sending a byte",
        RESET,
        |r| r.reset()
    ),
    scenario!(
        "framing",
        "reset-mid-body",
        "headers and half the body, then a reset",
        TRUNCATED,
        |r| {
            let (len, half) = (r.body.len(), r.half());
            r.head("200 OK", &[("Content-Length", len.to_string())]);
            r.send(half);
            r.pause(50);
            r.reset()
        }
    ),
    scenario!(
        "framing",
        "reset-ends-body",
        "the whole flag with no length, read to the close, then a reset instead of the close (found by fuzzing: ureq took the reset for the close and saved it)",
        TRUNCATED,
        |r| {
            let body = r.body;
            r.head("200 OK", &[]);
            r.send(body);
            r.pause(50);
            r.reset()
        }
    ),
    scenario!(
        "framing",
        "gzip-anyway",
        "`Content-Encoding: gzip` though not asked for",
        Expect::Ok(Saved::Gzip),
        |r| { r.full("200 OK", &[("Content-Encoding", "gzip".into())], GZIP_BODY) }
    ),
    scenario!(
        "framing",
        "no-accept-encoding",
        "400 if the request has `Accept-Encoding`, else the flag",
        OK,
        |r| {
            if r.headers.iter().any(|(name, _)| name == "accept-encoding") {
                return r.full("400 Bad Request", &[], b"no encodings, please\n");
            }
            r.flag()
        }
    ),
    // --- redirects --------------------------------------------------------
    scenario!(
        "redirects",
        "redirect-other-port",
        "302 to the same path on another port",
        OK,
        |r| {
            let location = format!("http://{}/ok/flags/br/br.gif", r.other);
            r.redirect("302 Found", &location)
        }
    ),
    scenario!(
        "redirects",
        "redirect-relative",
        "301 to a relative path",
        OK,
        |r| { r.redirect("301 Moved Permanently", "/ok/flags/br/br.gif") }
    ),
    scenario!(
        "redirects",
        "redirect-five",
        "301, 302, 303, 307, 308: five hops, then the flag",
        OK,
        |r| {
            let statuses = [
                "301 Moved Permanently",
                "302 Found",
                "303 See Other",
                "307 Temporary Redirect",
                "308 Permanent Redirect",
            ];
            match statuses.get(r.hop() as usize) {
                Some(status) => {
                    let location = format!("/redirect-five/{}/flags/br/br.gif", r.hop() + 1);
                    r.redirect(status, &location)
                }
                None => r.flag(),
            }
        }
    ),
    scenario!(
        "redirects",
        "redirect-six",
        "six hops before the flag",
        TOO_MANY,
        |r| {
            if r.hop() < 6 {
                let location = format!("/redirect-six/{}/flags/br/br.gif", r.hop() + 1);
                return r.redirect("302 Found", &location);
            }
            r.flag()
        }
    ),
    scenario!(
        "redirects",
        "redirect-loop",
        "302 to itself",
        TOO_MANY,
        |r| {
            let path = r.path.clone();
            r.redirect("302 Found", &path)
        }
    ),
    scenario!(
        "redirects",
        "redirect-loop-closing",
        "302 to itself, the connection reset 20 ms later, the next request unread (found by fuzzing: ureq sent the next hop on the closed connection, 'connection reset')",
        TOO_MANY,
        |r| {
            // No body: the connection is ready for the next request, which
            // the client sends on it before the reset comes.
            let path = r.path.clone();
            r.full("302 Found", &[("Location", path)], b"");
            r.pause(20);
            r.reset()
        }
    ),
    scenario!(
        "redirects",
        "redirect-endless",
        "302 to a new URL every time",
        TOO_MANY,
        |r| {
            let location = format!("/redirect-endless/{}/flags/br/br.gif", r.hop() + 1);
            r.redirect("302 Found", &location)
        }
    ),
    scenario!(
        "redirects",
        "redirect-file",
        "302 to `file:///etc/passwd`",
        BAD_REDIRECT,
        |r| { r.redirect("302 Found", "file:///etc/passwd") }
    ),
    scenario!(
        "redirects",
        "redirect-data",
        "302 to `data:,x`",
        BAD_REDIRECT,
        |r| r.redirect("302 Found", "data:,x")
    ),
    scenario!(
        "redirects",
        "redirect-mailto",
        "302 to `mailto:a@b.c`",
        BAD_REDIRECT,
        |r| r.redirect("302 Found", "mailto:a@b.c")
    ),
    scenario!(
        "redirects",
        "redirect-about",
        "302 to `about:blank`",
        BAD_REDIRECT,
        |r| r.redirect("302 Found", "about:blank")
    ),
    scenario!(
        "redirects",
        "redirect-unix",
        "302 to `unix:/tmp/s`",
        BAD_REDIRECT,
        |r| r.redirect("302 Found", "unix:/tmp/s")
    ),
    scenario!(
        "redirects",
        "redirect-ftp",
        "302 to `ftp://127.0.0.1/br.gif`",
        BAD_REDIRECT,
        |r| { r.redirect("302 Found", "ftp://127.0.0.1/br.gif") }
    ),
    scenario!(
        "redirects",
        "redirect-hostless",
        "302 to `http://`",
        BAD_REDIRECT,
        |r| r.redirect("302 Found", "http://")
    ),
    scenario!(
        "redirects",
        "redirect-bad-url",
        "302 to `http://[::1` (not a URL)",
        BAD_REDIRECT,
        |r| { r.redirect("302 Found", "http://[::1") }
    ),
    scenario!(
        "redirects",
        "redirect-bad-host",
        "302 to ``\\\\a`b`` (the url crate reads a host with a backtick, which no request can carry; found by fuzzing: each client said so in its own words)",
        BAD_REDIRECT,
        |r| { r.redirect("302 Found", "\\\\a`b") }
    ),
    scenario!(
        "redirects",
        "redirect-not-utf8",
        "302 with a Location that is not UTF-8",
        BAD_REDIRECT,
        |r| {
            r.send(
                b"HTTP/1.1 302 Found\r\nLocation: /\xff\xfe/br.gif\r\nContent-Length: 0\r\n\r\n",
            );
            Next::KeepAlive
        }
    ),
    scenario!(
        "redirects",
        "redirect-nowhere",
        "302 to a port where nothing listens",
        Expect::Error("connection failed"),
        |r| {
            let location = format!("http://127.0.0.1:{}/ok/flags/br/br.gif", r.closed_port);
            r.redirect("302 Found", &location)
        }
    ),
    // --- headers ----------------------------------------------------------
    scenario!("headers", "header-huge", "a 1 MiB header", INVALID, |r| {
        let big = "x".repeat(1024 * 1024);
        r.head("200 OK", &[("X-Big", big)]);
        Next::Close
    }),
    scenario!("headers", "header-8k", "an 8 KiB header", OK, |r| {
        let big = "x".repeat(8 * 1024);
        let body = r.body;
        r.full("200 OK", &[("X-Big", big)], body)
    }),
    scenario!(
        "headers",
        "header-20k",
        "a 20 KiB header (a head of 16 KiB or more is refused)",
        INVALID,
        |r| {
            let big = "x".repeat(20 * 1024);
            r.head("200 OK", &[("X-Big", big)]);
            Next::Close
        }
    ),
    scenario!("headers", "headers-many", "1,000 headers", INVALID, |r| {
        let many: Vec<(&str, String)> = (0..1000).map(|i| ("X-Many", i.to_string())).collect();
        r.head("200 OK", &many);
        Next::Close
    }),
    scenario!(
        "headers",
        "header-nul",
        "a header value holding a NUL byte",
        INVALID,
        |r| {
            let len = r.body.len();
            r.send(
                format!("HTTP/1.1 200 OK\r\nX-Bad: a\0b\r\nContent-Length: {len}\r\n\r\n")
                    .as_bytes(),
            );
            let body = r.body;
            r.send(body);
            Next::Close
        }
    ),
    scenario!(
        "headers",
        "header-no-colon",
        "a header line with no colon",
        INVALID,
        |r| {
            let len = r.body.len();
            r.send(
                format!("HTTP/1.1 200 OK\r\nnonsense\r\nContent-Length: {len}\r\n\r\n").as_bytes(),
            );
            let body = r.body;
            r.send(body);
            Next::Close
        }
    ),
    scenario!("headers", "lf-only", "line ends of LF only", OK, |r| {
        let len = r.body.len();
        r.send(format!("HTTP/1.1 200 OK\nContent-Length: {len}\n\n").as_bytes());
        let body = r.body;
        r.send(body);
        Next::KeepAlive
    }),
    scenario!(
        "headers",
        "http-1.0",
        "`HTTP/1.0 200`, body ended by closing",
        OK,
        |r| {
            r.send(b"HTTP/1.0 200 OK\r\n\r\n");
            let body = r.body;
            r.send(body);
            Next::Close
        }
    ),
    scenario!(
        "headers",
        "http-0.9",
        "the body with no status line (HTTP/0.9)",
        INVALID,
        |r| {
            let body = r.body;
            r.send(body);
            Next::Close
        }
    ),
    // --- slowness (run with --timeout 1s) ----------------------------------
    scenario!(
        "slowness",
        "silence",
        "reads the request, never answers",
        TIMED_OUT,
        |r| {
            while r.pause(50) {
                if peer_closed(r.stream) {
                    break;
                }
            }
            Next::Close
        }
    ),
    scenario!(
        "slowness",
        "slow-headers",
        "a header byte every 100 ms, for 3 s",
        TIMED_OUT,
        |r| {
            r.send(b"HTTP/1.1 200 OK\r\nX-Slow: ");
            for _ in 0..30 {
                r.send(b"x");
                if !r.pause(100) {
                    break;
                }
            }
            Next::Close
        }
    ),
    scenario!(
        "slowness",
        "slow-body",
        "headers, then 100 bytes every 100 ms (about 8 s)",
        TIMED_OUT,
        |r| {
            let (len, body) = (r.body.len(), r.body);
            r.head("200 OK", &[("Content-Length", len.to_string())]);
            for piece in body.chunks(100) {
                if r.stream.write_all(piece).is_err() || !r.pause(100) {
                    break;
                }
            }
            Next::Close
        }
    ),
    scenario!(
        "slowness",
        "slow-in-time",
        "the flag in 4 pieces 100 ms apart",
        OK,
        |r| {
            let (len, body) = (r.body.len(), r.body);
            r.head("200 OK", &[("Content-Length", len.to_string())]);
            for piece in body.chunks(len / 4 + 1) {
                r.pause(100);
                r.send(piece);
            }
            Next::KeepAlive
        }
    ),
];

/// A corner of HTTP/1.1 that the two HTTP libraries read differently and
/// that neither can be told to read the other's way (found by fuzzing the
/// two clients against each other; docs/fuzzing.md). The blocking modes
/// (sequential, threaded: ureq) reach one verdict, the async mode (hyper)
/// another. None of them saves a wrong file. The matrix keeps them so that
/// a change in either library shows here.
pub struct Divergence {
    /// The server's answer; its `expect` is the blocking modes' verdict.
    pub scenario: Scenario,
    /// The async mode's verdict.
    pub nonblocking: Expect,
}

/// The flag as one chunk whose size line is `size_line`, then the last
/// chunk: a chunked body that differs from a correct one only there.
fn flag_chunked(r: &mut Reply, size_line: &[u8]) -> Next {
    r.head("200 OK", &[("Transfer-Encoding", "chunked".into())]);
    let body = r.body;
    r.send(size_line);
    r.send(b"\r\n");
    r.send(body);
    r.send(b"\r\n0\r\n\r\n");
    Next::Close
}

/// Every divergence kept apart, with each side's verdict.
pub const DIVERGENCES: &[Divergence] = &[
    Divergence {
        scenario: scenario!(
            "framing",
            "trailer-cut",
            "a chunked body whose trailer section is cut by the close before its blank line",
            OK,
            |r| {
                r.head("200 OK", &[("Transfer-Encoding", "chunked".into())]);
                let body = r.body;
                r.send(format!("{:x}\r\n", body.len()).as_bytes());
                r.send(body);
                r.send(b"\r\n0\r\nX-Checksum: 1\r\n");
                Next::Close
            }
        ),
        nonblocking: TRUNCATED,
    },
    Divergence {
        scenario: scenario!(
            "status",
            "continue-with-field",
            "`100 Continue` with a field, then 200",
            INVALID,
            |r| {
                r.send(b"HTTP/1.1 100 Continue\r\nLocation: x\r\n\r\n");
                r.flag()
            }
        ),
        nonblocking: OK,
    },
    Divergence {
        scenario: scenario!(
            "framing",
            "chunk-cr-later",
            "a chunk's data followed by other bytes, then a CR without LF, then close",
            TRUNCATED,
            |r| {
                r.head("200 OK", &[("Transfer-Encoding", "chunked".into())]);
                r.send(b"5\r\nhelloab\rc");
                Next::Close
            }
        ),
        nonblocking: INVALID,
    },
    Divergence {
        scenario: scenario!(
            "framing",
            "chunk-extension-lf",
            "a chunk size line whose extension holds a bare LF",
            OK,
            |r| {
                let line = format!("{:x};\nx", r.body.len());
                flag_chunked(r, line.as_bytes())
            }
        ),
        nonblocking: INVALID,
    },
    Divergence {
        scenario: scenario!(
            "framing",
            "chunk-size-signed",
            "a chunk size with a `+` sign (`+1d45`)",
            OK,
            |r| {
                let line = format!("+{:x}", r.body.len());
                flag_chunked(r, line.as_bytes())
            }
        ),
        nonblocking: INVALID,
    },
    Divergence {
        scenario: scenario!(
            "framing",
            "chunk-extension-long",
            "a chunk size line over 20 bytes (a legal extension)",
            INVALID,
            |r| {
                let line = format!("{:x};name=aaaaaaaaaaaaaaaaaaaa", r.body.len());
                flag_chunked(r, line.as_bytes())
            }
        ),
        nonblocking: OK,
    },
];

/// `true` once the client has closed its side (a read returns 0).
fn peer_closed(stream: &mut TcpStream) -> bool {
    let _ = stream.set_nonblocking(true);
    let mut byte = [0u8; 1];
    let closed = matches!(stream.read(&mut byte), Ok(0));
    let _ = stream.set_nonblocking(false);
    closed
}

/// The liar, listening on two ports of 127.0.0.1; stopped on drop.
pub struct Liar {
    addrs: [SocketAddr; 2],
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Liar {
    /// Starts both listeners on free ports.
    pub fn start() -> Liar {
        let body = flags::dataset::flag_gif("BR").expect("BR in the data set");
        let listeners = [bind(), bind()];
        let addrs = [local(&listeners[0]), local(&listeners[1])];
        let closed_port = local(&bind()).port();
        let stop = Arc::new(AtomicBool::new(false));
        let threads = listeners
            .into_iter()
            .enumerate()
            .map(|(i, listener)| {
                let stop = Arc::clone(&stop);
                let other = addrs[1 - i];
                thread::spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let stop = Arc::clone(&stop);
                        thread::spawn(move || {
                            serve(stream, body, other, closed_port, &stop);
                        });
                    }
                })
            })
            .collect();
        Liar {
            addrs,
            stop,
            threads,
        }
    }

    /// The base URL of a scenario.
    pub fn base(&self, scenario: &str) -> String {
        format!("http://{}/{scenario}/flags", self.addrs[0])
    }
}

impl Drop for Liar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for addr in self.addrs {
            let _ = TcpStream::connect(addr);
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

fn local(listener: &TcpListener) -> SocketAddr {
    listener.local_addr().expect("local address")
}

/// Reads one request head: the path and the headers; `None` at EOF.
fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<(String, String)>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            _ => return None,
        }
        if head.len() > 64 * 1024 {
            return None;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some((path, headers))
}

fn serve(
    mut stream: TcpStream,
    body: &'static [u8],
    other: SocketAddr,
    closed_port: u16,
    stop: &AtomicBool,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    while let Some((path, headers)) = read_request(&mut stream) {
        let name = path.split('/').nth(1).unwrap_or("");
        let mut known = SCENARIOS
            .iter()
            .chain(DIVERGENCES.iter().map(|d| &d.scenario));
        let Some(scenario) = known.find(|s| s.name == name) else {
            let mut reply = reply(&mut stream, path, headers, body, other, closed_port, stop);
            reply.full("404 Not Found", &[], b"no such scenario\n");
            continue;
        };
        let mut reply = reply(&mut stream, path, headers, body, other, closed_port, stop);
        if let Next::Close = (scenario.answer)(&mut reply) {
            break;
        }
    }
}

fn reply<'a>(
    stream: &'a mut TcpStream,
    path: String,
    headers: Vec<(String, String)>,
    body: &'static [u8],
    other: SocketAddr,
    closed_port: u16,
    stop: &'a AtomicBool,
) -> Reply<'a> {
    Reply {
        stream,
        path,
        headers,
        body,
        other,
        closed_port,
        stop,
    }
}
