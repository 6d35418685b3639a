//! The regression gate: each cell's median against the same cell (name,
//! concurrency, delay) of an earlier JSON export.

use super::schema::BenchReport;
use crate::text::inert;

/// A cell whose median got slower than the baseline's by more than allowed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Regression {
    /// The cell's key.
    pub key: String,
    /// Baseline median, seconds.
    pub baseline: f64,
    /// Current median, seconds.
    pub current: f64,
}

impl Regression {
    /// How much slower, as a fraction (0.25 = 25 % slower).
    pub(crate) fn slowdown(&self) -> f64 {
        self.current / self.baseline - 1.0
    }
}

/// What the comparison with a baseline found.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Gate {
    /// Cells slower than allowed.
    pub regressions: Vec<Regression>,
    /// Cells with no counterpart (or no clean run) on one side: not compared.
    pub unmatched: Vec<String>,
}

impl Gate {
    /// `true` when no cell regressed.
    pub(crate) fn passed(&self) -> bool {
        self.regressions.is_empty()
    }

    /// What to print: the cells not compared, each regression, or that
    /// there was none.
    pub(crate) fn lines(&self, max_regression: f64) -> Vec<String> {
        let allowed = max_regression * 100.0;
        let mut lines: Vec<String> = self
            .unmatched
            .iter()
            .map(|key| format!("baseline: no comparable cell for {}", inert(key)))
            .collect();
        for r in &self.regressions {
            lines.push(format!(
                "REGRESSION {}: median {} vs baseline {} ({:+.1}%, allowed {allowed:.1}%)",
                inert(&r.key),
                crate::duration::human_seconds(r.current),
                crate::duration::human_seconds(r.baseline),
                r.slowdown() * 100.0,
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

/// Compares medians with a previous export: cells slower than the baseline by
/// more than `max_regression` (0.10 = 10 %). Cells missing from either side
/// are not compared.
pub(crate) fn compare(current: &BenchReport, baseline: &BenchReport, max_regression: f64) -> Gate {
    let mut gate = Gate::default();
    for cell in &current.cells {
        let old = baseline.cells.iter().find(|b| b.key() == cell.key());
        match (cell.time, old.and_then(|b| b.time)) {
            (Some(now), Some(then)) => {
                if now.median > then.median * (1.0 + max_regression) {
                    gate.regressions.push(Regression {
                        key: cell.key(),
                        baseline: then.median,
                        current: now.median,
                    });
                }
            }
            _ => gate.unmatched.push(cell.key()),
        }
    }
    gate
}
