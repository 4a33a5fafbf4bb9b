//! Queueing theory as a test oracle: what each server mode should show given its arrival and
//! service distributions (M/G/1 for the iterative server, M/G/∞ for the others, the merged
//! gaps of N client streams), and the pure measurements of a log to compare against it.
//!
//! Units follow the rest of the crate: instants and durations in milliseconds, rates per
//! millisecond. [`Distribution`] keeps the CLI's parameters: uniform and fixed take the
//! interval T in seconds (uniform on [0, T], mean T/2), exponential a rate per second,
//! Pareto its minimum x_m and log-normal its mean. Every function is pure; bad input gives
//! `None` rather than a panic (CDFs, like [`Distribution::cdf_ms`], map NaN to NaN, which
//! [`crate::gof`] refuses).
//!
//! References cited below:
//! * Kleinrock, L. (1975), *Queueing Systems, Vol. 1: Theory*, Wiley — ch. 2 (Little's
//!   law), ch. 5 (M/G/1, Pollaczek–Khinchine).
//! * Harchol-Balter, M. (2013), *Performance Modeling and Design of Computer Systems*,
//!   Cambridge — ch. 6 (Little's law), ch. 13 (PASTA), ch. 23 (M/G/1, the inspection
//!   paradox and the excess of a renewal interval).
//! * Cox, D. R. (1962), *Renewal Theory*, Methuen — the equilibrium renewal process and the
//!   superposition of renewal processes; Cox, D. R. & Isham, V. (1980), *Point Processes*,
//!   Chapman & Hall — Palm distributions and superposition.
//! * Stephens, M. A. (1974), "EDF statistics for goodness of fit and some comparisons",
//!   JASA 69(347), 730–737; Lilliefors, H. W. (1969), "On the Kolmogorov–Smirnov test for
//!   the exponential distribution with mean unknown", JASA 64(325), 387–389.

use statrs::distribution::{Discrete, DiscreteCDF, Poisson};
use statrs::function::gamma::checked_gamma_lr;

use crate::distribution::{DistKind, Distribution, normal_cdf};
use crate::gof::{KsResult, ks_one_sample};

/// Little's law L = λW: the mean number in a system from its arrival rate (per ms) and the
/// mean time a customer spends in it (ms). It holds for every mode and every discipline
/// (Kleinrock ch. 2; Harchol-Balter ch. 6); see [`little`] for the measured side.
pub fn little_l(lambda_per_ms: f64, mean_time_ms: f64) -> f64 {
    lambda_per_ms * mean_time_ms
}

/// E\[S²\] in ms² of a service (or gap) distribution; `None` when it is infinite (Pareto with
/// shape α ≤ 2). Uniform on [0, T]: T²/3; exponential: 2·mean²; Pareto: α·x_m²/(α − 2);
/// log-normal with mean m and log-scale σ: m²·e^{σ²}.
pub fn second_moment_ms2(d: &Distribution) -> Option<f64> {
    let ms = d.param() * 1e3;
    let shape = d.shape().or(d.kind().default_shape()).unwrap_or(1.0);
    match d.kind() {
        DistKind::Deterministic => Some(ms * ms),
        DistKind::Uniform => Some(ms * ms / 3.0),
        DistKind::Exponential => d.mean_ms().map(|m| 2.0 * m * m),
        DistKind::Pareto => (shape > 2.0).then(|| shape * ms * ms / (shape - 2.0)),
        DistKind::LogNormal => Some(ms * ms * (shape * shape).exp()),
    }
}

/// The M/G/1 queue of the iterative server: Poisson connection arrivals at rate λ, one
/// connection served at a time, service times S (connection lifetimes) i.i.d. with finite
/// E\[S²\], and ρ = λE\[S\] < 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mg1 {
    lambda: f64,
    mean_s: f64,
    second_s: f64,
}

impl Mg1 {
    /// The queue with arrival rate `lambda_per_ms`, E\[S\] = `mean_service_ms` and
    /// E\[S²\] = `second_moment_ms2`; `None` unless all are finite and positive,
    /// E\[S²\] ≥ E\[S\]² and ρ < 1 (no steady state otherwise).
    pub fn new(lambda_per_ms: f64, mean_service_ms: f64, second_moment_ms2: f64) -> Option<Self> {
        let finite = [lambda_per_ms, mean_service_ms, second_moment_ms2]
            .iter()
            .all(|x| x.is_finite() && *x > 0.0);
        // E[S²] ≥ E[S]² by Jensen; the slack lets a deterministic service through rounding.
        let consistent = second_moment_ms2 >= mean_service_ms * mean_service_ms * (1.0 - 1e-12);
        (finite && consistent && lambda_per_ms * mean_service_ms < 1.0).then_some(Self {
            lambda: lambda_per_ms,
            mean_s: mean_service_ms,
            second_s: second_moment_ms2,
        })
    }

    /// The queue whose service times follow `service`; `None` when E\[S²\] is infinite or
    /// ρ ≥ 1.
    pub fn with_service(lambda_per_ms: f64, service: &Distribution) -> Option<Self> {
        Self::new(
            lambda_per_ms,
            service.mean_ms()?,
            second_moment_ms2(service)?,
        )
    }

    /// The utilisation ρ = λE\[S\]: the fraction of time the server is busy.
    pub fn rho(&self) -> f64 {
        self.lambda * self.mean_s
    }

    /// Pollaczek–Khinchine mean wait in the queue, W_q = λE\[S²\] / (2(1 − ρ)) ms (Kleinrock
    /// ch. 5; Harchol-Balter ch. 23). For exponential service it is ρ/(μ − λ) (M/M/1), for
    /// a fixed one ρ/(2μ(1 − ρ)) (M/D/1).
    pub fn mean_wait_ms(&self) -> f64 {
        self.lambda * self.second_s / (2.0 * (1.0 - self.rho()))
    }

    /// Mean time from arrival (connect) to departure (close), W = W_q + E\[S\] ms.
    pub fn mean_sojourn_ms(&self) -> f64 {
        self.mean_wait_ms() + self.mean_s
    }

    /// Mean number waiting (not yet accepted), L_q = λW_q.
    pub fn mean_queue_len(&self) -> f64 {
        little_l(self.lambda, self.mean_wait_ms())
    }

    /// Mean number in the system (waiting or served), L = λW.
    pub fn mean_in_system(&self) -> f64 {
        little_l(self.lambda, self.mean_sojourn_ms())
    }

    /// The predicted fraction of accept gaps that equal the previous connection's service
    /// time: ρ. Compare with [`handoffs`].
    ///
    /// The next accept follows a close at once exactly when that departure leaves the system
    /// non-empty. The number in system moves in unit steps, so departures leaving k behind
    /// and arrivals finding k alternate and have the same long-run frequency (Kleinrock
    /// ch. 5: the departure and arrival distributions of M/G/1 coincide); Poisson arrivals
    /// see time averages (PASTA, Wolff 1982; Harchol-Balter ch. 13); and the time-average
    /// probability of a non-empty system is the server's utilisation, ρ (Little's law on the
    /// server alone). So P(departure leaves the system non-empty) = ρ. Otherwise the gap is
    /// the service time plus an idle period, Exp(λ) by memorylessness.
    pub fn handoff_fraction(&self) -> f64 {
        self.rho()
    }
}

/// The M/G/∞ system of the thread, process and async servers: Poisson arrivals at rate λ,
/// every connection served at once. In steady state the number open is Poisson with mean
/// λE\[S\] whatever the service distribution (only its mean matters; see e.g. Ross,
/// *Stochastic Processes*, 2nd ed., ch. 2, the infinite-server Poisson queue).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MgInf {
    mean: f64,
}

