//! Goodness of fit for gap lists in milliseconds: Kolmogorov–Smirnov (one and two sample),
//! Anderson–Darling, the error of a fixed-interval schedule, ECDF and QQ points for plots,
//! and the mean with its 95% confidence interval across repeats.
//!
//! Everything is a pure function over `&[f64]`. The `*_sorted` functions take values sorted
//! ascending (see [`sorted`]) so that a caller sorts a million gaps once and reuses them;
//! after that every statistic is a single O(n) pass. Empty inputs give `None`, never NaN.

use serde::{Deserialize, Serialize};
use statrs::distribution::{Continuous, ContinuousCDF, StudentsT};
use statrs::function::beta::beta_reg;

use crate::distribution::normal_quantile;
use crate::stats::quantile_sorted;

/// Largest df for which [`student_t_quantile`] uses statrs' t distribution; above it takes
/// the Cornish–Fisher expansion.
const T_INVERSE_MAX_DF: u64 = 100_000;

/// Smallest tail probability [`student_t_quantile`] accepts.
const T_TAIL_MIN: f64 = 1e-15;

/// Largest sample size for which one-sample KS p-values are computed exactly.
const KS_EXACT_MAX_N: usize = 2000;

/// From this n·D² on, the exact two-sided p-value is taken as twice the exact one-sided one:
/// the two differ by the chance that both one-sided deviations exceed D, about 1e-8 of the
/// p-value at most here, while the Marsaglia–Tsang–Wang matrix (order 2nD + 1) keeps growing.
const KS_ONE_SIDED_TAIL_NDSQ: f64 = 3.0;

/// CDF values are clamped into [`AD_U_MIN`, `AD_U_MAX`], the representable numbers nearest
/// 0 and 1, so ln(u) and ln(1 − u) stay finite for values the hypothesis calls impossible.
const AD_U_MIN: f64 = f64::MIN_POSITIVE;
const AD_U_MAX: f64 = 1.0 - f64::EPSILON / 2.0;

/// Below this asymptotic tail probability the published finite-n correction of Marsaglia &
/// Marsaglia is dominated by its fit residual (it tends to −0.0006/n instead of 0).
const AD_TAIL: f64 = 1e-3;

/// How a Kolmogorov–Smirnov p-value was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KsMethod {
    /// The exact distribution of D_n (n ≤ 2000): Marsaglia–Tsang–Wang (2003), or in the
    /// far tail twice the exact one-sided (Smirnov) probability.
    Exact,
    /// The Kolmogorov limit with Stephens' small-sample correction (n > 2000, and always for
    /// two samples).
    Asymptotic,
}

/// A one-sample Kolmogorov–Smirnov test: D = sup |F_n(x) − F(x)| and its two-sided p-value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KsResult {
    pub statistic: f64,
    pub p_value: f64,
    /// Values tested (NaN dropped).
    pub n: usize,
    pub method: KsMethod,
}

/// A two-sample Kolmogorov–Smirnov test: D = sup |F_n(x) − G_m(x)| and its asymptotic
/// two-sided p-value with the effective size n·m/(n + m).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KsTwoResult {
    pub statistic: f64,
    pub p_value: f64,
    pub n: usize,
    pub m: usize,
}

/// An Anderson–Darling test against a fully specified continuous distribution (case 0).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdResult {
    /// A² = −n − (1/n) Σ (2i − 1) [ln u_i + ln(1 − u_{n+1−i})], u_i = F(x_(i)).
    pub statistic: f64,
    pub p_value: f64,
    pub n: usize,
}

/// How far a fixed-interval schedule strayed from its interval T: statistics of |x − T|.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FixedIntervalError {
    /// Values measured (NaN dropped).
    pub n: usize,
    /// Mean absolute error, ms.
    pub mean: f64,
    /// The 0.99 quantile, interpolated like [`crate::stats::quantile_sorted`].
    pub p99: f64,
    pub max: f64,
}

/// A sorted copy of `values` without NaN, ready for the `*_sorted` functions.
pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_unstable_by(f64::total_cmp);
    v
}

/// `sorted` without NaN at either end: `total_cmp` sorts NaN of either sign to the ends, so
/// this makes the `*_sorted` functions safe on such input without another pass.
fn trim_nan(sorted: &[f64]) -> &[f64] {
    let start = sorted
        .iter()
        .position(|x| !x.is_nan())
        .unwrap_or(sorted.len());
    let end = sorted
        .iter()
        .rposition(|x| !x.is_nan())
        .map_or(start, |i| i + 1);
    &sorted[start..end]
}

/// One-sample KS of `values` against `cdf`; sorts a copy first (NaN dropped).
pub fn ks_one_sample(values: &[f64], cdf: impl Fn(f64) -> f64) -> Option<KsResult> {
    ks_one_sample_sorted(&sorted(values), cdf)
}

/// One-sample KS of ascending `sorted` against a continuous `cdf` (e.g.
/// `|x| dist.cdf_ms(x)`); the p-value method is chosen by [`ks_p_value`]. `None` when there
/// are no values or `cdf` returns NaN. The p-value assumes a continuous CDF (see
/// [`crate::Distribution::is_continuous`]); for a fixed interval use
/// [`fixed_interval_error`].
pub fn ks_one_sample_sorted(sorted: &[f64], cdf: impl Fn(f64) -> f64) -> Option<KsResult> {
    let sorted = trim_nan(sorted);
    if sorted.is_empty() {
        return None;
    }
    let nf = sorted.len() as f64;
    let mut d: f64 = 0.0;
    for (i, &x) in sorted.iter().enumerate() {
        let u = cdf(x);
        if u.is_nan() {
            return None;
        }
        let u = u.clamp(0.0, 1.0);
        // F_n jumps from i/n to (i+1)/n at x; ties only produce smaller candidates.
        d = d.max((i + 1) as f64 / nf - u).max(u - i as f64 / nf);
    }
    let (p_value, method) = ks_p_value(sorted.len(), d);
    Some(KsResult {
        statistic: d,
        p_value,
        n: sorted.len(),
        method,
    })
}

