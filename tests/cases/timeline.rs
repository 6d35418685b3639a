//! Seeing the models work: the trace and the waterfall of a run, in every
//! mode; the event loop's lag, blocked and freed; one thread or many.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::common::{MODES, flags, json, run_json, server};
use flags::server::ServerConfig;
use flags::server::delay::Delay;
use serde_json::Value;

/// The spans of one download in a trace: (name, start, end, lane, attempt).
type Spans = Vec<(String, f64, f64, Option<u64>, u64)>;

/// Every download's spans, by job number, from a Chrome trace.
fn spans_by_job(trace: &Value) -> BTreeMap<u64, Spans> {
    let mut jobs: BTreeMap<u64, Spans> = BTreeMap::new();
    let mut waits: BTreeMap<u64, f64> = BTreeMap::new();
    for event in trace["traceEvents"].as_array().expect("traceEvents") {
        let job = event["args"]["job"].as_u64();
        let attempt = event["args"]["attempt"].as_u64().unwrap_or(0);
        let name = event["name"].as_str().unwrap_or("").to_owned();
        let ts = event["ts"].as_f64().unwrap_or(0.0);
        match (event["ph"].as_str(), job) {
            (Some("X"), Some(job)) => {
                let dur = event["dur"].as_f64().expect("dur");
                jobs.entry(job).or_default().push((
                    name,
                    ts,
                    ts + dur,
                    event["tid"].as_u64(),
                    attempt,
                ));
            }
            (Some("b"), Some(job)) => {
                waits.insert(job, ts);
            }
            (Some("e"), _) => {
                let job = event["id"].as_u64().expect("id");
                let start = waits.remove(&job).expect("a wait's begin before its end");
                jobs.entry(job)
                    .or_default()
                    .push((name, start, ts, None, 0));
            }
            _ => {}
        }
    }
    assert!(waits.is_empty(), "waits with no end: {waits:?}");
    jobs
}

/// Checks a trace: the phases of each download, in time order; no more
/// lanes than the concurrency; never more requests in flight than it.
fn check_trace(trace: &Value, downloads: usize, concurrency: usize, names: bool, mode: &str) {
    let jobs = spans_by_job(trace);
    assert_eq!(jobs.len(), downloads, "{mode}");
    let mut requests: Vec<(f64, f64)> = Vec::new();
    for (job, spans) in &jobs {
        let count = |name: &str| spans.iter().filter(|s| s.0 == name).count();
        let attempts = count("request");
        assert_eq!(count("wait for a slot"), 1, "{mode} job {job}: {spans:?}");
        assert!(attempts >= 1, "{mode} job {job}: {spans:?}");
        assert_eq!(
            count("body"),
            1,
            "{mode} job {job}: one body, of the attempt that answered"
        );
        let metadata_attempts = count("metadata request");
        let retries = attempts - 1 + metadata_attempts.saturating_sub(1);
        assert_eq!(
            count("wait to retry"),
            retries,
            "{mode} job {job}: {spans:?}"
        );
        assert_eq!(count("save"), 1, "{mode} job {job}: {spans:?}");
        assert_eq!(count("metadata request") >= 1, names, "{mode} job {job}");
        assert_eq!(count("metadata body") == 1, names, "{mode} job {job}");
        // In time order: each phase starts when the one before ended (a
        // TLS handshake lies within its request).
        let mut ordered: Spans = spans
            .iter()
            .filter(|s| s.0 != "TLS handshake")
            .cloned()
            .collect();
        ordered.sort_by(|a, b| a.1.total_cmp(&b.1));
        assert_eq!(ordered[0].0, "wait for a slot", "{mode} job {job}");
        assert_eq!(
            ordered.last().map(|s| s.0.as_str()),
            Some("save"),
            "{mode} job {job}"
        );
        for pair in ordered.windows(2) {
            assert!(
                pair[0].2 <= pair[1].1 + 1.0,
                "{mode} job {job}: overlapping {pair:?}"
            );
        }
        for span in spans.iter().filter(|s| s.3.is_some()) {
            let lane = span.3.unwrap_or(0) as usize;
            assert!(lane < concurrency, "{mode}: lane {lane} of {concurrency}");
        }
        requests.extend(
            spans
                .iter()
                .filter(|s| s.0.ends_with("request") || s.0.ends_with("body"))
                .map(|s| (s.1, s.2)),
        );
    }
    // Sweep: at no instant are more requests in flight than the concurrency.
    let mut edges: Vec<(f64, i32)> = requests
        .iter()
        .flat_map(|(start, end)| [(*start, 1), (*end, -1)])
        .collect();
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut open = 0;
    for (_, step) in edges {
        open += step;
        assert!(
            open <= concurrency as i32,
            "{mode}: {open} requests in flight"
        );
    }
    // The counters are there, and agree.
    let counters: Vec<&Value> = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "C")
        .collect();
    assert!(counters.iter().any(|c| c["name"] == "OS threads"), "{mode}");
    for counter in counters
        .iter()
        .filter(|c| c["name"] == "requests in flight")
    {
        assert!(counter["args"]["requests"].as_u64().unwrap() <= concurrency as u64);
    }
}