impl MgInf {
    /// The system with arrival rate `lambda_per_ms` and mean service `mean_service_ms`;
    /// `None` unless both are finite and not negative.
    pub fn new(lambda_per_ms: f64, mean_service_ms: f64) -> Option<Self> {
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        (ok(lambda_per_ms) && ok(mean_service_ms)).then_some(Self {
            mean: lambda_per_ms * mean_service_ms,
        })
    }

    /// The system whose service times follow `service`; `None` for an infinite mean.
    pub fn with_service(lambda_per_ms: f64, service: &Distribution) -> Option<Self> {
        Self::new(lambda_per_ms, service.mean_ms()?)
    }

    /// The mean number of open connections, λE\[S\] (also the L of Little's law).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// P(N = k), the Poisson(λE\[S\]) mass at `k`.
    pub fn pmf(&self, k: u64) -> f64 {
        match Poisson::new(self.mean) {
            Ok(p) => p.pmf(k),
            // Mean 0: nobody is ever open.
            Err(_) => f64::from(u8::from(k == 0)),
        }
    }

    /// P(N ≤ k).
    pub fn cdf(&self, k: u64) -> f64 {
        Poisson::new(self.mean).map_or(1.0, |p| p.cdf(k))
    }

    /// Total variation distance ½ Σ_k |f_k − P(N = k)| between measured time fractions
    /// (`fractions[k]`, e.g. [`Occupancy::time_fraction`]) and the Poisson law; the Poisson
    /// mass beyond the last fraction counts in full. 0 is a perfect match, 1 disjoint.
    pub fn total_variation(&self, fractions: &[f64]) -> f64 {
        let mut sum = 0.0;
        for (k, f) in (0u64..).zip(fractions) {
            sum += (f - self.pmf(k)).abs();
        }
        let tail = match fractions.len() {
            0 => 1.0,
            len => 1.0 - self.cdf(len as u64 - 1),
        };
        0.5 * (sum + tail.max(0.0))
    }
}

/// P(R > y) for the equilibrium (stationary forward recurrence) time R of a renewal process
/// with gaps `d`: Ḡ(y) = (1/μ) ∫_y^∞ (1 − F(u)) du, the time from an arbitrary instant to the
/// next event (Cox 1962; Harchol-Balter ch. 23, "excess"). In closed form for every family:
///
/// * fixed T: 1 − y/T on [0, T];
/// * uniform on [0, T]: (1 − y/T)² on [0, T];
/// * exponential: e^{−y/μ} (memoryless);
/// * Pareto (x_m, α > 1): 1 − y(α − 1)/(α·x_m) below x_m, (x_m/y)^{α−1}/α above;
/// * log-normal (mean m, σ): Φ((ln(m/y) + σ²/2)/σ) − (y/m)·Φ((ln(m/y) − σ²/2)/σ), from
///   ∫_y^∞ (1 − F) = E[(X − y)⁺].
///
/// `None` when the mean gap is zero or infinite (Pareto with α ≤ 1), or `y` is NaN.
pub fn equilibrium_survival_ms(d: &Distribution, y: f64) -> Option<f64> {
    let mean = d.mean_ms().filter(|m| *m > 0.0)?;
    if y.is_nan() {
        return None;
    }
    if y <= 0.0 {
        return Some(1.0);
    }
    let ms = d.param() * 1e3;
    let shape = d.shape().or(d.kind().default_shape()).unwrap_or(1.0);
    let s = match d.kind() {
        DistKind::Deterministic => (1.0 - y / ms).max(0.0),
        DistKind::Uniform => (1.0 - y / ms).max(0.0).powi(2),
        DistKind::Exponential => (-y / mean).exp(),
        DistKind::Pareto if y < ms => 1.0 - y * (shape - 1.0) / (shape * ms),
        DistKind::Pareto => (ms / y).powf(shape - 1.0) / shape,
        DistKind::LogNormal => {
            let l = (mean / y).ln();
            let h = shape * shape / 2.0;
            normal_cdf((l + h) / shape) - y / mean * normal_cdf((l - h) / shape)
        }
    };
    Some(s.clamp(0.0, 1.0))
}

/// One family of identical streams in a [`Superposition`].
#[derive(Clone, Copy, Debug, PartialEq)]
struct Group {
    dist: Distribution,
    count: usize,
    mean: f64,
}

/// The stream seen by the server when independent, stationary renewal streams (client
/// workers, each sending with i.i.d. gaps) are merged: the distribution of its gap Y.
///
/// **Derivation** (Palm–Khintchine; Cox 1962, the superposition of renewal processes;
/// Cox & Isham 1980). A typical point of the merged stream comes from stream i with
/// probability r_i/Λ (r_i = 1/μ_i its rate, Λ = Σ r_j). Given a point of stream i at 0,
/// stream i's next point is a fresh gap X_i ~ F_i (renewal), while every other stream j,
/// independent of stream i and still stationary, next fires after its forward recurrence
/// time R_j, P(R_j > y) = Ḡ_j(y) = (1/μ_j) ∫_y^∞ (1 − F_j(u)) du (see
/// [`equilibrium_survival_ms`]). The next merged point is the earliest of these independent
/// times, so
///
/// P(Y > y) = Σ_i (r_i/Λ) (1 − F_i(y)) Π_{j≠i} Ḡ_j(y),
///
/// which for N identical streams with gap CDF F and mean μ is (1 − F(y)) · Ḡ(y)^{N−1}.
/// Checks: since dḠ/dy = −(1 − F)/μ, E\[Y\] = ∫ (1 − F)Ḡ^{N−1} dy = μ/N, the merged rate;
/// N Poisson streams give e^{−y/μ}·e^{−(N−1)y/μ} = e^{−Ny/μ}, Exp(N/μ) exactly; and at
/// y = tμ/N, Ḡ(y)^{N−1} → e^{−t} as N grows, the Palm–Khintchine limit: many sparse streams
/// merge into a Poisson stream.
///
/// Caveats for comparing with a log:
/// * The streams must be stationary, i.e. at independent random phases. Clients that all
///   start at once reach that only after a few mean gaps (renewal theorem), and fixed-interval
///   streams never do: their phases stay as started, and the N gaps of one run repeat every
///   period. For fixed intervals this law is the one over random phases (many runs).
/// * Merged gaps are identically distributed but not independent (the merge is not a
///   renewal process unless every stream is Poisson), so KS p-values on long runs of
///   consecutive gaps are approximate; thinning (every k-th gap) weakens the dependence.
#[derive(Clone, Debug, PartialEq)]
pub struct Superposition {
    groups: Vec<Group>,
    rate: f64,
}

impl Superposition {
    /// `n` independent streams with gaps `d`; `None` when n = 0 or the mean gap is zero or
    /// infinite.
    pub fn iid(d: Distribution, n: usize) -> Option<Self> {
        Self::new(&[(d, n)])
    }

    /// Independent streams, `count` of each distribution; `None` when there are none, or a
    /// mean gap is zero or infinite.
    pub fn new(streams: &[(Distribution, usize)]) -> Option<Self> {
        let mut groups = Vec::new();
        for &(dist, count) in streams.iter().filter(|(_, count)| *count > 0) {
            let mean = dist.mean_ms().filter(|m| m.is_finite() && *m > 0.0)?;
            groups.push(Group { dist, count, mean });
        }
        let rate = groups.iter().map(|g| g.count as f64 / g.mean).sum::<f64>();
        (!groups.is_empty()).then_some(Self { groups, rate })
    }

    /// The number of merged streams.
    pub fn streams(&self) -> usize {
        self.groups.iter().map(|g| g.count).sum()
    }

    /// The merged rate Λ = Σ 1/μ_i, per ms.
    pub fn rate_per_ms(&self) -> f64 {
        self.rate
    }