// Hand-written on purpose: no crate (statrs included) has the exact finite-n KS distribution.
/// P(D_n ≥ d) for the two-sided one-sample KS statistic of `n` values.
///
/// * n ≤ 2000: exact. Marsaglia, Tsang & Wang (2003), "Evaluating Kolmogorov's
///   distribution", J. Stat. Softw. 8(18), as 1 − K(n, d); when n·d² ≥ 3 (p below about
///   0.005) twice the exact one-sided probability (Birnbaum & Tingey 1951), which keeps
///   relative accuracy in the far tail where 1 − K would cancel. Also exact: 1 for
///   d ≤ 1/(2n), 0 for d ≥ 1.
///   The matrix costs at most about 10 ms (release) at n = 2000.
/// * n > 2000: the Kolmogorov limit Q_KS(λ) at λ = (√n + 0.12 + 0.11/√n)·d (Stephens 1970),
///   within about 0.5% of the exact p-value for p ≥ 0.01 and a few percent far below.
pub fn ks_p_value(n: usize, d: f64) -> (f64, KsMethod) {
    let nf = n as f64;
    if n == 0 || d.is_nan() || d <= 0.5 / nf {
        return (1.0, KsMethod::Exact);
    }
    if d >= 1.0 {
        return (0.0, KsMethod::Exact);
    }
    if n <= KS_EXACT_MAX_N {
        // For d ≥ 0.5 the two one-sided events are disjoint, so doubling is exact there too.
        let p = if nf * d * d >= KS_ONE_SIDED_TAIL_NDSQ || d >= 0.5 {
            2.0 * smirnov_sf(n, d)
        } else {
            1.0 - mtw_cdf(n, d)
        };
        return (p.clamp(0.0, 1.0), KsMethod::Exact);
    }
    let sq = nf.sqrt();
    (
        kolmogorov_sf((sq + 0.12 + 0.11 / sq) * d),
        KsMethod::Asymptotic,
    )
}

/// The Kolmogorov survival function Q_KS(λ) = 2 Σ_{k≥1} (−1)^{k−1} e^{−2k²λ²}, the limit
/// of P(√n·D_n > λ). Below λ = 1 the equivalent theta-function series
/// 1 − (√(2π)/λ) Σ e^{−(2k−1)²π²/(8λ²)} converges faster.
pub fn kolmogorov_sf(lambda: f64) -> f64 {
    if lambda.is_nan() || lambda <= 0.0 {
        return 1.0;
    }
    if lambda < 1.0 {
        let w = -std::f64::consts::PI.powi(2) / (8.0 * lambda * lambda);
        let mut sum = 0.0;
        for k in 1..=20 {
            let j = (2 * k - 1) as f64;
            let term = (j * j * w).exp();
            sum += term;
            if term <= 1e-17 * sum {
                break;
            }
        }
        (1.0 - (2.0 * std::f64::consts::PI).sqrt() / lambda * sum).clamp(0.0, 1.0)
    } else {
        let mut sum = 0.0;
        let mut sign = 1.0;
        for k in 1..=100 {
            let kf = k as f64;
            let term = (-2.0 * kf * kf * lambda * lambda).exp();
            sum += sign * term;
            if term <= 1e-17 * sum {
                break;
            }
            sign = -sign;
        }
        (2.0 * sum).clamp(0.0, 1.0)
    }
}

/// Exact P(D⁺_n ≥ d) by the Birnbaum–Tingey (1951) sum
/// d Σ_{j=0}^{⌊n(1−d)⌋} C(n, j) (1 − d − j/n)^{n−j} (d + j/n)^{j−1}, all terms positive.
fn smirnov_sf(n: usize, d: f64) -> f64 {
    let nf = n as f64;
    let nd = nf * d;
    let mut ln_binom = 0.0;
    let mut sum = 0.0;
    for j in 0..=n {
        let jf = j as f64;
        if j > 0 {
            ln_binom += ((n - j + 1) as f64 / jf).ln();
        }
        // (n − j − n·d)/n rounds once, where 1 − d − j/n would cancel near the last term.
        let a = (nf - jf - nd) / nf;
        if a <= 0.0 {
            break;
        }
        let b = (nd + jf) / nf;
        sum += (ln_binom + (nf - jf) * a.ln() + (jf - 1.0) * b.ln()).exp();
    }
    (d * sum).clamp(0.0, 1.0)
}

/// K(n, d) = P(D_n < d) by Marsaglia, Tsang & Wang (2003): the (k, k) entry of H^n times
/// n!/n^n, with H the m×m matrix of their paper (k = ⌊nd⌋ + 1, m = 2k − 1), powers taken by
/// squaring while keeping a decimal exponent aside so nothing overflows.
fn mtw_cdf(n: usize, d: f64) -> f64 {
    let nd = n as f64 * d;
    let k = nd.floor() as usize + 1;
    let m = 2 * k - 1;
    let h = k as f64 - nd;
    let mut inv_fact = vec![1.0; m + 1];
    for g in 1..=m {
        inv_fact[g] = inv_fact[g - 1] / g as f64;
    }
    let mut a = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..=(i + 1).min(m - 1) {
            a[i * m + j] = 1.0;
        }
    }
    for i in 0..m {
        a[i * m] -= h.powi(i as i32 + 1);
        a[(m - 1) * m + i] -= h.powi((m - i) as i32);
    }
    if 2.0 * h - 1.0 > 0.0 {
        a[(m - 1) * m] += (2.0 * h - 1.0).powi(m as i32);
    }
    for i in 0..m {
        for j in 0..=(i + 1).min(m - 1) {
            a[i * m + j] *= inv_fact[i + 1 - j];
        }
    }

    let mut v = a.clone();
    let mut tmp = vec![0.0; m * m];
    let mut exp10: i32 = 0;
    let bits = usize::BITS - n.leading_zeros();
    for bit in (0..bits - 1).rev() {
        mat_mul(&v, &v, &mut tmp, m);
        std::mem::swap(&mut v, &mut tmp);
        exp10 *= 2;
        if (n >> bit) & 1 == 1 {
            mat_mul(&a, &v, &mut tmp, m);
            std::mem::swap(&mut v, &mut tmp);
        }
        if v[(m / 2) * m + m / 2] > 1e140 {
            v.iter_mut().for_each(|x| *x *= 1e-140);
            exp10 += 140;
        }
    }
    let mut s = v[(k - 1) * m + k - 1];
    let nf = n as f64;
    for i in 1..=n {
        s = s * i as f64 / nf;
        if s < 1e-140 {
            s *= 1e140;
            exp10 -= 140;
        }
    }
    (s * 10f64.powi(exp10)).clamp(0.0, 1.0)
}

/// c = a·b for row-major m×m matrices.
fn mat_mul(a: &[f64], b: &[f64], c: &mut [f64], m: usize) {
    c.fill(0.0);
    for i in 0..m {
        let row_c = &mut c[i * m..(i + 1) * m];
        for (kk, &aik) in a[i * m..(i + 1) * m].iter().enumerate() {
            if aik == 0.0 {
                continue;
            }
            for (cj, &bj) in row_c.iter_mut().zip(&b[kk * m..(kk + 1) * m]) {
                *cj += aik * bj;
            }
        }
    }
}

/// Two-sample KS of `a` and `b`; sorts copies first (NaN dropped).
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> Option<KsTwoResult> {
    ks_two_sample_sorted(&sorted(a), &sorted(b))
}

