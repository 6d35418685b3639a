//! The Bencher Metric Format (BMF) JSON that bencher.dev reads: per cell,
//! `latency` in nanoseconds (median, with the fastest and slowest clean run
//! as its bounds), `cpu-per-download` in nanoseconds and `peak-rss` in
//! bytes, each a measure of its own.

use anyhow::Result;
use serde_json::{Map, Value, json};

use super::Exporter;
use crate::bench::schema::BenchReport;

/// The BMF export.
pub(crate) struct Bmf;

impl Exporter for Bmf {
    fn name(&self) -> &'static str {
        "a Bencher Metric Format file"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["json"]
    }

    fn render(&self, report: &BenchReport) -> Result<String> {
        let mut benchmarks = Map::new();
        for cell in &report.cells {
            let Some(time) = cell.time else { continue };
            let mut measures = Map::new();
            measures.insert(
                "latency".into(),
                json!({
                    "value": time.median * 1e9,
                    "lower_value": time.min * 1e9,
                    "upper_value": time.max * 1e9,
                }),
            );
            if let Some(us) = cell.cpu_us_per_download {
                measures.insert("cpu-per-download".into(), json!({ "value": us * 1e3 }));
            }
            measures.insert(
                "peak-rss".into(),
                json!({ "value": cell.peak_rss_mib * 1024.0 * 1024.0 }),
            );
            benchmarks.insert(cell.key(), Value::Object(measures));
        }
        Ok(crate::text::json_pretty(&Value::Object(benchmarks))? + "\n")
    }
}
