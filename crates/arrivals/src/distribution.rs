//! Inter-event time distributions: validated once at construction, then sampled (for the
//! client's schedule) and evaluated (CDF, density, quantiles — for the report's overlays and
//! goodness-of-fit). All times here are milliseconds; parameters keep the CLI's units.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand_distr::{Distribution as _, Exp, LogNormal, Pareto};
use serde::{Deserialize, Serialize};
use statrs::function::erf::{erfc, erfc_inv};

/// The family of an inter-event distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DistKind {
    /// Fixed interval T seconds (`d`).
    Deterministic,
    /// Uniform on [0, T] seconds (`u`).
    Uniform,
    /// Exponential with mean rate λ per second (`e`).
    Exponential,
    /// Pareto with minimum interval x_m seconds and shape α (`p`): heavy-tailed.
    Pareto,
    /// Log-normal with mean interval m seconds and log-scale σ (`l`): heavy-tailed.
    LogNormal,
}

impl DistKind {
    /// The one-letter name used on the command line and in scenario files.
    pub fn short(self) -> &'static str {
        match self {
            Self::Deterministic => "d",
            Self::Uniform => "u",
            Self::Exponential => "e",
            Self::Pareto => "p",
            Self::LogNormal => "l",
        }
    }

    /// Default `--shape` for the families that take one.
    pub fn default_shape(self) -> Option<f64> {
        match self {
            Self::Pareto => Some(2.0),
            Self::LogNormal => Some(1.0),
            _ => None,
        }
    }
}

impl FromStr for DistKind {
    type Err = DistributionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "d" | "det" | "deterministic" => Self::Deterministic,
            "u" | "uni" | "uniform" => Self::Uniform,
            "e" | "exp" | "exponential" => Self::Exponential,
            "p" | "pareto" => Self::Pareto,
            "l" | "lognormal" | "log-normal" => Self::LogNormal,
            _ => return Err(DistributionError::UnknownKind(s.to_owned())),
        })
    }
}

impl fmt::Display for DistKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Deterministic => "deterministic",
            Self::Uniform => "uniform",
            Self::Exponential => "exponential",
            Self::Pareto => "pareto",
            Self::LogNormal => "lognormal",
        })
    }
}

/// Why a distribution was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DistributionError {
    #[error(
        "unknown distribution '{0}': expected d (deterministic), u (uniform), e (exponential), p (pareto) or l (lognormal)"
    )]
    UnknownKind(String),
    #[error("invalid --param {value} for {kind}: {why}")]
    Param {
        kind: DistKind,
        value: f64,
        why: &'static str,
    },
    #[error("invalid --shape {value} for {kind}: {why}")]
    Shape {
        kind: DistKind,
        value: f64,
        why: &'static str,
    },
}

/// A validated inter-event distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Distribution {
    kind: DistKind,
    param: f64,
    shape: Option<f64>,
}

impl Distribution {
    /// Validates `param` (and `shape` for Pareto and log-normal; `None` takes the default)
    /// with the CLI's meanings: `d` and `u` take T seconds (≥ 0), `e` a rate λ per second
    /// (> 0), `p` a minimum interval x_m seconds (> 0) and `l` a mean interval (> 0).
    pub fn new(kind: DistKind, param: f64, shape: Option<f64>) -> Result<Self, DistributionError> {
        let bad = |why| DistributionError::Param {
            kind,
            value: param,
            why,
        };
        if !param.is_finite() {
            return Err(bad("must be a finite number"));
        }
        match kind {
            DistKind::Deterministic | DistKind::Uniform if param < 0.0 => {
                return Err(bad("the interval must not be negative"));
            }
            DistKind::Exponential if param <= 0.0 => {
                return Err(bad("the rate must be greater than zero"));
            }
            DistKind::Pareto | DistKind::LogNormal if param <= 0.0 => {
                return Err(bad("the interval must be greater than zero"));
            }
            _ => {}
        }
        let shape = match (kind.default_shape(), shape) {
            (None, None) => None,
            (None, Some(value)) => {
                return Err(DistributionError::Shape {
                    kind,
                    value,
                    why: "only p (pareto) and l (lognormal) take a shape",
                });
            }
            (Some(default), given) => {
                let value = given.unwrap_or(default);
                if !(value.is_finite() && value > 0.0) {
                    return Err(DistributionError::Shape {
                        kind,
                        value,
                        why: "must be a finite number greater than zero",
                    });
                }
                Some(value)
            }
        };
        Ok(Self { kind, param, shape })
    }

