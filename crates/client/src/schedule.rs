//! Schedules: the absolute send deadlines of one worker, and the connect instants of all
//! workers. Deadlines are cumulative sums of drawn intervals, so sleeping until each one
//! lets no drift accumulate however late a single send is.

use arrivals::Distribution;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::Options;

/// The event schedule of one worker: for each event j, the drawn interval X_j and the
/// deadline t_j = t_(j-1) + X_j, both in milliseconds from the worker's start.
#[derive(Debug)]
pub struct Schedule {
    dist: Distribution,
    rng: StdRng,
    deadline_ms: f64,
}

impl Schedule {
    /// A reproducible schedule: the same `seed` gives the same intervals.
    pub fn new(dist: Distribution, seed: u64) -> Self {
        Self {
            dist,
            rng: StdRng::seed_from_u64(seed),
            deadline_ms: 0.0,
        }
    }
}

impl Iterator for Schedule {
    /// `(interval_ms, deadline_ms)`.
    type Item = (f64, f64);

    fn next(&mut self) -> Option<Self::Item> {
        let interval = self.dist.sample_ms(&mut self.rng);
        self.deadline_ms += interval;
        Some((interval, self.deadline_ms))
    }
}

/// Milliseconds from the client's start at which each worker connects: all 0 (the lab's
/// behaviour) unless a connection process is given, in which case worker 1 connects at once
/// and each next one a drawn interval after the previous one.
pub(crate) fn connect_offsets_ms(opts: &Options) -> Vec<f64> {
    let n = opts.workers as usize;
    match opts.connect_dist {
        None => vec![0.0; n],
        Some(dist) => std::iter::once(0.0)
            .chain(Schedule::new(dist, arrivals::seed::derive(opts.seed, 0)).map(|(_, at)| at))
            .take(n)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrivals::DistKind;

    #[test]
    fn deadlines_are_cumulative_and_reproducible() {
        let dist = Distribution::new(DistKind::Exponential, 10.0, None).expect("valid");
        let a: Vec<_> = Schedule::new(dist, 5).take(50).collect();
        let b: Vec<_> = Schedule::new(dist, 5).take(50).collect();
        assert_eq!(a, b);
        let mut sum = 0.0;
        for (interval, deadline) in &a {
            sum += interval;
            assert!((deadline - sum).abs() < 1e-9);
        }
        let c: Vec<_> = Schedule::new(dist, 6).take(50).collect();
        assert_ne!(a, c);
    }

    #[test]
    fn deterministic_deadlines_are_exact_multiples() {
        let dist = Distribution::new(DistKind::Deterministic, 0.005, None).expect("valid");
        let deadlines: Vec<f64> = Schedule::new(dist, 1).take(4).map(|(_, d)| d).collect();
        assert_eq!(deadlines, vec![5.0, 10.0, 15.0, 20.0]);
    }
}
