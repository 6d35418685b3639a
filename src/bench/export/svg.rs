//! `--plot FILE.svg`: four panels against concurrency (median time with the
//! ideal, CPU per download, peak RSS, efficiency), a model by its colour and
//! a delay by its line style in every panel, every point marked (so a
//! sequential cell, one point per delay, shows), both axes named and
//! labelled in round numbers, and the legend beside the panels, never over
//! the data. A panel with nothing to show (efficiency, when no cell ran
//! against a known delay) is left out, and a sentence in its place says
//! why.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};
use plotters::coord::combinators::{BindKeyPoints, LogCoord};
use plotters::coord::ranged1d::Ranged;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::Exporter;
use crate::bench::schema::{BenchReport, Cell, CellKind};
use crate::duration::human_seconds;

/// The colour of a model, the same in every picture and table of a bench
/// (Okabe and Ito's palette, which colour-blind readers can tell apart).
pub(crate) fn model_colour(name: &str) -> RGBColor {
    match name {
        "sequential" => RGBColor(213, 94, 0),
        "threaded" => RGBColor(0, 114, 178),
        "async" => RGBColor(0, 158, 115),
        "async-current" => RGBColor(230, 159, 0),
        name if name.starts_with("async-h2") => RGBColor(86, 180, 233),
        _ => RGBColor(204, 121, 167),
    }
}

/// `#rrggbb` of [`model_colour`], for HTML.
pub(crate) fn model_colour_hex(name: &str) -> String {
    let RGBColor(r, g, b) = model_colour(name);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// How a delay's lines are drawn: solid, dashed, dotted, dash-dot-like.
#[derive(Debug, Clone, Copy)]
enum Dash {
    Solid,
    Dashed(u32, u32),
}

fn dash(delay_index: usize) -> Dash {
    match delay_index % 4 {
        0 => Dash::Solid,
        1 => Dash::Dashed(8, 5),
        2 => Dash::Dashed(2, 4),
        _ => Dash::Dashed(12, 3),
    }
}

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
        plot(report)
    }
}

/// One line: a model at one delay.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct LineKey {
    model: String,
    delay_index: usize,
}

/// A panel's lines: (concurrency, value) points per line.
type Lines = BTreeMap<LineKey, Vec<(f64, f64)>>;

/// What one panel shows.
struct Panel {
    title: &'static str,
    /// What the y axis measures, written along it.
    y_desc: &'static str,
    lines: Lines,
    /// The ideal time, per delay (the time panel only).
    ideal: BTreeMap<usize, Vec<(f64, f64)>>,
    log_y: bool,
    label: fn(f64) -> String,
}

fn lines_of(cells: &[&Cell], delays: &[f64], value: impl Fn(&Cell) -> Option<f64>) -> Lines {
    let mut lines = Lines::new();
    for cell in cells {
        let (Some(c), Some(v)) = (cell.concurrency, value(cell)) else {
            continue;
        };
        let delay_index = delays.iter().position(|d| *d == cell.delay_ms).unwrap_or(0);
        lines
            .entry(LineKey {
                // Names may come from a hand-edited --from file: no
                // character XML forbids (plotters escapes the rest).
                model: crate::text::visible(&cell.name, 30),
                delay_index,
            })
            .or_default()
            .push((c as f64, v));
    }
    for points in lines.values_mut() {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points.dedup_by(|a, b| a.0 == b.0);
    }
    lines
}