    /// The merged mean gap 1/Λ in ms.
    pub fn mean_gap_ms(&self) -> f64 {
        1.0 / self.rate
    }

    /// P(Y > y) for a merged gap of `y` ms (the formula above).
    pub fn survival_ms(&self, y: f64) -> f64 {
        if y.is_nan() {
            return f64::NAN;
        }
        if y < 0.0 {
            return 1.0;
        }
        // Ḡ_j(y) per group; the constructor checked that each mean is finite and positive.
        let eq: Vec<f64> = self
            .groups
            .iter()
            .map(|g| equilibrium_survival_ms(&g.dist, y).unwrap_or(0.0))
            .collect();
        let mut total = 0.0;
        for (i, g) in self.groups.iter().enumerate() {
            let own = 1.0 - g.dist.cdf_ms(y);
            let mut others = eq[i].powi(count_exp(g.count - 1));
            for (j, h) in self.groups.iter().enumerate() {
                if j != i {
                    others *= eq[j].powi(count_exp(h.count));
                }
            }
            total += g.count as f64 / g.mean / self.rate * own * others;
        }
        total.clamp(0.0, 1.0)
    }

    /// P(Y ≤ y): pass `|y| s.cdf_ms(y)` to [`crate::gof::ks_one_sample`].
    pub fn cdf_ms(&self, y: f64) -> f64 {
        1.0 - self.survival_ms(y)
    }

    /// False when the law has an atom, so KS p-values against it do not apply: a group of
    /// one fixed-interval stream jumps at its interval T (its own next point is at exactly
    /// T). Two or more identical fixed-interval streams are continuous.
    pub fn is_continuous(&self) -> bool {
        !self
            .groups
            .iter()
            .any(|g| !g.dist.is_continuous() && g.count == 1)
    }
}

/// A stream count as a `powi` exponent; counts beyond i32 saturate (the power is 0 or 1
/// long before).
fn count_exp(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The time-average number of open intervals over a window, and the fraction of the window
/// spent at each count.
#[derive(Clone, Debug, PartialEq)]
pub struct Occupancy {
    /// Window length in ms.
    pub window_ms: f64,
    /// (1/T) ∫ N(t) dt over the window: the L of Little's law.
    pub mean: f64,
    /// `time_fraction[k]`: the fraction of the window with exactly k intervals open; sums
    /// to 1. Compare with [`MgInf::pmf`] (e.g. [`MgInf::total_variation`]). These are time
    /// averages, not counts of independent draws: a χ² test on them would not apply.
    pub time_fraction: Vec<f64>,
    /// Intervals that overlapped the window.
    pub intervals: usize,
}

/// Valid `(start, end)` intervals clipped to `window`, non-empty ones only. Intervals with
/// NaN or end < start are skipped; an end of +∞ means still open.
fn clipped(intervals: &[(f64, f64)], (a, b): (f64, f64)) -> impl Iterator<Item = (f64, f64)> + '_ {
    intervals
        .iter()
        .filter(|(s, e)| !s.is_nan() && !e.is_nan() && s <= e)
        .map(move |&(s, e)| (s.max(a), e.min(b)))
        .filter(|(s, e)| e > s)
}

/// The window length when `window` is a finite, non-empty range.
fn window_len((a, b): (f64, f64)) -> Option<f64> {
    (a.is_finite() && b.is_finite() && b > a).then_some(b - a)
}

/// Time-average number of open intervals over `window` (ms): Σ |[s, e) ∩ window| / T, the
/// integral of the step function N(t) = #{i : s_i ≤ t < e_i}. Intervals are (start, end)
/// pairs, e.g. (accept, close) of each connection; an end of +∞ means still open, NaN or
/// end < start are skipped. `None` for an empty or infinite window.
pub fn time_average_open(intervals: &[(f64, f64)], window: (f64, f64)) -> Option<f64> {
    let t = window_len(window)?;
    Some(clipped(intervals, window).map(|(s, e)| e - s).sum::<f64>() / t)
}

/// The time-average count and its distribution over `window` (see [`time_average_open`] for
/// the inputs) by a sweep over the sorted starts and ends. `None` for an empty or infinite
/// window.
pub fn occupancy(intervals: &[(f64, f64)], window: (f64, f64)) -> Option<Occupancy> {
    let t = window_len(window)?;
    let mut events: Vec<(f64, i8)> = Vec::with_capacity(2 * intervals.len());
    let mut total = 0.0;
    for (s, e) in clipped(intervals, window) {
        events.push((s, 1));
        events.push((e, -1));
        total += e - s;
    }
    let count = events.len() / 2;
    // Ends before starts at the same instant: the count never counts a closed interval with
    // a new one, so it never steps above its true value (nor below zero).
    events.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    let mut time_at = vec![0.0];
    let (mut level, mut prev) = (0usize, window.0);
    for (at, step) in events {
        time_at[level] += at - prev;
        prev = at;
        if step > 0 {
            level += 1;
            if time_at.len() <= level {
                time_at.push(0.0);
            }
        } else {
            level = level.saturating_sub(1);
        }
    }
    time_at[level] += window.1 - prev;
    Some(Occupancy {
        window_ms: t,
        mean: total / t,
        time_fraction: time_at.into_iter().map(|x| x / t).collect(),
        intervals: count,
    })
}

/// Little's law measured on a log: L = ∫N/T, λ = arrivals/T, W = mean time in system.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Little {
    /// Time-average number open over the window ([`time_average_open`]).
    pub l: f64,
    /// Intervals starting in the window per ms.
    pub lambda_per_ms: f64,
    /// Mean length (ms) of the intervals that started in the window and ended.
    pub w_ms: f64,
    /// Intervals starting in the window.
    pub arrivals: usize,
    /// Of those, still open (end +∞): W leaves them out, so it is biased low when many are.
    pub unfinished: usize,
}

impl Little {
    /// λW, to compare with `l`; they differ by edge effects of order (open at the window's
    /// ends)/arrivals.
    pub fn lambda_w(&self) -> f64 {
        little_l(self.lambda_per_ms, self.w_ms)
    }
}

/// L, λ and W of `intervals` (as for [`time_average_open`]) over `window`, for any mode:
/// (connect, close) for the time in system, (accept, close) for the time in service. `None`
/// for a bad window or when no interval started in it and ended.
pub fn little(intervals: &[(f64, f64)], window: (f64, f64)) -> Option<Little> {
    let t = window_len(window)?;
    let (a, b) = window;
    let started: Vec<(f64, f64)> = intervals
        .iter()
        .copied()
        .filter(|(s, e)| (a..b).contains(s) && !e.is_nan() && e >= s)
        .collect();
    let finished: Vec<f64> = started
        .iter()
        .filter(|(_, e)| e.is_finite())
        .map(|(s, e)| e - s)
        .collect();
    let w = crate::stats::mean(&finished)?;
    Some(Little {
        l: time_average_open(intervals, window)?,
        lambda_per_ms: started.len() as f64 / t,
        w_ms: w,
        arrivals: started.len(),
        unfinished: started.len() - finished.len(),
    })
}

/// How often a single-server (iterative) log accepted the next connection right as the
/// previous one closed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Handoffs {
    /// Consecutive pairs classified (the earlier one has a finite close).
    pub gaps: usize,
    /// Pairs whose next accept came within the tolerance of the previous close: the next
    /// connection was already waiting, so the accept gap equals the service time.
    pub handoffs: usize,
    /// `handoffs / gaps`; compare with [`Mg1::handoff_fraction`] (ρ). Consecutive pairs
    /// are correlated (busy periods), so a binomial interval would be too narrow.
    pub fraction: f64,
    /// Pairs whose next accept came more than the tolerance *before* the previous close:
    /// the log is not single-server (should be 0 for the iterative mode).
    pub overlapping: usize,
}

