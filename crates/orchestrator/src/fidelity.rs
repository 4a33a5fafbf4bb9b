//! Measurement fidelity of a recorded run: how closely each gap series follows the
//! distribution the scenario configured (goodness of fit), how late the clients sent, how far
//! what the server observed is from what the clients sent (two-sample KS), and the mean with
//! its 95% confidence interval of every such figure across the runs of a repeated scenario.
//! The statistics themselves are `arrivals::gof`'s; this module decides what is compared
//! with what.

use arrivals::gof::{self, AdResult, FixedIntervalError, KsResult, KsTwoResult};
use arrivals::{Distribution, Summary};

use crate::dataset::{Dataset, UNMATCHED};

/// A gap (or time) series of a run, measured on the server's or on the clients' side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Series {
    /// Server: time since the previous accept.
    Connection,
    /// Server: time since the previous message on the connection.
    Data,
    /// Server: the data gap on the kernel's receive clock (when the bytes arrived).
    KernelData,
    /// Server: the instant it read a message minus the kernel's arrival instant — the delay
    /// the server's mode added.
    ServerDelay,
    /// Both: a worker's `connect` call to the server's accept (wall clocks of one host).
    Wait,
    /// Server: a connection's lifetime, accept to close (its service time).
    Service,
    /// Clients: time between consecutive `connect` calls (wall clock).
    Connect,
    /// Clients: time between a worker's consecutive actual sends, the first from its
    /// schedule start.
    Send,
    /// Clients: the intervals drawn from the distribution.
    Drawn,
    /// Clients: actual minus scheduled send time.
    Lateness,
    /// Both: data gap minus send gap of the same message (what the path and server added).
    Added,
}

impl Series {
    /// Every series, in the order of `summary.csv`.
    pub const ALL: [Series; 11] = [
        Series::Connection,
        Series::Data,
        Series::KernelData,
        Series::ServerDelay,
        Series::Wait,
        Series::Service,
        Series::Connect,
        Series::Send,
        Series::Drawn,
        Series::Lateness,
        Series::Added,
    ];

    /// The name in `summary.csv`'s `gap` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connection => "connection_gap",
            Self::Data => "data_gap",
            Self::KernelData => "kernel_data_gap",
            Self::ServerDelay => "server_delay",
            Self::Wait => "connect_wait",
            Self::Service => "service_time",
            Self::Connect => "connect_gap",
            Self::Send => "send_gap",
            Self::Drawn => "drawn_interval",
            Self::Lateness => "send_lateness",
            Self::Added => "data_minus_send_gap",
        }
    }

    /// The name in the report's tables.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Connection => "server accept gaps",
            Self::Data => "server data gaps",
            Self::KernelData => "kernel data gaps",
            Self::ServerDelay => "server delay (read − kernel arrival)",
            Self::Wait => "connect → accept wait",
            Self::Service => "service time (accept → close)",
            Self::Connect => "client connect gaps",
            Self::Send => "client send gaps",
            Self::Drawn => "drawn intervals",
            Self::Lateness => "send lateness",
            Self::Added => "data gap − send gap",
        }
    }

    /// The values of this series for `group` (every group pooled when `None`).
    pub fn values(self, d: &Dataset, group: Option<usize>) -> Vec<f64> {
        match self {
            Self::Connection => d.connection_gaps(group),
            Self::Data => d.data_gaps(group),
            Self::KernelData => d.kernel_data_gaps(group),
            Self::ServerDelay => d.server_delays(group),
            Self::Wait => d.connect_waits(group),
            Self::Service => d.service_times(group),
            Self::Connect => d.connect_gaps(group),
            Self::Send => d.send_gaps(group),
            Self::Drawn => d.drawn_intervals(group),
            Self::Lateness => d.lateness(group),
            Self::Added => d.added_ms(group),
        }
    }

    /// The distribution this series of `group` should follow, if it should follow one:
    /// the group's interval distribution for what it drew, sent and the server received;
    /// its connection process for its connect gaps, and for the server's accept gaps when it
    /// is the only group (with several, accepts interleave the groups' processes).
    pub fn expected(self, d: &Dataset, group: usize) -> Option<Distribution> {
        let g = d.scenario.clients.get(group)?;
        match self {
            Self::Data | Self::KernelData | Self::Send | Self::Drawn => Some(g.dist),
            Self::Connect => g.connect,
            Self::Connection if d.scenario.clients.len() == 1 => g.connect,
            Self::Connection
            | Self::Lateness
            | Self::Added
            | Self::ServerDelay
            | Self::Wait
            | Self::Service => None,
        }
    }
}

