//! `report/<scenario>/[<mode>/][run-<k>/]README.md`: the page of one run, with its
//! statistics, goodness-of-fit and client-vs-server tables.

use crate::report::figures;
use crate::report::format::{cell_ms, short_p};
use std::fmt::Write as _;

use arrivals::Summary;
use arrivals::stats::mean;

use super::reading::reading;
use super::tables::groups_table;
use super::{ALL_AT_ONCE_MS, provenance, signed_pct};
use crate::dataset::Dataset;
use crate::fidelity::{self, Compared, Fit, Series};

/// Where a page's links point: the run's results folder, relative to the page.
#[derive(Clone, Debug)]
pub struct Links {
    pub results: String,
}

/// The statistics of `series` (overall and per group) as a markdown table.
fn series_table(out: &mut String, rows: &[fidelity::Row], series: &[(Series, &str)]) {
    out.push_str("| gap | client | count | mean | median | p90 | p99 | min | max |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (kind, name) in series {
        for r in rows.iter().filter(|r| r.series == *kind) {
            let cells = match r.summary {
                Some(Summary {
                    count,
                    mean,
                    median,
                    p90,
                    p99,
                    min,
                    max,
                }) => format!(
                    "{count} | {mean:.2} | {median:.2} | {p90:.2} | {p99:.2} | {min:.2} | {max:.2}"
                ),
                None => "0 | | | | | |".to_owned(),
            };
            let _ = writeln!(out, "| {name} | {} | {cells} |", r.client);
        }
    }
}

/// The goodness-of-fit tables of a run (continuous and fixed-interval) and a reading of
/// the server side's fits.
fn fit_section(out: &mut String, d: &Dataset, rows: &[fidelity::Row]) {
    out.push_str(
        "Each series against the distribution it should follow: the intervals a group's \
         client drew, the gaps between its actual sends (each send instant minus the previous \
         one, the first from the worker's schedule start) and the data gaps the server \
         measured, against the group's configured distribution; with a connection process, \
         the gaps between the group's connect calls (and, for a single group, between the \
         server's accepts) against that process. Kolmogorov–Smirnov D is the largest \
         distance between the measured and the configured CDF, and p the chance of a D at \
         least this large if the series followed the distribution: a small p (say below \
         0.05) says it does not. Anderson–Darling weighs the tails more. The drawn \
         intervals test the client's random draws; the send gaps add its timing jitter; the \
         data gaps add the network and the server.\n\n",
    );
    // Per group, in the order a message travels: drawn, sent, received; then connections.
    let rank = |s: Series| match s {
        Series::Drawn => 0,
        Series::Send => 1,
        Series::KernelData => 2,
        Series::Data => 3,
        Series::Connect => 4,
        _ => 5,
    };
    let mut fits: Vec<&fidelity::Row> = rows
        .iter()
        .filter(|r| r.group.is_some() && r.fit != Fit::None)
        .collect();
    fits.sort_by_key(|r| (r.group, rank(r.series)));
    let continuous: Vec<_> = fits
        .iter()
        .filter(|r| matches!(r.fit, Fit::Continuous { .. }))
        .collect();
    let fixed: Vec<_> = fits
        .iter()
        .filter(|r| matches!(r.fit, Fit::Fixed(_)))
        .collect();
    fit_tables(out, &continuous, &fixed);
    if fits.is_empty() {
        out.push_str("No series has a distribution to be tested against.\n\n");
    }
    fit_reading(out, d, &continuous);
}

/// The fit tables: KS and AD for continuous distributions, the error for fixed intervals.
fn fit_tables(out: &mut String, continuous: &[&&fidelity::Row], fixed: &[&&fidelity::Row]) {
    if !continuous.is_empty() {
        out.push_str("| group | configured | series | n | KS D | KS p | AD A² | AD p |\n");
        out.push_str("|---|---|---|---:|---:|---:|---:|---:|\n");
        for r in continuous {
            let Fit::Continuous { ks, ad } = r.fit else {
                continue;
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.3} | {} | {} | {} |",
                r.client,
                r.expected.map(|e| e.describe()).unwrap_or_default(),
                r.series.describe(),
                ks.n,
                ks.statistic,
                short_p(ks.p_value),
                ad.map_or_else(String::new, |a| format!("{:.3}", a.statistic)),
                ad.map_or_else(String::new, |a| short_p(a.p_value)),
            );
        }
        out.push('\n');
    }
    if !fixed.is_empty() {
        out.push_str(
            "A fixed interval T has no spread to test: the error |gap − T| instead, in ms.\n\n",
        );
        out.push_str("| group | configured | series | n | mean \\|gap − T\\| | p99 | max |\n");
        out.push_str("|---|---|---|---:|---:|---:|---:|\n");
        for r in fixed {
            let Fit::Fixed(e) = r.fit else { continue };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} |",
                r.client,
                r.expected.map(|e| e.describe()).unwrap_or_default(),
                r.series.describe(),
                e.n,
                e.mean,
                e.p99,
                e.max
            );
        }
        out.push('\n');
    }
}

