//! A Markdown table, for READMEs and pull-request comments.

use anyhow::Result;

use super::table::{columns, HEADERS};
use super::Exporter;
use crate::bench::schema::BenchReport;

/// The Markdown export.
pub(crate) struct Markdown;

impl Exporter for Markdown {
    fn name(&self) -> &'static str {
        "Markdown"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["md", "markdown"]
    }

    fn render(&self, report: &BenchReport) -> Result<String> {
        Ok(markdown(report))
    }
}

/// A Markdown table, for READMEs and pull-request comments.
fn markdown(report: &BenchReport) -> String {
    let mut out = format!(
        "{} downloads per run, {} runs per cell (+{} warm-up), on {} ({} cores).\n\n",
        report.downloads, report.runs, report.warmup, report.machine.cpu, report.machine.cores
    );
    out.push_str(&format!("| {} |\n", HEADERS.join(" | ")));
    out.push_str(&format!("|{}\n", " --- |".repeat(HEADERS.len())));
    for cell in &report.cells {
        let cols: Vec<String> = columns(cell)
            .into_iter()
            .map(|c| c.replace('|', "\\|"))
            .collect();
        out.push_str(&format!("| {} |\n", cols.join(" | ")));
    }
    out
}
