//! The two HTTP clients fuzzed against each other: a loopback server
//! answers with the fuzzer's bytes, the blocking client (ureq, the
//! sequential and threaded modes) and the async one (reqwest) each fetch a
//! flag from it, and they must reach the same verdict.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::LazyLock;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use http::{HeaderMap, HeaderName, HeaderValue};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::download::Spans;
use crate::download::observers::progress::{Display, Lines, Progress, Stdout};
use crate::download::pipeline::contract::{Framing, framing};
use crate::download::pipeline::store::OutputDir;
use crate::download::plan::{Mode, Plan, RequestOptions, Runtime};
use crate::download::status::Status;

/// How the server ends its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub(crate) enum End {
    /// It closes the connection.
    Close,
    /// It resets the connection (a moment after the last byte, so that
    /// the bytes arrive first on loopback).
    Reset,
    /// It stays silent until the client gives up.
    Stall,
}

/// Each request's time limit: a stalled answer costs this much per client.
const TIMEOUT: Duration = Duration::from_millis(300);
/// The time limit of a second try, when a fetch timed out on an answer
/// that ends with a close or a reset (which no client should wait out).
const PATIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// The size cap of both clients.
const MAX_SIZE: u64 = 64 * 1024;

/// The answer the loopback server gives to every request now.
static ANSWER: Mutex<(Vec<u8>, End)> = Mutex::new((Vec::new(), End::Close));

/// The loopback server: a thread per connection, each reading a request's
/// head and sending [`ANSWER`].
static SERVER: LazyLock<String> = LazyLock::new(|| {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("an address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream));
        }
    });
    format!("http://{addr}/flags")
});

fn answer(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let (bytes, end) = ANSWER.lock().clone();
    let _ = stream.write_all(&bytes);
    let _ = stream.flush();
    match end {
        End::Close => {
            let _ = stream.shutdown(std::net::Shutdown::Write);
            // Read what the client still sends, so that closing does not
            // turn into a reset.
            let _ = stream.set_read_timeout(Some(TIMEOUT * 4));
            let _ = std::io::copy(&mut stream, &mut std::io::sink());
        }
        End::Reset => {
            std::thread::sleep(Duration::from_millis(20));
            use std::os::fd::AsRawFd;
            crate::server::faults::set_reset_on_close(stream.as_raw_fd());
            drop(stream);
        }
        End::Stall => {
            let _ = stream.set_read_timeout(Some(TIMEOUT * 4));
            let _ = std::io::copy(&mut stream, &mut std::io::sink());
        }
    }
}

/// A response as the structured target draws it.
#[derive(Debug, Arbitrary)]
struct Response {
    status: u16,
    reason: String,
    headers: Vec<(u8, Vec<u8>)>,
    framing: BodyFraming,
    body: Vec<u8>,
    /// Bytes cut from the end of the whole answer.
    cut: Option<u16>,
    end: End,
}

#[derive(Debug, Arbitrary)]
enum BodyFraming {
    Length,
    LengthOff(i8),
    Chunked(Vec<u8>),
    Close,
}

const NAMES: [&str; 8] = [
    "content-length",
    "transfer-encoding",
    "location",
    "content-type",
    "connection",
    "retry-after",
    "x-other",
    "content-encoding",
];

impl Response {
    fn bytes(&self) -> Vec<u8> {
        let status = [200, 404, 301, 302, 503, 100, 204, 500][usize::from(self.status % 8)];
        let status = if self.status >= 1000 {
            self.status % 1000
        } else {
            status
        };
        let mut out = format!("HTTP/1.1 {status} ").into_bytes();
        out.extend(self.reason.bytes().filter(|b| *b != b'\r' && *b != b'\n'));
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(NAMES[usize::from(*name) % NAMES.len()].as_bytes());
            out.extend_from_slice(b": ");
            out.extend(value.iter().filter(|b| **b != b'\r' && **b != b'\n'));
            out.extend_from_slice(b"\r\n");
        }
        let body = &self.body;
        match &self.framing {
            BodyFraming::Length => {
                out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                out.extend_from_slice(body);
            }
            BodyFraming::LengthOff(off) => {
                let length = (body.len() as i64 + i64::from(*off)).max(0);
                out.extend_from_slice(format!("Content-Length: {length}\r\n\r\n").as_bytes());
                out.extend_from_slice(body);
            }
            BodyFraming::Chunked(sizes) => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                let mut rest = body.as_slice();
                for size in sizes {
                    let n = usize::from(*size).min(rest.len());
                    if n == 0 {
                        break;
                    }
                    out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                    out.extend_from_slice(&rest[..n]);
                    out.extend_from_slice(b"\r\n");
                    rest = &rest[n..];
                }
                if !rest.is_empty() {
                    out.extend_from_slice(format!("{:x}\r\n", rest.len()).as_bytes());
                    out.extend_from_slice(rest);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            BodyFraming::Close => {
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(body);
            }
        }
        if let Some(cut) = self.cut {
            out.truncate(out.len().saturating_sub(usize::from(cut % 64)));
        }
        out
    }
}