/// A reading of the server side: which of its series keep the configured shape.
fn fit_reading(out: &mut String, d: &Dataset, continuous: &[&&fidelity::Row]) {
    let mut kept = Vec::new();
    let mut lost = Vec::new();
    for r in continuous {
        let Fit::Continuous { ks, .. } = r.fit else {
            continue;
        };
        if !matches!(r.series, Series::Data | Series::Connection) {
            continue;
        }
        let mut what = format!(
            "the {} of `{}` (KS p = {})",
            r.series.describe(),
            r.client,
            short_p(ks.p_value)
        );
        if ks.p_value >= 0.05 {
            kept.push(what);
            continue;
        }
        // Where the client's own draws already fail, the server only passed them on.
        let source = match r.series {
            Series::Data => Series::Drawn,
            _ => Series::Connect,
        };
        let drawn = continuous.iter().find_map(|o| match o.fit {
            Fit::Continuous { ks, .. } if o.group == r.group && o.series == source => Some(ks),
            _ => None,
        });
        if let Some(src) = drawn.filter(|k| k.p_value < 0.05) {
            let _ = write!(
                what,
                ", but the {} fail the same test (p = {}): the departure is in the client's \
                 random draws, not added by the server",
                source.describe(),
                short_p(src.p_value)
            );
        }
        lost.push(what);
    }
    if !kept.is_empty() {
        let _ = writeln!(
            out,
            "At the 5 % level, what the {} measured is consistent with the configured \
             distribution for {}.\n",
            d.mode.server_name(),
            kept.join("; ")
        );
    }
    if !lost.is_empty() {
        let _ = writeln!(
            out,
            "Not consistent with the configured distribution at the 5 % level: {}.\n",
            lost.join("; ")
        );
    }
}

/// The client-vs-server table of a run.
fn comparison_table(out: &mut String, comparisons: &[fidelity::Comparison]) {
    out.push_str("| gaps | client | client n | server n | client mean (ms) | server mean (ms) | KS D | KS p |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for c in comparisons {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            c.compared.describe(),
            c.client,
            c.client_n,
            c.server_n,
            cell_ms(c.client_mean_ms),
            cell_ms(c.server_mean_ms),
            c.ks.map_or_else(|| "n/a".to_owned(), |k| format!("{:.3}", k.statistic)),
            c.ks.map_or_else(|| "n/a".to_owned(), |k| short_p(k.p_value)),
        );
    }
}

/// `report/<scenario>/[<mode>/][run-<k>/]README.md`: one run.
pub fn run_page(d: &Dataset, links: &Links) -> String {
    let mut out = String::new();
    header(&mut out, d, links);

    out.push_str("## Client groups\n\n");
    groups_table(&mut out, d, true);
    super::hosts::hosts_section(&mut out, d);

    let rows = fidelity::rows(d);
    out.push_str("\n## What the server measured\n\n");
    out.push_str("Gaps in milliseconds. A connection gap is the time since the previous accept (of any group); a data gap is the time since the previous message on the same connection, or since its accept for the first one.\n\n");
    series_table(
        &mut out,
        &rows,
        &[(Series::Connection, "connection"), (Series::Data, "data")],
    );
    if !d.info.server_printed.is_empty() {
        out.push_str("\nThe server printed when it stopped:\n\n```\n");
        for line in &d.info.server_printed {
            let _ = writeln!(out, "{line}");
        }
        out.push_str("```\n");
    }

    per_group_section(&mut out, d);
    delay_section(&mut out, d, &rows);

    out.push_str("\n## What the clients did\n\n");
    out.push_str("From the clients' event logs, in milliseconds: the gaps between the workers' connect calls (wall clock; `all` sorts every group's in time, as the server's accepts see them), the gaps between each worker's actual sends (the first from its schedule start), the intervals drawn from the distribution, and how late each send left (actual minus scheduled send time).\n\n");
    series_table(
        &mut out,
        &rows,
        &[
            (Series::Connect, "connect"),
            (Series::Send, "send"),
            (Series::Drawn, "drawn interval"),
            (Series::Lateness, "send lateness"),
        ],
    );

    out.push_str("\n## Goodness of fit\n\n");
    fit_section(&mut out, d, &rows);
    let _ = write!(out, "{}\n\n", figures::FIT.embed());

    lateness_section(&mut out, d);
    comparison_section(&mut out, d);
    super::theory::run_section(&mut out, d, &links.results);

    plots_section(&mut out, d, links);
    out
}