/// The four panels and the legend, as SVG text.
pub(crate) fn plot(report: &BenchReport) -> Result<String> {
    let cells: Vec<&Cell> = report
        .cells
        .iter()
        .filter(|c| c.kind == CellKind::Mode && c.time.is_some())
        .collect();
    if cells.is_empty() {
        return Err(anyhow!("nothing to plot: no mode had a clean run"));
    }
    let mut delays: Vec<f64> = cells.iter().map(|c| c.delay_ms).collect();
    delays.sort_by(f64::total_cmp);
    delays.dedup();
    let mut ideal: BTreeMap<usize, Vec<(f64, f64)>> = BTreeMap::new();
    for (delay_index, points) in lines_of(&cells, &delays, |c| c.ideal_seconds.filter(|i| *i > 0.0))
    {
        ideal
            .entry(delay_index.delay_index)
            .or_default()
            .extend(points);
    }
    for points in ideal.values_mut() {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points.dedup_by(|a, b| a.0 == b.0);
    }
    let panels = [
        Panel {
            title: "Median time",
            y_desc: "median wall time (log scale)",
            lines: lines_of(&cells, &delays, |c| c.time.map(|t| t.median)),
            ideal,
            log_y: true,
            label: human_seconds,
        },
        Panel {
            title: "CPU per download",
            y_desc: "CPU time per download",
            lines: lines_of(&cells, &delays, |c| c.cpu_us_per_download),
            ideal: BTreeMap::new(),
            log_y: false,
            label: |us| human_seconds(us / 1e6),
        },
        Panel {
            title: "Peak RSS",
            y_desc: "peak resident memory",
            lines: lines_of(&cells, &delays, |c| Some(c.peak_rss_mib)),
            ideal: BTreeMap::new(),
            log_y: false,
            label: |mib| format!("{mib:.0} MiB"),
        },
        Panel {
            title: EFFICIENCY,
            y_desc: "ideal time / median time",
            lines: lines_of(&cells, &delays, |c| c.efficiency.map(|e| e * 100.0)),
            ideal: BTreeMap::new(),
            log_y: false,
            label: |p| format!("{p:.0}%"),
        },
    ];
    let x_max = cells
        .iter()
        .filter_map(|c| c.concurrency)
        .max()
        .unwrap_or(1) as f64
        * 1.6;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1100, 760)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("plot: {e}"))?;
        let (grid, legend) = root.split_horizontally(880);
        let title = format!(
            "{} per run, median of {} each",
            crate::text::count(report.downloads, "download", "downloads"),
            crate::text::count(report.runs, "run", "runs")
        );
        let grid = grid
            .titled(&title, ("sans-serif", 18))
            .map_err(|e| anyhow!("plot: {e}"))?;
        for (area, panel) in grid.split_evenly((2, 2)).iter().zip(&panels) {
            if panel.title == EFFICIENCY && panel.lines.is_empty() {
                area.draw(&Text::new(
                    NO_EFFICIENCY,
                    (20, 60),
                    ("sans-serif", 15).into_font(),
                ))
                .map_err(|e| anyhow!("plot: {e}"))?;
            } else {
                draw_panel(area, panel, x_max)?;
            }
        }
        draw_legend(&legend, &cells, &delays)?;
        root.present().map_err(|e| anyhow!("plot: {e}"))?;
    }
    Ok(svg)
}

/// The title of the efficiency panel.
const EFFICIENCY: &str = "Efficiency (ideal / median)";

/// What stands in the efficiency panel's place when no cell has one.
pub(crate) const NO_EFFICIENCY: &str =
    "No efficiency plot: no cell ran against a server delay, so no ideal time.";

/// Round values between `low` and `high` for a log axis: 1, 2 and 5 times
/// each power of ten (plotters' own choice can leave a decade unlabelled).
fn log_ticks(low: f64, high: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(low.log10().floor());
    while decade <= high {
        for step in [1.0, 2.0, 5.0] {
            let tick = decade * step;
            if (low..=high).contains(&tick) {
                ticks.push(tick);
            }
        }
        decade *= 10.0;
    }
    ticks
}

/// A line's style: its model's colour, its delay's dashes.
fn draw_line<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<LogCoord<f64>, Y>>,
    points: &[(f64, f64)],
    colour: RGBColor,
    dashes: Dash,
    width: u32,
) -> Result<()> {
    let style = colour.stroke_width(width);
    let drawn = match dashes {
        Dash::Solid => chart
            .draw_series(LineSeries::new(points.to_vec(), style))
            .map(drop),
        Dash::Dashed(size, gap) => chart
            .draw_series(DashedLineSeries::new(points.to_vec(), size, gap, style))
            .map(drop),
    };
    drawn.map_err(|e| anyhow!("plot: {e}"))
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
    x_max: f64,
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("plot: {e}");
    let values: Vec<f64> = panel
        .lines
        .values()
        .chain(panel.ideal.values())
        .flatten()
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .collect();
    let top = values.iter().copied().fold(0.0, f64::max);
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(panel.title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(84);
    let x_range = (0.8f64..x_max).log_scale();
    if panel.log_y {
        let positive: Vec<f64> = values.iter().copied().filter(|v| *v > 0.0).collect();
        let low = positive
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
            .min(top)
            / 1.6;
        let (low, high) = (low.max(1e-9), (top * 1.6).max(1e-6));
        let y_range = (low..high)
            .log_scale()
            .with_key_points(log_ticks(low, high));
        let mut chart = builder.build_cartesian_2d(x_range, y_range).map_err(err)?;
        draw_grid_and_lines(&mut chart, panel)
    } else {
        let mut chart = builder
            .build_cartesian_2d(x_range, RangedCoordf64::from(0.0..(top * 1.15).max(1.0)))
            .map_err(err)?;
        draw_grid_and_lines(&mut chart, panel)
    }
}

/// The axes with round labels, then the panel's lines: the same on a log
/// or a linear y axis.
fn draw_grid_and_lines<DB: DrawingBackend, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<LogCoord<f64>, Y>>,
    panel: &Panel,
) -> Result<()>
where
    Y: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc("concurrency (log scale)")
        .y_desc(panel.y_desc)
        .x_label_formatter(&|x: &f64| format!("{}", x.round()))
        .y_label_formatter(&|y| (panel.label)(*y))
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| anyhow!("plot: {e}"))?;
    draw_all(chart, panel)
}