/// Structured: a response built from the fuzzer's choices (status, headers
/// the contract reads, a body framed by length, a wrong length, chunks or
/// the close, cut or not), then a close, a reset or silence. See
/// `differ` for what must hold.
pub fn clients(data: &[u8]) {
    let Ok(response) = Response::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    differ(&response.bytes(), response.end);
}

/// Raw: the input's bytes are the whole answer, then the server closes.
pub fn clients_raw(data: &[u8]) {
    differ(data, End::Close);
}

/// What one client made of the answer.
#[derive(Debug, PartialEq, Eq)]
struct Verdict {
    status: Status,
    /// The reason's kind: its words before the first colon.
    reason: Option<String>,
    /// The file saved, if any.
    saved: Option<Vec<u8>>,
}

/// Both clients fetch one flag from a server answering `answer`: their
/// status and the kind of their reason are the same; a file is saved only
/// with OK, and is then the body as HTTP frames it, byte for byte (and the
/// same for both).
fn differ(answer: &[u8], end: End) {
    *ANSWER.lock() = (answer.to_vec(), end);
    let fetch_settled = |mode| {
        let verdict = fetch(mode, TIMEOUT);
        // Only silence may time a fetch out. On an answer that ends with a
        // close or a reset, a timeout is this machine's load (two cores,
        // other fuzzers beside): asked again with time to spare, a client
        // that truly waits after the close still times out, and the
        // comparison below still sees it.
        if end != End::Stall && verdict.reason.as_deref() == Some("timed out") {
            fetch(mode, PATIENT_TIMEOUT)
        } else {
            verdict
        }
    };
    let blocking = fetch_settled(Mode::Sequential);
    let nonblocking = fetch_settled(Mode::Async);
    if let Some(body) = trailer_unread(answer) {
        // A divergence left open (docs/fuzzing.md): ureq ends a chunked
        // body at its last chunk and never reads the trailer section; hyper
        // reads it and wants it whole and well formed. Neither may save
        // other bytes than the chunks'.
        for verdict in [&blocking, &nonblocking] {
            if let Some(saved) = &verdict.saved {
                assert_eq!(saved, &body, "saved a body other than the one sent");
            }
        }
        return;
    }
    if blocking != nonblocking && size_line_only_ureq_reads(answer) {
        // The fourth left open: a chunk size line RFC 9112 forbids (a bare
        // LF, a sign, stray whitespace): hyper refuses it, ureq reads the
        // line up to its CRLF and the number in it. What ureq saves must be
        // the body read its way.
        return one_refuses_one_reads(&nonblocking, &blocking, answer, end);
    }
    if blocking != nonblocking && size_line_too_long_for_ureq(answer) {
        // The fifth left open: a size line longer than 20 bytes (an
        // extension, which RFC 9112 allows, or leading zeros): ureq-proto
        // refuses it, hyper reads it. What hyper saves must be the body.
        return one_refuses_one_reads(&blocking, &nonblocking, answer, end);
    }
    if blocking != nonblocking && (chunks_broken(answer) || ureq_reading(answer).lone_cr) {
        // The third left open: where a chunk's data is not followed by
        // CRLF, or a size line holds a CR without LF, hyper decides by the
        // next byte (`invalid response`); ureq by the first CR that
        // follows, anywhere (a CRLF later: invalid; none, or a CR without
        // LF: it waits, and the close makes it a `truncated body`). Both
        // are an error that saves nothing.
        for verdict in [&blocking, &nonblocking] {
            assert_eq!(verdict.status, Status::Error);
            assert!(verdict.saved.is_none());
            assert!(matches!(
                verdict.reason.as_deref(),
                Some("invalid response" | "truncated body")
            ));
        }
        return;
    }
    if blocking != nonblocking && interim_ureq_judges(answer) {
        // The other one left open: ureq reads the fields of an interim
        // (1xx) answer and refuses some (any on a `100 Continue`, a bad
        // `Content-Length` on any); hyper skips every 1xx unread and goes
        // on to the final answer.
        return one_refuses_one_reads(&blocking, &nonblocking, answer, end);
    }
    assert_eq!(
        blocking,
        nonblocking,
        "the two clients disagree on {end:?} after {:?}",
        String::from_utf8_lossy(answer)
    );
    if let Some(saved) = &blocking.saved {
        assert_eq!(blocking.status, Status::Ok);
        let expected = reference_body(answer, end).expect("a file saved where HTTP gives no body");
        assert_eq!(saved, &expected, "saved a body other than the one sent");
    }
}