/// How a series fits the distribution it should follow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fit {
    /// Nothing to fit against, or no values.
    None,
    /// A continuous distribution: one-sample KS and Anderson–Darling (case 0).
    Continuous { ks: KsResult, ad: Option<AdResult> },
    /// A fixed interval T: statistics of |x − T|.
    Fixed(FixedIntervalError),
}

/// The fit of `values` to `dist`.
pub fn fit(values: &[f64], dist: &Distribution) -> Fit {
    if dist.is_continuous() {
        let sorted = gof::sorted(values);
        match gof::ks_one_sample_sorted(&sorted, |x| dist.cdf_ms(x)) {
            Some(ks) => Fit::Continuous {
                ks,
                ad: gof::anderson_darling_sorted(&sorted, |x| dist.cdf_ms(x)),
            },
            None => Fit::None,
        }
    } else {
        dist.mean_ms()
            .and_then(|t| gof::fixed_interval_error(values, t))
            .map_or(Fit::None, Fit::Fixed)
    }
}

/// One row of `summary.csv`: a series for all groups, one group, or the unmatched
/// connections, with its descriptive statistics and its fit.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub series: Series,
    /// `all`, a group label, or [`UNMATCHED`].
    pub client: String,
    pub group: Option<usize>,
    pub summary: Option<Summary>,
    /// What the fit is against.
    pub expected: Option<Distribution>,
    pub fit: Fit,
}

/// The figures of a [`Row`], in `summary.csv`'s column order after `gap` and `client`.
pub const SUMMARY_FIGURES: [&str; 14] = [
    "count",
    "mean_ms",
    "median_ms",
    "p90_ms",
    "p99_ms",
    "min_ms",
    "max_ms",
    "ks_d",
    "ks_p",
    "ad_a2",
    "ad_p",
    "abs_err_mean_ms",
    "abs_err_p99_ms",
    "abs_err_max_ms",
];

impl Row {
    /// The values of [`SUMMARY_FIGURES`]; `None` where a figure does not apply.
    pub fn figures(&self) -> Vec<Option<f64>> {
        let mut out = vec![Some(self.summary.map_or(0.0, |s| s.count as f64))];
        match self.summary {
            Some(s) => out.extend([s.mean, s.median, s.p90, s.p99, s.min, s.max].map(Some)),
            None => out.extend([None; 6]),
        }
        match self.fit {
            Fit::Continuous { ks, ad } => out.extend([
                Some(ks.statistic),
                Some(ks.p_value),
                ad.map(|a| a.statistic),
                ad.map(|a| a.p_value),
                None,
                None,
                None,
            ]),
            Fit::Fixed(e) => out.extend([
                None,
                None,
                None,
                None,
                Some(e.mean),
                Some(e.p99),
                Some(e.max),
            ]),
            Fit::None => out.extend([None; 7]),
        }
        out
    }
}