/// The title, description, mode, seed and provenance, and where the files are.
fn header(out: &mut String, d: &Dataset, links: &Links) {
    let mut title = d.scenario.title();
    if d.info.sweep {
        let _ = write!(title, " — mode `{}`", d.mode);
    }
    if d.scenario.repeat > 1 {
        let _ = write!(title, " — run {} of {}", d.info.run, d.scenario.repeat);
    }
    let _ = writeln!(out, "# {title}\n");
    let _ = writeln!(out, "{}\n", d.scenario.description);
    let seed = if d.scenario.repeat > 1 {
        format!(
            "scenario seed {}, run seed {}",
            d.scenario.seed,
            d.scenario.run_seed(d.info.run)
        )
    } else {
        format!("scenario seed {}", d.scenario.seed)
    };
    let _ = writeln!(
        out,
        "Server mode **{}** ({}), {seed}. {}\n",
        d.mode,
        d.mode.describe(),
        provenance(d)
    );
    let _ = writeln!(
        out,
        "Generated by `orchestrator report` from the recorded files in [`{0}`]({0}): \
         do not edit by hand.\n",
        links.results
    );
}

/// The kernel's arrival instants against the server's reads: the delay the mode added,
/// the connect → accept waits and the connections' service times.
fn delay_section(out: &mut String, d: &Dataset, rows: &[fidelity::Row]) {
    out.push_str("\n## The delay the server added\n\n");
    if d.has_kernel_times() {
        out.push_str("With software receive timestamps (`SO_TIMESTAMPING`) the kernel tells when it had each message's bytes. The **server delay** is the instant the server read a message minus that arrival: how long the bytes waited in the socket for this mode to read them. The **kernel data gaps** are the data gaps on the kernel's clock, what a server that read at once would have measured. The **connect → accept wait** runs from a worker's `connect` call to the server's accept (wall clocks of one host); the **service time** is a connection's lifetime, accept to close. In milliseconds:\n\n");
    } else {
        out.push_str("This run's messages carry no kernel receive timestamps (the platform gave none, or the run was recorded by an instrument without them): the kernel data gaps and the server delay are not known. The **connect → accept wait** runs from a worker's `connect` call to the server's accept (wall clocks of one host); the **service time** is a connection's lifetime, accept to close. In milliseconds:\n\n");
    }
    series_table(
        out,
        rows,
        &[
            (Series::KernelData, "kernel data"),
            (Series::ServerDelay, "server delay"),
            (Series::Wait, "connect → accept wait"),
            (Series::Service, "service time"),
        ],
    );
    let _ = write!(out, "\n{}\n", figures::DELAY.embed());
}

/// One row per client group: its connections, gaps and means.
fn per_group_section(out: &mut String, d: &Dataset) {
    out.push_str("\n## Per client group\n\n");
    out.push_str("| group | connections | messages | mean data gap (ms) | configured mean (ms) | difference | mean drawn interval (ms) | mean send lateness (ms) | mean latency (ms) |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (g, group) in d.scenario.clients.iter().enumerate() {
        let conns = d.connections.iter().filter(|c| c.group == Some(g)).count();
        let gaps = d.data_gaps(Some(g));
        let observed = mean(&gaps);
        let expected = group.dist.mean_ms();
        let diff = match (observed, expected) {
            (Some(o), Some(e)) => signed_pct(o, e),
            _ => "n/a".into(),
        };
        let lateness: Vec<f64> = d
            .messages
            .iter()
            .filter(|m| m.group == Some(g))
            .filter_map(|m| m.lateness_ms)
            .collect();
        let _ = writeln!(
            out,
            "| {} | {conns} | {} | {} | {} | {diff} | {} | {} | {} |",
            group.label,
            gaps.len(),
            cell_ms(observed),
            cell_ms(expected),
            cell_ms(d.mean_drawn_ms(Some(g))),
            cell_ms(mean(&lateness)),
            cell_ms(d.mean_latency_ms(Some(g)))
        );
    }
    if !d.errors.is_empty() {
        out.push_str("\nConnection errors the server logged:\n\n");
        for (conn, e) in &d.errors {
            let _ = writeln!(out, "- connection {conn}: {e}");
        }
    }
}

