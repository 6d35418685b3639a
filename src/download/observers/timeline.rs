//! Seeing the models work: what a run is doing, live and afterwards.
//!
//! `Gauges` are always kept (a few atomics, and the OS threads read from
//! `/proc/self/stat` at each sample): requests in flight and sent,
//! connections opened and OS threads, for the live display and the report. `Lanes` give each download in progress a slot number, the lanes
//! of the picture, never more than the concurrency. [`Timeline`] records,
//! when `--trace` or `--timeline` asks for it, one span per phase of every
//! download: the wait for a slot, each request until its headers (and
//! within it the TLS handshake of a connection it opened), its body,
//! each wait before a retry, and the save, each with the OS thread it ran on.
//! The same spans are recorded in every mode.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::download::status::Status;

/// Requests in flight and OS threads, now and at their peak.
#[derive(Debug, Default)]
pub(crate) struct Gauges {
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
    /// Requests sent, every attempt and redirect counted.
    sent: AtomicUsize,
    /// Connections the async client opened (its connector counts them).
    connections: AtomicUsize,
    peak_threads: AtomicUsize,
    threads: ThreadCounter,
}

impl Gauges {
    /// A request starts; it is in flight until the returned guard drops.
    pub(crate) fn request(&self) -> InFlight<'_> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(self)
    }

    /// Reads the process's OS thread count and notes it.
    pub(crate) fn sample_threads(&self) -> usize {
        let threads = self.threads.count().unwrap_or(0);
        self.peak_threads.fetch_max(threads, Ordering::Relaxed);
        threads
    }

    /// Requests in flight now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The most requests in flight at once.
    pub(crate) fn peak_in_flight(&self) -> usize {
        self.peak_in_flight.load(Ordering::Relaxed)
    }

    /// Requests sent so far.
    pub(crate) fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }

    /// A connection was opened.
    pub(crate) fn connected(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections opened so far.
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// The most OS threads seen at once.
    pub(crate) fn peak_threads(&self) -> usize {
        self.peak_threads.load(Ordering::Relaxed)
    }
}

/// A request in flight; dropping it (done, failed or panicked) ends it.
pub(crate) struct InFlight<'a>(&'a Gauges);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts this process's OS threads from `/proc/self/stat`, kept open: a
/// sample is one `pread` of a few hundred bytes, not a path walk, an open
/// and the longer `status` file (which cost a sequential run a measurable
/// share of its CPU: docs/design.md, section 8).
#[derive(Debug)]
struct ThreadCounter(Option<File>);

impl Default for ThreadCounter {
    fn default() -> Self {
        Self(File::open("/proc/self/stat").ok())
    }
}

impl ThreadCounter {
    /// The OS threads now, or `None` without `/proc`.
    fn count(&self) -> Option<usize> {
        let mut buf = [0u8; 1024];
        let len = self.0.as_ref()?.read_at(&mut buf, 0).ok()?;
        threads_in_stat(&buf[..len])
    }
}

/// Field 20 of `/proc/<pid>/stat`, `num_threads`; fields are counted after
/// the command name, which ends at the last `)` and may hold spaces.
fn threads_in_stat(stat: &[u8]) -> Option<usize> {
    let after_name = stat.iter().rposition(|&b| b == b')')? + 1;
    let fields = std::str::from_utf8(&stat[after_name..]).ok()?;
    // Fields 3.. follow the name: num_threads is the 18th of them.
    fields.split_ascii_whitespace().nth(17)?.parse().ok()
}

/// The OS thread the caller runs on.
pub(crate) fn thread_id() -> i32 {
    // SAFETY: gettid(2) has no preconditions.
    unsafe { libc::gettid() }
}

/// Slot numbers for the downloads in progress: each takes the lowest free
/// one and gives it back when done, so there are never more lanes than
/// downloads at once.
#[derive(Debug, Default)]
pub(crate) struct Lanes {
    free: Mutex<BinaryHeap<Reverse<usize>>>,
    opened: AtomicUsize,
}

