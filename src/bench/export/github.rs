//! The JSON github-action-benchmark reads with `tool:
//! 'customSmallerIsBetter'`: a list of `{name, unit, value, range}`, three
//! per cell (median time in ms with its spread, CPU per download in µs,
//! peak RSS in MiB), every one of them better when smaller.

use anyhow::Result;
use serde_json::{Value, json};

use super::Exporter;
use crate::bench::schema::BenchReport;

/// The github-action-benchmark export.
pub(crate) struct GithubBenchmark;

impl Exporter for GithubBenchmark {
    fn name(&self) -> &'static str {
        "a github-action-benchmark file"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["json"]
    }

    fn render(&self, report: &BenchReport) -> Result<String> {
        let mut entries = Vec::new();
        for cell in &report.cells {
            let Some(time) = cell.time else { continue };
            let key = cell.key();
            entries.push(json!({
                "name": format!("{key} time"),
                "unit": "ms",
                "value": time.median * 1e3,
                "range": format!("± {:.3}", (time.max - time.min) * 1e3 / 2.0),
                "extra": format!("{} clean runs, min {:.3} ms, max {:.3} ms", cell.measured().filter(|r| !r.flagged).count(), time.min * 1e3, time.max * 1e3),
            }));
            if let Some(us) = cell.cpu_us_per_download {
                entries.push(json!({
                    "name": format!("{key} CPU per download"),
                    "unit": "µs",
                    "value": us,
                }));
            }
            entries.push(json!({
                "name": format!("{key} peak RSS"),
                "unit": "MiB",
                "value": cell.peak_rss_mib,
            }));
        }
        Ok(crate::text::json_pretty(&Value::Array(entries))? + "\n")
    }
}
