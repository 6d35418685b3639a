//! `--export-html FILE`: one self-contained page a person reads and CI
//! keeps as an artifact: the environment, the table, the plots, a waterfall
//! per cell (its median run), and the comparison with a baseline when one
//! is given. It fetches nothing (a Content-Security-Policy forbids it),
//! reads the same with JavaScript off (the pictures are inline SVG; the one
//! script only adds sorting), prints on paper, and escapes every string.

use std::fmt::Write as _;

use anyhow::Result;

use super::Exporter;
use super::svg::{model_colour_hex, plot};
use super::table::{HEADERS, columns};
use crate::bench::compare::{Comparison, compare};
use crate::bench::schema::{BenchReport, CellKind};
use crate::text::inert;

/// The HTML export, with the baseline to compare with, if any.
pub(crate) struct Html {
    /// The `--baseline` export.
    pub baseline: Option<BenchReport>,
    /// With the baseline: the slowdown that fails the gate.
    pub max_regression: f64,
}

impl Exporter for Html {
    fn name(&self) -> &'static str {
        "an HTML report"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["html", "htm"]
    }

    fn render(&self, report: &BenchReport) -> Result<String> {
        let comparison = self
            .baseline
            .as_ref()
            .map(|baseline| compare(baseline, report, self.max_regression));
        Ok(page(report, comparison.as_ref()))
    }
}

