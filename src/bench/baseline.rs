//! The regression gate of `--baseline`: each cell against the same cell
//! (name, concurrency, delay) of an earlier JSON export, decided as `flags
//! bench compare` decides (see [`compare`](super::compare)): a cell fails
//! only when the whole interval of its ratio is beyond the allowed
//! slowdown, so noise alone cannot fail a build.

use super::compare::{Comparison, compare as compare_reports};
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
    /// `true` when no cell regressed.
    pub(crate) fn passed(&self) -> bool {
        self.comparison.regressions(self.max_regression).is_empty()
    }

    /// What to print: the cells not compared, each regression, or that
    /// there was none.
    pub(crate) fn lines(&self) -> Vec<String> {
        let allowed = self.max_regression * 100.0;
        let mut lines: Vec<String> = self
            .comparison
            .unmatched
            .iter()
            .map(|key| format!("baseline: no comparable cell for {}", inert(key)))
            .collect();
        for r in self.comparison.regressions(self.max_regression) {
            lines.push(format!(
                "REGRESSION {}: median {} vs baseline {} ({:+.1}%, interval {:+.1}% to {:+.1}%, allowed {allowed:.1}%)",
                inert(&r.key),
                human_seconds(r.new_median),
                human_seconds(r.old_median),
                (r.ratio - 1.0) * 100.0,
                (r.low - 1.0) * 100.0,
                (r.high - 1.0) * 100.0,
            ));
        }
        if self.passed() {
            lines.push(format!(
                "baseline: no cell slower than {allowed:.1}% over its baseline median"
            ));
        }
        lines
    }
}

/// Compares `current` with `baseline`: a cell regresses when the whole 95 %
/// interval of its ratio of medians is above `1 + max_regression`.
pub(crate) fn compare(current: &BenchReport, baseline: &BenchReport, max_regression: f64) -> Gate {
    Gate {
        comparison: compare_reports(baseline, current, max_regression),
        max_regression,
    }
}
