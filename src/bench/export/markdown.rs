//! A Markdown table, for READMEs and pull-request comments.

use anyhow::Result;

use super::Exporter;
use super::table::{HEADERS, columns};
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
        markdown_text(&crate::text::inert(&report.machine.cpu)),
        markdown_text(&report.machine.short())
    );
    out.push_str(&format!("| {} |\n", HEADERS.join(" | ")));
    out.push_str(&format!("|{}\n", " --- |".repeat(HEADERS.len())));
    for cell in &report.cells {
        let cols: Vec<String> = columns(cell).iter().map(|c| markdown_text(c)).collect();
        out.push_str(&format!("| {} |\n", cols.join(" | ")));
    }
    out
}

/// Text made literal in a Markdown table cell: no HTML, no cell break, no
/// line break (the columns come through [`columns`], which has already
/// turned control characters into visible escapes).
fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::markdown_text;

    #[test]
    fn cells_stay_text_in_their_cell() {
        assert_eq!(markdown_text("a|b"), "a\\|b");
        assert_eq!(
            markdown_text("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(markdown_text("a\nb\\"), "a b\\\\");
    }
}