/// Text made safe inside HTML, elements and attributes alike; outside text
/// is made inert first.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in inert(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1150px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; } h3 { font-size: 1rem; }
dl.env { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.env dt { font-weight: 600; } dl.env dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
h3 { overflow-wrap: anywhere; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: .9rem; }
th, td { padding: .25rem .45rem; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; white-space: normal; vertical-align: bottom; }
.swatch { display: inline-block; width: .8em; height: .8em; border-radius: 50%; margin-right: .4em; vertical-align: -.05em; }
.scroll { overflow-x: auto; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; }
.slower { color: #b00020; font-weight: 600; } .faster { color: #006b3c; font-weight: 600; }
section.cell { break-inside: avoid; }
@media (max-width: 760px) {
  body { margin: 1rem auto; }
  dl.env { grid-template-columns: 1fr; gap: 0; } dl.env dd { margin-bottom: .4rem; }
  table.cards thead { display: none; }
  table.cards, table.cards tbody, table.cards tr, table.cards td { display: block; }
  table.cards tr { border: 1px solid #ddd; border-radius: 4px; margin: .6rem 0; padding: .2rem .6rem; }
  table.cards td { display: flex; justify-content: space-between; gap: 1rem; border: none; padding: .1rem 0; white-space: normal; text-align: right; }
  table.cards td::before { content: attr(data-label); font-weight: 600; text-align: left; }
}
@media print { body { margin: 0; max-width: none; } th { background: none; } }
";

/// Sorting by a column on a click: an addition, the page reads the same without it.
const SCRIPT: &str = "
document.querySelectorAll('table.sortable th').forEach((th, column) => {
  th.style.cursor = 'pointer';
  th.title = 'sort';
  th.addEventListener('click', () => {
    const body = th.closest('table').tBodies[0];
    const key = (row) => { const t = row.cells[column].textContent; const n = parseFloat(t); return isNaN(n) ? t : n; };
    const rows = Array.from(body.rows);
    const up = th.dataset.up !== 'true';
    rows.sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (up ? 1 : -1));
    th.dataset.up = up;
    rows.forEach((row) => body.appendChild(row));
  });
});
";

/// The whole page.
fn page(report: &BenchReport, comparison: Option<&Comparison>) -> String {
    let m = &report.machine;
    let mut html =
        String::from("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n",
    );
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        html,
        "<title>flags bench: {}</title>",
        escape(&crate::text::count(
            report.downloads,
            "download",
            "downloads"
        ))
    );
    let _ = writeln!(html, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(
        html,
        "<h1>flags bench: {} per run, {} per cell</h1>",
        escape(&crate::text::count(
            report.downloads,
            "download",
            "downloads"
        )),
        escape(&crate::text::count(report.runs, "run", "runs"))
    );
    if report.interrupted {
        html.push_str("<p><strong>Interrupted:</strong> only the runs made before the interrupt are shown.</p>\n");
    }
    html.push_str("<h2>Environment</h2>\n<dl class=\"env\">\n");
    let order = match report.order {
        crate::bench::Order::Interleaved => "interleaved: round by round, each round shuffled",
        crate::bench::Order::Sequential => "cell by cell",
    };
    let rows: [(&str, String); 11] = [
        (
            "CPU",
            format!(
                "{} ({})",
                m.cpu,
                crate::text::count(m.cores, "core", "cores")
            ),
        ),
        ("memory", format!("{} MiB", m.memory_mib)),
        ("kernel", m.kernel.clone()),
        (
            "load",
            format!("{:.2} before, {:.2} after", m.load_before, m.load_after),
        ),
        ("outputs on", m.workdir_fs.clone()),
        (
            "flags",
            format!("{} at {}", report.flags_version, m.git_commit),
        ),
        ("built with", m.rustc.clone()),
        (
            "runs",
            format!(
                "{} measured, {} warm-up per cell",
                report.runs, report.warmup
            ),
        ),
        ("order", order.to_owned()),
        ("command", report.command.clone()),
        (
            "ideal",
            "ceil(N / C) × delay; efficiency = ideal / median".to_owned(),
        ),
    ];
    for (term, value) in rows {
        let _ = writeln!(html, "<dt>{}</dt><dd>{}</dd>", escape(term), escape(&value));
    }
    html.push_str("</dl>\n");

    html.push_str(
        "<h2>Results</h2>\n<div class=\"scroll\">\n<table class=\"sortable cards\">\n<thead><tr>",
    );
    for header in HEADERS {
        let _ = write!(html, "<th>{}</th>", escape(header));
    }
    html.push_str("</tr></thead>\n<tbody>\n");
    for cell in &report.cells {
        html.push_str("<tr>");
        for (i, (column, header)) in columns(cell).iter().zip(HEADERS).enumerate() {
            if i == 0 {
                let _ = write!(
                    html,
                    "<td data-label=\"{}\"><span><span class=\"swatch\" style=\"background:{}\"></span>{}</span></td>",
                    escape(header),
                    model_colour_hex(&cell.name),
                    escape(column)
                );
            } else {
                let _ = write!(
                    html,
                    "<td data-label=\"{}\">{}</td>",
                    escape(header),
                    escape(column)
                );
            }
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody>\n</table>\n</div>\n");

    if let Some(comparison) = comparison {
        html.push_str(&comparison_section(comparison));
    }

    html.push_str("<h2>Plots</h2>\n");
    match plot(report) {
        Ok(svg) => {
            let _ = writeln!(html, "<figure class=\"plot\">{svg}</figure>");
        }
        Err(why) => {
            let _ = writeln!(html, "<p>No plot: {}.</p>", escape(&why.to_string()));
        }
    }

    html.push_str("<h2>Waterfalls</h2>\n<p>Each cell's median run, one row per download (grey: waiting for a slot; blue: the request; green: the body; orange: the save).</p>\n");
    for cell in &report.cells {
        let _ = writeln!(
            html,
            "<section class=\"cell\">\n<h3>{}</h3>",
            escape(&cell.key())
        );
        match (&cell.waterfall, cell.kind) {
            (Some(svg), _) => {
                let _ = writeln!(html, "<figure class=\"waterfall\">{svg}</figure>");
            }
            (None, CellKind::Command) => {
                html.push_str("<p>An outside command: no waterfall.</p>\n");
            }
            (None, CellKind::Mode) => {
                html.push_str(
                    "<p>No waterfall: no clean run was recorded (run with --export-html).</p>\n",
                );
            }
        }
        html.push_str("</section>\n");
    }
    let _ = writeln!(html, "<script>{SCRIPT}</script>\n</body>\n</html>");
    html
}

/// The comparison with the baseline as a table.
fn comparison_section(comparison: &Comparison) -> String {
    let secs = crate::duration::human_seconds;
    let mut html = String::from(
        "<h2>Against the baseline</h2>\n<p>Ratio of medians, this run over the baseline, with a 95% bootstrap interval from the runs.</p>\n<table class=\"cards\">\n<thead><tr><th>cell</th><th>baseline</th><th>now</th><th>now / baseline</th><th>95% interval</th><th>verdict</th></tr></thead>\n<tbody>\n",
    );
    for c in &comparison.cells {
        let class = match c.verdict {
            crate::bench::compare::Verdict::Slower => "slower",
            crate::bench::compare::Verdict::Faster => "faster",
            crate::bench::compare::Verdict::NoChange => "same",
        };
        let _ = writeln!(
            html,
            "<tr><td data-label=\"cell\">{}</td><td data-label=\"baseline\">{}</td><td data-label=\"now\">{}</td><td data-label=\"now / baseline\">{:.2}×</td><td data-label=\"95% interval\">{:.2} – {:.2}</td><td data-label=\"verdict\" class=\"{class}\">{}</td></tr>",
            escape(&c.key),
            secs(c.old_median),
            secs(c.new_median),
            c.ratio,
            c.low,
            c.high,
            c.verdict
        );
    }
    html.push_str("</tbody>\n</table>\n");
    if let Some(m) = comparison.machine {
        let _ = writeln!(
            html,
            "<p>The machine's speed probe took {:+.1}% against the baseline's (interval {:+.1}% to {:+.1}%): the gate blames the code only when the machine ran as fast as for the baseline.</p>",
            (m.ratio - 1.0) * 100.0,
            (m.low - 1.0) * 100.0,
            (m.high - 1.0) * 100.0
        );
    }
    for difference in &comparison.differences {
        let _ = writeln!(
            html,
            "<p><strong>The runs differ:</strong> {}</p>",
            escape(difference)
        );
    }
    html
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn every_string_is_escaped() {
        assert_eq!(
            escape("<img src=x onerror='alert(1)'>&\"\u{1b}"),
            "&lt;img src=x onerror=&#39;alert(1)&#39;&gt;&amp;&quot;\\x1b"
        );
    }
}