/// Where one library refuses what the other reads (a divergence kept
/// apart): the one says `invalid response`, and whatever the other saves
/// is the body as HTTP frames it.
fn one_refuses_one_reads(refuses: &Verdict, reads: &Verdict, answer: &[u8], end: End) {
    assert_eq!(refuses.reason.as_deref(), Some("invalid response"));
    if let Some(saved) = &reads.saved {
        assert_eq!(Some(saved), reference_body(answer, end).as_ref());
    }
}

/// One download of BR from the loopback server in `mode`.
fn fetch(mode: Mode, timeout: Duration) -> Verdict {
    let folder = tempfile::Builder::new()
        .prefix("flags-fuzz-")
        .tempdir_in(shm())
        .expect("a temporary folder");
    let output = OutputDir::prepare(folder.path()).expect("an output folder");
    let mut plan = Plan::new(vec!["BR".into()], SERVER.clone(), mode, 1);
    plan.request = RequestOptions {
        timeout,
        connect_timeout: Duration::from_secs(2),
        retries: 0,
        max_size: MAX_SIZE,
        ..RequestOptions::default()
    };
    plan.runtime = Runtime::Current;
    let progress = Progress::new(1, Display::Hidden, Lines::None, Stdout::Text);
    let cancel = CancellationToken::new();
    let (report, _) =
        crate::download::run(plan, output, progress, cancel, Spans::Unrecorded).expect("a run");
    let result = &report.results[0];
    let saved = std::fs::read(folder.path().join("BR.gif")).ok();
    let leftovers = std::fs::read_dir(folder.path()).map_or(0, Iterator::count);
    assert!(
        leftovers <= 1,
        "{leftovers} files left in the output folder"
    );
    Verdict {
        status: result.status,
        reason: result
            .reason
            .as_ref()
            .map(|r| r.split(':').next().unwrap_or_default().to_owned()),
        saved,
    }
}

fn shm() -> &'static std::path::Path {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::path::Path::new("/tmp")
    }
}

/// The body a correct client reads from `answer`: a 200's body as its
/// head frames it (after any interim 1xx answers), or `None` when HTTP
/// gives no whole body.
fn reference_body(mut answer: &[u8], end: End) -> Option<Vec<u8>> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut response = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(head) = response.parse(answer).ok()? else {
            return None;
        };
        let status = response.code?;
        let mut map = HeaderMap::new();
        for h in response.headers.iter() {
            map.append(
                HeaderName::from_bytes(h.name.as_bytes()).ok()?,
                HeaderValue::from_bytes(h.value).ok()?,
            );
        }
        answer = &answer[head..];
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        if status != 200 {
            return None;
        }
        return match framing(&map).ok()? {
            Framing::Length(n) => answer.get(..usize::try_from(n).ok()?).map(<[u8]>::to_vec),
            Framing::Chunked => super::serve::dechunk(answer).map(|(body, _)| body),
            Framing::Close => (end == End::Close).then(|| answer.to_vec()),
        };
    }
}

/// Whether `answer` is a 200 whose chunked body reached its last chunk
/// (`0` CRLF) but whose trailer section is cut, not field lines, or has a
/// line ended by a bare LF: its body, the data of its chunks.
fn trailer_unread(answer: &[u8]) -> Option<Vec<u8>> {
    let mut rest = chunked_body(answer)?;
    let mut body = Vec::new();
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&rest[..end])
            .ok()
            .and_then(|t| usize::from_str_radix(t.split(';').next()?.trim(), 16).ok())?;
        rest = &rest[end + 2..];
        if size == 0 {
            let mut fields = [httparse::EMPTY_HEADER; 64];
            // Whole as hyper reads it: field lines, each ended by CRLF
            // (httparse alone would take a bare LF too; hyper does not).
            let whole = match httparse::parse_headers(rest, &mut fields) {
                Ok(httparse::Status::Complete((used, _))) => rest[..used]
                    .iter()
                    .enumerate()
                    .all(|(i, &b)| b != b'\n' || (i > 0 && rest[i - 1] == b'\r')),
                _ => false,
            };
            return (!whole).then_some(body);
        }
        if rest.get(size..size + 2) != Some(b"\r\n") {
            return None;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Whether an interim (1xx) head of `answer`, before its final one, is
/// one whose fields ureq judges: a `100` with any field, or any 1xx with a
/// framing field.
fn interim_ureq_judges(mut answer: &[u8]) -> bool {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut response = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = response.parse(answer) else {
            return false;
        };
        let interim = response
            .code
            .is_some_and(|c| (100..200).contains(&c) && c != 101);
        if !interim {
            return false;
        }
        let framing = response.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("content-length")
                || h.name.eq_ignore_ascii_case("transfer-encoding")
        });
        if framing || (response.code == Some(100) && !response.headers.is_empty()) {
            return true;
        }
        answer = &answer[head..];
    }
}

