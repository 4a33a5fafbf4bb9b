//! What the pages say about runs whose processes ran on separate hosts: where each ran,
//! the link it crossed, the clock offsets the cross-host figures are corrected by, and the
//! comparison with the same scenario over loopback (`loopback_twin`).

use std::fmt::Write as _;

use crate::dataset::Dataset;
use crate::hosts::{HostsRecord, Offset};

fn signed(o: &Offset) -> String {
    format!("{:+.3} ± {:.3}", o.offset_ms, o.uncertainty_ms)
}

/// `## Hosts and links` of a run page; nothing for a run on loopback.
pub fn hosts_section(out: &mut String, d: &Dataset) {
    let Some(h) = &d.info.hosts else { return };
    out.push_str("\n## Hosts and links\n\n");
    out.push_str(
        "Where each process ran and the link it crossed. Before the run the orchestrator \
         estimated every host's clock against its own (the smallest round trip of 9 through \
         the launcher, NTP style: offset ± half that round trip); a client host's offset to \
         the server's host is the difference, with the uncertainties added. One-way \
         latencies and connect instants, which compare the two hosts' wall clocks, are \
         corrected by it and good to ± its uncertainty.\n\n",
    );
    out.push_str("| process | host | namespace | address | link crossed | clock − server's clock (ms) | mean one-way latency, corrected (ms) |\n");
    out.push_str("|---|---|---|---|---|---:|---:|\n");
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let _ = writeln!(
        out,
        "| server | {} | {} | {} | {} | 0 | |",
        h.server.host,
        dash(&h.server.namespace),
        dash(&h.server.address),
        dash(&h.server.link),
    );
    for (g, c) in h.clients.iter().enumerate() {
        let offset = c.to_server.as_ref().map_or_else(String::new, signed);
        let latency = match (d.mean_latency_ms(Some(g)), &c.to_server) {
            (Some(l), Some(o)) => format!("{l:.3} ± {:.3}", o.uncertainty_ms),
            (Some(l), None) => format!("{l:.3}"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {offset} | {latency} |",
            c.label,
            c.host,
            dash(&c.namespace),
            dash(&c.address),
            dash(&c.link),
        );
    }
    if h.clients.iter().all(|c| c.host.starts_with("netns:")) && h.server.host.starts_with("netns:")
    {
        let within = h
            .clients
            .iter()
            .filter_map(|c| c.to_server)
            .all(|o| o.offset_ms.abs() <= o.uncertainty_ms);
        let _ = writeln!(
            out,
            "\nEvery namespace shares this machine's clock, so every offset should be 0 \
             within its uncertainty: {}.",
            if within {
                "it is (a check of the estimator)"
            } else {
                "**it is not** — the estimate is off by more than its own bound"
            }
        );
    }
}

/// p-quantile of `v` (empty: none).
fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    Some(arrivals::stats::quantile_sorted(&s, q))
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.2}"))
}

/// `## Against loopback`: per mode and group, how far the server's data gaps strayed from
/// the clients' send gaps over the links of `hosts` and over loopback (`twin`), the same
/// seeds drawing the same intervals. `twin_link` points at the twin's report.
pub fn twin_section(hosts: &[Vec<&Dataset>], twin: &[Vec<&Dataset>], twin_link: &str) -> String {
    let mut out = String::new();
    let Some(first) = hosts.first().and_then(|s| s.first()) else {
        return out;
    };
    let twin_name = first
        .scenario
        .placement
        .loopback_twin
        .clone()
        .unwrap_or_default();
    let _ = writeln!(out, "\n## Against loopback\n");
    let _ = writeln!(
        out,
        "The same scenario over loopback is [`{twin_name}`]({twin_link}): the same seeds, so \
         each worker drew the same intervals (the *same draws* column checks it), and only \
         the path between clients and server differs. What the path and the server add to a \
         gap is *data gap − send gap* per message (the server's gap minus the client's actual \
         send gap); its size, |added|, is compared below, link against loopback. The one-way \
         latency over the link is corrected by the clock offset (see the run pages); the right \
         panel of each mode's `lateness.png` shows |added| per message and group.\n"
    );
    out.push_str("| mode | group | link crossed | messages | mean \\|added\\| (ms): link / loopback | p99 \\|added\\| (ms): link / loopback | mean latency (ms): link / loopback | same draws |\n");
    out.push_str("|---|---|---|---:|---:|---:|---:|---|\n");
    let mut missing = Vec::new();
    for runs in hosts {
        let Some(d) = runs.first() else { continue };
        let t = twin
            .iter()
            .filter_map(|r| r.first())
            .find(|t| t.mode == d.mode);
        if t.is_none() {
            missing.push(d.mode.to_string());
        }
        for (g, group) in d.scenario.clients.iter().enumerate() {
            let tg = t.and_then(|t| {
                t.scenario
                    .clients
                    .iter()
                    .position(|o| o.label == group.label)
            });
            let abs = |d: &Dataset, g: usize| -> Vec<f64> {
                d.added_ms(Some(g)).iter().map(|a| a.abs()).collect()
            };
            let here = abs(d, g);
            let there = match (t, tg) {
                (Some(t), Some(tg)) => abs(t, tg),
                _ => Vec::new(),
            };
            let pair = |a: Option<f64>, b: Option<f64>| format!("{} / {}", cell(a), cell(b));
            let link = link_of(d.info.hosts.as_ref(), &group.label);
            let same = match (t, tg) {
                (Some(t), Some(tg)) => {
                    let mut a = d.drawn_intervals(Some(g));
                    let mut b = t.drawn_intervals(Some(tg));
                    a.sort_by(f64::total_cmp);
                    b.sort_by(f64::total_cmp);
                    if a == b { "yes" } else { "no" }
                }
                _ => "—",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {link} | {} | {} | {} | {} | {same} |",
                d.mode,
                group.label,
                here.len(),
                pair(arrivals::stats::mean(&here), arrivals::stats::mean(&there)),
                pair(quantile(&here, 0.99), quantile(&there, 0.99)),
                pair(
                    d.mean_latency_ms(Some(g)),
                    t.zip(tg).and_then(|(t, tg)| t.mean_latency_ms(Some(tg)))
                ),
            );
        }
    }
    if !missing.is_empty() {
        let _ = writeln!(
            out,
            "\nNo loopback run of mode(s) {} was recorded (`orchestrator run {twin_name}`).",
            missing.join(", ")
        );
    }
    out
}

fn link_of(h: Option<&HostsRecord>, label: &str) -> String {
    h.and_then(|h| h.clients.iter().find(|c| c.label == label))
        .map_or_else(
            || "loopback".into(),
            |c| {
                format!(
                    "{} ({})",
                    c.host,
                    c.link.clone().unwrap_or_else(|| "—".into())
                )
            },
        )
}
