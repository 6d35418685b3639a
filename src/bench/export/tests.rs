//! Snapshots of what people and machines read from a bench, from one fixed
//! report made in memory (as hyperfine's `src/export/tests.rs` does): a
//! change to any exporter's output shows here as a diff to review.

use super::bmf::Bmf;
use super::csv::Csv;
use super::github::GithubBenchmark;
use super::json::Json;
use super::markdown::Markdown;
use super::svg::Svg;
use super::{Exporter, table};
use crate::bench::Order;
use crate::bench::measure::RunCost;
use crate::bench::schema::{BenchReport, Cell, CellKind, Machine, MeasuredRun};
use crate::download::observers::report::LoopLag;

fn run(wall: f64, warmup: bool, sequence: usize) -> MeasuredRun {
    MeasuredRun {
        warmup,
        cost: RunCost {
            wall_seconds: wall,
            user_seconds: wall / 10.0,
            system_seconds: wall / 20.0,
            peak_rss_kib: 9_000 + (wall * 1000.0) as u64,
            peak_threads: 6,
            exit_code: Some(0),
        },
        ok: 20,
        not_found: 0,
        errors: 0,
        flagged: false,
        loop_lag: None,
        sequence: Some(sequence),
        waterfall: None,
    }
}

fn cell(
    name: &str,
    kind: CellKind,
    concurrency: Option<usize>,
    delay_ms: f64,
    walls: &[f64],
) -> Cell {
    let mut cell = Cell::new(name.into(), kind, concurrency, delay_ms, 20);
    if let Some(c) = concurrency {
        cell.ideal_seconds = Some((20usize.div_ceil(c)) as f64 * delay_ms / 1000.0);
    }
    cell.runs.push(run(walls[0] * 1.1, true, 0));
    for (i, wall) in walls.iter().enumerate() {
        let mut run = run(*wall, false, i + 1);
        if name == "async" {
            run.loop_lag = Some(LoopLag {
                max_ms: 2.5,
                p99_ms: 1.25,
                samples: 300,
            });
        }
        cell.runs.push(run);
    }
    cell.finish();
    cell
}

/// A small report: three models and an outside command at 100 ms.
pub(crate) fn fixture() -> BenchReport {
    BenchReport {
        schema: crate::bench::schema::SCHEMA.into(),
        flags_version: "0.1.0".into(),
        created_unix: 1_795_600_000,
        machine: Machine {
            cores: 2,
            cpu: "AMD EPYC".into(),
            kernel: "6.18.44".into(),
            memory_mib: 24_105,
            load_before: 0.3,
            load_after: 1.1,
            git_commit: "e3ccce647994".into(),
            rustc: "rustc 1.95.0 (59807616e 2026-04-14)".into(),
            workdir_fs: "tmpfs".into(),
            speed_probe_seconds: Vec::new(),
        },
        command: "flags bench --delay 100ms -m 1,20 --runs 3".into(),
        downloads: 20,
        runs: 3,
        warmup: 1,
        interrupted: false,
        order: Order::Interleaved,
        https: false,
        cells: vec![
            cell(
                "sequential",
                CellKind::Mode,
                Some(1),
                100.0,
                &[2.05, 2.06, 2.04],
            ),
            cell(
                "threaded",
                CellKind::Mode,
                Some(1),
                100.0,
                &[2.07, 2.08, 2.06],
            ),
            cell(
                "threaded",
                CellKind::Mode,
                Some(20),
                100.0,
                &[0.111, 0.114, 0.110],
            ),
            cell("async", CellKind::Mode, Some(1), 100.0, &[2.09, 2.1, 2.08]),
            cell(
                "async",
                CellKind::Mode,
                Some(20),
                100.0,
                &[0.112, 0.113, 0.111],
            ),
            cell(
                "curl",
                CellKind::Command,
                None,
                100.0,
                &[0.154, 0.16, 0.151],
            ),
        ],
    }
}

#[test]
fn terminal_table() {
    insta::assert_snapshot!(table::terminal(&fixture()));
}

#[test]
fn json_export() {
    insta::assert_snapshot!(Json.render(&fixture()).unwrap());
}

#[test]
fn csv_export() {
    insta::assert_snapshot!(Csv.render(&fixture()).unwrap());
}

#[test]
fn markdown_export() {
    insta::assert_snapshot!(Markdown.render(&fixture()).unwrap());
}

#[test]
fn svg_plot() {
    insta::assert_snapshot!(Svg.render(&fixture()).unwrap());
}

#[test]
fn the_plot_leaves_out_efficiency_without_a_delay_and_names_every_axis() {
    let mut report = fixture();
    for cell in &mut report.cells {
        cell.delay_ms = 0.0;
        cell.ideal_seconds = None;
        cell.efficiency = None;
    }
    let svg = Svg.render(&report).unwrap();
    assert!(svg.contains(super::svg::NO_EFFICIENCY), "{svg}");
    assert!(!svg.contains("Efficiency (ideal / median)"));
    assert_eq!(svg.matches("concurrency (log scale)").count(), 3);
    for axis in [
        "median wall time",
        "CPU time per download",
        "peak resident memory",
    ] {
        assert!(svg.contains(axis), "{axis}");
    }
    let full = Svg.render(&fixture()).unwrap();
    assert_eq!(full.matches("concurrency (log scale)").count(), 4);
    assert!(full.contains("ideal time / median time"));
    assert!(!full.contains(super::svg::NO_EFFICIENCY));
}

#[test]
fn bmf_export() {
    insta::assert_snapshot!(Bmf.render(&fixture()).unwrap());
}

#[test]
fn github_benchmark_export() {
    insta::assert_snapshot!(GithubBenchmark.render(&fixture()).unwrap());
}
