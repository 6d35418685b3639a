//! A run's exporters fed outside text: codes, country names, reasons and
//! statuses as a lying server could make them.

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

use crate::download::observers::report::{self, RunReport};
use crate::download::observers::timeline::{JobEnd, Phase, Recording, Span, Target};
use crate::download::observers::{trace, waterfall};
use crate::download::plan::{Mode, Runtime};
use crate::download::status::{CodeResult, Counts, FetchError, Status};

/// One download as the fuzzer draws it.
#[derive(Debug, Arbitrary)]
struct Download {
    code: String,
    country: Option<String>,
    outcome: u8,
    reason: String,
    bytes: u32,
    start_us: u32,
    spans: Vec<(u8, u32)>,
    connection: Option<u8>,
}

const PHASES: [Phase; 5] = [
    Phase::Wait,
    Phase::Request,
    Phase::Body,
    Phase::Backoff,
    Phase::Save,
];

/// The JSON report, the Chrome trace, the waterfall and the summary of a
/// run whose codes, names, reasons and timings are the fuzzer's: the JSON
/// and the trace parse as JSON and keep the text; the waterfall is
/// well-formed XML (SVG); the summary has nothing a terminal acts on.
pub fn exports(data: &[u8]) {
    let Ok(downloads) = Vec::<Download>::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    if downloads.is_empty() || downloads.len() > 16 {
        return;
    }
    let mut results = Vec::new();
    let mut spans = Vec::new();
    for (job, d) in downloads.iter().enumerate() {
        let result = match d.outcome % 4 {
            0 => CodeResult::ok(
                &d.code,
                u64::from(d.bytes),
                format!("{}.gif", d.code),
                d.country.clone(),
                0,
            ),
            1 => CodeResult::failed(&d.code, &FetchError::NotFound, d.country.clone(), 0),
            2 => CodeResult::failed(&d.code, &FetchError::Invalid(d.reason.clone()), None, 1),
            _ => CodeResult::failed(
                &d.code,
                &FetchError::status(u16::from(d.outcome), None),
                None,
                0,
            ),
        };
        let mut at = Duration::from_micros(u64::from(d.start_us));
        for (phase, length_us) in d.spans.iter().take(4) {
            let end = at + Duration::from_micros(u64::from(*length_us));
            let span = Span {
                job,
                code: d.code.clone(),
                lane: job,
                connection: d.connection.map(usize::from),
                phase: PHASES[usize::from(*phase) % PHASES.len()],
                target: Target::Flag,
                attempt: 0,
                start: at,
                end,
                thread: 1000 + job as i32,
            };
            spans.push((span, JobEnd::Finished(result.status)));
            at = end;
        }
        results.push(result.took(at));
    }
    let mut counts = Counts::default();
    for result in &results {
        counts.add(result);
    }
    let elapsed = results.iter().map(|r| r.seconds).fold(0.001, f64::max);
    let report = RunReport {
        mode: Mode::Async,
        runtime: Some(Runtime::Multi),
        concurrency: results.len(),
        http: "1.1",
        connections: Some(1),
        requests: results.len(),
        lookups: 0,
        requests_per_connection: Some(results.len() as f64),
        tls: None,
        server: "http://127.0.0.1:8000/flags".into(),
        output: "downloaded".into(),
        planned: results.len(),
        counts,
        interrupted: false,
        elapsed_seconds: elapsed,
        ideal_seconds: None,
        efficiency: None,
        download_seconds: results.iter().map(|r| r.seconds).sum(),
        overlap: None,
        errors: report::group_errors(&results),
        peak_threads: 1,
        peak_in_flight: 1,
        loop_lag: None,
        save_inline: false,
        save_delay_seconds: 0.0,
        results,
    };
    let json = crate::text::json_pretty(&report).expect("a report serializes");
    let back: serde_json::Value = serde_json::from_str(&json).expect("the report is JSON");
    for (i, d) in downloads.iter().enumerate() {
        let codes: Vec<&str> = back["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter_map(|r| r["code"].as_str())
            .collect();
        assert!(
            codes.contains(&d.code.as_str()),
            "result {i}'s code is kept"
        );
    }
    let recording = Recording {
        spans,
        connections: Vec::new(),
        lookups: Vec::new(),
        samples: Vec::new(),
    };
    let trace = trace::chrome_trace(&recording, &report);
    let text = serde_json::to_string(&trace).expect("a trace serializes");
    serde_json::from_str::<serde_json::Value>(&text).expect("the trace is JSON");
    let svg = waterfall::svg(&recording, &report, None).expect("a waterfall");
    if let Err(e) = roxmltree::Document::parse(&svg) {
        panic!("the waterfall is not XML ({e}): {svg}");
    }
    let summary = report::summary(&report);
    assert!(!super::has_control(&summary), "the summary: {summary:?}");
    let statuses: usize = [Status::Ok, Status::NotFound, Status::Error]
        .iter()
        .map(|s| report.results.iter().filter(|r| r.status == *s).count())
        .sum();
    assert_eq!(statuses, report.results.len());
}