fn read(path: &Path) -> Value {
    json(&std::fs::read(path).expect("trace file"))
}

#[test]
fn the_trace_has_every_phase_of_every_download_in_every_mode() {
    let site = server(ServerConfig {
        delay: Delay::Fixed(Duration::from_millis(20)),
        ..ServerConfig::default()
    });
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("trace.json");
        let c = if mode == "sequential" { "1" } else { "4" };
        let args = [
            &["-l", "12", "-a", "-s", site.base_url()][..],
            &common::mode_args(mode, c),
            &["--trace", trace.to_str().unwrap()],
        ]
        .concat();
        run_json(&args, &dir.path().join("out"), 0);
        check_trace(&read(&trace), 12, c.parse().unwrap(), false, mode);
    }
}

#[test]
fn retries_and_metadata_requests_are_spans_of_their_own() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("trace.json");
        // The embedded server resets a third of the requests: retried.
        let args = [
            &["-l", "10", "-a", "--names", "--retries", "8"][..],
            &["--server-fault", "reset=0.3", "--server-seed", "4"],
            &common::mode_args(mode, "3"),
            &["--trace", trace.to_str().unwrap()],
        ]
        .concat();
        let report = run_json(&args, &dir.path().join("out"), 0);
        assert!(
            report["counts"]["retries"].as_u64().unwrap() > 0,
            "{mode}: no retries"
        );
        let c = if mode == "sequential" { 1 } else { 3 };
        check_trace(&read(&trace), 10, c, true, mode);
    }
}

#[test]
fn the_timeline_svg_parses_and_has_one_row_per_download() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let svg_path = dir.path().join("timeline.svg");
        let args = [
            &["-l", "15", "-a", "--server-delay", "20ms"][..],
            &common::mode_args(mode, "5"),
            &["--timeline", svg_path.to_str().unwrap()],
        ]
        .concat();
        run_json(&args, &dir.path().join("out"), 0);
        let svg = std::fs::read_to_string(&svg_path).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("the SVG parses");
        // Each row starts with its wait for a slot, drawn in its own grey.
        let waits = doc
            .descendants()
            .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some("#DEDEDE"))
            .count();
        // 15 rows, and the legend's swatch.
        assert_eq!(waits, 15 + 1, "{mode}");
        assert!(svg.contains(&format!("{mode} mode")), "{mode}: title");
        let rounds = if mode == "sequential" { 15 } else { 3 };
        assert!(
            svg.contains(&format!("ideal rounds ({rounds} × 20ms)")),
            "{mode}: the ideal's rounds"
        );
    }
}

#[test]
fn async_reports_its_loop_lag_and_the_other_modes_do_not() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let report = run_json(&["BR", "US", "--mode", mode], dir.path(), 0);
        let lag = &report["loop_lag"];
        if mode == "async" {
            assert!(
                lag["max_ms"].is_number() && lag["p99_ms"].is_number(),
                "{report}"
            );
            assert!(lag["samples"].as_u64().unwrap() > 0, "{report}");
        } else {
            assert!(lag.is_null(), "{mode}: {report}");
        }
    }
}

#[test]
fn the_loop_lag_is_measured_on_events_and_nothing_wakes_a_waiting_run() {
    // Three downloads one at a time, each waiting 300 ms for its answer:
    // a probe on a clock (every millisecond) would have made about 900
    // samples; on events, a download is a handful of wake-ups whatever it
    // waits.
    let site = server(ServerConfig {
        delay: Delay::Fixed(Duration::from_millis(300)),
        ..ServerConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let report = run_json(
        &[
            "BR",
            "CN",
            "US",
            "--mode",
            "async",
            "-m",
            "1",
            "-s",
            site.base_url(),
        ],
        dir.path(),
        0,
    );
    let samples = report["loop_lag"]["samples"].as_u64().unwrap();
    assert!((3..=60).contains(&samples), "{samples} samples: {report}");
    assert_eq!(report["peak_in_flight"], 1, "{report}");
}

#[test]
fn inline_saves_block_a_one_thread_loop_and_offloaded_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "BR",
        "US",
        "CN",
        "--mode",
        "async",
        "--runtime",
        "current",
        "--save-delay",
        "200ms",
    ];
    let inline = run_json(
        &[&base[..], &["--save", "inline"]].concat(),
        &dir.path().join("a"),
        0,
    );
    let max = inline["loop_lag"]["max_ms"].as_f64().unwrap();
    assert!(
        max >= 150.0,
        "inline saves on the one thread: max lag {max}ms"
    );
    let offloaded = run_json(&base, &dir.path().join("b"), 0);
    let max = offloaded["loop_lag"]["max_ms"].as_f64().unwrap();
    assert!(max < 100.0, "offloaded saves: max lag {max}ms");
    assert_eq!(offloaded["save_inline"], false);
    assert_eq!(inline["save_inline"], true);
    assert_eq!(inline["save_delay_seconds"], 0.2);
}

