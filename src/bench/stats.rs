//! Summary statistics of repeated runs.

/// Median, extremes, mean and standard deviation of a sample.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Summary {
    /// Middle value (mean of the two middle ones for an even count).
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one value).
    pub stddev: f64,
}

impl Summary {
    /// Summarises `values`; `None` when there are none.
    pub(crate) fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        let mean = sorted.iter().sum::<f64>() / n as f64;
        let variance = if n > 1 {
            sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        Some(Self {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            mean,
            stddev: variance.sqrt(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary() {
        let s = Summary::of(&[3.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.mean), (2.5, 1.0, 10.0, 4.0));
        assert!((s.stddev - 4.08248).abs() < 1e-4);
        assert_eq!(Summary::of(&[2.0]).unwrap().stddev, 0.0);
        assert!(Summary::of(&[]).is_none());
    }
}
