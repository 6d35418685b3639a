//! A flags server that lies in HTTP/2: raw frames on 127.0.0.1, written by
//! hand so that it can break the protocol the ways a library would not
//! (RST_STREAM before any header, a GOAWAY that refuses streams, DATA that
//! disagree with `Content-Length`, an HTTP/1.1 answer to the preface).
//! Each scenario listens on a port of its own, so the liar never decodes
//! a request's headers (HPACK with Huffman): every stream asks for the flag.
//!
//! Each scenario names its HTTP/1.1 twin in the matrix of
//! `tests/common/liar.rs`, where one exists: the verdict must be the twin's.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::liar::{Expect, Saved};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Frame types and flags (RFC 9113, section 6).
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

// Error codes.
const NO_ERROR: u32 = 0x0;
const INTERNAL_ERROR: u32 = 0x2;
const REFUSED_STREAM: u32 = 0x7;

// Settings.
const MAX_CONCURRENT_STREAMS: u16 = 0x3;
const INITIAL_WINDOW_SIZE: u16 = 0x4;

/// One HTTP/2 lie and its verdict.
pub struct H2Scenario {
    /// Its name.
    pub name: &'static str,
    /// The HTTP/1.1 scenario it is the twin of, if HTTP/1.1 has one.
    pub twin: Option<&'static str>,
    /// What the server does, in words (docs/reliability.md's table).
    pub what: &'static str,
    /// What the client must conclude of one flag (the twin's verdict,
    /// where there is one); `None` for a scenario that needs several
    /// streams at once, which has a test of its own.
    pub expect: Option<Expect>,
    /// The SETTINGS it sends first.
    settings: &'static [(u16, u32)],
    /// How it answers the streams of a connection.
    answer: fn(&mut Conn),
}

/// A connection of the liar: its socket, the streams the client opened
/// and not yet answered, and how many connections of this scenario came
/// before it.
pub struct Conn {
    stream: TcpStream,
    body: &'static [u8],
    pending: Vec<u32>,
    /// How many connections of this scenario came before this one.
    nth: usize,
    stop: Arc<AtomicBool>,
    closed: bool,
}

impl Conn {
    fn frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let len = payload.len() as u32;
        let mut bytes = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        bytes.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        bytes.extend_from_slice(payload);
        if self.stream.write_all(&bytes).is_err() {
            self.closed = true;
        }
    }

    /// A header block, split into HEADERS and CONTINUATION frames of at
    /// most 16 KiB (the default SETTINGS_MAX_FRAME_SIZE).
    fn headers(&mut self, stream: u32, fields: &[(&str, &str)], end_stream: bool) {
        let block = hpack(fields);
        let chunks: Vec<&[u8]> = block.chunks(16 * 1024).collect();
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.iter().enumerate() {
            let mut flags = if i == last { END_HEADERS } else { 0 };
            if i == 0 && end_stream {
                flags |= END_STREAM;
            }
            let kind = if i == 0 { HEADERS } else { CONTINUATION };
            self.frame(kind, flags, stream, chunk);
        }
    }

    fn data(&mut self, stream: u32, bytes: &[u8], end_stream: bool) {
        let flags = if end_stream { END_STREAM } else { 0 };
        self.frame(DATA, flags, stream, bytes);
    }

    fn rst(&mut self, stream: u32, code: u32) {
        self.frame(RST_STREAM, 0, stream, &code.to_be_bytes());
    }

    fn goaway(&mut self, last: u32, code: u32) {
        let mut payload = last.to_be_bytes().to_vec();
        payload.extend_from_slice(&code.to_be_bytes());
        self.frame(GOAWAY, 0, 0, &payload);
    }

    /// The whole flag, correctly framed.
    fn flag(&mut self, stream: u32) {
        self.flag_with(stream, &[]);
    }

    /// The whole flag, correctly framed, with `extra` headers.
    fn flag_with(&mut self, stream: u32, extra: &[(&str, &str)]) {
        let (body, len) = (self.body, self.body.len().to_string());
        let mut fields = vec![(":status", "200"), ("content-length", len.as_str())];
        fields.extend_from_slice(extra);
        self.headers(stream, &fields, false);
        self.data(stream, body, true);
    }

    fn half(&self) -> &'static [u8] {
        &self.body[..self.body.len() / 2]
    }

    /// The next stream the client opens, reading (and answering SETTINGS
    /// and PING) until it comes; `None` once the client has gone.
    fn next_stream(&mut self) -> Option<u32> {
        loop {
            if !self.pending.is_empty() {
                return Some(self.pending.remove(0));
            }
            self.read_frame()?;
        }
    }

    /// Reads one frame; streams opened go to `pending`. `None` at the end.
    fn read_frame(&mut self) -> Option<()> {
        let mut head = [0u8; 9];
        read_exactly(&mut self.stream, &mut head, &self.stop)?;
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        read_exactly(&mut self.stream, &mut payload, &self.stop)?;
        match kind {
            SETTINGS if flags & ACK == 0 => self.frame(SETTINGS, ACK, 0, &[]),
            PING if flags & ACK == 0 => self.frame(PING, ACK, 0, &payload),
            HEADERS => self.pending.push(stream),
            GOAWAY => return None,
            _ => {}
        }
        Some(())
    }

    /// Waits until the client closes, or the liar stops.
    fn linger(&mut self) {
        while self.read_frame().is_some() {}
    }
}

