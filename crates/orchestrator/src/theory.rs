//! Predict, then verify: what queueing theory says a run should show, next to what it
//! measured. An iterative server is an M/G/1 queue (Pollaczek–Khinchine mean wait, a
//! fraction ρ of accept gaps equal to the service time), the concurrent modes are M/G/∞
//! (the number of open connections is Poisson with mean λE[S]), Little's law L = λW holds
//! in every mode, and the server's merged data stream is the superposition of the clients'
//! renewal streams. The formulas are `arrivals::queueing`'s; this module decides which
//! apply to a run, and why not when they do not.

use arrivals::Mode;
use arrivals::gof::{self, KsResult};
use arrivals::queueing::{self, Mg1, MgInf, PoissonCheck, RateEstimate, Superposition};

use crate::dataset::Dataset;

/// Below this many connections a run's queueing figures are not estimated.
pub const MIN_CONNECTIONS: usize = 30;
/// An accept that follows the previous connection's close within this many ms is a handoff:
/// the next connection was already waiting.
pub const HANDOFF_TOL_MS: f64 = 1.0;

/// A predicted quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// Iterative: mean wait from `connect` to accept (Pollaczek–Khinchine).
    MeanWait,
    /// Iterative: fraction of accept gaps that equal the previous service (ρ).
    Handoff,
    /// Concurrent: time-average number of open connections (λE[S]).
    MeanOpen,
    /// Concurrent: fraction of time with no connection open (e^(−λE[S])).
    NoneOpen,
    /// Every mode: time-average number of connections in the system, connect to close,
    /// against λW (Little's law).
    Little,
}

impl Quantity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MeanWait => "mean_wait_ms",
            Self::Handoff => "handoff_fraction",
            Self::MeanOpen => "mean_open",
            Self::NoneOpen => "none_open_fraction",
            Self::Little => "little_l",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::MeanWait => "mean wait, connect → accept (ms)",
            Self::Handoff => "accept gaps equal to the service time",
            Self::MeanOpen => "connections open, time average",
            Self::NoneOpen => "time with no connection open",
            Self::Little => "connections in the system (connect → close), time average",
        }
    }

    pub fn formula(self) -> &'static str {
        match self {
            Self::MeanWait => "W_q = λE[S²] / (2(1 − ρ))  (M/G/1, Pollaczek–Khinchine)",
            Self::Handoff => "ρ = λE[S]  (M/G/1)",
            Self::MeanOpen => "λE[S]  (M/G/∞: Poisson)",
            Self::NoneOpen => "e^(−λE[S])  (M/G/∞: Poisson)",
            Self::Little => "L = λW  (Little)",
        }
    }

    /// The quantities that apply to `mode`.
    pub fn of(mode: Mode) -> &'static [Quantity] {
        if mode.is_iterative() {
            &[Self::MeanWait, Self::Handoff, Self::Little]
        } else {
            &[Self::MeanOpen, Self::NoneOpen, Self::Little]
        }
    }
}

/// What the formulas are fed, estimated from one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Inputs {
    pub connections: usize,
    /// From the clients' connect instants.
    pub lambda: Option<RateEstimate>,
    /// Service time (accept → close): mean and second moment.
    pub es_ms: Option<f64>,
    pub es2_ms2: Option<f64>,
    /// λE[S].
    pub rho: Option<f64>,
    /// The connect gaps against an exponential law.
    pub poisson: Option<PoissonCheck>,
}

/// One prediction of a run: its value, the measurement, or why it does not apply.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    pub quantity: Quantity,
    pub predicted: Option<f64>,
    pub measured: Option<f64>,
    /// Why the prediction does not apply (then `predicted` is `None`).
    pub not_applicable: Option<String>,
}

/// The inputs and the predictions of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Theory {
    pub inputs: Inputs,
    pub predictions: Vec<Prediction>,
}

/// Each matched connection's (connect, accept, close) instants on the wall clock (ms since
/// the epoch); close is the server's stop for a connection that never closed.
fn connection_instants(d: &Dataset) -> Vec<(f64, f64, f64)> {
    d.connections
        .iter()
        .filter_map(|c| {
            let close = c.accept_unix_ms + c.lifetime_ms(d.end_ms);
            Some((d.connect_of(c)?.connect_unix_ms, c.accept_unix_ms, close))
        })
        .collect()
}

