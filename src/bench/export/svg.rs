//! `--plot FILE.svg`: time against concurrency, one line per mode (and delay),
//! the ideal as a dashed line; below it, peak RSS against concurrency.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use plotters::coord::combinators::LogCoord;
use plotters::coord::ranged1d::Ranged;
use plotters::prelude::*;

use super::Exporter;
use crate::bench::schema::{BenchReport, CellKind};

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// A series: label -> (concurrency, value) points.
type Series = BTreeMap<String, Vec<(f64, f64)>>;

/// The plot export: an SVG picture.
pub(crate) struct Svg;

impl Exporter for Svg {
    fn name(&self) -> &'static str {
        "an SVG plot"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["svg"]
    }

    fn render(&self, report: &BenchReport) -> Result<String> {
        let mut svg = String::new();
        plot(report, &mut svg)?;
        Ok(svg)
    }
}

/// Draws the two panels as SVG into `svg`.
fn plot(report: &BenchReport, svg: &mut String) -> Result<()> {
    let multi_delay = {
        let mut delays: Vec<u64> = report.cells.iter().map(|c| c.delay_ms as u64).collect();
        delays.dedup();
        delays.len() > 1
    };
    // Names may come from a hand-edited --from file: no character XML
    // forbids, none that reorders text (plotters escapes the rest).
    let label = |name: &str, delay_ms: f64| {
        let name = crate::text::visible(name, 40);
        if multi_delay {
            format!("{name} @ {delay_ms}ms")
        } else {
            name
        }
    };
    let (mut times, mut rss, mut ideal): (Series, Series, Series) = Default::default();
    for cell in report.cells.iter().filter(|c| c.kind == CellKind::Mode) {
        let (Some(c), Some(t)) = (cell.concurrency, cell.time) else {
            continue;
        };
        let x = c as f64;
        times
            .entry(label(&cell.name, cell.delay_ms))
            .or_default()
            .push((x, t.median));
        rss.entry(label(&cell.name, cell.delay_ms))
            .or_default()
            .push((x, cell.peak_rss_mib));
        if let Some(i) = cell.ideal_seconds.filter(|i| *i > 0.0) {
            ideal
                .entry(label("ideal", cell.delay_ms))
                .or_default()
                .push((x, i));
        }
    }
    for series in [&mut times, &mut rss, &mut ideal] {
        for points in series.values_mut() {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            points.dedup_by(|a, b| a.0 == b.0);
        }
    }
    let all = |s: &Series| s.values().flatten().copied().collect::<Vec<(f64, f64)>>();
    let xs: Vec<f64> = all(&times).iter().map(|p| p.0).collect();
    if xs.is_empty() {
        return Err(anyhow!("nothing to plot: no mode had a clean run"));
    }
    let x_max = xs.iter().copied().fold(1.0, f64::max) * 1.5;
    // Times span orders of magnitude (20 s sequential, 20 ms async): log scale.
    let time_values: Vec<f64> = all(&times)
        .iter()
        .chain(all(&ideal).iter())
        .map(|p| p.1)
        .filter(|t| *t > 0.0)
        .collect();
    let t_max = time_values.iter().copied().fold(0.0, f64::max).max(1e-3) * 1.5;
    let t_min = time_values
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .min(t_max / 10.0)
        / 1.5;
    let r_max = all(&rss).iter().map(|p| p.1).fold(0.0, f64::max) * 1.15;

    let root = SVGBackend::with_string(svg, (900, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (top, bottom) = root.split_vertically(440);
    let err = |e: DrawingAreaErrorKind<_>| anyhow!("plot: {e}");

    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!("Time for {} downloads (median)", report.downloads),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((0.8f64..x_max).log_scale(), (t_min..t_max).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("concurrency")
        .y_desc("seconds (log scale)")
        .draw()
        .map_err(err)?;
    draw_lines(&mut chart, &times)?;
    for (name, points) in &ideal {
        chart
            .draw_series(DashedLineSeries::new(
                points.clone(),
                6,
                4,
                BLACK.stroke_width(1),
            ))
            .map_err(err)?
            .label(name.clone())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    }
    draw_legend(&mut chart)?;

    let mut chart = ChartBuilder::on(&bottom)
        .caption("Peak RSS", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((0.8f64..x_max).log_scale(), 0f64..r_max.max(1.0))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("concurrency")
        .y_desc("MiB")
        .draw()
        .map_err(err)?;
    draw_lines(&mut chart, &rss)?;
    draw_legend(&mut chart)?;
    root.present().map_err(|e| anyhow!("plot: {e}"))?;
    Ok(())
}

/// Draws one solid line per series, each in its own colour, with a legend entry.
fn draw_lines<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<LogCoord<f64>, Y>>,
    series: &Series,
) -> Result<()> {
    for (i, (name, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)).point_size(3))
            .map_err(|e| anyhow!("plot: {e}"))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    Ok(())
}

/// Draws the legend box of a panel.
fn draw_legend<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<LogCoord<f64>, Y>>,
) -> Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow!("plot: {e}"))
}
