//! The JSON export: every run and the statistics (schema `flags-bench/1`),
//! what CI keeps and `--from` and `--baseline` read back.

use anyhow::Result;

use super::Exporter;
use crate::bench::schema::BenchReport;

/// The JSON export.
pub(crate) struct Json;

impl Exporter for Json {
    fn name(&self) -> &'static str {
        "a JSON export"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["json"]
    }

    fn render(&self, report: &BenchReport) -> Result<String> {
        Ok(crate::text::json_pretty(report)? + "\n")
    }
}