#[test]
fn one_runtime_thread_does_the_work_of_fifty_with_the_same_counts() {
    let site = server(ServerConfig {
        delay: Delay::Fixed(Duration::from_millis(200)),
        ..ServerConfig::default()
    });
    let args = [
        "--all",
        "--mode",
        "async",
        "-m",
        "50",
        "-s",
        site.base_url(),
    ];
    let current = [&args[..], &["--runtime", "current"]].concat();
    let (_, threads, report) = common::peak_threads(&current, "");
    // The main thread runs every task; the blocking pool (a thread per core,
    // two at least) saves; one more waits for Ctrl-C.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    assert!(
        threads <= 1 + cores + 1,
        "{threads} threads on the one-thread runtime"
    );
    assert_eq!(report["runtime"], "current");
    let (_, _, multi) = common::peak_threads(&args, "");
    assert_eq!(multi["runtime"], "multi");
    assert_eq!(report["counts"], multi["counts"]);
    assert_eq!(report["counts"]["ok"], 194);
}

#[test]
fn runtime_and_save_are_for_the_async_mode_only() {
    for option in [["--runtime", "current"], ["--save", "inline"]] {
        let assert = flags()
            .args(["BR", "--mode", "threaded"])
            .args(option)
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(stderr.contains("use them with --mode async"), "{stderr}");
    }
}

#[test]
fn the_live_display_shows_what_is_in_flight_and_on_how_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let assert = flags()
        .args([
            "-a",
            "-m",
            "20",
            "--server-delay",
            "50ms",
            "--progress",
            "always",
            "-o",
        ])
        .arg(dir.path())
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("in flight 20/20"), "{stderr}");
    assert!(
        stderr.contains("in flight 20/20 · ") && stderr.contains(" threads"),
        "{stderr}"
    );
}

#[test]
fn an_http2_trace_puts_streams_inside_their_connections_lanes() {
    let dir = tempfile::tempdir().unwrap();
    let (trace, svg) = (dir.path().join("h2.json"), dir.path().join("h2.svg"));
    flags()
        .args([
            "-a",
            "-l",
            "40",
            "-m",
            "20",
            "--http2",
            "--connections",
            "2",
        ])
        .args(["--progress", "never", "-q", "-o"])
        .arg(dir.path().join("out"))
        .arg("--trace")
        .arg(&trace)
        .arg("--timeline")
        .arg(&svg)
        .assert()
        .success();
    let trace: Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    let processes: BTreeMap<u64, &str> = events
        .iter()
        .filter(|e| e["name"] == "process_name")
        .map(|e| {
            (
                e["pid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    // The run's requests went through reqwest, and the trace says so.
    let title = processes.get(&1).copied().unwrap_or_default();
    assert!(title.starts_with("flags async mode (reqwest), "), "{title}");
    assert_eq!(processes.get(&2), Some(&"HTTP/2 connection 0"));
    assert_eq!(processes.get(&3), Some(&"HTTP/2 connection 1"));
    // Each connection's own track: one connect.
    let connects: Vec<u64> = events
        .iter()
        .filter(|e| e["cat"] == "connection" && e["name"] == "connect")
        .map(|e| {
            assert_eq!(e["tid"], 0, "{e}");
            e["pid"].as_u64().unwrap()
        })
        .collect();
    // Both connections connect; on a loaded machine hyper's pool has been
    // seen to open one more (tests/cases/connections.rs), drawn on its
    // connection's track too.
    assert!(
        connects.contains(&2) && connects.contains(&3),
        "{connects:?}"
    );
    assert!((2..=3).contains(&connects.len()), "{connects:?}");
    // Every request and body in the lanes of the connection it rode: job
    // j on connection j % 2, never on the connection's own track.
    let mut streams = 0;
    for e in events
        .iter()
        .filter(|e| e["ph"] == "X" && e["cat"] == "flag")
    {
        let (job, pid) = (
            e["args"]["job"].as_u64().unwrap(),
            e["pid"].as_u64().unwrap(),
        );
        assert_eq!(e["args"]["connection"].as_u64(), Some(job % 2), "{e}");
        assert_eq!(pid, job % 2 + 2, "{e}");
        assert_ne!(e["tid"], 0, "{e}");
        streams += usize::from(e["name"] == "request");
    }
    assert_eq!(streams, 40);
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.contains("connection 0") && svg.contains("connection 1"));
    assert!(svg.contains("downloads by HTTP/2 connection"));
}
