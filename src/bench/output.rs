//! The benchmark's outputs for people (terminal table, Markdown) and for
//! machines (CSV; the JSON export is `BenchReport` serialised).

use super::{BenchReport, Cell};

/// `412.3ms` or `1.234s`.
fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.1}ms", s * 1000.0)
    } else {
        format!("{s:.3}s")
    }
}

fn delay(cell: &Cell) -> String {
    if cell.delay_ms >= 1000.0 {
        format!("{}s", cell.delay_ms / 1000.0)
    } else {
        format!("{}ms", cell.delay_ms)
    }
}

/// The columns of one cell, as text.
fn columns(cell: &Cell) -> Vec<String> {
    let time = cell.time.map_or_else(
        || "no clean run".to_owned(),
        |t| format!("{} [{} – {}]", secs(t.median), secs(t.min), secs(t.max)),
    );
    let measured = cell.runs.iter().filter(|r| !r.warmup).count();
    vec![
        cell.name.clone(),
        cell.concurrency.map_or("-".into(), |c| c.to_string()),
        delay(cell),
        time,
        cell.flags_per_second
            .map_or("-".into(), |f| format!("{f:.0}")),
        cell.ideal_seconds.map_or("-".into(), secs),
        cell.efficiency
            .map_or("-".into(), |e| format!("{:.0}%", e * 100.0)),
        cell.cpu_seconds.map_or("-".into(), secs),
        format!("{:.1} MiB", cell.peak_rss_mib),
        cell.peak_threads.to_string(),
        if cell.error_runs == 0 {
            "0".into()
        } else {
            format!("{} of {measured} runs!", cell.error_runs)
        },
    ]
}

const HEADERS: [&str; 11] = [
    "mode",
    "conc",
    "delay",
    "median [min – max]",
    "flags/s",
    "ideal",
    "efficiency",
    "CPU",
    "peak RSS",
    "threads",
    "errors",
];

/// The terminal table, aligned, with a line on the workload and the ideal.
pub fn table(report: &BenchReport) -> String {
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
        "{} downloads per run, {} runs per cell (+{} warm-up); ideal = ceil(N / C) × delay; efficiency = ideal / median\n",
        report.downloads, report.runs, report.warmup
    );
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
    if report.cells.iter().any(|c| c.error_runs > 0) {
        out.push_str(
            "! runs with errors are left out of the times; see the JSON export for every run\n",
        );
    }
    out
}

/// A Markdown table, for READMEs and pull-request comments.
pub fn markdown(report: &BenchReport) -> String {
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

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn opt(value: Option<f64>) -> String {
    value.map_or_else(String::new, |v| format!("{v}"))
}

/// One CSV row per cell, numbers unformatted.
pub fn csv(report: &BenchReport) -> String {
    let mut out = String::from(
        "name,kind,concurrency,delay_ms,downloads,median_s,min_s,max_s,mean_s,stddev_s,ideal_s,efficiency,flags_per_s,cpu_s,peak_rss_mib,peak_threads,error_runs,runs\n",
    );
    for c in &report.cells {
        let t = c.time;
        let fields = [
            csv_field(&c.name),
            c.kind.clone(),
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
            c.peak_rss_mib.to_string(),
            c.peak_threads.to_string(),
            c.error_runs.to_string(),
            c.runs.iter().filter(|r| !r.warmup).count().to_string(),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}
