//! Load sweeps: per step of the swept value and per server mode, the load offered and
//! achieved, the server delay, the distortion of the data gaps and the connect → accept
//! wait — and each mode's knee, where it stops keeping up.

use arrivals::Mode;
use arrivals::stats::mean;

use crate::dataset::Dataset;
use crate::fidelity::{self, Compared};
use crate::scenario::{Scenario, SweepKey, typical_ms};

/// Below this fraction of the offered rate, a mode did not keep up.
pub const KNEE_ACHIEVED: f64 = 0.95;
/// Above this multiple of its server-delay p99 at the lightest step, a mode is past its knee.
pub const KNEE_DELAY_FACTOR: f64 = 10.0;

/// The recorded runs of one step of a load sweep.
#[derive(Debug)]
pub struct StepRuns<'a> {
    /// The swept value at this step.
    pub value: f64,
    /// The step's results folder name (`step-KEY-VALUE`).
    pub folder: String,
    /// The finished runs of each mode, in mode order.
    pub sets: Vec<Vec<&'a Dataset>>,
    /// The runs that failed, with why.
    pub failed: Vec<(Mode, String)>,
}

/// What a load sweep's rates count: messages, or connections when the sweep varies the
/// connection arrival process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Messages,
    Connections,
}

impl Unit {
    pub fn of(key: SweepKey) -> Self {
        match key {
            SweepKey::ConnectParam => Self::Connections,
            SweepKey::Workers | SweepKey::Param => Self::Messages,
        }
    }

    pub fn per_second(self) -> &'static str {
        match self {
            Self::Messages => "messages/s",
            Self::Connections => "connections/s",
        }
    }
}

/// The rate `s`'s clients are asked for, per second.
pub fn offered(s: &Scenario, unit: Unit) -> f64 {
    match unit {
        Unit::Messages => s.offered_rate(),
        Unit::Connections => s
            .clients
            .iter()
            .filter_map(|g| g.connect.map(|c| 1e3 / typical_ms(&c)))
            .sum(),
    }
}

/// The rate the clients' own schedule asked of one run, per second: messages over the time
/// from the first `connect` call to the end of the longest schedule (each worker's connect
/// instant plus the intervals it drew), i.e. what a server that kept up would have seen; or
/// connections after the first over the span of the clients' connect calls. `None` with
/// too few events to tell.
pub fn scheduled(d: &Dataset, unit: Unit) -> Option<f64> {
    let (first, last) = d.connect_span()?;
    match unit {
        Unit::Messages => {
            let end = d
                .connects
                .iter()
                .map(|c| {
                    let drawn: f64 = d
                        .sends
                        .iter()
                        .filter(|s| s.group == c.group && s.worker == c.worker)
                        .map(|s| s.interval_ms)
                        .sum();
                    c.connect_unix_ms + drawn
                })
                .reduce(f64::max)?;
            (end > first).then(|| d.sends.len() as f64 * 1e3 / (end - first))
        }
        Unit::Connections => (d.connects.len() > 1 && last > first)
            .then(|| (d.connects.len() - 1) as f64 * 1e3 / (last - first)),
    }
}

/// The rate the server achieved in one run, per second: messages over the time from the
/// clients' first `connect` call to the server's last message, or accepts after the first
/// over the span of its accepts. `None` with too few events to tell.
pub fn achieved(d: &Dataset, unit: Unit) -> Option<f64> {
    let first_accept = d
        .connections
        .iter()
        .map(|c| c.accept_unix_ms - c.accept_ms)
        .reduce(f64::min)?;
    match unit {
        Unit::Messages => {
            let (first, _) = d.connect_span()?;
            let last = first_accept + d.messages.iter().map(|m| m.recv_ms).reduce(f64::max)?;
            (last > first).then(|| d.messages.len() as f64 * 1e3 / (last - first))
        }
        Unit::Connections => {
            let last = d
                .connections
                .iter()
                .map(|c| c.accept_ms)
                .fold(0.0, f64::max);
            (d.connections.len() > 1 && last > 0.0)
                .then(|| (d.connections.len() - 1) as f64 * 1e3 / last)
        }
    }
}

