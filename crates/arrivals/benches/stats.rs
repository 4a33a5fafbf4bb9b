//! Times the goodness-of-fit pipeline on a million exponential gaps: the summary, one-sample
//! KS and Anderson–Darling with p-values, and a two-sample KS of a million against a
//! million. Run with `cargo bench -p arrivals --bench stats`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use arrivals::gof;
use arrivals::{DistKind, Distribution, Summary};
use rand::SeedableRng;
use rand::rngs::StdRng;

const N: usize = 1_000_000;

fn main() {
    // Rate 10/s: a mean gap of 100 ms.
    let dist = match Distribution::new(DistKind::Exponential, 10.0, None) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::exit(1);
        }
    };
    let mut rng = StdRng::seed_from_u64(1);
    let gaps: Vec<f64> = (0..N).map(|_| dist.sample_ms(&mut rng)).collect();
    let other: Vec<f64> = (0..N).map(|_| dist.sample_ms(&mut rng)).collect();
    let cdf = |x: f64| dist.cdf_ms(x);

    let mut rows: Vec<(&str, Duration, String)> = Vec::new();
    let start = Instant::now();

    let t = Instant::now();
    let summary = black_box(Summary::of(black_box(&gaps)));
    rows.push((
        "Summary::of",
        t.elapsed(),
        summary.map_or_else(|| "empty".into(), |s| format!("mean {:.3} ms", s.mean)),
    ));

    let t = Instant::now();
    let sorted = black_box(gof::sorted(black_box(&gaps)));
    rows.push((
        "gof::sorted (the one sort)",
        t.elapsed(),
        format!("n {}", sorted.len()),
    ));

    let t = Instant::now();
    let ks = black_box(gof::ks_one_sample_sorted(&sorted, cdf));
    rows.push((
        "KS one-sample + p",
        t.elapsed(),
        ks.map_or_else(
            || "empty".into(),
            |r| format!("D {:.5}, p {:.3} ({:?})", r.statistic, r.p_value, r.method),
        ),
    ));

    let t = Instant::now();
    let ad = black_box(gof::anderson_darling_sorted(&sorted, cdf));
    rows.push((
        "AD + p",
        t.elapsed(),
        ad.map_or_else(
            || "empty".into(),
            |r| format!("A² {:.4}, p {:.3}", r.statistic, r.p_value),
        ),
    ));

    let t = Instant::now();
    let two = black_box(gof::ks_two_sample_sorted(
        &sorted,
        &gof::sorted(black_box(&other)),
    ));
    rows.push((
        "KS two-sample 1e6 vs 1e6 (sorts 2nd)",
        t.elapsed(),
        two.map_or_else(
            || "empty".into(),
            |r| format!("D {:.5}, p {:.3}", r.statistic, r.p_value),
        ),
    ));

    let total = start.elapsed();
    println!("goodness of fit on {N} exponential gaps (release build)");
    println!("{:<38} {:>10}  result", "step", "ms");
    for (name, took, result) in &rows {
        println!("{name:<38} {:>10.1}  {result}", took.as_secs_f64() * 1e3);
    }
    println!("{:<38} {:>10.1}", "total", total.as_secs_f64() * 1e3);
}
