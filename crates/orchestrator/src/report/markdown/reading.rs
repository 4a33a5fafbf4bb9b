//! The plain-language readings generated from the numbers: of one run, and of a sweep's
//! modes and their distortion.

use std::fmt::Write as _;

use arrivals::stats::mean;

use super::across::{AcrossRuns, connected_at_once};
use super::{ALL_AT_ONCE_MS, configured_mean_ms, signed_pct};
use crate::dataset::Dataset;
use crate::fidelity::Compared;
use crate::scenario::ClientGroup;

/// The plain-language reading of one run, generated from its numbers.
pub fn reading(d: &Dataset) -> String {
    let conns = d.connections.len();
    let msgs = d.messages.len();
    let open = d.max_concurrent();
    let mut s = format!(
        "The {} accepted {conns} connection{} and received {msgs} message{} \
         (the scenario sends {} messages on {} connections).",
        d.mode.server_name(),
        if conns == 1 { "" } else { "s" },
        if msgs == 1 { "" } else { "s" },
        d.scenario.expected_messages(),
        d.scenario.expected_connections()
    );
    if conns > 1 && open == 1 {
        s.push_str(
            " No two connections were ever open at once: the server served them strictly one \
             after another, and every other worker waited in the listen backlog until the \
             connection before it closed.",
        );
    } else if conns > 1 && open == conns {
        s.push_str(" All of them were open at the same time.");
    } else if conns > 1 {
        let _ = write!(s, " At most {open} were open at the same time.");
    }
    connection_reading(&mut s, d, open);
    for (g, group) in d.scenario.clients.iter().enumerate() {
        group_reading(&mut s, d, g, group);
    }
    if let Some(latency) = d.mean_latency_ms(None) {
        let _ = write!(
            s,
            " Messages reached the server {latency:.2} ms after their timestamp on average \
             (one-way latency on the same host's clock, millisecond timestamps)."
        );
    }
    s
}

/// What the connection gaps say: set by the server's pace or by the clients' connects.
fn connection_reading(s: &mut String, d: &Dataset, open: usize) {
    let conns = d.connections.len();
    let conn_gap = mean(&d.connection_gaps(None));
    let lifetimes: Vec<f64> = d
        .connections
        .iter()
        .map(|c| c.lifetime_ms(d.end_ms))
        .collect();
    // How far apart the clients' connect calls were, when they were not all at once.
    let client_gap = mean(&d.connect_gaps(None)).filter(|g| *g >= ALL_AT_ONCE_MS);
    if let (Some(gap), Some(life)) = (conn_gap, mean(&lifetimes)) {
        if open == 1 && conns > 1 {
            let _ = write!(
                s,
                " The average connection gap, {gap:.2} ms, is set by how long each connection \
                 kept the server busy (the average lifetime is {life:.2} ms), not by when the \
                 clients connected"
            );
            match client_gap {
                Some(c) => {
                    let _ = write!(s, " (their connect calls were {c:.2} ms apart on average).");
                }
                None => s.push('.'),
            }
        } else if let Some(c) = client_gap {
            let _ = write!(
                s,
                " Connections arrived {gap:.2} ms apart on average, and the clients' connect \
                 calls were {c:.2} ms apart"
            );
            if (gap - c).abs() <= 0.05 * c {
                s.push_str(": the server accepted each worker as it connected.");
            } else {
                let _ = write!(s, " (average connection lifetime {life:.2} ms).");
            }
        } else if gap < 0.1 * life {
            let _ = write!(
                s,
                " Connections arrived {gap:.2} ms apart on average, tiny next to their \
                 {life:.2} ms average lifetime: each group's workers connect together and the \
                 server accepted them at once."
            );
        } else {
            let _ = write!(
                s,
                " Connections arrived {gap:.2} ms apart on average (average lifetime \
                 {life:.2} ms)."
            );
        }
    }
}

/// Group `g`'s data gaps against its configured mean and what its client drew.
fn group_reading(s: &mut String, d: &Dataset, g: usize, group: &ClientGroup) {
    let gaps = d.data_gaps(Some(g));
    let Some(observed) = mean(&gaps) else {
        let _ = write!(s, " The `{}` group has no data gaps.", group.label);
        return;
    };
    match group.dist.mean_ms() {
        Some(expected) => {
            let _ = write!(
                s,
                " For `{}` ({}), the {} data gaps average {observed:.2} ms against a \
                 configured mean of {expected:.2} ms ({})",
                group.label,
                group.dist.describe(),
                gaps.len(),
                signed_pct(observed, expected)
            );
        }
        None => {
            let _ = write!(
                s,
                " For `{}` ({}, no finite mean), the {} data gaps average {observed:.2} ms",
                group.label,
                group.dist.describe(),
                gaps.len()
            );
        }
    }
    match d.mean_drawn_ms(Some(g)) {
        Some(drawn) => {
            let _ = write!(
                s,
                "; the intervals the client actually drew average {drawn:.2} ms, so the \
                 server's measurement is {:.2} ms per gap away from the client's schedule",
                observed - drawn
            );
            let from_config = group.dist.mean_ms().map(|e| (observed - e).abs());
            if from_config.is_some_and(|c| c > 1.0 && (observed - drawn).abs() < 0.05 * c) {
                let _ = write!(
                    s,
                    " and the difference from the configured mean comes from the {} draws \
                     themselves, not from the server",
                    gaps.len()
                );
            }
            s.push('.');
        }
        None => s.push('.'),
    }
}