impl Lanes {
    /// The lowest free lane.
    pub(crate) fn take(&self) -> usize {
        let mut free = self.free.lock();
        match free.pop() {
            Some(Reverse(lane)) => lane,
            None => self.opened.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Gives `lane` back.
    pub(crate) fn give(&self, lane: usize) {
        let mut free = self.free.lock();
        free.push(Reverse(lane));
    }
}

/// A phase of one download.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// From the start of the run until a slot took the download.
    Wait,
    /// A request, from sending it until its response headers.
    Request,
    /// Within a request that opened a connection to an https server, its
    /// TLS handshake, from the ClientHello until the handshake is done.
    Handshake,
    /// The body, from the headers until its last byte.
    Body,
    /// The wait before a retry.
    Backoff,
    /// Writing the file.
    Save,
}

impl Phase {
    /// Every phase, in the order a download goes through them.
    pub const ALL: [Phase; 6] = [
        Phase::Wait,
        Phase::Request,
        Phase::Handshake,
        Phase::Body,
        Phase::Backoff,
        Phase::Save,
    ];

    /// Its name in the trace and the picture.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Wait => "wait for a slot",
            Phase::Request => "request",
            Phase::Handshake => "TLS handshake",
            Phase::Body => "body",
            Phase::Backoff => "wait to retry",
            Phase::Save => "save",
        }
    }
}

pub use crate::download::plan::Target;

/// How a download ended, as the trace and the picture say it: its status,
/// or abandoned when an interrupt stopped it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd {
    /// It got a final status.
    Finished(Status),
    /// The run was interrupted before it finished.
    Abandoned,
}

impl std::fmt::Display for JobEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobEnd::Finished(status) => status.fmt(f),
            JobEnd::Abandoned => f.write_str("abandoned"),
        }
    }
}

impl serde::Serialize for JobEnd {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What a span records: a phase, of a request for a target, at an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    /// What the download was doing.
    pub phase: Phase,
    /// For which file.
    pub target: Target,
    /// Which attempt of its request (0 for the first).
    pub attempt: u32,
}

impl Step {
    /// `phase` of the first attempt at `target`.
    pub(crate) fn first(phase: Phase, target: Target) -> Self {
        Self {
            phase,
            target,
            attempt: 0,
        }
    }
}

/// One phase of one download, in time.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Span {
    /// The download's job number (its place in the plan).
    pub job: usize,
    /// Its country code.
    pub code: String,
    /// The slot it held.
    pub lane: usize,
    /// Over HTTP/2, the connection its requests rode (0 for the first).
    pub connection: Option<usize>,
    /// What it was doing.
    pub phase: Phase,
    /// The flag, or the `metadata.json` of `--names`.
    pub target: Target,
    /// Which attempt of its request (0 for the first).
    pub attempt: u32,
    /// Since the start of the run.
    pub start: Duration,
    /// Since the start of the run.
    pub end: Duration,
    /// The OS thread it ran on.
    pub thread: i32,
}

/// What an HTTP/2 connection did, as the client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStep {
    /// From asking for the connection until TCP (and TLS) stood.
    Connect,
    /// The server sent `GOAWAY`: a stream above its last one was refused.
    GoAway,
}

impl ConnectionStep {
    /// Its name in the trace.
    pub fn name(self) -> &'static str {
        match self {
            ConnectionStep::Connect => "connect",
            ConnectionStep::GoAway => "GOAWAY",
        }
    }
}

/// One step in the life of one connection.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ConnectionSpan {
    /// Which connection (0 for the first).
    pub connection: usize,
    /// What happened.
    pub step: ConnectionStep,
    /// Since the start of the run.
    pub start: Duration,
    /// Since the start of the run.
    pub end: Duration,
}

/// A host name's lookup, made once per run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LookupSpan {
    /// The name looked up.
    pub host: String,
    /// Since the start of the run.
    pub start: Duration,
    /// Since the start of the run.
    pub end: Duration,
}

/// Requests in flight and OS threads at one moment.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Sample {
    /// Since the start of the run.
    pub at: Duration,
    /// Requests in flight.
    pub in_flight: usize,
    /// OS threads of the process.
    pub threads: usize,
}

/// The spans and samples of a run, when asked for.
#[derive(Debug)]
pub struct Timeline {
    start: Instant,
    spans: Mutex<Vec<Span>>,
    connections: Mutex<Vec<ConnectionSpan>>,
    samples: Mutex<Vec<Sample>>,
    /// Each job's final status, once known.
    statuses: Mutex<Vec<(usize, Status)>>,
}

