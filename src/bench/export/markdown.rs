//! A Markdown table, for READMEs and pull-request comments.

use anyhow::Result;

use super::table::{columns, HEADERS};
use super::Exporter;
use crate::bench::schema::BenchReport;
use crate::text::count;

/// The Markdown export.
pub(crate) struct Markdown;

impl Exporter for Markdown {
    fn name(&self) -> &'static str {
        "a Markdown table"
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
        "{} per run, {} per cell (+{}), on {} ({}).\n\n",
        count(report.downloads, "download", "downloads"),
        count(report.runs, "run", "runs"),
        count(report.warmup, "warm-up", "warm-ups"),
        report.machine.cpu,
        count(report.machine.cores, "core", "cores")
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
