//! The regression gate: each cell against the same cell (name,
//! concurrency, delay) of the baseline, decided as `flags bench compare`
//! decides (see [`compare`](super::compare)): a cell fails only when the
//! whole interval of its ratio is beyond the allowed slowdown and the
//! machine ran as fast as for the baseline; what the runs cannot decide
//! is a warning.
//!
//! The baseline is an earlier JSON export (`--baseline`), or the baseline
//! build itself run beside this one in the same bench, each cell's twin
//! interleaved with it (`--baseline-exe`). On a shared machine only the
//! second holds: the machine's speed drifts by a quarter from one minute
//! to the next, which the runs of one bench cannot see, so an export
//! taken in a quick minute makes every later bench look slower; twins
//! run in the same minutes and drift alike.

use super::compare::{Comparison, Judgement, Runs, compare_runs};
use super::schema::BenchReport;
use crate::duration::human_seconds;
use crate::text::inert;

/// What the comparison with a baseline found.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    comparison: Comparison,
    max_regression: f64,
    /// The baseline ran in the same bench (`--baseline-exe`).
    beside: bool,
}

impl Gate {
    /// `true` when no cell regressed (an undecided cell does not fail).
    pub(crate) fn passed(&self) -> bool {
        self.comparison.regressions(self.max_regression).is_empty()
    }

    /// The keys of the cells whose interval reaches both sides of the
    /// allowed slowdown, and of their twins when the baseline ran beside:
    /// more runs (of both) may decide them.
    pub(crate) fn too_noisy(&self) -> Vec<String> {
        let limit = 1.0 + self.max_regression;
        let noisy = self
            .comparison
            .cells
            .iter()
            .filter(|c| c.low <= limit && limit < c.high)
            .map(|c| c.key.clone());
        if !self.beside {
            return noisy.collect();
        }
        noisy
            .flat_map(|key| {
                let twin = match key.split_once(' ') {
                    Some((name, rest)) => format!("{} {rest}", twin_name(name)),
                    None => twin_name(&key),
                };
                [key, twin]
            })
            .collect()
    }

    /// What to print: the machine's speed against the baseline's, then
    /// each cell with what was compared, its interval and the decision,
    /// and the cells not compared. Undecided cells start with `warning:`.
    pub(crate) fn lines(&self) -> Vec<String> {
        let allowed = self.max_regression * 100.0;
        let mut lines = vec![match self.comparison.machine {
            _ if self.beside => "baseline: the baseline build ran beside this one, interleaved, on the same machine in the same minutes".to_owned(),
            Some(m) => format!(
                "baseline: the machine's speed probe took {:+.1}% against the baseline's (interval {:+.1}% to {:+.1}%)",
                (m.ratio - 1.0) * 100.0,
                (m.low - 1.0) * 100.0,
                (m.high - 1.0) * 100.0
            ),
            None => "baseline: no speed probe in one of the exports: the machine's load is not taken into account".to_owned(),
        }];
        for c in &self.comparison.cells {
            let figures = format!(
                "{}: median {} vs baseline {} ({:+.1}%, interval {:+.1}% to {:+.1}%, allowed {allowed:.1}%)",
                inert(&c.key),
                human_seconds(c.new_median),
                human_seconds(c.old_median),
                (c.ratio - 1.0) * 100.0,
                (c.low - 1.0) * 100.0,
                (c.high - 1.0) * 100.0,
            );
            lines.push(match self.comparison.judge(c, self.max_regression) {
                Judgement::Passed => format!("passed {figures}"),
                Judgement::Regressed => format!("REGRESSION {figures}"),
                Judgement::Undecided(why) => format!("warning: undecided {figures}: {why}"),
            });
        }
        lines.extend(
            self.comparison
                .unmatched
                .iter()
                .map(|key| format!("baseline: no comparable cell for {}", inert(key))),
        );
        lines
    }
}

/// Compares `current` with `baseline`, each cell judged against a slowdown
/// of at most `max_regression` ([`Comparison::judge`]).
pub(crate) fn compare(current: &BenchReport, baseline: &BenchReport, max_regression: f64) -> Gate {
    Gate {
        comparison: compare_runs(baseline, current, max_regression, Runs::Apart),
        max_regression,
        beside: false,
    }
}

/// What a twin's name ends with: the cell of the same name without it,
/// run by the baseline build (`--baseline-exe`).
const TWIN: &str = "@baseline";

/// The name of the twin of cell `name`.
pub(crate) fn twin_name(name: &str) -> String {
    format!("{name}{TWIN}")
}

/// With `--baseline-exe`: this build's cells against their twins, run by
/// the baseline build in the same bench.
pub(crate) fn compare_twins(report: &BenchReport, max_regression: f64) -> Gate {
    let (current, baseline) = split_twins(report);
    Gate {
        comparison: compare_runs(&baseline, &current, max_regression, Runs::Paired),
        max_regression,
        beside: true,
    }
}

/// A report of twins as two: this build's cells, and the twins under their
/// cells' names. Both saw the same machine: neither keeps its probes.
fn split_twins(report: &BenchReport) -> (BenchReport, BenchReport) {
    let mut current = report.clone();
    current.machine.speed_probe_seconds.clear();
    let mut baseline = current.clone();
    current.cells.retain(|cell| !cell.name.ends_with(TWIN));
    baseline.cells.retain(|cell| cell.name.ends_with(TWIN));
    for cell in &mut baseline.cells {
        cell.name.truncate(cell.name.len() - TWIN.len());
    }
    (current, baseline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::compare::{CellComparison, Verdict};

    #[test]
    fn a_noisy_cell_beside_its_twin_gets_more_runs_with_it() {
        let straddles = CellComparison {
            key: "async c=50 delay=0ms".into(),
            old_median: 0.020,
            new_median: 0.022,
            ratio: 1.1,
            low: 1.02,
            high: 1.2,
            verdict: Verdict::NoChange,
        };
        let gate = |beside| Gate {
            comparison: Comparison {
                cells: vec![straddles.clone()],
                ..Comparison::default()
            },
            max_regression: 0.1,
            beside,
        };
        assert_eq!(gate(false).too_noisy(), ["async c=50 delay=0ms"]);
        assert_eq!(
            gate(true).too_noisy(),
            ["async c=50 delay=0ms", "async@baseline c=50 delay=0ms"]
        );
    }
}