    pub fn kind(&self) -> DistKind {
        self.kind
    }

    /// The parameter in the CLI's units.
    pub fn param(&self) -> f64 {
        self.param
    }

    /// The shape (Pareto α, log-normal σ), for the families that take one.
    pub fn shape(&self) -> Option<f64> {
        self.shape
    }

    /// True when the distribution has a density (not a fixed interval).
    pub fn is_continuous(&self) -> bool {
        match self.kind {
            DistKind::Deterministic => false,
            DistKind::Uniform => self.param > 0.0,
            _ => true,
        }
    }

    /// A human description, e.g. `uniform on [0, 1000 ms]`.
    pub fn describe(&self) -> String {
        let ms = self.param * 1e3;
        match self.kind {
            DistKind::Deterministic => format!("deterministic {} ms", fmt_num(ms)),
            DistKind::Uniform => format!("uniform on [0, {} ms]", fmt_num(ms)),
            DistKind::Exponential => format!(
                "exponential, rate {}/s (mean {} ms)",
                fmt_num(self.param),
                fmt_num(1e3 / self.param)
            ),
            DistKind::Pareto => format!(
                "pareto, x_m {} ms, shape {}",
                fmt_num(ms),
                fmt_num(self.shape_or_default())
            ),
            DistKind::LogNormal => format!(
                "lognormal, mean {} ms, sigma {}",
                fmt_num(ms),
                fmt_num(self.shape_or_default())
            ),
        }
    }

    fn shape_or_default(&self) -> f64 {
        self.shape.or(self.kind.default_shape()).unwrap_or(1.0)
    }

    /// Log-normal μ of the underlying normal, in ln(ms).
    fn lognormal_mu(&self) -> f64 {
        let sigma = self.shape_or_default();
        (self.param * 1e3).ln() - sigma * sigma / 2.0
    }

    /// The mean interval in milliseconds; `None` when it is infinite (Pareto with α ≤ 1).
    pub fn mean_ms(&self) -> Option<f64> {
        let ms = self.param * 1e3;
        match self.kind {
            DistKind::Deterministic => Some(ms),
            DistKind::Uniform => Some(ms / 2.0),
            DistKind::Exponential => Some(1e3 / self.param),
            DistKind::Pareto => {
                let a = self.shape_or_default();
                (a > 1.0).then(|| a * ms / (a - 1.0))
            }
            DistKind::LogNormal => Some(ms),
        }
    }