/// Two-sample KS of ascending `a` and `b`, e.g. the gaps clients sent against the gaps the
/// server observed. The p-value is Q_KS((√e + 0.12 + 0.11/√e)·D) with e = n·m/(n + m)
/// (Stephens' correction, as in Numerical Recipes' `kstwo`); it is asymptotic, so treat it
/// as rough when e is below a few dozen. `None` when either sample is empty.
pub fn ks_two_sample_sorted(a: &[f64], b: &[f64]) -> Option<KsTwoResult> {
    let (a, b) = (trim_nan(a), trim_nan(b));
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return None;
    }
    // Compare counts scaled to the common denominator n·m, so equal ECDF values compare
    // exactly equal.
    let (mut i, mut j) = (0usize, 0usize);
    let mut best: u128 = 0;
    while i < n && j < m {
        let x = if a[i] <= b[j] { a[i] } else { b[j] };
        while i < n && a[i] <= x {
            i += 1;
        }
        while j < m && b[j] <= x {
            j += 1;
        }
        best = best.max((i as u128 * m as u128).abs_diff(j as u128 * n as u128));
    }
    let statistic = best as f64 / (n as f64 * m as f64);
    let en = n as f64 * m as f64 / (n + m) as f64;
    let sq = en.sqrt();
    Some(KsTwoResult {
        statistic,
        p_value: kolmogorov_sf((sq + 0.12 + 0.11 / sq) * statistic),
        n,
        m,
    })
}

/// Anderson–Darling A² of `values` against `cdf`; sorts a copy first (NaN dropped).
pub fn anderson_darling(values: &[f64], cdf: impl Fn(f64) -> f64) -> Option<AdResult> {
    anderson_darling_sorted(&sorted(values), cdf)
}

/// Anderson–Darling A² of ascending `sorted` against a fully specified continuous `cdf`
/// (case 0: no parameter estimated from the data), with the p-value of [`ad_p_value`]. CDF
/// values are clamped into [2.2e-308, 1 − 1.1e-16] so every logarithm is finite. `None` when
/// there are no values or `cdf` returns NaN.
pub fn anderson_darling_sorted(sorted: &[f64], cdf: impl Fn(f64) -> f64) -> Option<AdResult> {
    let sorted = trim_nan(sorted);
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let two_n = 2.0 * n as f64;
    let mut sum = 0.0;
    // Σ_i (2i−1)[ln u_i + ln(1 − u_{n+1−i})] regrouped per value, so each CDF is taken once:
    // u_i carries weight 2i − 1 on ln u_i and 2n + 1 − 2i on ln(1 − u_i).
    for (i, &x) in sorted.iter().enumerate() {
        let u = cdf(x);
        if u.is_nan() {
            return None;
        }
        let u = u.clamp(AD_U_MIN, AD_U_MAX);
        let w = (2 * i + 1) as f64;
        sum += w * u.ln() + (two_n - w) * (-u).ln_1p();
    }
    let statistic = -(n as f64) - sum / n as f64;
    Some(AdResult {
        statistic,
        p_value: ad_p_value(n, statistic),
        n,
    })
}

// Hand-written on purpose: no crate (statrs included) has the case-0 AD distribution.
/// P(A²_n ≥ z) for a fully specified distribution, by Marsaglia & Marsaglia (2004),
/// "Evaluating the Anderson–Darling distribution", J. Stat. Softw. 9(2): their `adinf(z)`
/// (the limiting CDF, |error| < 2e-6) plus `errfix(n, x)` (the finite-n correction); the
/// result is 1 − AD(n, z), accurate to about 1e-5 absolute (less for n < 7).
///
/// Two deviations from the published code, both in the far tail: the upper tail of
/// `adinf` is evaluated as −expm1(−e^g) instead of 1 − e^{−e^g}, so small p-values keep
/// their digits; and where that tail is below 1e-3 the correction, whose fit tends to a
/// constant −0.0006/n instead of 0 there, is applied as the ratio it has at 1e-3, so the
/// p-value keeps falling with z instead of flooring near 0.0006/n.
pub fn ad_p_value(n: usize, z: f64) -> f64 {
    if n == 0 || z.is_nan() || z <= 0.0 {
        return 1.0;
    }
    let q = adinf_sf(z);
    if q >= AD_TAIL {
        return ad_sf_published(n, q);
    }
    (q * ad_sf_published(n, AD_TAIL) / AD_TAIL).clamp(0.0, 1.0)
}

/// 1 − adinf(z) of Marsaglia & Marsaglia (2004), without cancellation for large z.
fn adinf_sf(z: f64) -> f64 {
    if z < 2.0 {
        let poly = 2.00012
            + (0.247105 - (0.0649821 - (0.0347962 - (0.011672 - 0.00168691 * z) * z) * z) * z) * z;
        return 1.0 - (-1.2337141 / z).exp() / z.sqrt() * poly;
    }
    let g =
        1.0776 - (2.30695 - (0.43424 - (0.082433 - (0.008056 - 0.0003146 * z) * z) * z) * z) * z;
    -(-g.exp()).exp_m1()
}

/// 1 − (x + errfix(n, x)) with x = 1 − q, as published.
fn ad_sf_published(n: usize, q: f64) -> f64 {
    let x = 1.0 - q;
    let nf = n as f64;
    let v = if x > 0.8 {
        (-130.2137
            + (745.2337 - (1705.091 - (1950.646 - (1116.360 - 255.7844 * x) * x) * x) * x) * x)
            / nf
    } else {
        let c = 0.01265 + 0.1757 / nf;
        if x < c {
            let t = x / c;
            let t = t.sqrt() * (1.0 - t) * (49.0 * t - 102.0);
            t * (0.0037 / (nf * nf) + 0.00078 / nf + 0.00006) / nf
        } else {
            let t = (x - c) / (0.8 - c);
            let t = -0.00022633
                + (6.54034 - (14.6538 - (14.458 - (8.259 - 1.91864 * t) * t) * t) * t) * t;
            t * (0.04213 + 0.01365 / nf) / nf
        }
    };
    (q - v).clamp(0.0, 1.0)
}

/// Mean, p99 and max of |x − `t_ms`| over `values` (NaN ignored): how far a deterministic
/// schedule drifted from its interval. O(n) (the p99 by selection, not sorting). `None` when
/// there are no values or `t_ms` is not finite.
pub fn fixed_interval_error(values: &[f64], t_ms: f64) -> Option<FixedIntervalError> {
    if !t_ms.is_finite() {
        return None;
    }
    let mut dev: Vec<f64> = values
        .iter()
        .filter(|x| !x.is_nan())
        .map(|x| (x - t_ms).abs())
        .collect();
    let n = dev.len();
    if n == 0 {
        return None;
    }
    let mean = dev.iter().sum::<f64>() / n as f64;
    let max = dev.iter().copied().fold(0.0, f64::max);
    let pos = 0.99 * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let frac = pos - lo as f64;
    let (_, lo_val, above) = dev.select_nth_unstable_by(lo, f64::total_cmp);
    let lo_val = *lo_val;
    // The next order statistic is the smallest of the upper partition (non-empty whenever
    // frac > 0). Equal neighbours skip the interpolation so two infinities do not give NaN.
    let hi_val = above.iter().copied().fold(f64::INFINITY, f64::min);
    let p99 = if frac > 0.0 && hi_val > lo_val {
        lo_val + (hi_val - lo_val) * frac
    } else {
        lo_val
    };
    Some(FixedIntervalError { n, mean, p99, max })
}