/// One mode at one step.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub value: f64,
    pub mode: Mode,
    /// Finished runs.
    pub runs: usize,
    /// Why a run failed, if one did.
    pub failed: Option<String>,
    /// The scenario's nominal rate at this step (workers / mean interval, or the connection
    /// rate): the order of the steps' loads.
    pub nominal: f64,
    /// The rate the clients' drawn schedule asked for, mean over the runs (the nominal rate
    /// when no run finished).
    pub offered: f64,
    /// Mean over the runs.
    pub achieved: Option<f64>,
    /// Server delay quantiles, the runs' messages pooled (ms).
    pub delay_p50: Option<f64>,
    pub delay_p99: Option<f64>,
    /// Two-sample KS D of the clients' send gaps against the server's data gaps, mean over
    /// the runs.
    pub ks_d: Option<f64>,
    /// Mean connect → accept wait (ms), mean over the runs.
    pub wait_ms: Option<f64>,
}

impl Point {
    /// Achieved over offered.
    pub fn ratio(&self) -> Option<f64> {
        self.achieved
            .filter(|_| self.offered > 0.0)
            .map(|a| a / self.offered)
    }
}

/// Why a mode's knee is where it is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KneeWhy {
    /// It achieved this fraction of the offered rate.
    Achieved(f64),
    /// Its server-delay p99 was this multiple of the lightest step's.
    Delay(f64),
}

/// A mode's knee: the first step, by offered load, past which it does not keep up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Knee {
    pub mode: Mode,
    pub value: f64,
    pub why: KneeWhy,
}

/// The figures of every mode at every step, in step order then mode order.
pub fn points(s: &Scenario, steps: &[StepRuns<'_>], unit: Unit) -> Vec<Point> {
    let mut out = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let at = match &s.load {
            Some(load) => {
                let k = load.values.iter().position(|v| *v == step.value);
                s.at_step(k.unwrap_or(i))
            }
            None => s.clone(),
        };
        for &mode in &s.modes {
            let runs: Vec<&Dataset> = step
                .sets
                .iter()
                .flatten()
                .copied()
                .filter(|d| d.mode == mode)
                .collect();
            let per_run = |f: &dyn Fn(&Dataset) -> Option<f64>| {
                let v: Vec<f64> = runs.iter().filter_map(|d| f(d)).collect();
                mean(&v)
            };
            let delays: Vec<f64> = runs.iter().flat_map(|d| d.server_delays(None)).collect();
            let summary = arrivals::Summary::of(&delays);
            out.push(Point {
                value: step.value,
                mode,
                runs: runs.len(),
                failed: step
                    .failed
                    .iter()
                    .find(|(m, _)| *m == mode)
                    .map(|(_, why)| why.clone()),
                nominal: offered(&at, unit),
                offered: per_run(&|d| scheduled(d, unit)).unwrap_or_else(|| offered(&at, unit)),
                achieved: per_run(&|d| achieved(d, unit)),
                delay_p50: summary.map(|s| s.median),
                delay_p99: summary.map(|s| s.p99),
                ks_d: per_run(&|d| {
                    let c = fidelity::comparisons(d);
                    fidelity::overall(&c, Compared::Data)?
                        .ks
                        .map(|k| k.statistic)
                }),
                wait_ms: per_run(&|d| mean(&d.connect_waits(None))),
            });
        }
    }
    out
}