/// Which mode distorts connection and data gaps most and least, by mean KS D.
pub(super) fn distortion_reading(sets: &[(String, AcrossRuns)]) -> String {
    let mut s = String::new();
    for (compared, what) in [
        (Compared::Connection, "connection gaps"),
        (Compared::Data, "data gaps"),
    ] {
        if compared == Compared::Connection && sets.iter().any(|(_, a)| connected_at_once(a)) {
            s.push_str(
                "The clients connected all at once, so the connection-gap distances compare \
                 the server's accept gaps with sub-millisecond timing noise and do not rank how \
                 the modes treat a connection process (see †).",
            );
            continue;
        }
        let mut ds: Vec<(&str, f64)> = sets
            .iter()
            .filter_map(|(m, a)| Some((m.as_str(), a.distortion(compared, "ks_d")?.mean)))
            .collect();
        if ds.len() < 2 {
            continue;
        }
        ds.sort_by(|a, b| b.1.total_cmp(&a.1));
        let ranked: Vec<String> = ds.iter().map(|(m, d)| format!("`{m}` {d:.2}")).collect();
        let _ = write!(
            s,
            "{}{}: KS D from most to least distorted — {}.",
            if s.is_empty() || s.ends_with(' ') {
                ""
            } else {
                " "
            },
            match compared {
                Compared::Connection => "Connection gaps",
                Compared::Data => "Data gaps",
            },
            ranked.join(", ")
        );
        let (top, low) = (ds[0], ds[ds.len() - 1]);
        if top.1 >= 0.5 && top.1 >= 2.0 * low.1.max(0.05) {
            let _ = write!(
                s,
                " The {what} the `{}` server measured are far from what the clients produced, \
                 where `{}` stays close.",
                top.0, low.0
            );
        } else if top.1 < 0.25 {
            let _ = write!(
                s,
                " Every mode measured {what} close to what the clients produced."
            );
        }
    }
    s
}

/// Which mode stretched the connection gaps most and least, and what the data gaps did
/// (means over each mode's runs).
pub(super) fn sweep_reading(sets: &[Vec<&Dataset>]) -> String {
    let per_mode = |gaps: fn(&Dataset) -> Vec<f64>| -> Vec<(String, f64)> {
        sets.iter()
            .filter_map(|runs| {
                let means: Vec<f64> = runs.iter().filter_map(|d| mean(&gaps(d))).collect();
                Some((runs.first()?.mode.to_string(), mean(&means)?))
            })
            .collect()
    };
    let conn = per_mode(|d| d.connection_gaps(None));
    let data = per_mode(|d| d.data_gaps(None));
    let runs: Vec<&Dataset> = sets.iter().filter_map(|r| r.first().copied()).collect();
    let by = |v: &[(String, f64)], max: bool| {
        v.iter()
            .cloned()
            .reduce(|a, b| if (b.1 > a.1) == max { b } else { a })
    };
    let mut s = String::new();
    if let (Some(lo), Some(hi)) = (by(&conn, false), by(&conn, true)) {
        let _ = write!(
            s,
            "The average connection gap ranges from {:.2} ms (`{}`) to {:.2} ms (`{}`), a \
             factor of {:.0}.",
            lo.1,
            lo.0,
            hi.1,
            hi.0,
            if lo.1 > 0.0 {
                hi.1 / lo.1
            } else {
                f64::INFINITY
            }
        );
    }
    let serial: Vec<String> = runs
        .iter()
        .filter(|d| d.connections.len() > 1 && d.max_concurrent() == 1)
        .map(|d| format!("`{}`", d.mode))
        .collect();
    if !serial.is_empty() {
        let _ = write!(
            s,
            " {} served one connection at a time, so its connection gaps measure connection \
             lifetimes; the concurrent modes accept every worker as it connects.",
            serial.join(", ")
        );
    }
    if let (Some(lo), Some(hi)) = (by(&data, false), by(&data, true)) {
        let configured = runs.first().and_then(|d| configured_mean_ms(d));
        let _ = write!(
            s,
            " The average data gap stays between {:.2} ms (`{}`) and {:.2} ms (`{}`)",
            lo.1, lo.0, hi.1, hi.0
        );
        match configured {
            Some(c) => {
                let _ = write!(s, " against a configured mean of {c:.2} ms");
                let drawn: Vec<f64> = sets
                    .first()
                    .map(|r| r.iter().filter_map(|d| d.mean_drawn_ms(None)).collect())
                    .unwrap_or_default();
                if let Some(drawn) = mean(&drawn) {
                    let _ = write!(
                        s,
                        " (the intervals the clients drew average {drawn:.2} ms; the rest of \
                         the difference is sampling)"
                    );
                }
                s.push_str(
                    ": once a connection is being served, every mode sees the gaps the \
                     clients generate, give or take the sub-millisecond differences in the \
                     lower-left panel of the plot.",
                );
            }
            None => s.push('.'),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::fixtures;

    #[test]
    fn the_reading_explains_a_serialised_run() {
        let d = fixtures::iterative();
        let r = reading(&d);
        assert!(
            r.starts_with("The iterative server accepted 3 connections"),
            "{r}"
        );
        assert!(r.contains("strictly one after another"), "{r}");
        assert!(r.contains("The average connection gap, 201.25 ms"), "{r}");
        assert!(r.contains("For `uni` (uniform on [0, 200 ms])"), "{r}");
    }
}
