//! The figures of `summary.csv` and `distortion.csv` aggregated across the runs of a mode.

use super::ALL_AT_ONCE_MS;
use crate::dataset::Dataset;
use crate::fidelity::{self, Across, AcrossRow, Compared, DISTORTION_FIGURES};

/// The value of figure `name` in the row of `series` and `client` of `rows`.
pub(super) fn across_value(
    rows: &[AcrossRow],
    names: &[&str],
    series: &str,
    client: &str,
    name: &str,
) -> Option<Across> {
    let i = names.iter().position(|n| *n == name)?;
    rows.iter()
        .find(|r| r.series == series && r.client == client)
        .and_then(|r| r.values.get(i).copied().flatten())
}

/// The figures of `summary.csv` and `distortion.csv` across the runs of one mode.
#[derive(Clone, Debug)]
pub struct AcrossRuns {
    pub summary: Vec<AcrossRow>,
    pub distortion: Vec<AcrossRow>,
}

impl AcrossRuns {
    /// Aggregates `runs` (one mode of a scenario).
    pub fn of(runs: &[&Dataset]) -> Self {
        let summary: Vec<_> = runs.iter().map(|d| fidelity::summary_figures(d)).collect();
        let distortion: Vec<_> = runs
            .iter()
            .map(|d| fidelity::distortion_figures(d))
            .collect();
        Self {
            summary: fidelity::across(&summary),
            distortion: fidelity::across(&distortion),
        }
    }

    /// A figure of the pooled comparison of `compared`.
    pub(super) fn distortion(&self, compared: Compared, name: &str) -> Option<Across> {
        across_value(
            &self.distortion,
            &DISTORTION_FIGURES,
            compared.as_str(),
            "all",
            name,
        )
    }
}

/// True when the mean gap between the clients' connect calls is below [`ALL_AT_ONCE_MS`].
pub(super) fn connected_at_once(a: &AcrossRuns) -> bool {
    a.distortion(Compared::Connection, "client_mean_ms")
        .is_some_and(|v| v.mean < ALL_AT_ONCE_MS)
}