/// Whether `answer` is a 200 with a chunked body whose chunks do not
/// decode (and not only its trailer section).
fn chunks_broken(answer: &[u8]) -> bool {
    chunked_body(answer).is_some_and(|body| {
        trailer_unread(answer).is_none() && super::serve::dechunk(body).is_none()
    })
}

/// How ureq reads a chunked body: its size lines, and whether it stopped
/// on a CR not followed by LF.
#[derive(Default)]
struct UreqReading<'a> {
    /// Each size line up to its CRLF, up to the last chunk's, the first
    /// that does not give a size, or the first whose data is not followed
    /// by CRLF.
    lines: Vec<&'a [u8]>,
    /// ureq looks for a line's end at the first CR; when the byte after
    /// it is not LF, it waits for more, and the close makes a truncated
    /// body (hyper refuses the byte at once).
    lone_cr: bool,
}

/// `answer`'s chunked body (when it is a 200 with one) as ureq reads it.
fn ureq_reading(answer: &[u8]) -> UreqReading<'_> {
    let mut reading = UreqReading::default();
    let Some(mut rest) = chunked_body(answer) else {
        return reading;
    };
    // The first CR of `bytes`: Some(its place) when LF follows it.
    let line_end = |bytes: &[u8], reading: &mut UreqReading| {
        let cr = bytes.iter().position(|&b| b == b'\r')?;
        if bytes.get(cr + 1) == Some(&b'\n') {
            Some(cr)
        } else {
            reading.lone_cr = true;
            None
        }
    };
    while let Some(end) = line_end(rest, &mut reading) {
        let line = &rest[..end];
        reading.lines.push(line);
        if line.len() > UREQ_SIZE_LINE_LIMIT {
            break;
        }
        // The size is what comes before any `;`, as ureq reads it (the
        // extension need not be UTF-8).
        let digits = line.split(|&b| b == b';').next().unwrap_or_default();
        let size = std::str::from_utf8(digits)
            .ok()
            .and_then(|t| usize::from_str_radix(t.trim(), 16).ok());
        let Some(n @ 1..) = size else {
            break;
        };
        let Some(after) = rest.get(end + 2 + n..) else {
            break;
        };
        // The data's CRLF: ureq wants the first CR right there.
        match line_end(after, &mut reading) {
            Some(0) => rest = &after[2..],
            _ => break,
        }
    }
    reading
}

/// The size lines of `answer`'s chunked body as ureq reads them.
fn size_lines(answer: &[u8]) -> Vec<&[u8]> {
    ureq_reading(answer).lines
}

/// Whether a size line of `answer`'s chunked body, one ureq reads, is one
/// RFC 9112 forbids and hyper refuses: a bare LF in it, a sign or
/// whitespace before the digits, whitespace other than SP and HTAB after
/// them. (ureq takes what is before any `;`, trimmed of any whitespace,
/// as a number.)
fn size_line_only_ureq_reads(answer: &[u8]) -> bool {
    size_lines(answer)
        .iter()
        .any(|line| line.len() <= UREQ_SIZE_LINE_LIMIT && !hyper_reads_size_line(line))
}

/// Whether hyper reads `line` (a chunk size line without its CRLF): one
/// or more hex digits, SP or HTAB, then nothing or an extension (after
/// `;`, anything but LF).
fn hyper_reads_size_line(line: &[u8]) -> bool {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let rest = &line[digits..];
    let blanks = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    let rest = &rest[blanks..];
    digits > 0 && (rest.is_empty() || (rest[0] == b';' && !rest.contains(&b'\n')))
}

/// ureq-proto refuses a chunk size line longer than this (a sanity limit
/// of its own; RFC 9112 sets none).
const UREQ_SIZE_LINE_LIMIT: usize = 20;

/// Whether a size line of `answer`'s chunked body is longer than ureq
/// reads: an extension, or leading zeros.
fn size_line_too_long_for_ureq(answer: &[u8]) -> bool {
    size_lines(answer)
        .iter()
        .any(|line| line.len() > UREQ_SIZE_LINE_LIMIT)
}

/// The bytes after the final head of `answer` (past any interim 1xx
/// answers, which both clients read past) when it is a 200 with
/// `Transfer-Encoding: chunked`.
fn chunked_body(mut answer: &[u8]) -> Option<&[u8]> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut response = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = response.parse(answer) else {
            return None;
        };
        let code = response.code?;
        if (100..200).contains(&code) && code != 101 {
            answer = &answer[head..];
            continue;
        }
        let chunked = response.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("transfer-encoding")
                && h.value.eq_ignore_ascii_case(b"chunked")
        });
        return (code == 200 && chunked).then(|| &answer[head..]);
    }
}
