//! Snapshots of what a run shows people and machines: the header, the
//! summary, the `--json` report, the trace and the waterfall, from one
//! fixed run made in memory.

use std::time::Duration;

use super::observers::report::{self, ErrorGroup, LoopLag, RunReport};
use super::observers::timeline::{JobEnd, Phase, Recording, Sample, Span, Target};
use super::observers::{trace, waterfall};
use super::plan::{Mode, Plan, Runtime};
use super::status::{CodeResult, Counts, FetchError, Status};

fn results() -> Vec<CodeResult> {
    let mut results = vec![
        CodeResult::ok("BR", 2_796, "BR.gif".into(), None, 0).took(Duration::from_millis(212)),
        CodeResult::ok("CN", 1_480, "CN.gif".into(), None, 1).took(Duration::from_millis(305)),
        CodeResult::failed("US", &FetchError::status(503, None), None, 2)
            .took(Duration::from_millis(260)),
        CodeResult::failed("ZZ", &FetchError::NotFound, None, 0).took(Duration::from_millis(101)),
    ];
    results.sort_by(|a, b| a.code.cmp(&b.code));
    results
}

fn run_report() -> RunReport {
    let results = results();
    let mut counts = Counts::default();
    for result in &results {
        counts.add(result);
    }
    RunReport {
        mode: Mode::Async,
        runtime: Some(Runtime::Multi),
        concurrency: 4,
        http: "1.1",
        connections: Some(4),
        requests: 5,
        lookups: 0,
        requests_per_connection: Some(1.25),
        tls: None,
        server: "http://127.0.0.1:8001/flags".into(),
        output: "downloaded".into(),
        planned: 4,
        counts,
        interrupted: false,
        elapsed_seconds: 0.412,
        ideal_seconds: Some(0.1),
        efficiency: None,
        download_seconds: 0.878,
        overlap: Some(0.878 / 0.412),
        errors: report::group_errors(&results),
        peak_threads: 7,
        peak_in_flight: 4,
        loop_lag: Some(LoopLag {
            max_ms: 2.4,
            p99_ms: 1.1,
            samples: 380,
        }),
        save_inline: false,
        save_delay_seconds: 0.0,
        results,
    }
}

fn span(job: usize, code: &str, phase: Phase, start_ms: u64, end_ms: u64) -> Span {
    Span {
        connection: None,
        job,
        code: code.into(),
        lane: job,
        phase,
        target: Target::Flag,
        attempt: 0,
        start: Duration::from_millis(start_ms),
        end: Duration::from_millis(end_ms),
        thread: 4_242 + job as i32,
    }
}

fn recording() -> Recording {
    let ended = |status| JobEnd::Finished(status);
    Recording {
        spans: vec![
            (span(0, "BR", Phase::Wait, 0, 2), ended(Status::Ok)),
            (span(1, "CN", Phase::Wait, 0, 3), ended(Status::Ok)),
            (span(0, "BR", Phase::Request, 2, 200), ended(Status::Ok)),
            (span(1, "CN", Phase::Request, 3, 103), ended(Status::Ok)),
            (span(1, "CN", Phase::Backoff, 103, 190), ended(Status::Ok)),
            (span(1, "CN", Phase::Request, 190, 290), ended(Status::Ok)),
            (span(0, "BR", Phase::Body, 200, 205), ended(Status::Ok)),
            (span(0, "BR", Phase::Save, 205, 212), ended(Status::Ok)),
            (span(1, "CN", Phase::Body, 290, 297), ended(Status::Ok)),
            (span(1, "CN", Phase::Save, 297, 305), ended(Status::Ok)),
            (span(2, "US", Phase::Wait, 0, 4), JobEnd::Abandoned),
            (span(2, "US", Phase::Request, 4, 260), JobEnd::Abandoned),
        ],
        connections: Vec::new(),
        lookups: Vec::new(),
        samples: vec![
            Sample {
                at: Duration::ZERO,
                in_flight: 0,
                threads: 5,
            },
            Sample {
                at: Duration::from_millis(100),
                in_flight: 3,
                threads: 7,
            },
        ],
    }
}

#[test]
fn header() {
    let codes = ["BR", "CN", "US", "ZZ"].map(String::from).to_vec();
    let base_url = "http://127.0.0.1:8001/flags".to_owned();
    let plan = Plan::new(codes, base_url, Mode::Async, 4);
    let notes = ["Concurrency: 50 requested, 4 used: only 4 flags.".to_owned()];
    insta::assert_snapshot!(report::header(
        "EMBEDDED",
        "http://127.0.0.1:8001/flags\n  simulating a distant site: 100ms..300ms per request",
        &plan,
        &notes
    ));
}

#[test]
fn summary() {
    insta::assert_snapshot!(report::summary(&run_report()));
}

#[test]
fn one_request_is_not_requests() {
    let one = RunReport {
        connections: Some(1),
        requests: 1,
        requests_per_connection: Some(1.0),
        tls: None,
        ..run_report()
    };
    let summary = report::summary(&one);
    assert!(
        summary.contains("Connections: 1 opened for 1 request: 1.0 per connection."),
        "{summary}"
    );
    let h2 = RunReport { http: "2", ..one };
    assert!(report::summary(&h2).contains("for 1 HTTP/2 stream: "));
}

#[test]
fn json_report() {
    insta::assert_snapshot!(crate::text::json_pretty(&run_report()).unwrap());
}

#[test]
fn chrome_trace() {
    let trace = trace::chrome_trace(&recording(), &run_report());
    insta::assert_snapshot!(crate::text::json_pretty(&trace).unwrap());
}

#[test]
fn waterfall_svg() {
    let svg = waterfall::svg(
        &recording(),
        &run_report(),
        Some(Duration::from_millis(100)),
    )
    .unwrap();
    insta::assert_snapshot!(svg);
}

#[test]
fn grouped_errors_are_named_types() {
    let groups = report::group_errors(&results());
    assert_eq!(
        groups,
        [ErrorGroup {
            reason: "HTTP 503 Service Unavailable".into(),
            count: 1,
            codes: vec!["US".into()],
        }]
    );
}