/// The fraction of accept gaps that equal the previous connection's service time.
/// `connections` are (accept, close) instants in ms, one pair per connection (close +∞ or
/// NaN when unknown; such a pair's following gap is not classified); they are taken in
/// accept order. A gap is a handoff when |next accept − previous close| ≤ `tol_ms` (the
/// server's turnaround between close and accept, e.g. 1 ms). `None` when no gap could be
/// classified or `tol_ms` is negative or NaN.
pub fn handoffs(connections: &[(f64, f64)], tol_ms: f64) -> Option<Handoffs> {
    if tol_ms.is_nan() || tol_ms < 0.0 {
        return None;
    }
    let mut by_accept: Vec<(f64, f64)> = connections
        .iter()
        .copied()
        .filter(|(a, _)| a.is_finite())
        .collect();
    by_accept.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (mut gaps, mut hits, mut overlapping) = (0, 0, 0);
    for w in by_accept.windows(2) {
        let (close, next) = (w[0].1, w[1].0);
        if !close.is_finite() {
            continue;
        }
        gaps += 1;
        let lag = next - close;
        if lag.abs() <= tol_ms {
            hits += 1;
        } else if lag < 0.0 {
            overlapping += 1;
        }
    }
    (gaps > 0).then(|| Handoffs {
        gaps,
        handoffs: hits,
        fraction: hits as f64 / gaps as f64,
        overlapping,
    })
}

/// An arrival rate estimated from arrival instants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateEstimate {
    /// Arrivals used (finite instants).
    pub n: usize,
    /// Last minus first arrival, ms.
    pub span_ms: f64,
    /// λ̂ = (n − 1)/span per ms.
    pub per_ms: f64,
    /// Exact 95% interval for λ per ms if the arrivals are Poisson (see [`rate_estimate`]).
    pub ci95_per_ms: (f64, f64),
}

impl RateEstimate {
    /// λ̂ per second, the unit of the exponential family's `--param`.
    pub fn per_second(&self) -> f64 {
        self.per_ms * 1e3
    }
}

/// λ̂ = (n − 1)/span from arrival instants in ms (any order; NaN and infinities dropped).
/// For a Poisson stream, given the first arrival, the n − 1 gaps are i.i.d. Exp(λ), so
/// λ·span ~ Gamma(n − 1, 1) and the interval [q₀.₀₂₅, q₀.₉₇₅]/span is exact (the χ² interval
/// with 2(n − 1) degrees of freedom). λ̂ is the maximum-likelihood estimate; its mean is
/// λ(n − 1)/(n − 2). `None` for fewer than two arrivals or a zero span.
pub fn rate_estimate(arrivals: &[f64]) -> Option<RateEstimate> {
    let finite = arrivals.iter().copied().filter(|x| x.is_finite());
    let (n, lo, hi) = finite.fold(
        (0usize, f64::INFINITY, f64::NEG_INFINITY),
        |(n, lo, hi), x| (n + 1, lo.min(x), hi.max(x)),
    );
    let span = hi - lo;
    // Two or more finite instants give a finite span.
    if n < 2 || span <= 0.0 {
        return None;
    }
    let k = (n - 1) as f64;
    Some(RateEstimate {
        n,
        span_ms: span,
        per_ms: k / span,
        ci95_per_ms: (
            gamma_quantile(k, 0.025)? / span,
            gamma_quantile(k, 0.975)? / span,
        ),
    })
}

/// The `p` quantile of Gamma(shape, 1) by bisection on statrs' regularised lower incomplete
/// gamma (its own `inverse_cdf` stops after 8 bisections and 4 Newton steps).
fn gamma_quantile(shape: f64, p: f64) -> Option<f64> {
    if !(shape > 0.0 && p > 0.0 && p < 1.0) {
        return None;
    }
    let cdf = |x: f64| checked_gamma_lr(shape, x).ok();
    let mut hi = shape + 10.0 * shape.sqrt() + 10.0;
    while cdf(hi)? < p {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if cdf(mid)? < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(0.5 * (lo + hi))
}

/// Upper percentage points of Stephens' modified statistic for the exponential with its
/// mean estimated (Stephens 1974, Table 1A; D'Agostino & Stephens 1986, *Goodness-of-Fit
/// Techniques*, ch. 4): (α, critical value).
const STEPHENS_EXP_POINTS: [(f64, f64); 5] = [
    (0.15, 0.926),
    (0.10, 0.990),
    (0.05, 1.094),
    (0.025, 1.190),
    (0.01, 1.308),
];

/// Whether gaps look like those of a Poisson stream: KS against Exp(sample mean).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoissonCheck {
    /// Gaps tested.
    pub n: usize,
    /// Their mean (ms), the fitted exponential's mean.
    pub mean_gap_ms: f64,
    /// KS against Exp(mean). Its p-value treats the mean as known; because the mean was
    /// fitted to the same gaps, D runs smaller than the KS tables assume and the p-value is
    /// conservative (too large): the plain test rarely rejects a non-Poisson stream at small
    /// n (Lilliefors 1969). Use [`PoissonCheck::rejected_at`] for a test at its stated level.
    pub ks: KsResult,
    /// Stephens' modified statistic (D − 0.2/n)(√n + 0.26 + 0.5/√n), whose percentage
    /// points hardly depend on n (n ≥ 5).
    pub modified_d: f64,
}

impl PoissonCheck {
    /// Whether exponential gaps are rejected at level `alpha`, one of 0.15, 0.10, 0.05,
    /// 0.025 and 0.01 (Stephens' table, which accounts for the fitted mean); `None` for
    /// another level.
    pub fn rejected_at(&self, alpha: f64) -> Option<bool> {
        STEPHENS_EXP_POINTS
            .iter()
            .find(|(a, _)| (a - alpha).abs() < 1e-9)
            .map(|(_, crit)| self.modified_d > *crit)
    }

    /// True unless rejected at the 5% level.
    pub fn plausible(&self) -> bool {
        self.rejected_at(0.05) == Some(false)
    }
}

