//! Who watches a run: the live progress and the results it collects, the
//! gauges (requests in flight, threads, connections), and the timeline
//! that `--trace` and `--timeline` draw. The pipeline tells
//! `Observers` what happens at a few named points (a download starts,
//! a phase ends, a retry waits, a connection opens, a download ends) and
//! knows nothing of what is behind them; the report is made from what
//! they gathered.

pub mod lag;
pub mod progress;
pub mod report;
pub mod timeline;
pub mod trace;
pub mod waterfall;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::download::Spans;
use crate::download::plan::Plan;
use crate::download::status::{CodeResult, FetchError};
use lag::Lags;
use progress::{Live, Progress};
use timeline::{ConnectionStep, Gauges, InFlight, Lanes, Sample, Span, Step, Timeline, thread_id};

/// Everything that watches a run.
pub(crate) struct Observers {
    /// When the run started: every span is timed from here.
    pub(crate) started: Instant,
    /// Where results are collected and shown.
    pub(crate) progress: Progress,
    /// Requests in flight, OS threads, connections.
    pub(crate) gauges: Gauges,
    /// Slot numbers of the downloads in progress.
    lanes: Lanes,
    /// Every phase of every download, when asked for.
    pub(crate) timeline: Option<Timeline>,
    /// How long the async mode's tasks, once ready, waited for a thread.
    pub(crate) lags: Arc<Lags>,
    /// Downloads in flight at most, for the live display.
    limit: usize,
    /// Whether the live display shows HTTP/2 connections.
    http2: bool,
    /// Whether requests sent and downloads ended are sampled: for a live
    /// display with no timeline (whose clock samples).
    sample_on_events: bool,
}

/// One download as the observers know it: its job, its code, its slot,
/// and the HTTP/2 connection its requests ride. It is `Copy`, so that a
/// save on another thread can record its span too.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Watched {
    job: usize,
    lane: usize,
    connection: Option<usize>,
}

impl Observers {
    /// The observers of a run of `plan` started now, its phases recorded
    /// as `spans` says.
    pub(crate) fn new(progress: Progress, spans: Spans, plan: &Plan) -> Self {
        let started = Instant::now();
        let keep_timeline = spans == Spans::Recorded;
        let (limit, http2) = (plan.concurrency, plan.request.http2.is_some());
        let sample_on_events = !keep_timeline && progress.shown();
        Self {
            sample_on_events,
            started,
            progress,
            gauges: Gauges::default(),
            lanes: Lanes::default(),
            timeline: keep_timeline.then(|| Timeline::new(started)),
            lags: Arc::new(Lags::default()),
            limit,
            http2,
        }
    }

    /// Download `job` of `code` starts, its requests riding HTTP/2
    /// connection `connection` if any: it takes a slot (only a timeline
    /// needs one), and its wait since the run began is its first phase.
    pub(crate) fn started(&self, job: usize, code: &str, connection: Option<usize>) -> Watched {
        let lane = if self.timeline.is_some() {
            self.lanes.take()
        } else {
            0
        };
        let watched = Watched {
            job,
            lane,
            connection,
        };
        let wait = Step::first(timeline::Phase::Wait, timeline::Target::Flag);
        self.phase(watched, code, wait, self.started);
        watched
    }

    /// `step` of a download, from `start` until now, on this thread.
    pub(crate) fn phase(&self, watched: Watched, code: &str, step: Step, start: Instant) {
        self.span(watched, code, step, start, Instant::now());
    }

    /// `step` of a download, from `start` until `end`, on this thread.
    pub(crate) fn span(
        &self,
        watched: Watched,
        code: &str,
        step: Step,
        start: Instant,
        end: Instant,
    ) {
        if let Some(timeline) = &self.timeline {
            timeline.span(Span {
                job: watched.job,
                code: code.to_owned(),
                lane: watched.lane,
                connection: watched.connection,
                phase: step.phase,
                target: step.target,
                attempt: step.attempt,
                start: timeline.since_start(start),
                end: timeline.since_start(end),
                thread: thread_id(),
            });
        }
    }

    /// A request is sent: it is in flight until the guard drops. For a
    /// live display without a timeline (whose clock samples the gauges), a
    /// request sent and a download ended are when they are sampled; the
    /// peaks need neither (see [`Self::sample`]).
    pub(crate) fn sending(&self) -> InFlight<'_> {
        let in_flight = self.gauges.request();
        if self.sample_on_events {
            self.sample();
        }
        in_flight
    }

    /// A download's request failed and waits `wait` before attempt
    /// `attempt`.
    pub(crate) fn retrying(&self, code: &str, attempt: u32, error: &FetchError, wait: Duration) {
        self.progress.retrying(code, attempt, error, wait);
    }

    /// The server's `GOAWAY` refused a stream of this download: noted on
    /// its HTTP/2 connection's track.
    pub(crate) fn refused(&self, watched: Watched) {
        if let (Some(timeline), Some(c)) = (&self.timeline, watched.connection) {
            timeline.connection(c, ConnectionStep::GoAway, Instant::now());
        }
    }

    /// A connection, begun at `started`, is open; over HTTP/2 it is
    /// `connection`, with a track of its own.
    pub(crate) fn connected(&self, connection: Option<usize>, started: Instant) {
        self.gauges.connected();
        if let (Some(timeline), Some(c)) = (&self.timeline, connection) {
            timeline.connection(c, ConnectionStep::Connect, started);
        }
    }

    /// The download ended with `result`: the timeline knows its status.
    /// Its slot is given back by [`Self::release`], and its result goes
    /// to [`Self::record`] from the driver, which also records the
    /// downloads that panicked.
    pub(crate) fn ended(&self, watched: Watched, result: &CodeResult) {
        if let Some(timeline) = &self.timeline {
            timeline.status(watched.job, result.status);
        }
    }

    /// Gives the slot back, however the download ended (even a panic).
    pub(crate) fn release(&self, watched: Watched) {
        if self.timeline.is_some() {
            self.lanes.give(watched.lane);
        }
    }

    /// A download's result, for the live display and the report.
    pub(crate) fn record(&self, result: CodeResult) {
        self.progress.record(result);
        if self.sample_on_events {
            self.sample();
        }
    }

    /// Samples the OS threads and the requests in flight: for the live
    /// display, the peaks of the report, and the timeline's counters. The
    /// peak of requests in flight is kept as each is sent; the peak of
    /// threads is sampled where threads start (the drivers' threads,
    /// threaded mode's workers, the async runtime's threads) and at the end.
    pub(crate) fn sample(&self) {
        let (limit, http2) = (self.limit, self.http2);
        let threads = self.gauges.sample_threads();
        let in_flight = self.gauges.in_flight();
        if let Some(timeline) = &self.timeline {
            timeline.sample(Sample {
                at: self.started.elapsed(),
                in_flight,
                threads,
            });
        }
        self.progress.live(Live {
            in_flight,
            limit,
            threads,
            connections: http2.then(|| self.gauges.connections()),
        });
    }
}
