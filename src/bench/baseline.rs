//! The regression gate of `--baseline`: each cell against the same cell
//! (name, concurrency, delay) of an earlier JSON export, decided as `flags
//! bench compare` decides (see [`compare`](super::compare)): a cell fails
//! only when the whole interval of its ratio is beyond the allowed
//! slowdown and the machine ran as fast as for the baseline, so neither
//! noise nor another tenant's load can fail a build; what the runs cannot
//! decide is a warning.

use super::compare::{Comparison, Judgement, compare as compare_reports};
use super::schema::BenchReport;
use crate::duration::human_seconds;
use crate::text::inert;

/// What the comparison with a baseline found.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    comparison: Comparison,
    max_regression: f64,
}

impl Gate {
    /// `true` when no cell regressed (an undecided cell does not fail).
    pub(crate) fn passed(&self) -> bool {
        self.comparison.regressions(self.max_regression).is_empty()
    }

    /// The keys of the cells whose interval reaches both sides of the
    /// allowed slowdown: more runs may decide them.
    pub(crate) fn too_noisy(&self) -> Vec<String> {
        let limit = 1.0 + self.max_regression;
        self.comparison
            .cells
            .iter()
            .filter(|c| c.low <= limit && limit < c.high)
            .map(|c| c.key.clone())
            .collect()
    }

    /// What to print: the machine's speed against the baseline's, then
    /// each cell with what was compared, its interval and the decision,
    /// and the cells not compared. Undecided cells start with `warning:`.
    pub(crate) fn lines(&self) -> Vec<String> {
        let allowed = self.max_regression * 100.0;
        let mut lines = vec![match self.comparison.machine {
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
        comparison: compare_reports(baseline, current, max_regression),
        max_regression,
    }
}