/// Up to `max_points` indices spread evenly over 0..n, always with the first and last.
fn spread_indices(n: usize, max_points: usize) -> Vec<usize> {
    match max_points.min(n) {
        0 => Vec::new(),
        k if k == n => (0..n).collect(),
        1 => vec![n - 1],
        k => (0..k)
            .map(|j| {
                let (j, n, k) = (j as u128, n as u128, k as u128);
                ((j * (n - 1) + (k - 1) / 2) / (k - 1)) as usize
            })
            .collect(),
    }
}

/// Points (x, F_n(x)) of the empirical CDF of ascending `sorted`, at most `max_points` of
/// them, spread evenly over the order statistics and always including the smallest and
/// largest value. F_n(x) counts every value ≤ x, so ties give one point at the top of their
/// step. Empty for empty input.
pub fn ecdf_points_sorted(sorted: &[f64], max_points: usize) -> Vec<(f64, f64)> {
    let sorted = trim_nan(sorted);
    let nf = sorted.len() as f64;
    let mut points: Vec<(f64, f64)> = Vec::new();
    for i in spread_indices(sorted.len(), max_points) {
        let x = sorted[i];
        if points.last().is_some_and(|&(px, _)| px == x) {
            continue;
        }
        let count = sorted.partition_point(|&v| v <= x);
        points.push((x, count as f64 / nf));
    }
    points
}

/// QQ pairs (theoretical quantile, sample value) for ascending `sorted`: the i-th order
/// statistic against `quantile((i + 0.5)/n)` (Hazen plotting positions), at most
/// `max_points` of them spread evenly and including both extremes. Empty for empty input.
pub fn qq_pairs_sorted(
    sorted: &[f64],
    max_points: usize,
    quantile: impl Fn(f64) -> f64,
) -> Vec<(f64, f64)> {
    let sorted = trim_nan(sorted);
    let nf = sorted.len() as f64;
    spread_indices(sorted.len(), max_points)
        .into_iter()
        .map(|i| (quantile((i as f64 + 0.5) / nf), sorted[i]))
        .collect()
}

/// QQ pairs (theoretical quantile, sample quantile) at the given probabilities; the sample
/// quantile interpolates like [`crate::stats::quantile_sorted`]. Probabilities outside
/// [0, 1] are skipped. Empty for empty input.
pub fn qq_pairs_at_sorted(
    sorted: &[f64],
    probabilities: &[f64],
    quantile: impl Fn(f64) -> f64,
) -> Vec<(f64, f64)> {
    let sorted = trim_nan(sorted);
    if sorted.is_empty() {
        return Vec::new();
    }
    probabilities
        .iter()
        .filter(|p| (0.0..=1.0).contains(*p))
        .map(|&p| (quantile(p), quantile_sorted(sorted, p)))
        .collect()
}

/// The mean of `values` (one per repeat; NaN and infinities ignored) and the half width of
/// its 95% confidence interval, t_{0.975, n−1}·s/√n with s the sample standard deviation and
/// t from [`student_t_quantile`]. `None` without values; the half width is `None` for a
/// single value, whose spread is unknown (not 0, which would claim a perfect estimate).
pub fn mean_ci95(values: &[f64]) -> Option<(f64, Option<f64>)> {
    let finite: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let n = finite.len();
    if n == 0 {
        return None;
    }
    let mean = finite.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Some((mean, None));
    }
    // Two passes: the sum of squared deviations does not cancel the way Σx² − n·mean² does.
    let ss: f64 = finite.iter().map(|x| (x - mean).powi(2)).sum();
    let sd = (ss / (n - 1) as f64).sqrt();
    let half = student_t_quantile(0.975, (n - 1) as u64).map(|t| t * sd / (n as f64).sqrt());
    Some((mean, half))
}

/// The `p` quantile of Student's t with `df` degrees of freedom. Exact for df = 1 (Cauchy);
/// up to df = 1e5 statrs' `StudentsT::inverse_cdf` (AS 109 on the incomplete beta ratio),
/// then Newton steps on statrs' incomplete beta ratio: relative error below 5e-13 for
/// df ≤ 1000 and 2e-10 up to 1e5 (against mpmath, p from 1e-15 to 1 − 1e-12, including
/// 0.5 ± 1e-9). Above 1e5 the Cornish–Fisher expansion around the normal quantile, within
/// about 1e-15. `None` unless df ≥ 1 and p is within [1e-15, 1 − 1e-15]: further out
/// statrs' inverse can panic or not return (p = 1e-100).
pub fn student_t_quantile(p: f64, df: u64) -> Option<f64> {
    if !(T_TAIL_MIN..=1.0 - T_TAIL_MIN).contains(&p) || df == 0 {
        return None;
    }
    if p == 0.5 {
        return Some(0.0);
    }
    if df > T_INVERSE_MAX_DF {
        // statrs' t distribution rounds x = df/(df + t²) ≈ 1: its inverse drifts (7% at
        // df = 1e7, no return at 1e9) and Newton on its sf drifts too (1e-6 at df = 1e9, the
        // wrong sign from 1e14 on). The expansion's next term is below 1e-15 relative here.
        return Some(cornish_fisher_t(normal_quantile(p), df as f64));
    }
    let tail = p.min(1.0 - p);
    if df == 1 {
        // Cauchy, exactly. Newton from statrs' start crawls along its 1/t tail (100% off at
        // p = 1e-12 after four steps).
        let t = if tail < 0.25 {
            1.0 / (std::f64::consts::PI * tail).tan()
        } else {
            (std::f64::consts::PI * (0.5 - tail)).tan()
        };
        return Some(if p > 0.5 { t } else { -t });
    }
    let nu = df as f64;
    let dist = StudentsT::new(0.0, 1.0, nu).ok()?;
    // How far P(T > t) is above `tail`. statrs' sf takes I_x(df/2, 1/2) at x = df/(df + t²),
    // which rounds to 1 for small t (sf is then exactly 1/2 and Newton runs away: 17× off at
    // p = 0.5 + 1e-9, df = 10), so the central half uses ½·I_y(1/2, df/2), y = t²/(df + t²).
    let excess = |t: f64| {
        if tail < 0.25 {
            dist.sf(t) - tail
        } else {
            (0.5 - tail) - 0.5 * beta_reg(0.5, 0.5 * nu, t * t / (nu + t * t))
        }
    };
    let mut t = -dist.inverse_cdf(tail);
    for _ in 0..4 {
        let step = excess(t) / dist.pdf(t);
        if !step.is_finite() {
            break;
        }
        t += step;
        if step.abs() <= 1e-15 * t {
            break;
        }
    }
    Some(if p > 0.5 { t } else { -t })
}