/// Every series, overall then per group (then the unmatched connections, if any), with
/// statistics and fits: the rows of `summary.csv`.
pub fn rows(d: &Dataset) -> Vec<Row> {
    let mut rows = Vec::new();
    for series in Series::ALL {
        let server_side = matches!(series, Series::Connection | Series::Data);
        rows.push(Row {
            series,
            client: "all".to_owned(),
            group: None,
            summary: Summary::of(&series.values(d, None)),
            expected: None,
            fit: Fit::None,
        });
        for (g, group) in d.scenario.clients.iter().enumerate() {
            let values = series.values(d, Some(g));
            let expected = series.expected(d, g);
            rows.push(Row {
                series,
                client: group.label.clone(),
                group: Some(g),
                summary: Summary::of(&values),
                expected,
                fit: expected.map_or(Fit::None, |e| fit(&values, &e)),
            });
        }
        if server_side && d.has_unmatched() {
            let values = match series {
                Series::Connection => d.unmatched_connection_gaps(),
                _ => d.unmatched_data_gaps(),
            };
            rows.push(Row {
                series,
                client: UNMATCHED.to_owned(),
                group: None,
                summary: Summary::of(&values),
                expected: None,
                fit: Fit::None,
            });
        }
    }
    rows
}

/// What the server observed against what the clients sent, for one kind of gap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compared {
    /// Client send gaps against server data gaps.
    Data,
    /// Gaps between the clients' connect calls (all groups, sorted in time) against the
    /// server's accept gaps.
    Connection,
}

impl Compared {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Data => "data_gap",
            Self::Connection => "connection_gap",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::Data => "data gaps (client sends → server receives)",
            Self::Connection => "connection gaps (client connects → server accepts)",
        }
    }
}

/// One row of `distortion.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub compared: Compared,
    /// `all` or a group label.
    pub client: String,
    pub client_n: usize,
    pub server_n: usize,
    pub client_mean_ms: Option<f64>,
    pub server_mean_ms: Option<f64>,
    /// Two-sample KS of the client's gaps against the server's.
    pub ks: Option<KsTwoResult>,
}

/// The figures of a [`Comparison`], in `distortion.csv`'s column order after `gap` and
/// `client`.
pub const DISTORTION_FIGURES: [&str; 6] = [
    "client_n",
    "server_n",
    "client_mean_ms",
    "server_mean_ms",
    "ks_d",
    "ks_p",
];

impl Comparison {
    fn of(compared: Compared, client: String, sent: &[f64], observed: &[f64]) -> Self {
        Self {
            compared,
            client,
            client_n: sent.len(),
            server_n: observed.len(),
            client_mean_ms: arrivals::stats::mean(sent),
            server_mean_ms: arrivals::stats::mean(observed),
            ks: gof::ks_two_sample(sent, observed),
        }
    }

    /// The values of [`DISTORTION_FIGURES`].
    pub fn figures(&self) -> Vec<Option<f64>> {
        vec![
            Some(self.client_n as f64),
            Some(self.server_n as f64),
            self.client_mean_ms,
            self.server_mean_ms,
            self.ks.map(|k| k.statistic),
            self.ks.map(|k| k.p_value),
        ]
    }
}

/// How far the server's gaps are from the clients': data gaps of all groups pooled, then
/// per group (when there are several), then connection gaps.
pub fn comparisons(d: &Dataset) -> Vec<Comparison> {
    let mut out = vec![Comparison::of(
        Compared::Data,
        "all".to_owned(),
        &d.send_gaps(None),
        &d.data_gaps(None),
    )];
    if d.scenario.clients.len() > 1 {
        for (g, group) in d.scenario.clients.iter().enumerate() {
            out.push(Comparison::of(
                Compared::Data,
                group.label.clone(),
                &d.send_gaps(Some(g)),
                &d.data_gaps(Some(g)),
            ));
        }
    }
    out.push(Comparison::of(
        Compared::Connection,
        "all".to_owned(),
        &d.connect_gaps(None),
        &d.connection_gaps(None),
    ));
    out
}

/// The pooled comparison of `compared` (client `all`).
pub fn overall(comparisons: &[Comparison], compared: Compared) -> Option<&Comparison> {
    comparisons
        .iter()
        .find(|c| c.compared == compared && c.client == "all")
}

/// Named figures of one row of a table, for aggregation across runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    /// The row's key: the series (or compared gap) and the client.
    pub series: String,
    pub client: String,
    pub values: Vec<Option<f64>>,
}

