//! The goodness-of-fit pipeline timed step by step on exponential gaps: the summary, the one
//! sort, one-sample KS and Anderson–Darling with p-values, and a two-sample KS. Shared by
//! `cargo bench -p arrivals --bench stats` and the `bench` suite's statistics rows.

use std::hint::black_box;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::distribution::{DistKind, Distribution, DistributionError};
use crate::gof;
use crate::stats::Summary;

/// One timed step of the pipeline and what it computed.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub name: String,
    pub took: Duration,
    pub result: String,
}

/// Draws two samples of `n` exponential gaps (rate 10/s, a mean of 100 ms) from `seed`
/// and times each step of the pipeline on them, in order.
pub fn gof_pipeline(n: usize, seed: u64) -> Result<Vec<Step>, DistributionError> {
    let dist = Distribution::new(DistKind::Exponential, 10.0, None)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let gaps: Vec<f64> = (0..n).map(|_| dist.sample_ms(&mut rng)).collect();
    let other: Vec<f64> = (0..n).map(|_| dist.sample_ms(&mut rng)).collect();
    let cdf = |x: f64| dist.cdf_ms(x);
    let empty = || "empty".to_owned();
    let mut steps = Vec::new();
    let mut step = |name: &str, t: Instant, result: String| {
        steps.push(Step {
            name: name.to_owned(),
            took: t.elapsed(),
            result,
        });
    };

    let t = Instant::now();
    let summary = black_box(Summary::of(black_box(&gaps)));
    step(
        "Summary::of",
        t,
        summary.map_or_else(empty, |s| format!("mean {:.3} ms", s.mean)),
    );

    let t = Instant::now();
    let sorted = black_box(gof::sorted(black_box(&gaps)));
    step(
        "gof::sorted (the one sort)",
        t,
        format!("n {}", sorted.len()),
    );

    let t = Instant::now();
    let ks = black_box(gof::ks_one_sample_sorted(&sorted, cdf));
    let ks_text =
        |r: gof::KsResult| format!("D {:.5}, p {:.3} ({:?})", r.statistic, r.p_value, r.method);
    step("KS one-sample + p", t, ks.map_or_else(empty, ks_text));

    let t = Instant::now();
    let ad = black_box(gof::anderson_darling_sorted(&sorted, cdf));
    let ad_text = |r: gof::AdResult| format!("A² {:.4}, p {:.3}", r.statistic, r.p_value);
    step("AD + p", t, ad.map_or_else(empty, ad_text));

    let t = Instant::now();
    let two = black_box(gof::ks_two_sample_sorted(
        &sorted,
        &gof::sorted(black_box(&other)),
    ));
    let two_text = |r: gof::KsTwoResult| format!("D {:.5}, p {:.3}", r.statistic, r.p_value);
    step(
        "KS two-sample n vs n (sorts 2nd)",
        t,
        two.map_or_else(empty, two_text),
    );
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_runs_on_a_small_sample() {
        let steps = gof_pipeline(1000, 1).expect("a valid distribution");
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), 5, "{names:?}");
        assert!(steps.iter().all(|s| !s.result.contains("empty")));
    }
}
