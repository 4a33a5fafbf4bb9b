//! Times the goodness-of-fit pipeline on a million exponential gaps: the summary, one-sample
//! KS and Anderson–Darling with p-values, and a two-sample KS of a million against a
//! million (see [`arrivals::benchmark`]). Run with `cargo bench -p arrivals --bench stats`;
//! `just bench` reports the same steps among the rest of the suite.

use std::time::Duration;

use arrivals::benchmark::gof_pipeline;

const N: usize = 1_000_000;

fn main() {
    let steps = match gof_pipeline(N, 1) {
        Ok(steps) => steps,
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::exit(1);
        }
    };
    println!("goodness of fit on {N} exponential gaps (release build)");
    println!("{:<38} {:>10}  result", "step", "ms");
    for s in &steps {
        println!(
            "{:<38} {:>10.1}  {}",
            s.name,
            s.took.as_secs_f64() * 1e3,
            s.result
        );
    }
    let total: Duration = steps.iter().map(|s| s.took).sum();
    println!("{:<38} {:>10.1}", "total", total.as_secs_f64() * 1e3);
}