/// How late the clients sent, next to what the path and the server added.
fn lateness_section(out: &mut String, d: &Dataset) {
    out.push_str("## Send lateness\n\n");
    out.push_str("How late the client sent (actual minus scheduled send time: its own timer and scheduling jitter) next to how much the server's data gap differs from the client's send gap for the same message (what the network and the server added), in milliseconds. When the second column is of the same size as the first, the server measured what the client did.\n\n");
    out.push_str("| group | sends | lateness p50 | p99 | max | messages | \\|data gap − send gap\\| p50 | p99 | max |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (g, group) in d.scenario.clients.iter().enumerate() {
        let late = Summary::of(&d.lateness(Some(g)));
        let added: Vec<f64> = d.added_ms(Some(g)).into_iter().map(f64::abs).collect();
        let added = Summary::of(&added);
        let cells = |s: Option<Summary>| match s {
            Some(s) => format!(
                "{} | {:.3} | {:.3} | {:.3}",
                s.count, s.median, s.p99, s.max
            ),
            None => "0 | | |".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            group.label,
            cells(late),
            cells(added)
        );
    }
    let _ = write!(out, "\n{}\n\n", figures::LATENESS.embed());
}

/// The KS distances between what the clients sent and what the server observed.
fn comparison_section(out: &mut String, d: &Dataset) {
    out.push_str("## Client vs server\n\n");
    out.push_str("What the server observed against what the clients sent, as the two-sample Kolmogorov–Smirnov distance D between the two lists of gaps (0: the same distribution, 1: no overlap at all): the clients' send gaps against the server's data gaps, and the gaps between the clients' connect calls (every group, in time order) against the server's accept gaps.\n\n");
    let comparisons = fidelity::comparisons(d);
    comparison_table(out, &comparisons);
    if let Some(c) = fidelity::overall(&comparisons, Compared::Connection)
        .and_then(|c| c.client_mean_ms)
        .filter(|v| *v < ALL_AT_ONCE_MS)
    {
        let _ = writeln!(
            out,
            "\nThe workers connected all at once (their connect calls were {c:.2} ms apart on \
             average): the clients' connection gaps are timing noise, so the connection D says \
             only whether the server's accept gaps are that small too, not how the server \
             treats a connection process."
        );
    }
}

/// The reading, the plots and the links to the tables and logs.
fn plots_section(out: &mut String, d: &Dataset, links: &Links) {
    out.push_str("\n## Reading\n\n");
    out.push_str(&reading(d));
    out.push_str("\n\n## Plots\n\n");
    for (intro, figure) in [
        (
            "One bar per connection from accept to close, a dot per message received:",
            figures::TIMELINE,
        ),
        (
            "Data gaps per client group, with the configured distribution overlaid:",
            figures::DATA_GAPS,
        ),
        (
            "The gap before each accept, in accept order:",
            figures::CONNECTION_GAPS,
        ),
    ] {
        let _ = write!(out, "{intro}\n\n{}\n\n", figure.embed());
    }
    let _ = writeln!(
        out,
        "Tables: [`connections.csv`]({0}/connections.csv), [`messages.csv`]({0}/messages.csv), \
         [`summary.csv`]({0}/summary.csv), [`distortion.csv`]({0}/distortion.csv); raw logs: [`server-events.jsonl`]({0}/server-events.jsonl), \
         [`client-events.jsonl`]({0}/client-events.jsonl), [`server.log`]({0}/server.log), \
         [`run.json`]({0}/run.json).",
        links.results
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::fixtures;

    #[test]
    fn the_run_page_has_tables_images_and_links() {
        let d = fixtures::iterative();
        let links = Links {
            results: "../../results/fixture".into(),
        };
        let page = run_page(&d, &links);
        assert!(page.starts_with("# fixture\n"), "{page}");
        assert!(page.contains("| data | all | 5 | 90.00 |"), "{page}");
        assert!(
            page.contains("| uni | 1 | 1 | 50.00 | 100.00 | -50.0 % |"),
            "{page}"
        );
        assert!(page.contains("![timeline](timeline.png)"));
        assert!(page.contains("![fit](fit.png)"));
        assert!(page.contains("![lateness](lateness.png)"));
        assert!(page.contains("(../../results/fixture/summary.csv)"));
        // The fixed group gets error statistics, the uniform one KS and AD.
        assert!(
            page.contains(
                "| fixed | deterministic 100 ms | server data gaps | 4 | 0.000 | 0.000 | 0.000 |"
            ),
            "{page}"
        );
        assert!(
            page.contains(
                "| uni | uniform on [0, 200 ms] | server data gaps | 1 | 0.750 | 0.500 |"
            ),
            "{page}"
        );
        assert!(
            page.contains("| connection gaps (client connects → server accepts) | all | 2 | 2 | 0.25 | 201.25 | 1.000 |"),
            "{page}"
        );
        assert!(
            page.contains("| fixed | 4 | 0.250 | 0.250 | 0.250 | 4 |"),
            "{page}"
        );
        assert_eq!(page, run_page(&d, &links), "deterministic");
    }
}