/// Reads exactly `buf.len()` bytes, waking now and then to see if the liar
/// stops; `None` at EOF, on an error, or when stopping.
fn read_exactly(stream: &mut TcpStream, buf: &mut [u8], stop: &AtomicBool) -> Option<()> {
    let mut filled = 0;
    while filled < buf.len() {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return None,
            Ok(n) => filled += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(())
}

/// A header block: every field a literal without indexing, new name, no
/// Huffman (RFC 7541, section 6.2.2).
fn hpack(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0x00);
        integer(&mut block, 7, name.len());
        block.extend_from_slice(name.as_bytes());
        integer(&mut block, 7, value.len());
        block.extend_from_slice(value.as_bytes());
    }
    block
}

/// An HPACK integer with an N-bit prefix (RFC 7541, section 5.1), into a
/// fresh byte (the H bit 0).
fn integer(out: &mut Vec<u8>, prefix: u32, mut value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(value as u8);
        return;
    }
    out.push(max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128 + 128) as u8);
        value /= 128;
    }
    out.push(value as u8);
}

const OK: Expect = Expect::Ok(Saved::Flag);
const TRUNCATED: Expect = Expect::Error("truncated body");
const RESET: Expect = Expect::Error("connection reset");
const TIMED_OUT: Expect = Expect::Error("timed out");
const INVALID: Expect = Expect::Error("invalid response");

