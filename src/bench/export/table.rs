//! The table people read: one row per cell, aligned for the terminal; its
//! columns are shared with the Markdown export.

use crate::bench::Order;
use crate::bench::schema::{BenchReport, Cell};
use crate::text::count;

use crate::duration::human_seconds as secs;

fn delay(cell: &Cell) -> String {
    secs(cell.delay_ms / 1000.0)
}

/// The columns of one cell, as text.
pub(super) fn columns(cell: &Cell) -> Vec<String> {
    let time = cell.time.map_or_else(
        || "no clean run".to_owned(),
        |t| format!("{} [{} – {}]", secs(t.median), secs(t.min), secs(t.max)),
    );
    let measured = cell.measured().count();
    vec![
        crate::text::untrusted(&cell.name, NAME_CHARS),
        cell.concurrency.map_or("-".into(), |c| c.to_string()),
        delay(cell),
        time,
        cell.flags_per_second
            .map_or("-".into(), |f| format!("{f:.0}")),
        cell.ideal_seconds.map_or("-".into(), secs),
        cell.efficiency
            .map_or("-".into(), |e| format!("{:.0}%", e * 100.0)),
        cell.cpu_seconds.map_or("-".into(), secs),
        cell.cpu_us_per_download
            .map_or("-".into(), |us| format!("{us:.0}µs")),
        format!("{:.1} MiB", cell.peak_rss_mib),
        cell.peak_threads.to_string(),
        match (cell.loop_lag_p99_ms, cell.loop_lag_max_ms) {
            (Some(p99), Some(max)) => {
                format!("{}/{}", secs(p99 / 1000.0), secs(max / 1000.0))
            }
            _ => "-".into(),
        },
        if cell.error_runs == 0 {
            "0".into()
        } else {
            format!("{} of {measured} runs!", cell.error_runs)
        },
    ]
}

/// How much of a cell's name (a `--vs NAME`, or one read with `--from`) the
/// table shows.
const NAME_CHARS: usize = 40;

pub(super) const HEADERS: [&str; 13] = [
    "mode",
    "conc",
    "delay",
    "median [min – max]",
    "flags/s",
    "ideal",
    "efficiency",
    "CPU",
    "CPU/dl",
    "peak RSS",
    "threads",
    "loop lag p99/max",
    "errors",
];

/// The terminal table, aligned, with a line on the workload and the ideal.
pub(crate) fn terminal(report: &BenchReport) -> String {
    let rows: Vec<Vec<String>> = report.cells.iter().map(columns).collect();
    let mut widths: Vec<usize> = HEADERS.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, col) in widths.iter_mut().zip(row) {
            *w = (*w).max(col.chars().count());
        }
    }
    let line = |cols: &[String]| {
        cols.iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                let pad = w - c.chars().count();
                if i < 3 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let headers: Vec<String> = HEADERS.iter().map(|h| h.to_string()).collect();
    let mut out = format!(
        "{}{} per run, {} per cell (+{}), {}; ideal = ceil(N / C) × delay; efficiency = ideal / median\n",
        count(report.downloads, "download", "downloads"),
        if report.https { " over HTTPS" } else { "" },
        count(report.runs, "run", "runs"),
        count(report.warmup, "warm-up", "warm-ups"),
        match report.order {
            Order::Interleaved => "interleaved",
            Order::Sequential => "cell by cell",
        }
    );
    out.push_str(&format!(
        "{} ({}), flags {} at {}\n",
        crate::text::inert(&report.machine.cpu),
        report.machine.short(),
        crate::text::inert(&report.flags_version),
        crate::text::inert(&report.machine.git_commit),
    ));
    out.push_str(&line(&headers));
    out.push('\n');
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    if report.interrupted {
        out.push_str("! interrupted: only the cells finished before the interrupt are shown\n");
    }
    if report.cells.iter().any(|c| c.error_runs > 0) {
        out.push_str(
            "! runs with errors are left out of the times; see the JSON export for every run\n",
        );
    }
    out
}
