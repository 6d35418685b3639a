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

/// The machine's speed now against the baseline's: the ratio of the
/// medians of the two exports' probes (`bench::probe`), with its interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MachineRatio {
    /// `new / old`: above 1, the same arithmetic took longer now.
    pub ratio: f64,
    /// The 95 % bootstrap interval: low end.
    pub low: f64,
    /// High end.
    pub high: f64,
}

/// How the gate judges one cell against the slowdown it allows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Judgement {
    /// The whole interval is within the allowed slowdown.
    Passed,
    /// The whole interval is beyond it, on a machine as fast as the
    /// baseline's: the code is slower.
    Regressed,
    /// The runs cannot tell, and why: the interval straddles the allowed
    /// slowdown, or the machine's speed moved since the baseline.
    Undecided(String),
}

/// Two exports compared.
#[derive(Debug, Clone, Default)]
pub(crate) struct Comparison {
    /// The cells in both, in the new export's order.
    pub cells: Vec<CellComparison>,
    /// The machine's speed now against the baseline's, when both exports
    /// measured it.
    pub machine: Option<MachineRatio>,
    /// Cells in only one export, or with no clean run on a side.
    pub unmatched: Vec<String>,
    /// How the two environments differ, where it matters to the figures.
    pub differences: Vec<String>,
}

impl Comparison {
    /// Cells that regressed beyond `max_regression` (0.10 = 10 %): what
    /// fails a build.
    pub(crate) fn regressions(&self, max_regression: f64) -> Vec<&CellComparison> {
        self.cells
            .iter()
            .filter(|c| self.judge(c, max_regression) == Judgement::Regressed)
            .collect()
    }

