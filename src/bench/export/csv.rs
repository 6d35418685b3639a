//! One CSV row per cell, numbers unformatted, for spreadsheets and scripts.

use anyhow::Result;

use super::Exporter;
use crate::bench::schema::{BenchReport, CellKind};

/// The CSV export.
pub(crate) struct Csv;

impl Exporter for Csv {
    fn name(&self) -> &'static str {
        "a CSV table"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["csv"]
    }

    fn render(&self, report: &BenchReport) -> Result<String> {
        csv(report)
    }
}

/// A text field made inert for a spreadsheet: a leading `=`, `+`, `-`,
/// `@`, tab or CR, which a spreadsheet would run as a formula, gets a `'`
/// before it (OWASP's rule against CSV injection). Quoting is the csv
/// crate's.
fn text_field(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

fn opt(value: Option<f64>) -> String {
    value.map_or_else(String::new, |v| format!("{v}"))
}

const HEADER: [&str; 21] = [
    "name",
    "kind",
    "concurrency",
    "delay_ms",
    "downloads",
    "median_s",
    "min_s",
    "max_s",
    "mean_s",
    "stddev_s",
    "ideal_s",
    "efficiency",
    "flags_per_s",
    "cpu_s",
    "cpu_us_per_download",
    "peak_rss_mib",
    "peak_threads",
    "loop_lag_p99_ms",
    "loop_lag_max_ms",
    "error_runs",
    "runs",
];

/// One CSV row per cell, numbers unformatted.
fn csv(report: &BenchReport) -> Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(HEADER)?;
    for c in &report.cells {
        let t = c.time;
        writer.write_record([
            text_field(&c.name),
            match c.kind {
                CellKind::Mode => "mode".to_owned(),
                CellKind::Command => "command".to_owned(),
            },
            c.concurrency.map_or_else(String::new, |v| v.to_string()),
            c.delay_ms.to_string(),
            c.downloads.to_string(),
            opt(t.map(|t| t.median)),
            opt(t.map(|t| t.min)),
            opt(t.map(|t| t.max)),
            opt(t.map(|t| t.mean)),
            opt(t.map(|t| t.stddev)),
            opt(c.ideal_seconds),
            opt(c.efficiency),
            opt(c.flags_per_second),
            opt(c.cpu_seconds),
            opt(c.cpu_us_per_download),
            c.peak_rss_mib.to_string(),
            c.peak_threads.to_string(),
            opt(c.loop_lag_p99_ms),
            opt(c.loop_lag_max_ms),
            c.error_runs.to_string(),
            c.measured().count().to_string(),
        ])?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{}", e.error()))?;
    Ok(String::from_utf8(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::text_field;

    #[test]
    fn text_fields_cannot_become_formulas() {
        assert_eq!(text_field("async"), "async");
        assert_eq!(text_field("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(text_field("@SUM(1+1)"), "'@SUM(1+1)");
        assert_eq!(text_field("-2+3"), "'-2+3");
        assert_eq!(text_field("+1"), "'+1");
        assert_eq!(text_field("\tx"), "'\tx");
        assert_eq!(text_field("a,b"), "a,b");
    }
}