/// The inputs of `d`.
pub fn inputs(d: &Dataset) -> Inputs {
    let connects: Vec<f64> = d.connects.iter().map(|c| c.connect_unix_ms).collect();
    let lambda = queueing::rate_estimate(&connects);
    let service = d.service_times(None);
    let es_ms = arrivals::stats::mean(&service);
    let squares: Vec<f64> = service.iter().map(|s| s * s).collect();
    let es2_ms2 = arrivals::stats::mean(&squares);
    let rho = match (lambda, es_ms) {
        (Some(l), Some(s)) => Some(l.per_ms * s),
        _ => None,
    };
    Inputs {
        connections: d.connections.len(),
        lambda,
        es_ms,
        es2_ms2,
        rho,
        poisson: queueing::poisson_check(&d.connect_gaps(None)),
    }
}

/// The predictions of `d`, each with its measurement, or why it does not apply.
pub fn theory(d: &Dataset) -> Theory {
    let inputs = inputs(d);
    let instants = connection_instants(d);
    let first = instants.iter().map(|i| i.0).reduce(f64::min);
    let last = instants.iter().map(|i| i.0).reduce(f64::max);
    let gone = instants.iter().map(|i| i.2).reduce(f64::max);
    // Occupancy over the arrivals: from the first connect call to the last; Little's law
    // over the whole run, from the first connect call to the last close, where it holds
    // without edge effects.
    let windows = Windows {
        arrivals: first.zip(last),
        run: first.zip(gone),
    };
    let mut predictions = Vec::new();
    for &q in Quantity::of(d.mode) {
        let measured = measure(q, &instants, windows);
        let why = not_applicable(q, &inputs);
        let predicted = if why.is_none() {
            predict(q, &inputs, &instants, windows)
        } else {
            None
        };
        predictions.push(Prediction {
            quantity: q,
            predicted,
            measured,
            not_applicable: why,
        });
    }
    Theory {
        inputs,
        predictions,
    }
}

/// Why `q` does not apply to a run with `inputs`, if it does not.
fn not_applicable(q: Quantity, i: &Inputs) -> Option<String> {
    if i.connections < MIN_CONNECTIONS {
        return Some(format!(
            "{} connections: fewer than {MIN_CONNECTIONS} to estimate λ and E[S]",
            i.connections
        ));
    }
    if q == Quantity::Little {
        // Little's law assumes nothing about the arrivals or the service.
        return None;
    }
    match i.poisson {
        None => return Some("no connect gaps to test for Poisson arrivals".into()),
        Some(p) if !p.plausible() => {
            return Some(format!(
                "the connections do not arrive as a Poisson process (KS D = {:.3} of the \
                 connect gaps against an exponential law, rejected at 5 %)",
                p.ks.statistic
            ));
        }
        Some(_) => {}
    }
    if matches!(q, Quantity::MeanWait | Quantity::Handoff)
        && let Some(rho) = i.rho.filter(|r| *r >= 1.0)
    {
        return Some(format!(
            "ρ = {rho:.2} ≥ 1: the queue grows without bound, there is no steady state"
        ));
    }
    None
}

/// The observation windows of a run (wall clock, ms).
#[derive(Clone, Copy, Debug)]
struct Windows {
    arrivals: Option<(f64, f64)>,
    run: Option<(f64, f64)>,
}

fn predict(q: Quantity, i: &Inputs, instants: &[(f64, f64, f64)], w: Windows) -> Option<f64> {
    let lambda = i.lambda?.per_ms;
    let es = i.es_ms?;
    match q {
        Quantity::MeanWait => Some(Mg1::new(lambda, es, i.es2_ms2?)?.mean_wait_ms()),
        Quantity::Handoff => i.rho,
        Quantity::MeanOpen => Some(MgInf::new(lambda, es)?.mean()),
        Quantity::NoneOpen => Some(MgInf::new(lambda, es)?.pmf(0)),
        Quantity::Little => {
            let system: Vec<(f64, f64)> = instants.iter().map(|c| (c.0, c.2)).collect();
            queueing::little(&system, w.run?).map(|l| l.lambda_w())
        }
    }
}

fn measure(q: Quantity, instants: &[(f64, f64, f64)], w: Windows) -> Option<f64> {
    let service: Vec<(f64, f64)> = instants.iter().map(|c| (c.1, c.2)).collect();
    match q {
        Quantity::MeanWait => {
            let waits: Vec<f64> = instants.iter().map(|c| c.1 - c.0).collect();
            arrivals::stats::mean(&waits)
        }
        Quantity::Handoff => queueing::handoffs(&service, HANDOFF_TOL_MS).map(|h| h.fraction),
        Quantity::MeanOpen => queueing::occupancy(&service, w.arrivals?).map(|o| o.mean),
        Quantity::NoneOpen => queueing::occupancy(&service, w.arrivals?)
            .and_then(|o| o.time_fraction.first().copied()),
        Quantity::Little => {
            let system: Vec<(f64, f64)> = instants.iter().map(|c| (c.0, c.2)).collect();
            queueing::little(&system, w.run?).map(|l| l.l)
        }
    }
}