/// Every HTTP/2 scenario of the conformance matrix.
pub const H2_SCENARIOS: &[H2Scenario] = &[
    H2Scenario {
        name: "h2-ok",
        twin: Some("ok"),
        what: "200 with `content-length`, the flag in one DATA frame",
        expect: Some(OK),
        settings: &[],
        answer: |c| {
            while let Some(s) = c.next_stream() {
                c.flag(s);
            }
        },
    },
    H2Scenario {
        name: "h2-not-found",
        twin: Some("not-found"),
        what: "404 with a short body",
        expect: Some(Expect::NotFound),
        settings: &[],
        answer: |c| {
            while let Some(s) = c.next_stream() {
                c.headers(s, &[(":status", "404"), ("content-length", "4")], false);
                c.data(s, b"nope", true);
            }
        },
    },
    H2Scenario {
        name: "h2-rst-before-headers",
        twin: Some("reset-at-once"),
        what: "RST_STREAM (INTERNAL_ERROR) before any header",
        expect: Some(RESET),
        settings: &[],
        answer: |c| {
            while let Some(s) = c.next_stream() {
                c.rst(s, INTERNAL_ERROR);
            }
        },
    },
    H2Scenario {
        name: "h2-rst-mid-body",
        twin: Some("reset-mid-body"),
        what: "headers and half the body, then RST_STREAM (INTERNAL_ERROR)",
        expect: Some(TRUNCATED),
        settings: &[],
        answer: |c| {
            while let Some(s) = c.next_stream() {
                let (half, len) = (c.half(), c.body.len().to_string());
                c.headers(s, &[(":status", "200"), ("content-length", &len)], false);
                c.data(s, half, false);
                thread::sleep(Duration::from_millis(50));
                c.rst(s, INTERNAL_ERROR);
            }
        },
    },
    H2Scenario {
        name: "h2-goaway-processed",
        twin: Some("close-at-once"),
        what: "GOAWAY whose last stream is the request's, then close, no answer",
        expect: Some(RESET),
        settings: &[],
        answer: |c| {
            if let Some(s) = c.next_stream() {
                c.goaway(s, NO_ERROR);
            }
        },
    },
    H2Scenario {
        name: "h2-goaway-refused",
        twin: None,
        what: "first connection: GOAWAY with last stream 0 (the request refused), then close; later ones answer",
        expect: Some(OK),
        settings: &[],
        answer: |c| {
            if c.nth == 0 {
                if c.next_stream().is_some() {
                    c.goaway(0, NO_ERROR);
                }
                return;
            }
            while let Some(s) = c.next_stream() {
                c.flag(s);
            }
        },
    },
    H2Scenario {
        name: "h2-refused-stream",
        twin: None,
        what: "first stream: RST_STREAM (REFUSED_STREAM); later ones answered",
        expect: Some(OK),
        settings: &[],
        answer: |c| {
            let mut first = c.nth == 0;
            while let Some(s) = c.next_stream() {
                if first {
                    c.rst(s, REFUSED_STREAM);
                    first = false;
                } else {
                    c.flag(s);
                }
            }
        },
    },
    H2Scenario {
        name: "h2-length-short",
        twin: Some("length-short"),
        what: "`content-length` of the flag, half of it sent, then END_STREAM",
        expect: Some(TRUNCATED),
        settings: &[],
        answer: |c| {
            while let Some(s) = c.next_stream() {
                let (half, len) = (c.half(), c.body.len().to_string());
                c.headers(s, &[(":status", "200"), ("content-length", &len)], false);
                c.data(s, half, true);
            }
        },
    },
    H2Scenario {
        name: "h2-length-long",
        twin: None,
        what: "`content-length` of half the flag, the whole flag in DATA (HTTP/2 forbids it; h2 refuses the stream as it refuses one that stops short)",
        expect: Some(TRUNCATED),
        settings: &[],
        answer: |c| {
            while let Some(s) = c.next_stream() {
                let (body, len) = (c.body, c.half().len().to_string());
                c.headers(s, &[(":status", "200"), ("content-length", &len)], false);
                c.data(s, body, true);
            }
        },
    },
    H2Scenario {
        name: "h2-early-hints",
        twin: Some("early-hints"),
        what: "103 Early Hints, then 200 and the flag",
        expect: Some(OK),
        settings: &[],
        answer: |c| {
            while let Some(s) = c.next_stream() {
                c.headers(s, &[(":status", "103"), ("link", "</style.css>")], false);
                c.flag(s);
            }
        },
    },
    H2Scenario {
        name: "h2-trailers",
        twin: Some("chunked"),
        what: "200 with no length, the flag in three DATA frames, then trailers",
        expect: Some(OK),
        settings: &[],
        answer: |c| {
            while let Some(s) = c.next_stream() {
                c.headers(s, &[(":status", "200")], false);
                let body = c.body;
                for piece in body.chunks(body.len() / 3 + 1) {
                    c.data(s, piece, false);
                }
                c.headers(s, &[("x-checksum", "none")], true);
            }
        },
    },
    H2Scenario {
        name: "h2-header-8k",
        twin: Some("header-8k"),
        what: "an 8 KiB header",
        expect: Some(OK),
        settings: &[],
        answer: |c| {
            let big = "x".repeat(8 * 1024);
            while let Some(s) = c.next_stream() {
                c.flag_with(s, &[("x-big", &big)]);
            }
        },
    },
    H2Scenario {
        name: "h2-header-20k",
        twin: Some("header-20k"),
        what: "a 20 KiB header, in HEADERS and CONTINUATION frames",
        expect: Some(INVALID),
        settings: &[],
        answer: |c| {
            let big = "x".repeat(20 * 1024);
            while let Some(s) = c.next_stream() {
                c.flag_with(s, &[("x-big", &big)]);
            }
        },
    },
    H2Scenario {
        name: "h2-silence",
        twin: Some("silence"),
        what: "takes the stream, never answers",
        expect: Some(TIMED_OUT),
        settings: &[],
        answer: |c| {
            let _ = c.next_stream();
            c.linger();
        },
    },
    H2Scenario {
        name: "h2-zero-window",
        twin: Some("slow-body"),
        what: "a flow-control window of 0, never opened; headers, then no DATA",
        expect: Some(TIMED_OUT),
        settings: &[(INITIAL_WINDOW_SIZE, 0)],
        answer: |c| {
            if let Some(s) = c.next_stream() {
                let len = c.body.len().to_string();
                c.headers(s, &[(":status", "200"), ("content-length", &len)], false);
            }
            c.linger();
        },
    },
    H2Scenario {
        name: "h2-one-stream-at-a-time",
        twin: None,
        what: "SETTINGS allow one stream at a time; a stream beyond it is refused (REFUSED_STREAM), the others answered after 20 ms",
        expect: Some(OK),
        settings: &[(MAX_CONCURRENT_STREAMS, 1)],
        answer: |c| {
            // Streams the client opened before it read the SETTINGS
            // exceed them: those are refused, as RFC 9113 (5.1.2) says.
            while c.next_stream().is_some_and(|first| {
                thread::sleep(Duration::from_millis(20));
                let extra: Vec<u32> = c.pending.drain(..).collect();
                for s in extra {
                    c.rst(s, REFUSED_STREAM);
                }
                c.flag(first);
                !c.closed
            }) {}
        },
    },
    H2Scenario {
        name: "h2-goaway-midway",
        twin: None,
        what: "first connection: takes four streams, answers the first, then GOAWAY with the second as last stream and close; later connections answer",
        expect: None,
        settings: &[],
        answer: |c| {
            if c.nth > 0 {
                while let Some(s) = c.next_stream() {
                    c.flag(s);
                }
                return;
            }
            let mut streams = Vec::new();
            while streams.len() < 4 {
                match c.next_stream() {
                    Some(s) => streams.push(s),
                    None => return,
                }
            }
            c.flag(streams[0]);
            c.goaway(streams[1], NO_ERROR);
        },
    },
    H2Scenario {
        name: "h2-answers-http1",
        twin: None,
        what: "answers the HTTP/2 preface with `HTTP/1.1 400 Bad Request`",
        expect: Some(INVALID),
        settings: &[],
        answer: |_| {},
    },
];

