//! Clocks: a system-wide monotonic clock whose readings compare across processes (so a
//! `proc`-mode child can time a message and the parent can compute its gap), and Unix time.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A reading of `CLOCK_MONOTONIC` in nanoseconds. Unlike `std::time::Instant` it can be sent
/// to another process on the same host and compared there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MonoNs(pub u64);

impl MonoNs {
    /// The current reading of the monotonic clock.
    pub fn now() -> Self {
        let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        // The monotonic clock counts from boot: never negative.
        Self(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
    }

    /// Milliseconds elapsed from `earlier` to `self`, fractional; 0 if `earlier` is later.
    pub fn ms_since(self, earlier: MonoNs) -> f64 {
        self.0.saturating_sub(earlier.0) as f64 / 1e6
    }
}

/// Wall-clock milliseconds since the Unix epoch, fractional.
pub fn unix_ms_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1e3)
        .unwrap_or(0.0)
}

/// A process's own time origin: event logs report `t_ms` as milliseconds since it.
#[derive(Clone, Copy, Debug)]
pub struct ProcessClock {
    start: MonoNs,
}

impl ProcessClock {
    /// Starts the clock at the current instant.
    pub fn start() -> Self {
        Self {
            start: MonoNs::now(),
        }
    }

    /// Milliseconds from the clock's start to `at`.
    pub fn t_ms(&self, at: MonoNs) -> f64 {
        at.ms_since(self.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_readings_do_not_go_back() {
        let a = MonoNs::now();
        let b = MonoNs::now();
        assert!(b >= a);
        assert_eq!(a.ms_since(b), 0.0);
        assert_eq!(MonoNs(3_500_000).ms_since(MonoNs(1_000_000)), 2.5);
    }
}
