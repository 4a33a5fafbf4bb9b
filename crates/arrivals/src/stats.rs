//! Descriptive statistics of gap lists, and the console format of an average.

use serde::{Deserialize, Serialize};

/// Count, mean, median, p90, p99, min and max of a list of gaps in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    pub median: f64,
    pub p90: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// The summary of `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        let mean = mean(values)?;
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Self {
            count: sorted.len(),
            mean,
            median: quantile_sorted(&sorted, 0.5),
            p90: quantile_sorted(&sorted, 0.9),
            p99: quantile_sorted(&sorted, 0.99),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        })
    }
}

/// The arithmetic mean; `None` for an empty list (never NaN).
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The `q` quantile of sorted values by linear interpolation between order statistics
/// (Hyndman & Fan type 7, the default of R and NumPy). `sorted` must not be empty.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// An average as the console prints it: `12.34 ms`, or `n/a` without samples.
pub fn format_avg_ms(avg: Option<f64>) -> String {
    avg.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2} ms"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_matches_numpy() {
        // numpy.percentile([1..=10], [50, 90, 99]) = 5.5, 9.1, 9.91
        let v: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        let s = Summary::of(&v).expect("non-empty");
        assert_eq!(s.count, 10);
        assert_eq!(s.mean, 5.5);
        assert_eq!(s.median, 5.5);
        assert!((s.p90 - 9.1).abs() < 1e-12);
        assert!((s.p99 - 9.91).abs() < 1e-12);
        assert_eq!((s.min, s.max), (1.0, 10.0));
    }

    #[test]
    fn empty_lists_have_no_mean() {
        assert_eq!(mean(&[]), None);
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(format_avg_ms(None), "n/a");
        assert_eq!(format_avg_ms(Some(1033.516)), "1033.52 ms");
    }
}