/// Each mode's knee (modes that keep up at every step have none): in order of offered load,
/// the first step where the mode achieved less than [`KNEE_ACHIEVED`] of the offered rate,
/// or its server-delay p99 exceeded [`KNEE_DELAY_FACTOR`] times its value at the lightest
/// step. A failed step is a knee too (it did not keep up at all).
pub fn knees(points: &[Point], modes: &[Mode]) -> Vec<Knee> {
    let mut out = Vec::new();
    for &mode in modes {
        let mut mine: Vec<&Point> = points.iter().filter(|p| p.mode == mode).collect();
        mine.sort_by(|a, b| a.nominal.total_cmp(&b.nominal));
        let base = mine.iter().find_map(|p| p.delay_p99);
        for p in mine {
            if p.failed.is_some() && p.runs == 0 {
                out.push(Knee {
                    mode,
                    value: p.value,
                    why: KneeWhy::Achieved(0.0),
                });
                break;
            }
            if let Some(r) = p.ratio().filter(|r| *r < KNEE_ACHIEVED) {
                out.push(Knee {
                    mode,
                    value: p.value,
                    why: KneeWhy::Achieved(r),
                });
                break;
            }
            if let (Some(b), Some(p99)) = (base, p.delay_p99)
                && b > 0.0
                && p99 > KNEE_DELAY_FACTOR * b
            {
                out.push(Knee {
                    mode,
                    value: p.value,
                    why: KneeWhy::Delay(p99 / b),
                });
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(value: f64, mode: Mode, offered: f64, achieved: f64, p99: f64) -> Point {
        Point {
            value,
            mode,
            runs: 1,
            failed: None,
            nominal: offered,
            offered,
            achieved: Some(achieved),
            delay_p50: Some(p99 / 2.0),
            delay_p99: Some(p99),
            ks_d: None,
            wait_ms: None,
        }
    }

    #[test]
    fn the_knee_is_the_first_step_that_does_not_keep_up() {
        let points = vec![
            point(1.0, Mode::Thr, 100.0, 100.0, 0.05),
            point(10.0, Mode::Thr, 1000.0, 990.0, 0.2),
            point(100.0, Mode::Thr, 10000.0, 9000.0, 0.3),
            point(1.0, Mode::Iter, 100.0, 100.0, 0.05),
            // Keeps the rate, but its delay grew 20-fold.
            point(10.0, Mode::Iter, 1000.0, 1000.0, 1.0),
            point(1.0, Mode::Async, 100.0, 100.0, 0.05),
            point(10.0, Mode::Async, 1000.0, 1000.0, 0.06),
        ];
        let k = knees(&points, &[Mode::Iter, Mode::Thr, Mode::Async]);
        assert_eq!(k.len(), 2, "{k:?}");
        assert_eq!(
            (k[0].mode, k[0].value, k[0].why),
            (Mode::Iter, 10.0, KneeWhy::Delay(20.0))
        );
        assert_eq!(
            (k[1].mode, k[1].value, k[1].why),
            (Mode::Thr, 100.0, KneeWhy::Achieved(0.9))
        );
    }

    #[test]
    fn the_lightest_step_is_the_least_offered_not_the_first_listed() {
        // A `param` sweep of fixed intervals: the largest interval is the lightest load.
        let points = vec![
            point(0.001, Mode::Thr, 1000.0, 1000.0, 1.0),
            point(0.1, Mode::Thr, 10.0, 10.0, 0.05),
        ];
        let k = knees(&points, &[Mode::Thr]);
        assert_eq!(k[0].value, 0.001);
        assert_eq!(k[0].why, KneeWhy::Delay(20.0));
    }

    #[test]
    fn a_failed_step_is_a_knee() {
        let mut p = point(5.0, Mode::Proc, 500.0, 0.0, 0.0);
        p.runs = 0;
        p.achieved = None;
        p.delay_p99 = None;
        p.failed = Some("the server refused".into());
        let k = knees(
            &[point(1.0, Mode::Proc, 100.0, 100.0, 0.1), p],
            &[Mode::Proc],
        );
        assert_eq!(k[0].value, 5.0);
    }
}