    /// Draws one interval in milliseconds.
    pub fn sample_ms<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let ms = self.param * 1e3;
        match self.kind {
            DistKind::Deterministic => ms,
            DistKind::Uniform => rng.random::<f64>() * ms,
            // The constructors cannot fail: the parameters were validated in `new`.
            DistKind::Exponential => Exp::new(self.param / 1e3).map_or(0.0, |d| d.sample(rng)),
            DistKind::Pareto => {
                Pareto::new(ms, self.shape_or_default()).map_or(ms, |d| d.sample(rng))
            }
            DistKind::LogNormal => LogNormal::new(self.lognormal_mu(), self.shape_or_default())
                .map_or(ms, |d| d.sample(rng)),
        }
    }

    /// P(X ≤ x) for an interval of `x` milliseconds.
    pub fn cdf_ms(&self, x: f64) -> f64 {
        let ms = self.param * 1e3;
        match self.kind {
            DistKind::Deterministic => f64::from(u8::from(x >= ms)),
            DistKind::Uniform if ms == 0.0 => f64::from(u8::from(x >= 0.0)),
            DistKind::Uniform => (x / ms).clamp(0.0, 1.0),
            DistKind::Exponential if x <= 0.0 => 0.0,
            DistKind::Exponential => 1.0 - (-x * self.param / 1e3).exp(),
            DistKind::Pareto if x <= ms => 0.0,
            DistKind::Pareto => 1.0 - (ms / x).powf(self.shape_or_default()),
            DistKind::LogNormal if x <= 0.0 => 0.0,
            DistKind::LogNormal => {
                normal_cdf((x.ln() - self.lognormal_mu()) / self.shape_or_default())
            }
        }
    }

    /// Density at `x` milliseconds (per millisecond); `None` for a fixed interval.
    pub fn pdf_ms(&self, x: f64) -> Option<f64> {
        if !self.is_continuous() {
            return None;
        }
        let ms = self.param * 1e3;
        Some(match self.kind {
            DistKind::Deterministic => return None,
            DistKind::Uniform => {
                if (0.0..=ms).contains(&x) {
                    1.0 / ms
                } else {
                    0.0
                }
            }
            DistKind::Exponential if x < 0.0 => 0.0,
            DistKind::Exponential => {
                let rate = self.param / 1e3;
                rate * (-rate * x).exp()
            }
            DistKind::Pareto if x < ms => 0.0,
            DistKind::Pareto => {
                let a = self.shape_or_default();
                a * ms.powf(a) / x.powf(a + 1.0)
            }
            DistKind::LogNormal if x <= 0.0 => 0.0,
            DistKind::LogNormal => {
                let s = self.shape_or_default();
                let z = (x.ln() - self.lognormal_mu()) / s;
                (-z * z / 2.0).exp() / (x * s * (2.0 * std::f64::consts::PI).sqrt())
            }
        })
    }

    /// The interval in milliseconds below which a fraction `p` (0 < p < 1) of draws fall.
    pub fn quantile_ms(&self, p: f64) -> f64 {
        let p = p.clamp(0.0, 1.0);
        let ms = self.param * 1e3;
        match self.kind {
            DistKind::Deterministic => ms,
            DistKind::Uniform => p * ms,
            DistKind::Exponential => -(1.0 - p).ln() * 1e3 / self.param,
            DistKind::Pareto => ms * (1.0 - p).powf(-1.0 / self.shape_or_default()),
            DistKind::LogNormal => {
                (self.lognormal_mu() + self.shape_or_default() * normal_quantile(p)).exp()
            }
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A number without trailing zeros: 1000, 0.5, 2.25.
fn fmt_num(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Standard normal CDF Φ(z) = erfc(−z/√2)/2, with statrs' erfc (relative error below 1e-10
/// for z from −30 to 8 against mpmath; the Numerical Recipes fit it replaces had 1.2e-7).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Inverse standard normal CDF Φ⁻¹(p) = −√2·erfc⁻¹(2p), with statrs' erfc_inv (relative
/// error about 1e-15 against mpmath); −∞ for p ≤ 0 and +∞ for p ≥ 1.
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    -std::f64::consts::SQRT_2 * erfc_inv(2.0 * p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn dist(kind: &str, param: f64) -> Distribution {
        Distribution::new(kind.parse().expect("kind"), param, None).expect("valid")
    }

    #[test]
    fn bad_parameters_are_refused() {
        let e = DistKind::Exponential;
        assert!(Distribution::new(e, 0.0, None).is_err());
        assert!(Distribution::new(DistKind::Uniform, -1.0, None).is_err());
        assert!(Distribution::new(DistKind::Deterministic, f64::NAN, None).is_err());
        assert!(Distribution::new(e, f64::INFINITY, None).is_err());
        assert!(Distribution::new(DistKind::Pareto, 1.0, Some(0.0)).is_err());
        assert!(Distribution::new(DistKind::Uniform, 1.0, Some(2.0)).is_err());
        assert!("x".parse::<DistKind>().is_err());
        let msg = Distribution::new(e, 0.0, None)
            .expect_err("refused")
            .to_string();
        assert_eq!(
            msg,
            "invalid --param 0 for exponential: the rate must be greater than zero"
        );
    }

    #[test]
    fn long_names_parse() {
        assert_eq!("uniform".parse::<DistKind>(), Ok(DistKind::Uniform));
        assert_eq!("Exponential".parse::<DistKind>(), Ok(DistKind::Exponential));
        assert_eq!("log-normal".parse::<DistKind>(), Ok(DistKind::LogNormal));
    }

    #[test]
    fn means_follow_the_cli_meanings() {
        assert_eq!(dist("d", 0.5).mean_ms(), Some(500.0));
        assert_eq!(dist("u", 2.0).mean_ms(), Some(1000.0));
        assert_eq!(dist("e", 0.5).mean_ms(), Some(2000.0));
        assert_eq!(dist("p", 0.1).mean_ms(), Some(200.0));
        assert_eq!(dist("l", 0.3).mean_ms(), Some(300.0));
        let heavy = Distribution::new(DistKind::Pareto, 0.1, Some(1.0)).expect("valid");
        assert_eq!(heavy.mean_ms(), None);
    }

    #[test]
    fn sample_means_converge_for_every_family() {
        let mut rng = StdRng::seed_from_u64(7);
        for (kind, param) in [("d", 0.5), ("u", 2.0), ("e", 4.0), ("p", 0.1), ("l", 0.3)] {
            let d = dist(kind, param);
            let n = 200_000;
            let mean = (0..n).map(|_| d.sample_ms(&mut rng)).sum::<f64>() / n as f64;
            let want = d.mean_ms().expect("finite mean");
            // Pareto α = 2 has infinite variance, so its sample mean converges slowly.
            let tol = if kind == "p" { 0.05 } else { 0.01 };
            assert!((mean / want - 1.0).abs() < tol, "{kind}: {mean} vs {want}");
        }
    }

    #[test]
    fn quantile_inverts_cdf() {
        for (kind, param) in [("u", 2.0), ("e", 4.0), ("p", 0.1), ("l", 0.3)] {
            let d = dist(kind, param);
            for p in [0.01, 0.1, 0.5, 0.9, 0.99] {
                let x = d.quantile_ms(p);
                assert!(
                    (d.cdf_ms(x) - p).abs() < 1e-6,
                    "{kind} p={p}: {}",
                    d.cdf_ms(x)
                );
            }
        }
    }

    #[test]
    fn density_integrates_to_one() {
        for (kind, param) in [("u", 2.0), ("e", 4.0), ("p", 0.1), ("l", 0.3)] {
            let d = dist(kind, param);
            let hi = d.quantile_ms(0.999);
            let steps = 200_000;
            let h = hi / steps as f64;
            let area: f64 = (0..steps)
                .map(|i| d.pdf_ms((i as f64 + 0.5) * h).expect("continuous") * h)
                .sum();
            assert!((area - 0.999).abs() < 2e-3, "{kind}: {area}");
        }
    }

    #[test]
    fn normal_helpers_match_tables() {
        // Φ(1.96) = 0.9750021 (standard normal table).
        assert!((normal_cdf(1.96) - 0.975_002_1).abs() < 2e-7);
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-6);
        assert!((normal_cdf(0.0) - 0.5).abs() < 2e-7);
        // mpmath 1.3 (50 digits): ncdf(1), ncdf(−5), and √2·erfinv(2p − 1) at p = 0.975, 1e-10.
        let rel = |got: f64, want: f64| (got / want - 1.0).abs();
        assert!(rel(normal_cdf(1.0), 0.841_344_746_068_542_9) < 1e-10);
        assert!(rel(normal_cdf(-5.0), 2.866_515_718_791_939e-7) < 1e-10);
        assert_eq!(normal_cdf(0.0), 0.5);
        assert!(rel(normal_quantile(0.975), 1.959_963_984_540_054_2) < 1e-14);
        assert!(rel(normal_quantile(1e-10), -6.361_340_902_404_056) < 1e-14);
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(normal_quantile(1.0), f64::INFINITY);
    }

    #[test]
    fn describe_reads_well() {
        assert_eq!(dist("u", 1.0).describe(), "uniform on [0, 1000 ms]");
        assert_eq!(
            dist("e", 0.5).describe(),
            "exponential, rate 0.5/s (mean 2000 ms)"
        );
        assert_eq!(dist("d", 0.005).describe(), "deterministic 5 ms");
    }
}
