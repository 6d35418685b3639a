//! The bench's readers (`--from`, `--baseline`, `bench compare`) fed any
//! JSON, and every exporter fed what they accept.

use crate::bench::export::Exporter;
use crate::bench::export::{bmf::Bmf, csv::Csv, github::GithubBenchmark, html::Html, json::Json};
use crate::bench::export::{markdown::Markdown, svg::Svg, table};
use crate::bench::schema::BenchReport;
use crate::bench::{baseline, compare};

/// An export is read or refused, never a panic; one that is read goes
/// through every exporter (JSON that reads back as the same report, CSV
/// with one record per cell and as many fields in each, SVG that is XML,
/// HTML, Markdown, Bencher's and github-action-benchmark's JSON, the
/// terminal table), and through `compare` and the regression gate
/// against itself, which find no regression.
pub fn bench_readers(data: &[u8]) {
    let Ok(report) = serde_json::from_slice::<BenchReport>(data) else {
        return;
    };
    if report.cells.len() > 64 || report.cells.iter().any(|c| c.runs.len() > 64) {
        return; // larger exports are valid, but only slower to draw
    }
    let json = Json.render(&report).expect("JSON renders");
    let back: BenchReport = serde_json::from_str(&json).expect("the JSON export reads back");
    assert!(
        serde_json::to_value(&back).expect("serializes")
            == serde_json::to_value(&report).expect("serializes"),
        "the JSON export reads back as the same report"
    );
    let csv = Csv.render(&report).expect("CSV renders");
    let mut reader = csv::ReaderBuilder::new().from_reader(csv.as_bytes());
    let width = reader.headers().expect("a CSV header").len();
    let records: Vec<csv::StringRecord> =
        reader.records().map(|r| r.expect("a CSV record")).collect();
    assert!(records.iter().all(|r| r.len() == width), "{csv}");
    if let Ok(svg) = Svg.render(&report)
        && let Err(e) = roxmltree::Document::parse(&svg)
    {
        panic!("the SVG is not XML ({e})");
    }
    for exporter in [&Bmf as &dyn Exporter, &GithubBenchmark] {
        let text = exporter.render(&report).expect("renders");
        serde_json::from_str::<serde_json::Value>(&text).expect("is JSON");
    }
    let _ = Markdown.render(&report).expect("Markdown renders");
    let html = Html {
        baseline: Some(report.clone()),
        max_regression: 0.1,
    };
    let page = html.render(&report).expect("HTML renders");
    assert_eq!(
        page.matches("<script").count(),
        page.matches("</script>").count()
    );
    let shown = table::terminal(&report);
    assert!(!super::has_control(&shown), "the table: {shown:?}");
    let comparison = compare::compare(&report, &report, 0.05);
    assert!(comparison.regressions(0.0).is_empty());
    assert!(baseline::compare(&report, &report, 0.1).passed());
}
