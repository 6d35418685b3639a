//! `--trace FILE`: a run's timeline in the Chrome Trace Event format, which
//! Perfetto (ui.perfetto.dev) and `chrome://tracing` open. One track per
//! concurrency slot carries each download's requests, bodies, waits before
//! retries and saves; the wait for a slot is an async slice of its own (it
//! overlaps the slot's earlier downloads); counters show the requests in
//! flight and the OS threads over time.
//!
//! Over HTTP/2 the tracks are grouped by connection: each connection is a
//! process of the trace, its first track the connection's own life
//! (connect, a `GOAWAY` received), the others the slots whose downloads'
//! streams rode it.

use serde_json::{Value, json};

use crate::download::observers::report::RunReport;
use crate::download::observers::timeline::{Phase, Recording, Target};

/// The track of the run's host lookups, after every slot's.
const LOOKUP_TRACK: usize = 1_000_000;

/// Microseconds, the unit of the format.
fn micros(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The trace of a run, as one JSON object with `traceEvents`.
pub(crate) fn chrome_trace(recording: &Recording, report: &RunReport) -> Value {
    let runtime = report
        .runtime
        .map(|r| format!(", {r} runtime"))
        .unwrap_or_default();
    let http2 = if report.http == "2" {
        " over HTTP/2"
    } else {
        ""
    };
    let title = format!(
        "flags {} mode ({}){runtime}{http2}, concurrency {}",
        report.mode,
        report.mode.client(),
        report.concurrency
    );
    let mut events = vec![json!({
        "name": "process_name", "ph": "M", "pid": 1, "args": { "name": title }
    })];
    // Over HTTP/2, connection c is process c + 2, its own life track 0
    // and each slot track `lane + 1`; otherwise slots are tracks of process 1.
    let place = |connection: Option<usize>, lane: usize| match connection {
        Some(c) => (c + 2, lane + 1),
        None => (1, lane),
    };
    let mut connections: Vec<usize> = recording
        .spans
        .iter()
        .filter_map(|(s, _)| s.connection)
        .chain(recording.connections.iter().map(|c| c.connection))
        .collect();
    connections.sort_unstable();
    connections.dedup();
    for c in connections {
        let pid = c + 2;
        events.push(json!({
            "name": "process_name", "ph": "M", "pid": pid,
            "args": { "name": format!("HTTP/2 connection {c}") }
        }));
        events.push(json!({
            "name": "process_sort_index", "ph": "M", "pid": pid, "args": { "sort_index": pid }
        }));
        events.push(json!({
            "name": "thread_name", "ph": "M", "pid": pid, "tid": 0,
            "args": { "name": "connection" }
        }));
    }
    let mut lanes: Vec<(usize, usize)> = recording
        .spans
        .iter()
        .map(|(s, _)| place(s.connection, s.lane))
        .collect();
    lanes.sort_unstable();
    lanes.dedup();
    for (pid, tid) in lanes {
        let lane = if pid == 1 { tid } else { tid - 1 };
        events.push(json!({
            "name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
            "args": { "name": format!("slot {lane}") }
        }));
    }
    for span in &recording.connections {
        events.push(json!({
            "name": span.step.name(),
            "cat": "connection",
            "ph": "X",
            "ts": micros(span.start),
            "dur": micros(span.end.saturating_sub(span.start)),
            "pid": span.connection + 2,
            "tid": 0,
            "args": { "connection": span.connection },
        }));
    }
    for (span, status) in &recording.spans {
        let args = json!({
            "code": span.code,
            "job": span.job,
            "status": status,
            "attempt": span.attempt,
            "target": span.target,
            "thread": span.thread,
            "connection": span.connection,
        });
        let (pid, tid) = place(span.connection, span.lane);
        let name = match (span.phase, span.target) {
            (Phase::Request | Phase::Body, Target::Metadata) => {
                format!("metadata {}", span.phase.name())
            }
            (phase, _) => phase.name().to_owned(),
        };
        if span.phase == Phase::Wait {
            // An async slice: waits overlap the slot's earlier downloads.
            let common =
                json!({ "name": name, "cat": "wait", "id": span.job, "pid": pid, "tid": tid });
            let mut begin = common.clone();
            begin["ph"] = json!("b");
            begin["ts"] = json!(micros(span.start));
            begin["args"] = args;
            let mut end = common;
            end["ph"] = json!("e");
            end["ts"] = json!(micros(span.end));
            events.push(begin);
            events.push(end);
        } else {
            events.push(json!({
                "name": name,
                "cat": span.target.name(),
                "ph": "X",
                "ts": micros(span.start),
                "dur": micros(span.end.saturating_sub(span.start)),
                "pid": pid,
                "tid": tid,
                "args": args,
            }));
        }
    }
    if !recording.lookups.is_empty() {
        events.push(json!({
            "name": "thread_name", "ph": "M", "pid": 1, "tid": LOOKUP_TRACK,
            "args": { "name": "host lookups" }
        }));
    }
    for lookup in &recording.lookups {
        events.push(json!({
            "name": format!("look up {}", crate::text::inert(&lookup.host)),
            "cat": "lookup",
            "ph": "X",
            "ts": micros(lookup.start),
            "dur": micros(lookup.end.saturating_sub(lookup.start)),
            "pid": 1,
            "tid": LOOKUP_TRACK,
            "args": { "host": lookup.host },
        }));
    }
    for sample in &recording.samples {
        let ts = micros(sample.at);
        events.push(json!({
            "name": "requests in flight", "ph": "C", "ts": ts, "pid": 1,
            "args": { "requests": sample.in_flight }
        }));
        events.push(json!({
            "name": "OS threads", "ph": "C", "ts": ts, "pid": 1,
            "args": { "threads": sample.threads }
        }));
    }
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "tool": format!("flags {}", env!("CARGO_PKG_VERSION")),
            "mode": report.mode,
            "runtime": report.runtime,
            "concurrency": report.concurrency,
            "server": report.server,
            "elapsed_seconds": report.elapsed_seconds,
            "ideal_seconds": report.ideal_seconds,
        }
    })
}