/// The HTTP/2 liar: one listener per scenario on 127.0.0.1; stopped on drop.
pub struct H2Liar {
    addrs: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl H2Liar {
    /// Starts every scenario's listener on a free port.
    pub fn start() -> H2Liar {
        let body = flags::dataset::flag_gif("BR").expect("BR in the data set");
        let stop = Arc::new(AtomicBool::new(false));
        let mut addrs = Vec::new();
        let mut threads = Vec::new();
        for scenario in H2_SCENARIOS {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
            addrs.push(listener.local_addr().expect("local address"));
            let stop = Arc::clone(&stop);
            threads.push(thread::spawn(move || {
                let connections = AtomicUsize::new(0);
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let nth = connections.fetch_add(1, Ordering::Relaxed);
                    let stop = Arc::clone(&stop);
                    thread::spawn(move || serve(scenario, stream, body, nth, stop));
                }
            }));
        }
        H2Liar {
            addrs,
            stop,
            threads,
        }
    }

    /// The base URL of a scenario.
    pub fn base(&self, name: &str) -> String {
        let i = H2_SCENARIOS
            .iter()
            .position(|s| s.name == name)
            .unwrap_or_else(|| panic!("no HTTP/2 scenario {name}"));
        format!("http://{}/flags", self.addrs[i])
    }
}

impl Drop for H2Liar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for addr in &self.addrs {
            let _ = TcpStream::connect(addr);
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn serve(
    scenario: &'static H2Scenario,
    stream: TcpStream,
    body: &'static [u8],
    nth: usize,
    stop: Arc<AtomicBool>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        body,
        pending: Vec::new(),
        nth,
        stop,
        closed: false,
    };
    let mut preface = [0u8; 24];
    let deadline = Instant::now() + Duration::from_secs(5);
    if read_exactly(&mut conn.stream, &mut preface, &conn.stop).is_none()
        || preface != PREFACE
        || Instant::now() > deadline
    {
        return;
    }
    if scenario.name == "h2-answers-http1" {
        // Once the request has come (HEADERS), so that the answer meets a
        // request in flight, not a connection still being set up.
        while conn.pending.is_empty() {
            if conn.read_frame().is_none() {
                return;
            }
        }
        let _ = conn.stream.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        // Closing with the client's frames unread would reset the
        // connection: read them until the client gives up.
        let mut sink = [0u8; 4096];
        while read_exactly(&mut conn.stream, &mut sink[..1], &conn.stop).is_some() {}
        return;
    }
    let settings: Vec<u8> = scenario
        .settings
        .iter()
        .flat_map(|(id, value)| {
            let mut entry = id.to_be_bytes().to_vec();
            entry.extend_from_slice(&value.to_be_bytes());
            entry
        })
        .collect();
    conn.frame(SETTINGS, 0, 0, &settings);
    (scenario.answer)(&mut conn);
}