    /// Judges `cell` against a slowdown of at most `max_regression`. A
    /// cell regresses only when its whole interval is beyond it and the
    /// machine surely ran as fast as for the baseline: one that may have
    /// been slower (or was surely faster) by more than half the allowed
    /// slowdown, or an interval that reaches both sides of the limit,
    /// leaves the cell undecided, never failed by chance.
    pub(crate) fn judge(&self, cell: &CellComparison, max_regression: f64) -> Judgement {
        let limit = 1.0 + max_regression;
        if cell.high <= limit {
            if let Some(m) = self
                .machine
                .filter(|m| m.ratio < 1.0 - max_regression / 2.0 && m.high < 1.0)
            {
                return Judgement::Undecided(format!(
                    "the machine ran {:.0}% faster than for the baseline, which could hide a slowdown",
                    (1.0 - m.ratio) * 100.0
                ));
            }
            return Judgement::Passed;
        }
        if cell.low <= limit {
            return Judgement::Undecided(format!(
                "the interval reaches both sides of the allowed {:.0}%: more --runs would narrow it",
                max_regression * 100.0
            ));
        }
        match self.machine {
            Some(m) if m.high > 1.0 + max_regression / 2.0 => Judgement::Undecided(format!(
                "the machine may have run up to {:.0}% slower than for the baseline (probe {:+.0}%, interval {:+.0}% to {:+.0}%)",
                (m.high - 1.0) * 100.0,
                (m.ratio - 1.0) * 100.0,
                (m.low - 1.0) * 100.0,
                (m.high - 1.0) * 100.0
            )),
            _ => Judgement::Regressed,
        }
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

/// The wall times of the measured runs of `old` and `new` made in the same
/// round (the `i`-th of each), both clean.
fn pairs(old: &Cell, new: &Cell) -> Vec<(f64, f64)> {
    old.measured()
        .zip(new.measured())
        .filter(|(a, b)| !a.flagged && !b.flagged)
        .map(|(a, b)| (a.cost.wall_seconds, b.cost.wall_seconds))
        .collect()
}

/// The median of the pairs' ratios `new / old` and its 95 % interval by
/// order statistics: the `k`-th smallest and `k`-th largest ratio, `k` as
/// large as the binomial law lets it be (the sign test's interval, which
/// holds whatever the noise's shape, and a bootstrap of a handful of runs
/// does not: five pairs give their whole range, twenty the 6th to 15th).
fn paired_ratio_interval(pairs: &[(f64, f64)]) -> (f64, f64, f64) {
    let mut ratios: Vec<f64> = pairs.iter().map(|(old, new)| new / old).collect();
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    let k = order_statistic(n);
    (median(&ratios), ratios[k - 1], ratios[n - k])
}

/// The rank `k` (from 1) of the ends of a 95 % interval of the median of
/// `n` samples: the largest whose tail, P(Binomial(n, 1/2) < k), is at
/// most 2.5 %; 1 (the whole range) when even that is more.
fn order_statistic(n: usize) -> usize {
    let mut below = 0.0;
    let mut probability = 0.5f64.powi(n as i32);
    let mut k = 1;
    for i in 0..n / 2 {
        below += probability;
        if below > 0.025 {
            break;
        }
        k = i + 1;
        probability *= (n - i) as f64 / (i + 1) as f64;
    }
    k
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

/// How the runs of two exports relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Runs {
    /// Made at different times: each side's runs are resampled on their
    /// own.
    Apart,
    /// Made in the same bench, round by round: run `i` of a cell and run
    /// `i` of its twin saw the same minute of the machine, so the ratio
    /// of each pair is the sample, and the machine's drift cancels out.
    Paired,
}

/// Compares every cell of `new` with the same cell of `old`; a change
/// within `threshold` (0.02 = 2 %) of 1 is not called one.
pub(crate) fn compare(old: &BenchReport, new: &BenchReport, threshold: f64) -> Comparison {
    compare_runs(old, new, threshold, Runs::Apart)
}

/// [`compare`], the runs related as `runs` says.
pub(crate) fn compare_runs(
    old: &BenchReport,
    new: &BenchReport,
    threshold: f64,
    runs: Runs,
) -> Comparison {
    let (old_probes, new_probes) = (
        &old.machine.speed_probe_seconds,
        &new.machine.speed_probe_seconds,
    );
    let machine = (!old_probes.is_empty() && !new_probes.is_empty()).then(|| {
        let (ratio, low, high) = ratio_interval(old_probes, new_probes);
        MachineRatio { ratio, low, high }
    });
    let mut comparison = Comparison {
        differences: differences(old, new),
        machine,
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
        let (ratio, low, high) = match (runs, before) {
            (Runs::Paired, Some(before)) => match pairs(before, cell) {
                pairs if !pairs.is_empty() => paired_ratio_interval(&pairs),
                _ => ratio_interval(&old_runs, &new_runs),
            },
            _ => ratio_interval(&old_runs, &new_runs),
        };
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

    fn cell(ratio: f64, low: f64, high: f64) -> CellComparison {
        CellComparison {
            key: "async c=50 delay=0ms".into(),
            old_median: 0.020,
            new_median: 0.020 * ratio,
            ratio,
            low,
            high,
            verdict: Verdict::NoChange,
        }
    }

    #[test]
    fn a_cell_fails_only_wholly_past_the_limit_on_a_machine_as_fast_as_before() {
        let same = MachineRatio {
            ratio: 1.01,
            low: 0.99,
            high: 1.03,
        };
        let slower = MachineRatio {
            ratio: 1.4,
            low: 1.3,
            high: 1.5,
        };
        let faster = MachineRatio {
            ratio: 0.8,
            low: 0.75,
            high: 0.85,
        };
        let with = |machine| Comparison {
            machine,
            ..Comparison::default()
        };
        let regressed = cell(1.25, 1.2, 1.3);
        assert_eq!(
            with(Some(same)).judge(&regressed, 0.1),
            Judgement::Regressed
        );
        assert_eq!(with(None).judge(&regressed, 0.1), Judgement::Regressed);
        let Judgement::Undecided(why) = with(Some(slower)).judge(&regressed, 0.1) else {
            panic!("a loaded machine decides nothing");
        };
        assert!(
            why.starts_with("the machine may have run up to 50% slower"),
            "{why}"
        );
        // A machine that may have been slower decides nothing either.
        let maybe_slower = MachineRatio {
            ratio: 1.0,
            low: 0.9,
            high: 1.2,
        };
        assert!(matches!(
            with(Some(maybe_slower)).judge(&regressed, 0.1),
            Judgement::Undecided(_)
        ));
        let straddles = cell(1.1, 1.02, 1.2);
        assert!(matches!(
            with(Some(same)).judge(&straddles, 0.1),
            Judgement::Undecided(_)
        ));
        let unchanged = cell(1.0, 0.97, 1.04);
        assert_eq!(with(Some(same)).judge(&unchanged, 0.1), Judgement::Passed);
        assert!(matches!(
            with(Some(faster)).judge(&unchanged, 0.1),
            Judgement::Undecided(_)
        ));
    }

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

    #[test]
    fn paired_runs_cancel_the_drift_both_saw() {
        // Each round twice as slow as the one before, for both builds:
        // the new build is 1.25 times the old one in every round.
        let pairs: Vec<(f64, f64)> = (0..6)
            .map(|round| {
                let minute = f64::from(1 << round);
                (0.020 * minute, 0.025 * minute)
            })
            .collect();
        let (ratio, low, high) = paired_ratio_interval(&pairs);
        assert!((ratio - 1.25).abs() < 1e-9, "{ratio}");
        assert!((low - 1.25).abs() < 1e-9 && (high - 1.25).abs() < 1e-9);
        // Order statistics: five pairs give their whole range, twenty the
        // 6th to the 15th.
        assert_eq!((order_statistic(5), order_statistic(20)), (1, 6));
        assert_eq!(order_statistic(1), 1);
        // Apart, the same runs can tell nothing.
        let (old, new): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
        let (_, low, high) = ratio_interval(&old, &new);
        assert!(low < 1.0 && high > 1.5, "{low} {high}");
    }
}