/// The t quantile at normal quantile `z` to order df⁻³ (Abramowitz & Stegun 26.7.5).
fn cornish_fisher_t(z: f64, df: f64) -> f64 {
    let z2 = z * z;
    let g1 = z * (z2 + 1.0) / 4.0;
    let g2 = z * ((5.0 * z2 + 16.0) * z2 + 3.0) / 96.0;
    let g3 = z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / 384.0;
    z + (g1 + (g2 + g3 / df) / df) / df
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribution::{DistKind, Distribution};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// Exponential CDF with mean `mean` ms, written out so the references below (scipy's
    /// `expon(loc=0, scale=mean)`) are evaluated on the same function.
    fn expon_cdf(mean: f64) -> impl Fn(f64) -> f64 {
        move |x: f64| if x <= 0.0 { 0.0 } else { -(-x / mean).exp_m1() }
    }

    fn assert_rel(got: f64, want: f64, tol: f64, what: &str) {
        let err = if want == 0.0 {
            got.abs()
        } else {
            (got / want - 1.0).abs()
        };
        assert!(
            err <= tol,
            "{what}: got {got:e}, want {want:e} (relative error {err:e})"
        );
    }

    /// `x_i = −mean·ln(1 − ((i + 0.5)/n)^a)`, i = 0..n: exponential quantiles at distorted
    /// plotting positions; numpy: `-mean*np.log1p(-((np.arange(n)+0.5)/n)**a)`.
    fn distorted_exponential(n: usize, mean: f64, a: f64) -> Vec<f64> {
        (0..n)
            .map(|i| -mean * (-((i as f64 + 0.5) / n as f64).powf(a)).ln_1p())
            .collect()
    }

    // scipy 1.17.1: stats.kstest(X1, 'expon', args=(0, 100), method='exact')
    //   → statistic 0.2046546089313777, pvalue 0.7245648090062565
    const X1: [f64; 10] = [
        12.0, 35.5, 48.0, 70.25, 91.0, 118.0, 150.5, 199.0, 260.0, 410.0,
    ];
    // scipy 1.17.1: stats.kstest(X2, 'expon', args=(0, 100), method='exact')
    //   → statistic 0.7768698398515702, pvalue 7.128886128193093e-07
    const X2: [f64; 10] = [
        150.0, 160.0, 175.0, 180.0, 190.0, 200.0, 210.0, 230.0, 250.0, 300.0,
    ];

    #[test]
    fn ks_small_samples_match_scipy_exact() {
        let r = ks_one_sample(&X1, expon_cdf(100.0)).expect("non-empty");
        assert_eq!((r.n, r.method), (10, KsMethod::Exact));
        assert_rel(r.statistic, 0.204_654_608_931_377_7, 1e-12, "X1 D");
        assert_rel(r.p_value, 0.724_564_809_006_256_5, 1e-10, "X1 p (MTW)");

        // n·D² = 6.0, so this p-value comes from the doubled one-sided tail.
        let r = ks_one_sample(&X2, expon_cdf(100.0)).expect("non-empty");
        assert_rel(r.statistic, 0.776_869_839_851_570_2, 1e-12, "X2 D");
        assert_rel(r.p_value, 7.128_886_128_193_093e-7, 1e-9, "X2 p (tail)");
    }

    #[test]
    fn ks_p_value_matches_the_exact_distribution() {
        // (n, d, P(D_n ≥ d)). Where scipy 1.17.1 `stats.kstwo.sf(d, n)` is exact (n ≤ 140,
        // where it uses MTW/Pomeranz, or n·d² ≥ 2.2, where it uses 2·smirnov) its value is
        // the reference; the first five d are `stats.kstwo.isf(p, n)`, p = 0.05 or 0.5. For n > 140
        // and small n·d² scipy switches to the Pelz–Good approximation, so there the
        // reference is 1 − K(n, d) from the C code published with Marsaglia, Tsang & Wang
        // (2003), compiled with gcc 12 -O2.
        let cases: [(usize, f64, f64); 10] = [
            (1, 0.975, 0.050_000_000_000_000_044),                  // scipy
            (5, 0.563_275_198_366_063_5, 0.049_999_999_999_999_95), // scipy
            (20, 0.294_075_314_434_329_2, 0.050_000_000_000_000_155), // scipy
            (100, 0.081_147_218_990_066_36, 0.499_999_999_999_999_67), // scipy
            (140, 0.113_520_063_086_923_22, 0.049_999_999_999_991_93), // scipy
            (500, 0.0367, 0.499_365_405_714_218_5),                 // MTW C
            (1000, 0.04, 0.079_339_554_975_411_56),                 // MTW C
            (1500, 0.035_382_721_307_572_196, 0.045_649_608_591_164_625), // MTW C
            (1000, 0.0615, 9.907_150_269_273_623e-4),               // scipy, n·d² = 3.8
            (500, 0.1377, 9.880_845_205_075_259e-9),                // scipy, n·d² = 9.5
        ];
        for (n, d, want) in cases {
            let (p, method) = ks_p_value(n, d);
            assert_eq!(method, KsMethod::Exact, "n={n}");
            assert_rel(p, want, 2e-9, &format!("n={n} d={d}"));
        }
        assert_eq!(ks_p_value(10, 0.05), (1.0, KsMethod::Exact), "d ≤ 1/(2n)");
        assert_eq!(ks_p_value(10, 1.0), (0.0, KsMethod::Exact));
        // Ruben–Gambino: P(D_n ≥ d) = 2(1 − d)^n for d ≥ 1 − 1/n.
        assert_rel(
            ks_p_value(10, 0.95).0,
            2.0 * 0.05f64.powi(10),
            1e-12,
            "d near 1",
        );
    }

    #[test]
    fn ks_closed_form_samples_match_scipy() {
        // n = 1500 is exact. numpy 2.4 / scipy 1.17.1: x = distorted_exponential(1500, 100,
        // 1.1); stats.kstest(x, 'expon', args=(0, 100)).statistic = 0.035382721307572196;
        // MTW's published C code: 1 − K(1500, D) = 0.045649608591164625 (scipy's
        // Pelz–Good value 0.0456496133548383 agrees to 1e-7).
        let x = distorted_exponential(1500, 100.0, 1.1);
        let r = ks_one_sample_sorted(&x, expon_cdf(100.0)).expect("non-empty");
        assert_eq!(r.method, KsMethod::Exact);
        assert_rel(r.statistic, 0.035_382_721_307_572_196, 1e-10, "n=1500 D");
        assert_rel(r.p_value, 0.045_649_608_591_164_625, 1e-8, "n=1500 p");

        // n = 5000 is asymptotic. Same construction with a = 1.03: D = 0.010973679758802868;
        // scipy.special.kolmogorov((√n + 0.12 + 0.11/√n)·D) = 0.5814929511726923, and
        // stats.kstest(..., method='exact') = 0.5798170650901765 (Stephens is 0.3% off).
        let x = distorted_exponential(5000, 100.0, 1.03);
        let r = ks_one_sample_sorted(&x, expon_cdf(100.0)).expect("non-empty");
        assert_eq!(r.method, KsMethod::Asymptotic);
        assert_rel(r.statistic, 0.010_973_679_758_802_868, 1e-10, "n=5000 D");
        assert_rel(r.p_value, 0.581_492_951_172_692_3, 1e-9, "n=5000 p");
        assert_rel(
            r.p_value,
            0.579_817_065_090_176_5,
            5e-3,
            "n=5000 p vs exact",
        );
    }

    #[test]
    fn kolmogorov_sf_matches_scipy() {
        // scipy 1.17.1 scipy.special.kolmogorov(λ).
        for (lambda, want) in [
            (0.3, 0.999_990_694_198_665_5),
            (0.7, 0.711_235_195_029_689_3),
            (1.0, 0.269_999_671_677_354_56),
            (1.5, 0.022_217_962_616_525_127),
            (3.0, 3.045_995_948_942_526e-8),
            (5.0, 3.857_499_695_927_835_6e-22),
        ] {
            assert_rel(kolmogorov_sf(lambda), want, 1e-12, &format!("λ={lambda}"));
        }
        assert_eq!(kolmogorov_sf(0.0), 1.0);
    }

    #[test]
    fn ks_two_sample_matches_scipy() {
        // scipy 1.17.1 stats.ks_2samp(A, B): statistic 0.4722222222222222 (17/36);
        // p reference: scipy.special.kolmogorov((√e + 0.12 + 0.11/√e)·D), e = 12·9/21,
        // = 0.14165266702686855 (ks_2samp method='exact' gives 0.15895, method='asymp'
        // 0.15359: at e ≈ 5 the asymptotic value is rough, as documented).
        let a = [
            3.0, 7.5, 9.0, 12.0, 12.0, 15.5, 21.0, 22.0, 30.0, 41.0, 44.5, 60.0,
        ];
        let b = [12.0, 18.0, 25.0, 33.0, 47.0, 52.0, 58.0, 71.0, 95.0];
        let r = ks_two_sample(&a, &b).expect("non-empty");
        assert_eq!((r.n, r.m), (12, 9));
        assert_eq!(r.statistic, 17.0 / 36.0);
        assert_rel(r.p_value, 0.141_652_667_026_868_55, 1e-12, "small p");
        // Symmetric in its arguments.
        assert_eq!(
            ks_two_sample(&b, &a).map(|r| r.statistic),
            Some(r.statistic)
        );

        // a_i = −100·ln(1 − (i + 0.5)/300), b_j = −115·ln(1 − (j + 0.5)/200):
        // ks_2samp statistic 0.055, kolmogorov(Stephens λ) = 0.851256815129888
        // (ks_2samp method='exact' 0.8474071044972649).
        let a: Vec<f64> = (0..300)
            .map(|i| -100.0 * (-(i as f64 + 0.5) / 300.0).ln_1p())
            .collect();
        let b: Vec<f64> = (0..200)
            .map(|j| -115.0 * (-(j as f64 + 0.5) / 200.0).ln_1p())
            .collect();
        let r = ks_two_sample_sorted(&a, &b).expect("non-empty");
        assert_rel(r.statistic, 0.055, 1e-12, "cf D");
        assert_rel(r.p_value, 0.851_256_815_129_888, 1e-12, "cf p");
        assert_rel(r.p_value, 0.847_407_104_497_264_9, 1e-2, "cf p vs exact");
    }

    #[test]
    fn anderson_darling_matches_references() {
        // Statistic: case-0 A² from the formula in numpy 2.4 with u = scipy 1.17.1
        // stats.expon.cdf(x, 0, 100); stats.goodness_of_fit(stats.expon, x, known_params=
        // {'loc': 0, 'scale': 100}, statistic='ad') gives the same statistic.
        // p-value: 1 − AD(n, A²) from Marsaglia & Marsaglia's published AnDarl.c (gcc 12).
        // Monte Carlo check: goodness_of_fit(..., n_mc_samples=99999, rng=default_rng(1))
        // gives p 0.4213 for X1 and 0.02505 for X3.
        let r = anderson_darling(&X1, expon_cdf(100.0)).expect("non-empty");
        assert_eq!(r.n, 10);
        assert_rel(r.statistic, 0.884_672_046_437_451_3, 1e-12, "X1 A²");
        assert_rel(r.p_value, 0.420_858_102_532_029_27, 1e-10, "X1 p");
        assert!((r.p_value - 0.4213).abs() < 5e-3);

        let x3 = [
            2.0, 4.5, 6.0, 9.0, 11.0, 14.0, 17.5, 21.0, 26.0, 30.0, 35.0, 41.0, 48.0, 57.0, 66.0,
            80.0, 98.0, 125.0, 170.0, 420.0,
        ];
        let r = anderson_darling(&x3, expon_cdf(100.0)).expect("non-empty");
        assert_rel(r.statistic, 3.074_639_963_458_430_7, 1e-12, "X3 A²");
        assert_rel(r.p_value, 0.025_530_315_576_132_945, 1e-9, "X3 p");
        assert!((r.p_value - 0.02505).abs() < 2e-3);
    }

    #[test]
    fn ad_p_value_matches_marsaglias_examples_and_stephens_table() {
        // The two samples in main() of AnDarl.c (Marsaglia & Marsaglia 2004), tested for
        // uniformity; the published program prints AD = 0.11816422490640723 and
        // 0.99292754685299645, i.e. p = 1 − AD. A² from numpy: 0.36320396236737196 and
        // 4.231606537078047.
        let u = [
            0.0392, 0.0884, 0.260, 0.310, 0.454, 0.644, 0.797, 0.813, 0.921, 0.960,
        ];
        let w = [
            0.0015, 0.0078, 0.0676, 0.0961, 0.106, 0.107, 0.835, 0.861, 0.948, 0.992,
        ];
        let r = anderson_darling_sorted(&u, |x| x).expect("non-empty");
        assert_rel(r.statistic, 0.363_203_962_367_371_96, 1e-12, "u A²");
        assert_rel(r.p_value, 1.0 - 0.118_164_224_906_407_23, 1e-12, "u p");
        let r = anderson_darling_sorted(&w, |x| x).expect("non-empty");
        assert_rel(r.statistic, 4.231_606_537_078_047, 1e-12, "w A²");
        assert_rel(r.p_value, 1.0 - 0.992_927_546_852_996_4, 1e-9, "w p");
        // AnDarl.c's interactive example, as quoted in a README that ran it:
        // "Prob(A_100 < 0.9000)=0.586025560369086".
        assert_rel(
            ad_p_value(100, 0.9),
            1.0 - 0.586_025_560_369_086,
            1e-12,
            "n=100",
        );
        // Asymptotic upper percentage points for case 0 (Stephens 1974, JASA 69; D'Agostino
        // & Stephens 1986, Table 4.2): 1.933 → 10%, 2.492 → 5%, 3.070 → 2.5%.
        for (z, p) in [(1.933, 0.10), (2.492, 0.05), (3.070, 0.025)] {
            assert!((ad_p_value(1_000_000, z) - p).abs() < 3e-4, "z={z}");
        }
    }

    #[test]
    fn ad_far_tail_keeps_falling() {
        // Published 1 − AD(10, z) floors at 0.0006/n: AnDarl.c gives 6.71e-5 at z = 10 and
        // 6.00e-5 at z = 20. Ours keeps decreasing and stays continuous where it switches
        // (ADinf tail 1e-3, z ≈ 5.97).
        let mut last = 1.0;
        for i in 0..200 {
            let z = 0.1 + 0.2 * i as f64;
            let p = ad_p_value(10, z);
            assert!(
                p <= last && (0.0..=1.0).contains(&p),
                "z={z}: {p} after {last}"
            );
            last = p;
        }
        assert!(ad_p_value(10, 10.0) < 1e-5 && ad_p_value(10, 20.0) < 1e-20);
        let z0 = (0..2000)
            .map(|i| 5.9 + 1e-4 * f64::from(i))
            .find(|&z| adinf_sf(z) < AD_TAIL)
            .expect("the switch lies between 5.9 and 6.1");
        let (below, above) = (ad_p_value(10, z0 - 1e-4), ad_p_value(10, z0));
        assert!((below - above).abs() < 2e-6, "{below} vs {above}");
        // A value the hypothesis calls impossible gives a large, finite A² and p = 0.
        let r = anderson_darling(&[-5.0, 10.0, 20.0], expon_cdf(100.0)).expect("non-empty");
        assert!(r.statistic.is_finite() && r.statistic > 100.0);
        assert_eq!(r.p_value, 0.0);
    }

    #[test]
    fn fixed_interval_error_matches_numpy() {
        // numpy 2.4: d = abs(x − 100); d.mean() = 3.1749999999999994,
        // np.percentile(d, 99) = 26.975000000000016, d.max() = 30.0.
        let x = [
            100.0, 101.5, 98.0, 100.2, 99.9, 130.0, 100.0, 100.4, 99.0, 100.1, 97.5, 100.3,
        ];
        let e = fixed_interval_error(&x, 100.0).expect("non-empty");
        assert_eq!(e.n, 12);
        assert_rel(e.mean, 3.175, 1e-12, "mean");
        assert_rel(e.p99, 26.975, 1e-12, "p99");
        assert_eq!(e.max, 30.0);
        let one = fixed_interval_error(&[95.0, f64::NAN], 100.0).expect("one value");
        assert_eq!((one.n, one.mean, one.p99, one.max), (1, 5.0, 5.0, 5.0));
        assert_eq!(fixed_interval_error(&[], 100.0), None);
        assert_eq!(fixed_interval_error(&[1.0], f64::NAN), None);
    }

    #[test]
    fn ecdf_points_are_exact_and_downsampled() {
        let s = sorted(&[3.0, 1.0, 2.0, 2.0, 5.0]);
        assert_eq!(
            ecdf_points_sorted(&s, 100),
            vec![(1.0, 0.2), (2.0, 0.6), (3.0, 0.8), (5.0, 1.0)]
        );
        let big: Vec<f64> = (0..100_000).map(f64::from).collect();
        let pts = ecdf_points_sorted(&big, 1000);
        assert_eq!(pts.len(), 1000);
        assert_eq!(pts[0], (0.0, 1e-5));
        assert_eq!(pts[999], (99_999.0, 1.0));
        assert!(pts.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
        assert_eq!(ecdf_points_sorted(&big, 1), vec![(99_999.0, 1.0)]);
        assert!(ecdf_points_sorted(&[], 10).is_empty());
        assert!(ecdf_points_sorted(&s, 0).is_empty());
    }

    #[test]
    fn qq_pairs_use_the_quantile_function() {
        // scipy 1.17.1 stats.expon.ppf((i + 0.5)/5, 0, 100), i = 0..5.
        let want = [
            10.536_051_565_782_63,
            35.667_494_393_873_24,
            69.314_718_055_994_53,
            120.397_280_432_593_59,
            230.258_509_299_404_58,
        ];
        let d = Distribution::new(DistKind::Exponential, 10.0, None).expect("valid");
        let s = [1.0, 2.0, 3.0, 4.0, 5.0];
        let pairs = qq_pairs_sorted(&s, 10, |p| d.quantile_ms(p));
        assert_eq!(pairs.len(), 5);
        for ((q, x), (w, v)) in pairs.iter().zip(want.iter().zip(s)) {
            assert_rel(*q, *w, 1e-12, "theoretical quantile");
            assert_eq!(*x, v);
        }
        let big: Vec<f64> = (0..10_000).map(f64::from).collect();
        let pairs = qq_pairs_sorted(&big, 200, |p| p);
        assert_eq!(pairs.len(), 200);
        assert_eq!((pairs[0].1, pairs[199].1), (0.0, 9999.0));

        // Sample quantiles interpolate like numpy.percentile: [5.5, 9.1] for 1..=10.
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        let at = qq_pairs_at_sorted(&ten, &[0.5, 0.9, 1.5], |p| 2.0 * p);
        assert_eq!(at.len(), 2);
        assert_eq!(at[0], (1.0, 5.5));
        assert!((at[1].0 - 1.8).abs() < 1e-12 && (at[1].1 - 9.1).abs() < 1e-12);
    }

    #[test]
    fn student_t_quantiles_match_tables_and_scipy() {
        // Printed tables (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2): 3 decimals.
        for (df, want) in [(1, 12.706), (4, 2.776), (30, 2.042)] {
            let t = student_t_quantile(0.975, df).expect("valid");
            assert!((t - want).abs() < 5e-4, "df={df}: {t}");
        }
        // scipy 1.17.1 stats.t.ppf(p, df).
        for (p, df, want) in [
            (0.975, 1, 12.706_204_736_174_694),
            (0.975, 4, 2.776_445_105_197_793_4),
            (0.975, 30, 2.042_272_456_301_237_8),
            (0.95, 3, 2.353_363_434_801_823_3),
            (0.995, 10, 3.169_272_672_616_95),
            (0.9, 120, 1.288_646_233_656_378),
        ] {
            let t = student_t_quantile(p, df).expect("valid");
            assert_rel(t, want, 1e-12, &format!("p={p} df={df}"));
            let lower = student_t_quantile(1.0 - p, df).expect("valid");
            assert_rel(lower, -want, 1e-12, "symmetry");
        }
        // mpmath 1.3 (50 digits): where statrs' inverse alone is 3.5e-6 off (df = 1e5) and
        // where it is not used (df = 1e6).
        for (df, want) in [
            (100_000, 1.959_987_707_534_609_6),
            (1_000_000, 1.959_966_356_814_107),
        ] {
            let t = student_t_quantile(0.975, df).expect("valid");
            assert_rel(t, want, 1e-9, &format!("df={df}"));
        }
        // mpmath 1.3 (60 digits, root of the regularised incomplete beta): the Cornish–Fisher
        // side, where Newton on statrs' sf would be 1e-6 off (df = 1e9) or worse.
        for (p, df, want) in [
            (0.975, 100_001, 1.959_987_707_297_379_2),
            (1e-15, 100_001, -7.942_617_391_376_471),
            (0.7, 1_000_000, 0.524_400_679_860_208_9),
            (0.975, 1_000_000_000, 1.959_963_986_912_325_5),
            (1e-15, 1_000_000_000, -7.941_345_453_361_502),
            (0.975, 1_000_000_000_000, 1.959_963_984_542_426_5),
        ] {
            let t = student_t_quantile(p, df).expect("valid");
            assert_rel(t, want, 1e-14, &format!("p={p} df={df}"));
        }
        // mpmath: the Cauchy tail, −cot(π·1e-12), where Newton from statrs' start is 100% off
        // after four steps; and next to the median, where statrs' sf is flat at exactly 1/2
        // (x = df/(df + t²) rounds to 1) — references from ½·I_y(1/2, df/2) at the binary p.
        for (p, df, want, tol) in [
            (1e-12, 1, -318_309_886_183.790_7, 1e-15),
            (0.5 + 1e-9, 10, 2.569_977_962_246_549_8e-9, 1e-12),
            (0.5 - 1e-6, 100_000, -2.506_634_541_145_079e-6, 1e-9),
        ] {
            let t = student_t_quantile(p, df).expect("valid");
            assert_rel(t, want, tol, &format!("p={p} df={df}"));
        }
        assert_eq!(student_t_quantile(0.5, 7), Some(0.0));
        assert_eq!(student_t_quantile(1.0, 7), None);
        assert_eq!(student_t_quantile(1e-16, 7), None);
        assert_eq!(student_t_quantile(0.9, 0), None);
    }

    #[test]
    fn mean_ci95_matches_scipy() {
        // scipy 1.17.1: stats.t.interval(0.95, 4, loc=10.1, scale=stats.sem(v)) has half
        // width 0.34004369032912685.
        let (mean, half) = mean_ci95(&[10.2, 9.8, 10.5, 10.1, 9.9]).expect("non-empty");
        assert_rel(mean, 10.1, 1e-12, "mean");
        assert_rel(
            half.expect("n > 1"),
            0.340_043_690_329_126_85,
            1e-12,
            "half width",
        );
        // Two values: t_{0.975,1}·s/√2 with s = √2, so exactly t = 12.706204736174694.
        let (_, half) = mean_ci95(&[3.0, 5.0]).expect("non-empty");
        assert_rel(half.expect("n > 1"), 12.706_204_736_174_694, 1e-12, "n=2");
        assert_eq!(mean_ci95(&[7.0]), Some((7.0, None)));
        assert_eq!(mean_ci95(&[]), None);
    }

    #[test]
    fn empty_and_nan_inputs_give_none_not_nan() {
        let cdf = expon_cdf(100.0);
        assert_eq!(ks_one_sample(&[], &cdf), None);
        assert_eq!(ks_one_sample(&[f64::NAN], &cdf), None);
        assert_eq!(ks_two_sample(&[1.0], &[]), None);
        assert_eq!(anderson_darling(&[], &cdf), None);
        assert_eq!(ks_one_sample(&[1.0], |_| f64::NAN), None);
        assert_eq!(anderson_darling(&[1.0], |_| f64::NAN), None);
        // NaN values are dropped: same result as without them.
        let with_nan = [f64::NAN, 12.0, 35.5, -f64::NAN, 48.0];
        let r = ks_one_sample(&with_nan, &cdf).expect("three values");
        assert_eq!(r, ks_one_sample(&[48.0, 12.0, 35.5], &cdf).expect("three"));
        let mut total_cmp_sorted = with_nan.to_vec();
        total_cmp_sorted.sort_by(f64::total_cmp);
        assert_eq!(ks_one_sample_sorted(&total_cmp_sorted, &cdf), Some(r));
    }

    fn exponential_schedule() -> (Distribution, Vec<f64>) {
        // Rate 10/s: mean interval 100 ms.
        let d = Distribution::new(DistKind::Exponential, 10.0, None).expect("valid");
        let mut rng = StdRng::seed_from_u64(20_240_601);
        let gaps = (0..2000).map(|_| d.sample_ms(&mut rng)).collect();
        (d, gaps)
    }

    #[test]
    fn seeded_exponential_schedule_fits_its_own_distribution() {
        let (d, gaps) = exponential_schedule();
        let s = sorted(&gaps);
        let ks = ks_one_sample_sorted(&s, |x| d.cdf_ms(x)).expect("non-empty");
        assert_eq!((ks.n, ks.method), (2000, KsMethod::Exact));
        assert!(ks.p_value > 0.01, "{ks:?}");
        let ad = anderson_darling_sorted(&s, |x| d.cdf_ms(x)).expect("non-empty");
        assert!(ad.p_value > 0.01, "{ad:?}");
    }

    #[test]
    fn seeded_exponential_schedule_is_not_uniform() {
        let (_, gaps) = exponential_schedule();
        // Uniform on [0, 0.2 s] has the same 100 ms mean.
        let u = Distribution::new(DistKind::Uniform, 0.2, None).expect("valid");
        let ks = ks_one_sample(&gaps, |x| u.cdf_ms(x)).expect("non-empty");
        assert!(ks.p_value < 1e-6, "{ks:?}");
        let ad = anderson_darling(&gaps, |x| u.cdf_ms(x)).expect("non-empty");
        assert!(ad.p_value < 1e-6, "{ad:?}");
    }
}
