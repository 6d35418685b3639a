//! `--trace FILE`: a run's timeline in the Chrome Trace Event format, which
//! Perfetto (ui.perfetto.dev) and `chrome://tracing` open. One track per
//! concurrency slot carries each download's requests, bodies, waits before
//! retries and saves; the wait for a slot is an async slice of its own (it
//! overlaps the slot's earlier downloads); counters show the requests in
//! flight and the OS threads over time.

use serde_json::{Value, json};

use crate::download::report::RunReport;
use crate::download::timeline::{Phase, Recording, Target};

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
    let title = format!(
        "flags {} mode{runtime}, concurrency {}",
        report.mode, report.concurrency
    );
    let mut events = vec![json!({
        "name": "process_name", "ph": "M", "pid": 1, "args": { "name": title }
    })];
    let mut lanes: Vec<usize> = recording.spans.iter().map(|(s, _)| s.lane).collect();
    lanes.sort_unstable();
    lanes.dedup();
    for lane in lanes {
        events.push(json!({
            "name": "thread_name", "ph": "M", "pid": 1, "tid": lane,
            "args": { "name": format!("slot {lane}") }
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
        });
        let name = match (span.phase, span.target) {
            (Phase::Request | Phase::Body, Target::Metadata) => {
                format!("metadata {}", span.phase.name())
            }
            (phase, _) => phase.name().to_owned(),
        };
        if span.phase == Phase::Wait {
            // An async slice: waits overlap the slot's earlier downloads.
            let common =
                json!({ "name": name, "cat": "wait", "id": span.job, "pid": 1, "tid": span.lane });
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
                "pid": 1,
                "tid": span.lane,
                "args": args,
            }));
        }
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