/// A prediction across the runs of one mode: the mean prediction, the measured mean and its
/// 95 % confidence half width, and the verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    pub quantity: Quantity,
    pub runs: usize,
    pub predicted: Option<f64>,
    pub measured: Option<f64>,
    pub ci95: Option<f64>,
    /// Why it does not apply (in the first run that says so).
    pub not_applicable: Option<String>,
}

impl Verified {
    /// `inside`, `outside`, or `no interval (one run)`; empty when it does not apply.
    pub fn verdict(&self) -> &'static str {
        match (self.predicted, self.measured, self.ci95) {
            (Some(p), Some(m), Some(h)) if (p - m).abs() <= h => "inside",
            (Some(_), Some(_), Some(_)) => "outside",
            (Some(_), Some(_), None) => "no interval (one run)",
            _ => "",
        }
    }
}

/// The predictions of `runs` (one mode, its repeats) side by side: a quantity applies when
/// it applies to every run.
pub fn verify(runs: &[&Dataset]) -> Vec<Verified> {
    let theories: Vec<Theory> = runs.iter().map(|d| theory(d)).collect();
    let Some(first) = theories.first() else {
        return Vec::new();
    };
    first
        .predictions
        .iter()
        .map(|p0| {
            let q = p0.quantity;
            let of = |t: &Theory| t.predictions.iter().find(|p| p.quantity == q).cloned();
            let all: Vec<Prediction> = theories.iter().filter_map(of).collect();
            let why = all.iter().find_map(|p| p.not_applicable.clone());
            let measured: Vec<f64> = all.iter().filter_map(|p| p.measured).collect();
            let (m, h) = gof::mean_ci95(&measured).map_or((None, None), |(m, h)| (Some(m), h));
            let predicted: Vec<f64> = all.iter().filter_map(|p| p.predicted).collect();
            Verified {
                quantity: q,
                runs: all.len(),
                predicted: if why.is_none() {
                    arrivals::stats::mean(&predicted)
                } else {
                    None
                },
                measured: m,
                ci95: h,
                not_applicable: why,
            }
        })
        .collect()
}

/// The server's merged data stream of a run: every message in time order (in the window
/// where every connection's stream is active: see [`stationary_window`]), its gaps against
/// an exponential law of the clients' total rate and, where the clients' streams are
/// continuous renewal processes, against the superposition law of finitely many streams.
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    /// The gaps between the kernel's arrival instants (when every message has one), else
    /// between the server's read instants.
    pub gaps: Vec<f64>,
    pub on_kernel_clock: bool,
    /// The gaps between the server's read instants against the same exponential law: what
    /// the server's reading added to the merged stream.
    pub read_vs_exponential: Option<KsResult>,
    /// The configured total rate, per ms.
    pub rate_per_ms: Option<f64>,
    pub vs_exponential: Option<KsResult>,
    pub vs_superposition: Option<KsResult>,
    /// The KS distance between the superposition law and the exponential: how far from
    /// Poisson the merged stream should be.
    pub predicted_d: Option<f64>,
}

/// The superposition of `d`'s client groups: each group's workers as i.i.d. streams of its
/// interval law. `None` when a law has no finite mean.
pub fn superposition(d: &Dataset) -> Option<Superposition> {
    let streams: Vec<(arrivals::Distribution, usize)> = d
        .scenario
        .clients
        .iter()
        .map(|g| (g.dist, g.workers as usize))
        .collect();
    Superposition::new(&streams)
}

/// Messages of a connection that come before its stream counts as stationary: clients that
/// start together are in phase at first, and reach random phases after a few gaps.
pub const WARM_UP_MESSAGES: usize = 3;

/// The window in which every connection's stream is active and past its warm-up: from the
/// latest [`WARM_UP_MESSAGES`]-th message of a connection to the earliest last message
/// (ms since the first accept). `None` when a connection has no message, or the streams
/// never overlap.
pub fn stationary_window(d: &Dataset) -> Option<(f64, f64)> {
    let mut start = f64::NEG_INFINITY;
    let mut end = f64::INFINITY;
    for c in &d.connections {
        let mut times: Vec<f64> = d
            .messages
            .iter()
            .filter(|m| m.conn == c.conn)
            .map(|m| m.recv_ms)
            .collect();
        times.sort_by(f64::total_cmp);
        let last = *times.last()?;
        start = start.max(times[(WARM_UP_MESSAGES - 1).min(times.len() - 1)]);
        end = end.min(last);
    }
    (end > start).then_some((start, end))
}