impl Timeline {
    /// An empty timeline starting now.
    pub(crate) fn new(start: Instant) -> Self {
        Self {
            start,
            spans: Mutex::new(Vec::new()),
            connections: Mutex::new(Vec::new()),
            samples: Mutex::new(Vec::new()),
            statuses: Mutex::new(Vec::new()),
        }
    }

    /// How long since the run started.
    pub(crate) fn since_start(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }

    /// Records a span.
    pub(crate) fn span(&self, span: Span) {
        self.spans.lock().push(span);
    }

    /// Records `step` of `connection`, from `start` until now.
    pub(crate) fn connection(&self, connection: usize, step: ConnectionStep, start: Instant) {
        let span = ConnectionSpan {
            connection,
            step,
            start: self.since_start(start),
            end: self.since_start(Instant::now()),
        };
        self.connections.lock().push(span);
    }

    /// Records a sample.
    pub(crate) fn sample(&self, sample: Sample) {
        let mut samples = self.samples.lock();
        samples.push(sample);
    }

    /// Records a job's final status.
    pub(crate) fn status(&self, job: usize, status: Status) {
        let mut statuses = self.statuses.lock();
        statuses.push((job, status));
    }

    /// What was recorded so far.
    pub(crate) fn recording(&self) -> Recording {
        let mut connections = self.connections.lock().clone();
        connections.sort_by_key(|c| (c.start, c.connection));
        Recording {
            spans: self.spans(),
            connections,
            lookups: Vec::new(),
            samples: self.samples(),
        }
    }

    /// Every span, in start order, each with its job's final status.
    fn spans(&self) -> Vec<(Span, JobEnd)> {
        let statuses: std::collections::HashMap<usize, Status> =
            self.statuses.lock().iter().copied().collect();
        let mut spans = self.spans.lock().clone();
        spans.sort_by_key(|s| (s.start, s.job));
        spans
            .into_iter()
            .map(|s| {
                let end = statuses
                    .get(&s.job)
                    .map_or(JobEnd::Abandoned, |status| JobEnd::Finished(*status));
                (s, end)
            })
            .collect()
    }

    /// Every sample, in time order.
    fn samples(&self) -> Vec<Sample> {
        self.samples.lock().clone()
    }
}

/// A run's timeline, as recorded: what `--trace` and `--timeline` draw.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// Every span, in start order, with how its download ended.
    pub spans: Vec<(Span, JobEnd)>,
    /// Over HTTP/2, each connection's own life, in start order.
    pub connections: Vec<ConnectionSpan>,
    /// Host names looked up, once each.
    pub lookups: Vec<LookupSpan>,
    /// Requests in flight and OS threads over time.
    pub samples: Vec<Sample>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_reuse_the_lowest_free_slot() {
        let lanes = Lanes::default();
        assert_eq!((lanes.take(), lanes.take(), lanes.take()), (0, 1, 2));
        lanes.give(1);
        lanes.give(0);
        assert_eq!((lanes.take(), lanes.take(), lanes.take()), (0, 1, 3));
    }

    #[test]
    fn in_flight_counts_until_the_guard_drops() {
        let gauges = Gauges::default();
        let a = gauges.request();
        let b = gauges.request();
        assert_eq!(gauges.in_flight(), 2);
        drop(a);
        assert_eq!(gauges.in_flight(), 1);
        drop(b);
        assert_eq!((gauges.in_flight(), gauges.peak_in_flight()), (0, 2));
        assert!(gauges.sample_threads() >= 1);
    }

    #[test]
    fn threads_are_field_20_of_stat_even_when_the_name_has_spaces() {
        let stat = b"4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 3 1 0 0 20 0 \
                     17 0 12345 1000 200";
        assert_eq!(threads_in_stat(stat), Some(17));
        assert_eq!(threads_in_stat(b"4242 (cut"), None);
    }

    #[test]
    fn the_thread_count_agrees_with_proc_status() {
        let from_status = || -> usize {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let threads = status.lines().find_map(|l| l.strip_prefix("Threads:"));
            threads.and_then(|n| n.trim().parse().ok()).unwrap()
        };
        let counter = ThreadCounter::default();
        // Other tests start and stop threads: compare between two equal
        // readings of `status`.
        let agreed = (0..1000).any(|_| {
            let before = from_status();
            let counted = counter.count();
            before == from_status() && counted == Some(before)
        });
        assert!(agreed);
    }
}
