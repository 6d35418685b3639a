//! Comparing two benchmark exports honestly: for each cell present in both,
//! the ratio of the medians with a bootstrap confidence interval drawn from
//! the runs themselves, and a verdict that noise alone cannot reach. The
//! `--baseline` gate and `flags bench compare` both decide with it.

use rand::{Rng, SeedableRng};

use super::schema::{BenchReport, Cell};
use super::stats::Summary;

/// Resamples drawn for each interval.
const RESAMPLES: usize = 2000;

/// What the runs can show about a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The whole interval is below 1 less the threshold.
    Faster,
    /// The whole interval is above 1 plus the threshold.
    Slower,
    /// The interval reaches within the threshold of 1: no change the runs can show.
    NoChange,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::NoChange => "no change",
        })
    }
}

/// One cell compared.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CellComparison {
    /// The cell's key (name, concurrency, delay).
    pub key: String,
    /// Median wall time before, seconds.
    pub old_median: f64,
    /// Median wall time after, seconds.
    pub new_median: f64,
    /// `new_median / old_median`.
    pub ratio: f64,
    /// The 95 % bootstrap interval of the ratio: low end.
    pub low: f64,
    /// High end.
    pub high: f64,
    /// What that means, with the threshold.
    pub verdict: Verdict,
}

/// Two exports compared.
#[derive(Debug, Clone, Default)]
pub(crate) struct Comparison {
    /// The cells in both, in the new export's order.
    pub cells: Vec<CellComparison>,
    /// Cells in only one export, or with no clean run on a side.
    pub unmatched: Vec<String>,
    /// How the two environments differ, where it matters to the figures.
    pub differences: Vec<String>,
}

impl Comparison {
    /// Cells slower beyond `max_regression` (0.10 = 10 %) with the whole
    /// interval: what fails a build.
    pub(crate) fn regressions(&self, max_regression: f64) -> Vec<&CellComparison> {
        self.cells
            .iter()
            .filter(|c| c.low > 1.0 + max_regression)
            .collect()
    }
}

/// The wall times of a cell's clean measured runs (an export without runs
/// gives its median alone).
fn samples(cell: &Cell) -> Vec<f64> {
    let runs: Vec<f64> = cell
        .measured()
        .filter(|r| !r.flagged)
        .map(|r| r.cost.wall_seconds)
        .collect();
    match (runs.is_empty(), cell.time) {
        (true, Some(time)) => vec![time.median],
        _ => runs,
    }
}

fn median(values: &[f64]) -> f64 {
    Summary::of(values).map_or(f64::NAN, |s| s.median)
}

/// The ratio of medians `new / old` and its 95 % percentile bootstrap
/// interval: both samples resampled with replacement, [`RESAMPLES`] times,
/// from a fixed seed (the same exports give the same interval).
pub(crate) fn ratio_interval(old: &[f64], new: &[f64]) -> (f64, f64, f64) {
    let ratio = median(new) / median(old);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xb007_57a9);
    let mut draw = |sample: &[f64], buffer: &mut Vec<f64>| {
        buffer.clear();
        buffer.extend((0..sample.len()).map(|_| sample[rng.random_range(0..sample.len())]));
        median(buffer)
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut ratios: Vec<f64> = (0..RESAMPLES)
        .map(|_| draw(new, &mut a) / draw(old, &mut b))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let at = |q: f64| ratios[((RESAMPLES as f64 - 1.0) * q).round() as usize];
    (ratio, at(0.025), at(0.975))
}

/// Compares every cell of `new` with the same cell of `old`; a change
/// within `threshold` (0.02 = 2 %) of 1 is not called one.
pub(crate) fn compare(old: &BenchReport, new: &BenchReport, threshold: f64) -> Comparison {
    let mut comparison = Comparison {
        differences: differences(old, new),
        ..Comparison::default()
    };
    // A key held by two cells of one export (hand-made; flags bench
    // refuses two --vs of one name) cannot say which cell is which: such
    // cells are not compared.
    let once = |report: &BenchReport, key: &str| {
        report.cells.iter().filter(|c| c.key() == key).count() == 1
    };
    for cell in &new.cells {
        let key = cell.key();
        let before = old
            .cells
            .iter()
            .find(|o| o.key() == key)
            .filter(|_| once(old, &key) && once(new, &key));
        let (old_runs, new_runs) = (before.map(samples).unwrap_or_default(), samples(cell));
        if old_runs.is_empty() || new_runs.is_empty() {
            comparison.unmatched.push(cell.key());
            continue;
        }
        let (ratio, low, high) = ratio_interval(&old_runs, &new_runs);
        let verdict = if low > 1.0 + threshold {
            Verdict::Slower
        } else if high < 1.0 - threshold {
            Verdict::Faster
        } else {
            Verdict::NoChange
        };
        comparison.cells.push(CellComparison {
            key: cell.key(),
            old_median: median(&old_runs),
            new_median: median(&new_runs),
            ratio,
            low,
            high,
            verdict,
        });
    }
    for cell in &old.cells {
        if !new.cells.iter().any(|n| n.key() == cell.key()) {
            comparison.unmatched.push(cell.key());
        }
    }
    comparison
}

/// What differs between the two environments in a way that moves figures.
fn differences(old: &BenchReport, new: &BenchReport) -> Vec<String> {
    let (a, b) = (&old.machine, &new.machine);
    let mut out = Vec::new();
    if a.cpu != b.cpu {
        out.push(format!("CPU {} vs {}", a.cpu, b.cpu));
    }
    if a.cores != b.cores {
        out.push(format!("{} cores vs {}", a.cores, b.cores));
    }
    if a.workdir_fs != b.workdir_fs {
        out.push(format!("outputs on {} vs {}", a.workdir_fs, b.workdir_fs));
    }
    if old.downloads != new.downloads {
        out.push(format!(
            "{} downloads per run vs {}",
            old.downloads, new.downloads
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_holds_the_ratio_and_is_reproducible() {
        let old = [1.0, 1.1, 0.9, 1.05, 0.95];
        let same = ratio_interval(&old, &old);
        assert_eq!(same.0, 1.0);
        assert!(same.1 < 1.0 && same.2 > 1.0, "{same:?}");
        assert_eq!(same, ratio_interval(&old, &old));
        let doubled: Vec<f64> = old.iter().map(|v| v * 2.0).collect();
        let (ratio, low, high) = ratio_interval(&old, &doubled);
        assert_eq!(ratio, 2.0);
        assert!(low > 1.5 && high < 2.7, "{low} {high}");
    }
}