/// The merged stream of `d` (see [`Merged`]), in its [`stationary_window`].
pub fn merged(d: &Dataset) -> Merged {
    let window = stationary_window(d);
    let inside: Vec<&crate::dataset::Message> = d
        .messages
        .iter()
        .filter(|m| window.is_some_and(|(a, b)| (a..=b).contains(&m.recv_ms)))
        .collect();
    let read: Vec<f64> = inside.iter().map(|m| m.recv_ms).collect();
    let kernel: Option<Vec<f64>> = inside.iter().map(|m| m.kernel_unix_ms).collect();
    let on_kernel_clock = kernel.as_ref().is_some_and(|k| !k.is_empty());
    let gaps = crate::dataset::gaps_between(kernel.as_deref().unwrap_or(&read));
    let read_gaps = crate::dataset::gaps_between(&read);
    let sup = superposition(d);
    let rate = sup.as_ref().map(Superposition::rate_per_ms);
    let sorted = gof::sorted(&gaps);
    let vs_exponential =
        rate.and_then(|r| gof::ks_one_sample_sorted(&sorted, |x| 1.0 - (-r * x.max(0.0)).exp()));
    let continuous = sup.as_ref().filter(|s| s.is_continuous());
    let vs_superposition =
        continuous.and_then(|s| gof::ks_one_sample_sorted(&sorted, |x| s.cdf_ms(x)));
    let predicted_d = continuous.zip(rate).map(|(s, r)| law_distance(s, r));
    let read_sorted = gof::sorted(&read_gaps);
    let read_vs_exponential = rate
        .and_then(|r| gof::ks_one_sample_sorted(&read_sorted, |x| 1.0 - (-r * x.max(0.0)).exp()));
    Merged {
        on_kernel_clock,
        read_vs_exponential,
        gaps,
        rate_per_ms: rate,
        vs_exponential,
        vs_superposition,
        predicted_d,
    }
}

/// sup_y |F_N(y) − (1 − e^(−ry))| on a fine grid up to twenty mean gaps.
pub fn law_distance(s: &Superposition, rate_per_ms: f64) -> f64 {
    let top = 20.0 / rate_per_ms;
    (0..=20_000)
        .map(|i| {
            let y = top * f64::from(i) / 20_000.0;
            (s.cdf_ms(y) - (1.0 - (-rate_per_ms * y).exp())).abs()
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::fixtures;

    #[test]
    fn a_small_run_says_why_the_queueing_predictions_do_not_apply() {
        let d = fixtures::iterative();
        let t = theory(&d);
        assert_eq!(t.inputs.connections, 3);
        let quantities: Vec<Quantity> = t.predictions.iter().map(|p| p.quantity).collect();
        assert_eq!(
            quantities,
            [Quantity::MeanWait, Quantity::Handoff, Quantity::Little]
        );
        for p in &t.predictions {
            assert_eq!(p.predicted, None);
            assert!(
                p.not_applicable
                    .as_deref()
                    .is_some_and(|w| w.contains("fewer than 30")),
                "{p:?}"
            );
        }
        // The iterative fixture: each accept follows the previous close within 1 ms.
        let handoff = &t.predictions[1];
        assert!(handoff.measured.is_some(), "{handoff:?}");
    }

    #[test]
    fn a_verdict_needs_an_interval() {
        let v = |p, m, h| Verified {
            quantity: Quantity::MeanWait,
            runs: 3,
            predicted: Some(p),
            measured: Some(m),
            ci95: h,
            not_applicable: None,
        };
        assert_eq!(v(10.0, 11.0, Some(2.0)).verdict(), "inside");
        assert_eq!(v(10.0, 13.0, Some(2.0)).verdict(), "outside");
        assert_eq!(v(10.0, 13.0, None).verdict(), "no interval (one run)");
    }

    #[test]
    fn poisson_clients_merge_to_a_law_at_distance_zero_from_the_exponential() {
        // Exponential streams superpose to an exponential exactly (Cox & Isham, Point
        // Processes, §4.5): the predicted distance is numerical noise.
        let e = arrivals::Distribution::new(arrivals::DistKind::Exponential, 10.0, None)
            .expect("valid");
        let s = Superposition::iid(e, 4).expect("superposition");
        assert!(law_distance(&s, s.rate_per_ms()) < 1e-9);
        // Uniform streams: far from exponential for one stream, closer for many.
        let u = arrivals::Distribution::new(arrivals::DistKind::Uniform, 0.1, None).expect("valid");
        let d1 = law_distance(&Superposition::iid(u, 1).expect("one"), 0.02);
        let s8 = Superposition::iid(u, 8).expect("eight");
        let d8 = law_distance(&s8, s8.rate_per_ms());
        assert!(d1 > 0.1 && d8 < d1 / 4.0, "{d1} {d8}");
    }
}