/// Tests whether `gaps` (ms, NaN and negatives dropped) are plausibly Poisson arrival gaps:
/// KS against an exponential with the sample mean, with Stephens' correction for the fitted
/// mean (see [`PoissonCheck`]). Gaps must be independent for the levels to hold. `None` for
/// fewer than two gaps or a zero mean.
pub fn poisson_check(gaps: &[f64]) -> Option<PoissonCheck> {
    let gaps: Vec<f64> = gaps
        .iter()
        .copied()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .collect();
    let mean = crate::stats::mean(&gaps).filter(|m| *m > 0.0)?;
    if gaps.len() < 2 {
        return None;
    }
    let ks = ks_one_sample(
        &gaps,
        |x| if x <= 0.0 { 0.0 } else { -(-x / mean).exp_m1() },
    )?;
    let n = ks.n as f64;
    let root = n.sqrt();
    Some(PoissonCheck {
        n: ks.n,
        mean_gap_ms: mean,
        ks,
        modified_d: (ks.statistic - 0.2 / n) * (root + 0.26 + 0.5 / root),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gof::ks_one_sample_sorted;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use rand_distr::{Distribution as _, Exp, StandardNormal};

    fn dist(kind: DistKind, param: f64, shape: Option<f64>) -> Distribution {
        Distribution::new(kind, param, shape).expect("valid")
    }

    fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
        assert!(
            (got - want).abs() <= tol,
            "{what}: got {got}, want {want} ± {tol}"
        );
    }

    /// ∫_y^∞ f(u) du by composite Simpson after u = y + s·(x/(1 − x))⁴, x ∈ [0, 1); `f`
    /// must decay faster than u^{−5/4} so the integrand vanishes at x = 1.
    fn tail_integral(f: impl Fn(f64) -> f64, y: f64, s: f64) -> f64 {
        let n = 40_000;
        let h = 1.0 / f64::from(n);
        let g = |x: f64| {
            if x >= 1.0 {
                0.0
            } else {
                let r = x / (1.0 - x);
                f(y + s * r.powi(4)) * 4.0 * s * r.powi(3) / ((1.0 - x) * (1.0 - x))
            }
        };
        let mut sum = g(0.0) + g(1.0);
        for i in 1..n {
            sum += g(f64::from(i) * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        sum * h / 3.0
    }

    #[test]
    fn pollaczek_khinchine_reduces_to_mm1_and_md1() {
        // 4 arrivals/s against service at 5/s: ρ = 0.8.
        let lambda = 0.004;
        // M/M/1: W_q = ρ/(μ − λ) = 0.8/(1/s) = 800 ms, L = ρ/(1 − ρ) = 4 (Kleinrock ch. 3).
        let mm1 =
            Mg1::with_service(lambda, &dist(DistKind::Exponential, 5.0, None)).expect("stable");
        assert_close(mm1.rho(), 0.8, 1e-12, "M/M/1 ρ");
        assert_close(mm1.mean_wait_ms(), 800.0, 1e-9, "M/M/1 W_q");
        assert_close(mm1.mean_sojourn_ms(), 1000.0, 1e-9, "M/M/1 W = 1/(μ − λ)");
        assert_close(mm1.mean_in_system(), 4.0, 1e-12, "M/M/1 L");
        assert_close(mm1.mean_queue_len(), 3.2, 1e-12, "M/M/1 L_q = ρ²/(1 − ρ)");
        // M/D/1 with D = 200 ms: W_q = ρ/(2μ(1 − ρ)) = 0.8·200/(2·0.2) = 400 ms, half M/M/1.
        let md1 =
            Mg1::with_service(lambda, &dist(DistKind::Deterministic, 0.2, None)).expect("stable");
        assert_close(md1.mean_wait_ms(), 400.0, 1e-9, "M/D/1 W_q");
        assert_close(md1.handoff_fraction(), 0.8, 1e-12, "handoffs = ρ");
        // No steady state at ρ ≥ 1, nor with an infinite E[S²] (Pareto α = 2).
        assert_eq!(Mg1::new(0.005, 200.0, 8e4), None);
        assert_eq!(Mg1::new(0.001, 200.0, 1e4), None, "E[S²] < E[S]²");
        let pareto2 = dist(DistKind::Pareto, 0.1, Some(2.0));
        assert_eq!(Mg1::with_service(0.001, &pareto2), None);
        assert_eq!(Mg1::new(f64::NAN, 1.0, 1.0), None);
        assert_eq!(little_l(0.5, 4.0), 2.0);
    }

    #[test]
    fn second_moments_match_seeded_samples() {
        // Monte Carlo, 200k draws each; the tolerance is about 5 standard errors of the
        // sample mean of S² for these parameters (Pareto α = 5 keeps Var(S²) finite).
        let mut rng = StdRng::seed_from_u64(11);
        for (d, tol) in [
            (dist(DistKind::Deterministic, 0.5, None), 1e-12),
            (dist(DistKind::Uniform, 2.0, None), 0.01),
            (dist(DistKind::Exponential, 4.0, None), 0.02),
            (dist(DistKind::Pareto, 0.1, Some(5.0)), 0.02),
            (dist(DistKind::LogNormal, 0.3, Some(0.5)), 0.01),
        ] {
            let n = 200_000;
            let m2 = (0..n).map(|_| d.sample_ms(&mut rng).powi(2)).sum::<f64>() / f64::from(n);
            let want = second_moment_ms2(&d).expect("finite");
            assert!((m2 / want - 1.0).abs() < tol, "{d}: {m2} vs {want}");
        }
        assert_eq!(
            second_moment_ms2(&dist(DistKind::Pareto, 0.1, Some(2.0))),
            None
        );
    }

    /// One simulated iterative server: (arrival, accept, close) per connection.
    fn simulate_mg1(lambda: f64, service: &Distribution, n: usize, seed: u64) -> Vec<[f64; 3]> {
        let mut rng = StdRng::seed_from_u64(seed);
        let gap = Exp::new(lambda).expect("positive rate");
        let mut out = Vec::with_capacity(n);
        // Lindley's recursion W_{k+1} = max(0, W_k + S_k − T_{k+1}) (Kleinrock ch. 8;
        // Lindley 1952), starting empty.
        let (mut arrival, mut wait, mut last_service) = (0.0, 0.0, 0.0);
        for k in 0..n {
            let t = gap.sample(&mut rng);
            arrival += t;
            if k > 0 {
                wait = f64::max(0.0, wait + last_service - t);
            }
            last_service = service.sample_ms(&mut rng);
            let accept = arrival + wait;
            out.push([arrival, accept, accept + last_service]);
        }
        out
    }

    #[test]
    fn lindley_mg1_matches_pollaczek_khinchine() {
        // 200k customers each, the first 2k dropped as warm-up. Tolerances: 4% on W_q and
        // 0.01 on fractions; batch-means standard errors (20 batches) of these runs are 0.8%,
        // 1.2% and 1.7% of W_q and 0.002 on P(W > 0).
        for (service, lambda, seed) in [
            // Uniform on [0, 300 ms] at 4/s: ρ = 0.6, W_q = 0.004·3e4/0.8 = 150 ms.
            (dist(DistKind::Uniform, 0.3, None), 0.004, 1),
            // M/D/1, 100 ms at 7/s: ρ = 0.7, W_q = 0.7·100/0.6 = 116.7 ms.
            (dist(DistKind::Deterministic, 0.1, None), 0.007, 2),
            // Log-normal, mean 50 ms, σ = 1, at 10/s: ρ = 0.5, W_q = 0.01·2500e/1 = 67.96 ms.
            (dist(DistKind::LogNormal, 0.05, Some(1.0)), 0.01, 3),
        ] {
            let q = Mg1::with_service(lambda, &service).expect("stable");
            let log = simulate_mg1(lambda, &service, 200_000, seed);
            let log = &log[2000..];
            let waits: Vec<f64> = log.iter().map(|[a, s, _]| s - a).collect();
            let w_q = crate::stats::mean(&waits).expect("non-empty");
            eprintln!("{service}: W_q {w_q:.3} vs P-K {:.3}", q.mean_wait_ms());
            assert!(
                (w_q / q.mean_wait_ms() - 1.0).abs() < 0.04,
                "{service}: W_q {w_q}"
            );

            // The accept/close log a server would write: next accept at the previous close
            // exactly when that close left someone waiting; expected fraction ρ.
            let served: Vec<(f64, f64)> = log.iter().map(|[_, s, c]| (*s, *c)).collect();
            // Instants near 5e7 ms carry rounding of ~1e-8 ms: the tolerance must exceed it.
            let h = handoffs(&served, 1e-6).expect("gaps");
            eprintln!("{service}: handoffs {:.4} vs ρ {:.4}", h.fraction, q.rho());
            assert_eq!(h.overlapping, 0);
            assert_close(h.fraction, q.handoff_fraction(), 0.01, "handoff fraction");

            // Busy fraction (one connection open at a time) is ρ; Little's law on the whole
            // system gives P-K's L.
            let window = (log[0][0], log[log.len() - 1][0]);
            let busy = occupancy(&served, window).expect("window");
            // Two open only in the ~1e-8 ms overlaps that rounding leaves at a handoff.
            let overlap: f64 = busy.time_fraction.iter().skip(2).sum();
            assert!(overlap < 1e-9, "single server: {overlap}");
            assert_close(busy.mean, q.rho(), 0.01, "utilisation");
            let system: Vec<(f64, f64)> = log.iter().map(|[a, _, c]| (*a, *c)).collect();
            let l = little(&system, window).expect("arrivals");
            eprintln!(
                "{service}: L {:.4}, λW {:.4}, P-K L {:.4}",
                l.l,
                l.lambda_w(),
                q.mean_in_system()
            );
            assert!((l.l / l.lambda_w() - 1.0).abs() < 0.002, "L = λW on a path");
            assert!((l.l / q.mean_in_system() - 1.0).abs() < 0.04, "L vs P-K");

            let arrivals: Vec<f64> = log.iter().map(|[a, _, _]| *a).collect();
            let rate = rate_estimate(&arrivals).expect("arrivals");
            let (lo, hi) = rate.ci95_per_ms;
            assert!(lo < lambda && lambda < hi, "{rate:?}");
        }
    }

    #[test]
    fn mg_infinity_occupancy_is_poisson() {
        // Poisson(2) by hand: e^−2 = 0.1353352832366127, P(N ≤ 2) = 5e^−2.
        let m = MgInf::new(0.5, 4.0).expect("valid");
        assert_close(m.mean(), 2.0, 1e-15, "λE[S]");
        assert_close(m.pmf(0), 0.135_335_283_236_612_7, 1e-14, "pmf(0)");
        assert_close(m.pmf(1), 0.270_670_566_473_225_4, 1e-14, "pmf(1)");
        assert_close(m.cdf(2), 0.676_676_416_183_063_5, 1e-12, "cdf(2)");
        let idle = MgInf::new(0.0, 4.0).expect("valid");
        assert_eq!((idle.pmf(0), idle.pmf(1), idle.cdf(0)), (1.0, 0.0, 1.0));
        assert_eq!(MgInf::new(-1.0, 1.0), None);

        // Simulated M/G/∞: 100k Poisson arrivals at 0.5/ms, each open for its service;
        // observed from t = 200 ms (warm-up) to the last arrival (≈ 200k ms). Tolerances:
        // 2% on the mean and 0.01 total variation (these seeds: within 0.6%, TV ≤ 0.006).
        for (service, seed) in [
            (dist(DistKind::Uniform, 0.008, None), 21),
            (dist(DistKind::LogNormal, 0.004, Some(1.0)), 22),
            (dist(DistKind::Deterministic, 0.004, None), 23),
        ] {
            let mut rng = StdRng::seed_from_u64(seed);
            let gap = Exp::new(0.5).expect("positive");
            let mut t = 0.0;
            let intervals: Vec<(f64, f64)> = (0..100_000)
                .map(|_| {
                    t += gap.sample(&mut rng);
                    (t, t + service.sample_ms(&mut rng))
                })
                .collect();
            let theory = MgInf::with_service(0.5, &service).expect("finite mean");
            let occ = occupancy(&intervals, (200.0, t)).expect("window");
            let sum: f64 = occ.time_fraction.iter().sum();
            assert_close(sum, 1.0, 1e-9, "fractions sum to 1");
            let tv = theory.total_variation(&occ.time_fraction);
            eprintln!(
                "{service}: L {:.4} vs {}, TV {tv:.4}",
                occ.mean,
                theory.mean()
            );
            assert!((occ.mean / theory.mean() - 1.0).abs() < 0.02, "{service}");
            assert!(tv < 0.01, "{service}: TV {tv}");
            assert_close(
                time_average_open(&intervals, (200.0, t)).expect("window"),
                occ.mean,
                1e-9,
                "two ways to L",
            );
        }
    }

    #[test]
    fn occupancy_and_little_by_hand() {
        // N(t) on [0, 10): 1 on [0, 1), 2 on [1, 2), 1 on [2, 3), 0 on [3, 5), 1 on [5, 10).
        let iv = [
            (0.0, 2.0),
            (1.0, 3.0),
            (5.0, f64::INFINITY),
            (-4.0, -1.0),
            (f64::NAN, 1.0),
            (4.0, 3.0),
        ];
        let occ = occupancy(&iv, (0.0, 10.0)).expect("window");
        assert_eq!(occ.intervals, 3);
        assert_close(occ.mean, 0.9, 1e-15, "mean");
        let want = [0.2, 0.7, 0.1];
        assert_eq!(occ.time_fraction.len(), 3);
        for (got, want) in occ.time_fraction.iter().zip(want) {
            assert_close(*got, want, 1e-15, "fraction");
        }
        // Back-to-back intervals never count as two.
        let chain = occupancy(&[(0.0, 1.0), (1.0, 2.0)], (0.0, 2.0)).expect("window");
        assert_eq!(chain.time_fraction, vec![0.0, 1.0]);
        // Clipping: an interval open before the window counts from its start.
        assert_eq!(time_average_open(&[(-5.0, 1.0)], (0.0, 4.0)), Some(0.25));
        assert_eq!(occupancy(&iv, (1.0, 1.0)), None);
        assert_eq!(time_average_open(&iv, (0.0, f64::INFINITY)), None);
        let empty = occupancy(&[], (0.0, 1.0)).expect("window");
        assert_eq!((empty.mean, empty.time_fraction), (0.0, vec![1.0]));

        // Little: two arrivals in [0, 10) that ended (W = 2), one still open.
        let l = little(&iv, (0.0, 10.0)).expect("arrivals");
        assert_eq!((l.arrivals, l.unfinished), (3, 1));
        assert_close(l.w_ms, 2.0, 1e-15, "W");
        assert_close(l.lambda_per_ms, 0.3, 1e-15, "λ");
        assert_eq!(little(&[(5.0, f64::INFINITY)], (0.0, 10.0)), None);
    }

    #[test]
    fn handoffs_by_hand() {
        // Close → next accept: 3 → 3 (handoff), 5 → 9 (idle 4 ms), 10 → 10.0005 (a 0.5 µs
        // lag, a handoff within the 1 µs tolerance).
        let log = [(9.0, 10.0), (0.0, 3.0), (3.0, 5.0), (10.0005, 12.0)];
        let h = handoffs(&log, 0.001).expect("gaps");
        assert_eq!((h.gaps, h.handoffs, h.overlapping), (3, 2, 0));
        assert_close(h.fraction, 2.0 / 3.0, 1e-15, "fraction");
        // Unknown close: the gap after it is not classified; overlap is reported.
        let log = [(0.0, f64::INFINITY), (1.0, 4.0), (2.0, 5.0)];
        let h = handoffs(&log, 0.5).expect("gaps");
        assert_eq!((h.gaps, h.handoffs, h.overlapping), (1, 0, 1));
        assert_eq!(handoffs(&[(0.0, 1.0)], 0.1), None);
        assert_eq!(handoffs(&[(0.0, 1.0), (1.0, 2.0)], f64::NAN), None);
        assert_eq!(handoffs(&[(0.0, 1.0), (1.0, 2.0)], -1.0), None);
    }

    #[test]
    fn rate_interval_is_the_chi_square_interval() {
        // Two arrivals: one Exp gap, λ·span ~ Exp(1), quantiles −ln(1 − p).
        let r = rate_estimate(&[10.0, 12.0, f64::NAN]).expect("two arrivals");
        assert_eq!((r.n, r.span_ms, r.per_ms), (2, 2.0, 0.5));
        assert_close(r.ci95_per_ms.0, -(0.975f64.ln()) / 2.0, 1e-12, "lower");
        assert_close(r.ci95_per_ms.1, -(0.025f64.ln()) / 2.0, 1e-12, "upper");
        // Eleven arrivals: 2λ·span ~ χ²(20); tables: χ²₀.₀₂₅(20) = 9.59078,
        // χ²₀.₉₇₅(20) = 34.1696 (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.4).
        let arrivals: Vec<f64> = (0..=10).map(|i| f64::from(i) * 3.0).collect();
        let r = rate_estimate(&arrivals).expect("arrivals");
        assert_close(r.per_second(), 1e3 / 3.0, 1e-9, "λ̂ per second");
        assert_close(r.ci95_per_ms.0 * 2.0 * 30.0, 9.59078, 1e-5, "χ² lower");
        assert_close(r.ci95_per_ms.1 * 2.0 * 30.0, 34.1696, 1e-4, "χ² upper");
        assert_eq!(rate_estimate(&[1.0]), None);
        assert_eq!(rate_estimate(&[1.0, 1.0]), None);

        // Coverage over 4000 seeded Poisson streams of 20 arrivals: 0.95 ± 0.012 (3.5
        // binomial standard errors).
        let mut rng = StdRng::seed_from_u64(31);
        let gap = Exp::new(0.5).expect("positive");
        let reps = 4000;
        let covered = (0..reps)
            .filter(|_| {
                let mut t = 0.0;
                let a: Vec<f64> = (0..20)
                    .map(|_| {
                        t += gap.sample(&mut rng);
                        t
                    })
                    .collect();
                let (lo, hi) = rate_estimate(&a).expect("arrivals").ci95_per_ms;
                lo <= 0.5 && 0.5 <= hi
            })
            .count();
        let coverage = covered as f64 / f64::from(reps);
        eprintln!("rate CI coverage {coverage}");
        assert_close(coverage, 0.95, 0.012, "coverage");
    }

    #[test]
    fn poisson_check_holds_its_level_where_plain_ks_does_not() {
        // 4000 seeded samples of 30 exponential gaps. Stephens' 5% point should reject about
        // 5% (± 0.012, 3.5 binomial standard errors); plain KS with the fitted mean rejects
        // far less than its nominal 5% (Lilliefors 1969).
        let mut rng = StdRng::seed_from_u64(41);
        let gap = Exp::new(0.01).expect("positive");
        let reps = 4000;
        let (mut stephens, mut plain) = (0, 0);
        for _ in 0..reps {
            let gaps: Vec<f64> = (0..30).map(|_| gap.sample(&mut rng)).collect();
            let c = poisson_check(&gaps).expect("gaps");
            stephens += usize::from(!c.plausible());
            plain += usize::from(c.ks.p_value < 0.05);
        }
        let (stephens, plain) = (
            stephens as f64 / f64::from(reps),
            plain as f64 / f64::from(reps),
        );
        eprintln!("size at 5%: Stephens {stephens}, plain KS {plain}");
        assert_close(stephens, 0.05, 0.012, "Stephens size");
        assert!(plain < 0.01, "plain KS size {plain}");

        // Power: uniform and Pareto gaps are not Poisson; a long exponential run is.
        let u = dist(DistKind::Uniform, 0.2, None);
        let uniform: Vec<f64> = (0..200).map(|_| u.sample_ms(&mut rng)).collect();
        let c = poisson_check(&uniform).expect("gaps");
        assert_eq!(c.rejected_at(0.01), Some(true), "{c:?}");
        let p = dist(DistKind::Pareto, 0.05, Some(2.5));
        let pareto: Vec<f64> = (0..500).map(|_| p.sample_ms(&mut rng)).collect();
        assert_eq!(
            poisson_check(&pareto).expect("gaps").rejected_at(0.01),
            Some(true)
        );
        let e: Vec<f64> = (0..2000).map(|_| gap.sample(&mut rng)).collect();
        let c = poisson_check(&e).expect("gaps");
        assert!(c.plausible() && c.ks.p_value > 0.05, "{c:?}");
        assert_eq!(c.rejected_at(0.2), None);
        assert_eq!(poisson_check(&[1.0]), None);
        assert_eq!(poisson_check(&[0.0, 0.0]), None);
    }

    #[test]
    fn equilibrium_survival_matches_numeric_integral() {
        // Ḡ(y) = (1/μ)∫_y^∞ (1 − F(u)) du by Simpson (40k panels) against the closed forms.
        // Pareto's survival is taken directly: 1 − F rounds to 0 beyond (x_m/u)^α ≈ 1e-16,
        // which for α = 1.5 drops a tail worth 3e-6 of the mean.
        let survival = |d: &Distribution, u: f64| match d.kind() {
            DistKind::Pareto => {
                let ms = d.param() * 1e3;
                (ms / u.max(ms)).powf(d.shape().expect("shape"))
            }
            _ => 1.0 - d.cdf_ms(u),
        };
        for d in [
            dist(DistKind::Uniform, 0.01, None),
            dist(DistKind::Exponential, 100.0, None),
            dist(DistKind::Pareto, 0.01, Some(2.5)),
            dist(DistKind::Pareto, 0.01, Some(1.5)),
            dist(DistKind::LogNormal, 0.01, Some(1.0)),
            dist(DistKind::LogNormal, 0.01, Some(0.3)),
        ] {
            let mean = d.mean_ms().expect("finite");
            for y in [0.0, 1.0, 5.0, 9.0, 10.0, 12.0, 30.0, 100.0] {
                let numeric = tail_integral(|u| survival(&d, u), y, mean) / mean;
                let closed = equilibrium_survival_ms(&d, y).expect("finite mean");
                assert_close(closed, numeric, 2e-6, &format!("{d} at {y}"));
            }
        }
        let det = dist(DistKind::Deterministic, 0.01, None);
        assert_eq!(equilibrium_survival_ms(&det, 2.5), Some(0.75));
        assert_eq!(equilibrium_survival_ms(&det, 11.0), Some(0.0));
        let heavy = dist(DistKind::Pareto, 0.01, Some(1.0));
        assert_eq!(equilibrium_survival_ms(&heavy, 1.0), None);
        assert_eq!(
            equilibrium_survival_ms(&dist(DistKind::Uniform, 0.0, None), 1.0),
            None
        );
    }

    #[test]
    fn superposition_reduces_to_exponential_and_keeps_the_rate() {
        // N Poisson streams: Exp(Nλ) exactly; mixed rates: Exp(Σλ).
        let e = dist(DistKind::Exponential, 10.0, None);
        let merged = Superposition::iid(e, 4).expect("valid");
        assert_close(merged.rate_per_ms(), 0.04, 1e-15, "rate");
        let mixed = Superposition::new(&[(e, 2), (dist(DistKind::Exponential, 30.0, None), 1)])
            .expect("valid");
        for y in [0.0, 1.0, 10.0, 50.0, 200.0] {
            assert_close(merged.survival_ms(y), (-0.04 * y).exp(), 1e-14, "iid");
            assert_close(mixed.survival_ms(y), (-0.05 * y).exp(), 1e-14, "mixed");
        }
        // E[Y] = ∫ P(Y > y) dy = μ/N for every family (numeric, after the kinks of the
        // bounded ones are smoothed by N ≥ 2; one fixed interval has a jump).
        let families = [
            dist(DistKind::Deterministic, 0.01, None),
            dist(DistKind::Uniform, 0.02, None),
            dist(DistKind::Pareto, 0.01, Some(2.5)),
            dist(DistKind::LogNormal, 0.01, Some(1.0)),
        ];
        for d in families {
            for n in [2, 3, 8] {
                let s = Superposition::iid(d, n).expect("valid");
                let mean = tail_integral(|y| s.survival_ms(y), 0.0, s.mean_gap_ms());
                let want = d.mean_ms().expect("finite") / n as f64;
                assert_close(s.mean_gap_ms(), want, 1e-12, "1/Λ");
                assert!(
                    (mean / want - 1.0).abs() < 1e-5,
                    "{d} × {n}: {mean} vs {want}"
                );
            }
        }
        let mix = Superposition::new(&[(families[1], 2), (families[3], 3)]).expect("valid");
        let mean = tail_integral(|y| mix.survival_ms(y), 0.0, mix.mean_gap_ms());
        assert!(
            (mean * mix.rate_per_ms() - 1.0).abs() < 1e-5,
            "mixed mean {mean}"
        );
        assert_eq!(mix.streams(), 5);

        let det = families[0];
        assert!(!Superposition::iid(det, 1).expect("valid").is_continuous());
        assert!(Superposition::iid(det, 2).expect("valid").is_continuous());
        assert!(
            !Superposition::new(&[(det, 1), (e, 3)])
                .expect("valid")
                .is_continuous()
        );
        assert_eq!(Superposition::iid(e, 0), None);
        let heavy = dist(DistKind::Pareto, 0.01, Some(0.9));
        assert_eq!(Superposition::iid(heavy, 2), None);
    }

    /// A gap of `d` drawn with probability proportional to its length (density x·f(x)/μ):
    /// the gap covering an arbitrary instant (the inspection paradox).
    fn length_biased_ms(d: &Distribution, rng: &mut StdRng) -> f64 {
        let ms = d.param() * 1e3;
        let u: f64 = rng.random();
        match d.kind() {
            DistKind::Deterministic => ms,
            DistKind::Uniform => ms * u.sqrt(),
            // Memoryless: the sum of two gaps (Gamma(2)).
            DistKind::Exponential => d.sample_ms(rng) + d.sample_ms(rng),
            // x·x^{−α−1} ∝ x^{−(α−1)−1}: Pareto with shape α − 1.
            DistKind::Pareto => ms * (1.0 - u).powf(-1.0 / (d.shape().expect("shape") - 1.0)),
            // exp(μ + σZ) length-biased is exp(μ + σ² + σZ), μ = ln m − σ²/2.
            DistKind::LogNormal => {
                let s = d.shape().expect("shape");
                let z: f64 = rng.sample(StandardNormal);
                ms * (s * s / 2.0 + s * z).exp()
            }
        }
    }

    /// Gaps of `n` merged stationary streams with gaps `d` over [0, horizon) ms: each starts
    /// at U·(length-biased gap), the stationary forward recurrence time (Cox 1962).
    fn merged_gaps(d: &Distribution, n: usize, horizon: f64, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut points = Vec::new();
        for _ in 0..n {
            let mut t = rng.random::<f64>() * length_biased_ms(d, &mut rng);
            while t < horizon {
                points.push(t);
                t += d.sample_ms(&mut rng);
            }
        }
        points.sort_by(f64::total_cmp);
        points.windows(2).map(|w| w[1] - w[0]).collect()
    }

    #[test]
    fn merged_uniform_streams_fit_the_finite_n_law_and_approach_poisson() {
        // N streams, each uniform on [0, 2N ms], so the merged rate is 1/ms for every N.
        // 20k merged gaps; every 10th (2000, nearly independent) is tested against the
        // finite-N law: KS D < 0.04 and p > 0.01. All 20k against Exp(1): D within 0.012 of
        // the exact sup distance of the two laws (noise ~ 1/√20000 ≈ 0.007), and it falls
        // with N.
        let mut last = f64::INFINITY;
        for n in [1usize, 2, 4, 8] {
            let d = dist(DistKind::Uniform, 2e-3 * n as f64, None);
            let s = Superposition::iid(d, n).expect("valid");
            let gaps = merged_gaps(&d, n, 20_000.0, 50 + n as u64);
            let thinned: Vec<f64> = gaps.iter().step_by(10).copied().collect();
            let fit = ks_one_sample(&thinned, |y| s.cdf_ms(y)).expect("gaps");
            let expo = |y: f64| if y <= 0.0 { 0.0 } else { -(-y).exp_m1() };
            let to_exp = ks_one_sample(&gaps, expo).expect("gaps");
            let exact = (0..20_000)
                .map(|i| f64::from(i) * 1e-3)
                .map(|y| (s.cdf_ms(y) - expo(y)).abs())
                .fold(0.0, f64::max);
            eprintln!(
                "N={n}: finite-N D {:.4} p {:.3}; to Exp D {:.4} (exact {exact:.4})",
                fit.statistic, fit.p_value, to_exp.statistic
            );
            assert!(fit.statistic < 0.04 && fit.p_value > 0.01, "N={n}: {fit:?}");
            assert_close(to_exp.statistic, exact, 0.012, &format!("N={n} to Exp"));
            assert!(to_exp.statistic < last, "N={n}: D to Exp did not fall");
            last = to_exp.statistic;
        }
    }

    #[test]
    fn merged_heavy_tailed_streams_fit_the_finite_n_law() {
        // Three stationary streams each, 20k merged gaps, every 10th tested: D < 0.04 and
        // p > 0.01 against the finite-N law, which fits them better than Exp(Λ) does.
        for (d, seed) in [
            (dist(DistKind::LogNormal, 1e-3, Some(1.0)), 61),
            (dist(DistKind::Pareto, 1e-3, Some(2.5)), 62),
            (dist(DistKind::Exponential, 1000.0, None), 63),
        ] {
            let s = Superposition::iid(d, 3).expect("valid");
            let gaps = merged_gaps(&d, 3, 20_000.0 * s.mean_gap_ms(), seed);
            let mut thinned: Vec<f64> = gaps.iter().step_by(10).copied().collect();
            thinned.sort_by(f64::total_cmp);
            let fit = ks_one_sample_sorted(&thinned, |y| s.cdf_ms(y)).expect("gaps");
            let rate = s.rate_per_ms();
            let to_exp =
                ks_one_sample_sorted(
                    &thinned,
                    |y| {
                        if y <= 0.0 { 0.0 } else { -(-y * rate).exp_m1() }
                    },
                )
                .expect("gaps");
            eprintln!(
                "{d} × 3: D {:.4} p {:.3}; to Exp D {:.4}",
                fit.statistic, fit.p_value, to_exp.statistic
            );
            assert!(fit.statistic < 0.04 && fit.p_value > 0.01, "{d}: {fit:?}");
            if d.kind() != DistKind::Exponential {
                assert!(to_exp.statistic > fit.statistic, "{d}: {to_exp:?}");
            }
        }
    }

    #[test]
    fn fixed_interval_streams_at_random_phases_give_uniform_spacings() {
        // Given a point of stream 0, the other N − 1 fixed-interval streams sit at
        // independent uniform phases on [0, T): the next point is their minimum, survival
        // (1 − y/T)^{N−1} (spacings of uniform points on a circle). 2000 seeded runs, one
        // gap each: KS p > 0.01.
        let (t, n) = (10.0, 4);
        let d = dist(DistKind::Deterministic, t / 1e3, None);
        let s = Superposition::iid(d, n).expect("valid");
        let mut rng = StdRng::seed_from_u64(71);
        let gaps: Vec<f64> = (0..2000)
            .map(|_| {
                (1..n)
                    .map(|_| rng.random::<f64>() * t)
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        let fit = ks_one_sample(&gaps, |y| s.cdf_ms(y)).expect("gaps");
        eprintln!("fixed × {n}: D {:.4} p {:.3}", fit.statistic, fit.p_value);
        assert!(fit.p_value > 0.01, "{fit:?}");
        assert_close(s.cdf_ms(2.5), 1.0 - 0.75f64.powi(3), 1e-15, "closed form");
    }
}
