//! Clocks: a system-wide monotonic clock whose readings compare across processes (so a
//! `proc`-mode child can time a message and the parent can compute its gap), Unix time, and
//! the UTC date that run records quote.

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

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

/// Formats Unix seconds as ISO 8601 UTC (the civil-from-days algorithm of H. Hinnant).
fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
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

    #[test]
    fn utc_dates_match_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        // `date -u -d @1768823258` → 2026-01-19T11:47:38Z (the seed lab's first timestamp).
        assert_eq!(format_utc(1_768_823_258), "2026-01-19T11:47:38Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