/// The ideal (grey, in its delay's dashes), then every line with its points.
fn draw_all<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<LogCoord<f64>, Y>>,
    panel: &Panel,
) -> Result<()> {
    for (delay_index, points) in &panel.ideal {
        draw_line(
            chart,
            points,
            RGBColor(150, 150, 150),
            dash(*delay_index),
            1,
        )?;
    }
    // Sequential last, and ringed: its one point per delay sits where the
    // other models' first points do, at concurrency 1.
    let mut lines: Vec<(&LineKey, &Vec<(f64, f64)>)> = panel.lines.iter().collect();
    lines.sort_by_key(|(key, _)| key.model == "sequential");
    for (key, points) in lines {
        let colour = model_colour(&key.model);
        draw_line(chart, points, colour, dash(key.delay_index), 2)?;
        let drawn = if key.model == "sequential" {
            chart.draw_series(
                points
                    .iter()
                    .map(|p| Circle::new(*p, 7, colour.stroke_width(3))),
            )
        } else {
            chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, colour.filled())))
        };
        drawn.map_err(|e| anyhow!("plot: {e}"))?;
    }
    Ok(())
}

/// The legend beside the panels: a swatch per model, a line style per delay.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    cells: &[&Cell],
    delays: &[f64],
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("plot: {e}");
    let font = ("sans-serif", 15).into_font();
    let mut models: Vec<String> = Vec::new();
    for cell in cells {
        let name = crate::text::visible(&cell.name, 24);
        if !models.contains(&name) {
            models.push(name);
        }
    }
    let mut y = 60;
    area.draw(&Text::new("model", (10, y), font.clone()))
        .map_err(err)?;
    for model in &models {
        y += 24;
        let colour = model_colour(model);
        area.draw(&PathElement::new(
            vec![(10, y + 8), (40, y + 8)],
            colour.stroke_width(3),
        ))
        .map_err(err)?;
        if model == "sequential" {
            area.draw(&Circle::new((25, y + 8), 7, colour.stroke_width(3)))
        } else {
            area.draw(&Circle::new((25, y + 8), 4, colour.filled()))
        }
        .map_err(err)?;
        area.draw(&Text::new(model.clone(), (48, y), font.clone()))
            .map_err(err)?;
    }
    y += 40;
    area.draw(&Text::new("server delay", (10, y), font.clone()))
        .map_err(err)?;
    for (i, delay) in delays.iter().enumerate() {
        y += 24;
        let points = vec![(10, y + 8), (40, y + 8)];
        let style = BLACK.stroke_width(2);
        match dash(i) {
            Dash::Solid => area.draw(&PathElement::new(points, style)).map_err(err)?,
            Dash::Dashed(size, gap) => {
                // A short dashed sample, drawn as segments.
                let mut x = 10;
                while x < 40 {
                    let end = (x + size as i32).min(40);
                    area.draw(&PathElement::new(vec![(x, y + 8), (end, y + 8)], style))
                        .map_err(err)?;
                    x = end + gap as i32;
                }
            }
        }
        area.draw(&Text::new(
            human_seconds(delay / 1000.0),
            (48, y),
            font.clone(),
        ))
        .map_err(err)?;
    }
    y += 40;
    area.draw(&PathElement::new(
        vec![(10, y + 8), (40, y + 8)],
        RGBColor(150, 150, 150).stroke_width(1),
    ))
    .map_err(err)?;
    area.draw(&Text::new("ideal time", (48, y), font))
        .map_err(err)?;
    Ok(())
}
