//! The tables several pages share: client groups, one mode per row, and mode distortion.

use crate::report::format::cell_ms;
use std::fmt::Write as _;

use arrivals::stats::mean;

use super::across::{AcrossRuns, connected_at_once};
use super::{configured_mean_ms, pm};
use crate::dataset::Dataset;
use crate::fidelity::Compared;

/// The client groups of a scenario: size, distributions, offset (and client seed of `d`'s
/// run when `seeds`).
pub(super) fn groups_table(out: &mut String, d: &Dataset, seeds: bool) {
    out.push_str("| group | workers | intervals | distribution | configured mean (ms) | connections | start after (ms) |");
    out.push_str(if seeds { " client seed |\n" } else { "\n" });
    out.push_str("|---|---:|---:|---|---:|---|---:|");
    out.push_str(if seeds { "---:|\n" } else { "\n" });
    for (i, g) in d.scenario.clients.iter().enumerate() {
        let connections = g.connect.map_or_else(
            || "all at once".to_owned(),
            |c| format!("one after another, gaps {}", c.describe()),
        );
        let _ = write!(
            out,
            "| {} | {} | {} | {} | {} | {connections} | {} |",
            g.label,
            g.workers,
            g.intervals,
            g.dist.describe(),
            cell_ms(g.dist.mean_ms()),
            g.start_after_ms
        );
        if seeds {
            let seed = d
                .info
                .clients
                .iter()
                .find(|c| c.label == g.label)
                .map_or_else(|| d.scenario.group_seed(d.info.run, i), |c| c.seed);
            let _ = write!(out, " {seed} |");
        }
        out.push('\n');
    }
}

/// One row of a mode comparison: `| mode | connections | ... |`.
pub(super) fn mode_row(d: &Dataset) -> String {
    format!(
        "{} | {} | {} | {} | {} | {} | {} | {}",
        d.connections.len(),
        d.messages.len(),
        d.max_concurrent(),
        cell_ms(mean(&d.connection_gaps(None))),
        cell_ms(mean(&d.data_gaps(None))),
        cell_ms(configured_mean_ms(d)),
        cell_ms(d.mean_latency_ms(None)),
        cell_ms(mean(
            &d.connections
                .iter()
                .map(|c| c.lifetime_ms(d.end_ms))
                .collect::<Vec<_>>()
        )),
    )
}

pub(super) const MODE_HEADER: &str = "connections | messages | max open at once | avg connection gap (ms) | avg data gap (ms) | configured mean data gap (ms) | mean latency (ms) | mean connection lifetime (ms) |";
pub(super) const MODE_ALIGN: &str = "---:|---:|---:|---:|---:|---:|---:|---:|";

pub(super) const DISTORTION_HEADER: &str = "runs | data gaps: KS D | p | connection gaps: KS D | p | mean connect gap, clients (ms) | mean accept gap, server (ms) |";
pub(super) const DISTORTION_ALIGN: &str = "---:|---:|---:|---:|---:|---:|---:|";

/// The note that explains the † of [`distortion_cells`].
pub(super) const AT_ONCE_NOTE: &str = "† The clients connected all at once (their connect calls less than a millisecond apart on average): their connection gaps are timing noise, so this D says only whether the server's accept gaps are that small too (1 when the server stretched them), not how it treats a connection process.";

/// The cells of a mode's distortion row (after the mode), mean ± 95% CI across its runs.
pub(super) fn distortion_cells(runs: usize, a: &AcrossRuns) -> String {
    let d = |c, n| pm(a.distortion(c, n), n);
    let mark = if connected_at_once(a) { " †" } else { "" };
    format!(
        "{runs} | {} | {} | {}{mark} | {} | {} | {} |",
        d(Compared::Data, "ks_d"),
        d(Compared::Data, "ks_p"),
        d(Compared::Connection, "ks_d"),
        d(Compared::Connection, "ks_p"),
        d(Compared::Connection, "client_mean_ms"),
        d(Compared::Connection, "server_mean_ms"),
    )
}