/// [`rows`] as [`Figures`].
pub fn summary_figures(d: &Dataset) -> Vec<Figures> {
    rows(d)
        .into_iter()
        .map(|r| Figures {
            series: r.series.as_str().to_owned(),
            values: r.figures(),
            client: r.client,
        })
        .collect()
}

/// [`comparisons`] as [`Figures`].
pub fn distortion_figures(d: &Dataset) -> Vec<Figures> {
    comparisons(d)
        .into_iter()
        .map(|c| Figures {
            series: c.compared.as_str().to_owned(),
            values: c.figures(),
            client: c.client,
        })
        .collect()
}

/// A figure across runs: the mean, the half width of its 95% confidence interval (`None`
/// from a single run), and how many runs had it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Across {
    pub mean: f64,
    pub ci95: Option<f64>,
    pub runs: usize,
}

/// One row of figures across runs.
#[derive(Clone, Debug, PartialEq)]
pub struct AcrossRow {
    pub series: String,
    pub client: String,
    /// One per figure; `None` where no run had the figure.
    pub values: Vec<Option<Across>>,
}

/// The mean ± 95% CI (`arrivals::gof::mean_ci95`) of every figure across `runs` (one list
/// of rows per run). Rows are matched by series and client, in the order they first appear.
pub fn across(runs: &[Vec<Figures>]) -> Vec<AcrossRow> {
    let mut keys: Vec<(&str, &str, usize)> = Vec::new();
    for run in runs {
        for f in run {
            if !keys
                .iter()
                .any(|(s, c, _)| *s == f.series && *c == f.client)
            {
                keys.push((&f.series, &f.client, f.values.len()));
            }
        }
    }
    keys.into_iter()
        .map(|(series, client, width)| {
            let values = (0..width)
                .map(|i| {
                    let v: Vec<f64> = runs
                        .iter()
                        .filter_map(|run| {
                            run.iter()
                                .find(|f| f.series == series && f.client == client)
                        })
                        .filter_map(|f| f.values.get(i).copied().flatten())
                        .collect();
                    gof::mean_ci95(&v).map(|(mean, ci95)| Across {
                        mean,
                        ci95,
                        runs: v.iter().filter(|x| x.is_finite()).count(),
                    })
                })
                .collect();
            AcrossRow {
                series: series.to_owned(),
                client: client.to_owned(),
                values,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::fixtures;

    #[test]
    fn fixed_groups_get_error_statistics_and_continuous_ones_ks_and_ad() {
        let d = fixtures::iterative();
        let rows = rows(&d);
        let find = |series: Series, client: &str| {
            rows.iter()
                .find(|r| r.series == series && r.client == client)
                .unwrap_or_else(|| panic!("{series:?} {client}"))
        };
        // `fixed` is deterministic 100 ms: the server saw 100 ms gaps exactly, the client's
        // first gaps carry 0.25 ms of lateness.
        match find(Series::Data, "fixed").fit {
            Fit::Fixed(e) => assert_eq!((e.n, e.mean, e.max), (4, 0.0, 0.0)),
            other => panic!("{other:?}"),
        }
        match find(Series::Send, "fixed").fit {
            Fit::Fixed(e) => assert_eq!((e.mean, e.max), (0.125, 0.25)),
            other => panic!("{other:?}"),
        }
        // `uni` is uniform on [0, 200 ms]: one value of 50 ms has D = max(1/4, 1 − 1/4).
        match find(Series::Data, "uni").fit {
            Fit::Continuous { ks, ad } => {
                assert_eq!((ks.n, ks.statistic), (1, 0.75));
                assert!(ad.is_some());
            }
            other => panic!("{other:?}"),
        }
        // No connection process: nothing to fit connection gaps against.
        assert_eq!(find(Series::Connect, "fixed").fit, Fit::None);
        assert_eq!(find(Series::Connection, "all").fit, Fit::None);
        let lateness = find(Series::Lateness, "all").summary.expect("sends");
        assert_eq!(
            (lateness.count, lateness.median, lateness.max),
            (5, 0.25, 0.25)
        );
        let figures = find(Series::Data, "fixed").figures();
        assert_eq!(figures.len(), SUMMARY_FIGURES.len());
        assert_eq!(figures[7], None, "no KS D for a fixed interval");
        assert_eq!(figures[11], Some(0.0), "its mean |gap − T|");
    }

    #[test]
    fn distortion_compares_what_clients_sent_with_what_the_server_saw() {
        let d = fixtures::iterative();
        let c = comparisons(&d);
        let keys: Vec<(Compared, &str)> =
            c.iter().map(|c| (c.compared, c.client.as_str())).collect();
        assert_eq!(
            keys,
            [
                (Compared::Data, "all"),
                (Compared::Data, "fixed"),
                (Compared::Data, "uni"),
                (Compared::Connection, "all")
            ]
        );
        // Data: client {100.25, 100, 100.25, 100, 49.75} vs server {100 ×4, 50}. Below
        // 100 the ECDFs agree (0.2 each), at 100 the server is at 1 and the client at 0.6.
        let data = overall(&c, Compared::Data).expect("data");
        let ks = data.ks.expect("both sides have gaps");
        assert!((ks.statistic - 0.4).abs() < 1e-12, "{ks:?}");
        assert_eq!((data.client_n, data.server_n), (5, 5));
        // Connections: the workers connected 0.2 and 0.3 ms apart, the iterative server
        // accepted them about 201 ms apart: completely separated samples, D = 1.
        let conn = overall(&c, Compared::Connection).expect("connection");
        assert_eq!(conn.ks.map(|k| k.statistic), Some(1.0));
        assert!((conn.client_mean_ms.expect("two gaps") - 0.25).abs() < 1e-6);
        assert_eq!(conn.server_mean_ms, Some(201.25));
    }

    #[test]
    fn a_connection_process_is_what_connect_and_accept_gaps_are_fitted_against() {
        let (mut info, server, client) = fixtures::records();
        info.scenario_text = fixtures::SCENARIO.replace(
            "param = 0.1\n",
            "param = 0.1\nconnect_dist = \"e\"\nconnect_param = 5.0\n",
        );
        let d = Dataset::new(std::path::Path::new("x"), info, &server, &client).expect("valid");
        let rows = rows(&d);
        let fixed_connect = rows
            .iter()
            .find(|r| r.series == Series::Connect && r.client == "fixed")
            .expect("row");
        assert!(matches!(fixed_connect.fit, Fit::Continuous { .. }));
        // Two groups: the server's accepts interleave them, so no fit there.
        assert!(
            rows.iter()
                .filter(|r| r.series == Series::Connection)
                .all(|r| r.fit == Fit::None)
        );
    }

    #[test]
    fn figures_across_runs_have_a_mean_and_a_confidence_interval() {
        let row = |client: &str, v: [Option<f64>; 2]| Figures {
            series: "data_gap".into(),
            client: client.into(),
            values: v.to_vec(),
        };
        let runs = vec![
            vec![
                row("all", [Some(3.0), Some(1.0)]),
                row("a", [Some(1.0), None]),
            ],
            vec![row("all", [Some(5.0), None]), row("b", [Some(2.0), None])],
        ];
        let across = across(&runs);
        let keys: Vec<&str> = across.iter().map(|r| r.client.as_str()).collect();
        assert_eq!(keys, ["all", "a", "b"], "first-appearance order");
        let first = across[0].values[0].expect("two runs");
        assert_eq!((first.mean, first.runs), (4.0, 2));
        // t(0.975, 1) · s / √2 with s = √2.
        assert!((first.ci95.expect("n = 2") - 12.706_204_736_174_694).abs() < 1e-9);
        let only_one = across[0].values[1].expect("one run");
        assert_eq!(
            (only_one.mean, only_one.ci95, only_one.runs),
            (1.0, None, 1)
        );
        assert_eq!(across[1].values[1], None);
    }
}
