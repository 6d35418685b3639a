//! `--timeline FILE.svg`: a run as a waterfall, the browser's network panel
//! for the command line. One row per download in the order they started,
//! a bar per phase (the wait for a slot, requests, bodies, waits before
//! retries, saves), and the ideal's rounds marked: `ceil(N / C)` steps of the
//! server's delay, when it is known. Sequential is a staircase; threads and
//! async at the same concurrency are the same columns of bars. Over
//! HTTP/2 the rows are grouped by the connection their streams rode, a
//! line and a label between groups.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, anyhow};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::download::observers::report::RunReport;
use crate::download::observers::timeline::{Phase, Recording, Target};

/// The colour of each phase.
fn colour(phase: Phase, target: Target) -> RGBColor {
    match (phase, target) {
        (Phase::Wait, _) => RGBColor(222, 222, 222),
        (Phase::Request, Target::Metadata) => RGBColor(158, 202, 225),
        (Phase::Request, Target::Flag) => RGBColor(49, 130, 189),
        (Phase::Handshake, _) => RGBColor(117, 107, 177),
        (Phase::Body, Target::Metadata) => RGBColor(161, 217, 155),
        (Phase::Body, Target::Flag) => RGBColor(49, 163, 84),
        (Phase::Backoff, _) => RGBColor(222, 45, 38),
        (Phase::Save, _) => RGBColor(230, 85, 13),
    }
}

use crate::duration::human_seconds as short;

/// The waterfall of a run as SVG text; `delay` is the server's known latency.
pub(crate) fn svg(
    recording: &Recording,
    report: &RunReport,
    delay: Option<Duration>,
) -> Result<String> {
    // Rows: downloads in the order their wait ended (they took a slot).
    let mut started: BTreeMap<usize, f64> = BTreeMap::new();
    for (span, _) in &recording.spans {
        if span.phase == Phase::Wait {
            started.insert(span.job, span.end.as_secs_f64());
        }
    }
    let connection_of: BTreeMap<usize, usize> = recording
        .spans
        .iter()
        .filter_map(|(s, _)| Some((s.job, s.connection?)))
        .collect();
    let group = |job: &usize| connection_of.get(job).copied().unwrap_or(0);
    let mut order: Vec<(usize, f64)> = started.into_iter().collect();
    order.sort_by(|a, b| {
        (group(&a.0).cmp(&group(&b.0)))
            .then(a.1.total_cmp(&b.1))
            .then(a.0.cmp(&b.0))
    });
    // The first row of each HTTP/2 connection's group.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    if !connection_of.is_empty() {
        for (row, (job, _)) in order.iter().enumerate() {
            let c = group(job);
            if groups.last().is_none_or(|(last, _)| *last != c) {
                groups.push((c, row));
            }
        }
    }
    let row_of: BTreeMap<usize, usize> = order
        .iter()
        .enumerate()
        .map(|(row, (job, _))| (*job, row))
        .collect();
    let rows = order.len().max(1);
    let end = recording
        .spans
        .iter()
        .map(|(s, _)| s.end.as_secs_f64())
        .fold(report.elapsed_seconds, f64::max)
        .max(1e-3);

    let row_px = (640 / rows).clamp(2, 14) as u32;
    let height = (rows as u32 * row_px + 140).max(360);
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (1000, height)).into_drawing_area();
        let err = |e: DrawingAreaErrorKind<_>| anyhow!("timeline: {e}");
        root.fill(&WHITE).map_err(err)?;
        let runtime = report
            .runtime
            .map(|r| format!(", {r} runtime"))
            .unwrap_or_default();
        let ideal = report
            .ideal_seconds
            .map(|i| format!(", ideal {}", short(i)))
            .unwrap_or_default();
        let delay_text = delay.map_or_else(
            || "delay unknown".to_owned(),
            |d| format!("delay {}", short(d.as_secs_f64())),
        );
        let http2 = match (report.http, report.connections) {
            ("2", Some(n)) => format!(
                " over HTTP/2 ({})",
                crate::text::count(n, "connection", "connections")
            ),
            _ => String::new(),
        };
        let title = format!(
            "{} mode{runtime}{http2}, concurrency {}, {delay_text}: {} downloads in {}{ideal}",
            report.mode,
            report.concurrency,
            order.len(),
            short(report.elapsed_seconds),
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..end * 1.02, rows as f64..0f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the start")
            .y_desc(if groups.is_empty() {
                "downloads, in start order"
            } else {
                "downloads by HTTP/2 connection, in start order"
            })
            .disable_y_mesh()
            .disable_x_mesh()
            .y_label_formatter(&|y| format!("{:.0}", y))
            .draw()
            .map_err(err)?;
        draw_phases(&mut chart, recording, &row_of, end)?;
        chart
            .draw_series(groups.iter().map(|(_, row)| {
                let y = *row as f64;
                PathElement::new(vec![(0.0, y), (end * 1.02, y)], BLACK.mix(0.5))
            }))
            .map_err(err)?;
        chart
            .draw_series(groups.iter().map(|(c, row)| {
                Text::new(
                    format!("connection {c}"),
                    (end * 0.005, *row as f64 + 0.1),
                    ("sans-serif", 11).into_font().color(&BLACK),
                )
            }))
            .map_err(err)?;
        // The ideal's rounds: each ends a multiple of the delay after the start.
        if let Some(delay) = delay.filter(|d| !d.is_zero()) {
            let rounds = order.len().div_ceil(report.concurrency.max(1));
            let step = delay.as_secs_f64();
            chart
                .draw_series((1..=rounds).map(|k| {
                    let x = k as f64 * step;
                    PathElement::new(vec![(x, 0.0), (x, rows as f64)], BLACK.mix(0.35))
                }))
                .map_err(err)?
                .label(format!("ideal rounds ({rounds} × {})", short(step)))
                .legend(|(x, y)| PathElement::new(vec![(x, y - 6), (x, y + 6)], BLACK.mix(0.35)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(text)
}

/// The bars of every phase, a colour each, with their legend entries.
fn draw_phases<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    recording: &Recording,
    row_of: &BTreeMap<usize, usize>,
    end: f64,
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("timeline: {e}");
    for phase in Phase::ALL {
        for target in Target::ALL {
            let bars: Vec<Rectangle<(f64, f64)>> = recording
                .spans
                .iter()
                .filter(|(s, _)| s.phase == phase && s.target == target)
                .filter_map(|(s, _)| {
                    let row = *row_of.get(&s.job)? as f64;
                    let (x0, x1) = (s.start.as_secs_f64(), s.end.as_secs_f64());
                    Some(Rectangle::new(
                        [(x0, row + 0.1), (x1.max(x0 + end / 2000.0), row + 0.9)],
                        colour(phase, target).filled(),
                    ))
                })
                .collect();
            if bars.is_empty() {
                continue;
            }
            let name = match target {
                Target::Metadata => format!("metadata {}", phase.name()),
                Target::Flag => phase.name().to_owned(),
            };
            let c = colour(phase, target);
            chart
                .draw_series(bars)
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled()));
        }
    }
    Ok(())
}
