//! The markdown pages: one per run, one across the runs of a repeated scenario, one per
//! sweep, and the index `report/README.md`. Pure functions of the recorded data; numbers
//! have fixed decimals so a re-render is identical.

use std::fmt::Write as _;

use arrivals::Summary;
use arrivals::stats::mean;

use crate::dataset::Dataset;
use crate::fidelity::{
    self, Across, AcrossRow, Compared, DISTORTION_FIGURES, Fit, SUMMARY_FIGURES, Series,
};

/// Where a page's links point: the run's results folder, relative to the page.
#[derive(Clone, Debug)]
pub struct Links {
    pub results: String,
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}"))
}

/// A p-value: three decimals, or two significant digits below 0.001.
fn p_md(p: f64) -> String {
    if p == 0.0 {
        "0".to_owned()
    } else if p >= 0.001 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

/// Figure `name` across runs as `mean ± half width` (just the mean from one run), formatted
/// like [`fmt_figure`]; empty when no run had it. A p-value's half width has the mean's
/// decimals, so rounding noise does not show as `± 3.4e-16`.
fn pm(v: Option<Across>, name: &str) -> String {
    match v {
        Some(Across {
            mean,
            ci95: Some(h),
            ..
        }) => {
            let half = if name.ends_with("_p") && mean >= 0.001 {
                format!("{h:.3}")
            } else {
                fmt_figure(name, h)
            };
            format!("{} ± {half}", fmt_figure(name, mean))
        }
        Some(Across { mean, .. }) => fmt_figure(name, mean),
        None => String::new(),
    }
}

/// How a figure of `summary.csv` or `distortion.csv` is shown in a table.
fn fmt_figure(name: &str, v: f64) -> String {
    if name == "count" || name.ends_with("_n") {
        format!("{v:.1}")
    } else if name.ends_with("_p") {
        p_md(v)
    } else if name == "ks_d" {
        format!("{v:.3}")
    } else {
        format!("{v:.2}")
    }
}

/// The column title of a figure of `summary.csv` in a markdown table.
fn figure_title(name: &str) -> &'static str {
    match name {
        "count" => "count",
        "mean_ms" => "mean",
        "median_ms" => "median",
        "p90_ms" => "p90",
        "p99_ms" => "p99",
        "min_ms" => "min",
        "max_ms" => "max",
        "ks_d" => "KS D",
        "ks_p" => "KS p",
        "ad_a2" => "AD A²",
        "ad_p" => "AD p",
        "abs_err_mean_ms" => "mean \\|x − T\\|",
        "abs_err_p99_ms" => "p99 \\|x − T\\|",
        "abs_err_max_ms" => "max \\|x − T\\|",
        _ => "?",
    }
}

/// The value of figure `name` in the row of `series` and `client` of `rows`.
fn across_value(
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

/// The path of a run's page folder below its scenario's report folder: `[<mode>/][run-<k>/]`.
fn run_dir(d: &Dataset) -> String {
    let mut path = String::new();
    if d.info.sweep {
        let _ = write!(path, "{}/", d.mode);
    }
    if d.scenario.repeat > 1 {
        let _ = write!(path, "run-{}/", d.info.run);
    }
    path
}

/// The name of a run in tables: its mode, and `#k` in a repeated scenario.
fn run_name(d: &Dataset) -> String {
    if d.scenario.repeat > 1 {
        format!("{} #{}", d.mode, d.info.run)
    } else {
        d.mode.to_string()
    }
}

fn signed_pct(observed: f64, expected: f64) -> String {
    if expected == 0.0 {
        return "n/a".into();
    }
    format!("{:+.1} %", (observed / expected - 1.0) * 100.0)
}

/// Mean of the configured means, weighted by the messages of each group.
pub fn configured_mean_ms(d: &Dataset) -> Option<f64> {
    let mut num = 0.0;
    let mut den = 0.0;
    for g in &d.scenario.clients {
        num += g.dist.mean_ms()? * g.messages() as f64;
        den += g.messages() as f64;
    }
    (den > 0.0).then(|| num / den)
}

fn provenance(d: &Dataset) -> String {
    let i = &d.info;
    let commit: String = i.git_commit.chars().take(12).collect();
    format!(
        "Recorded {} on a {}-core host, commit `{}`{}, {}.",
        i.date,
        i.host_cores,
        commit,
        if i.git_dirty {
            " (with uncommitted changes)"
        } else {
            ""
        },
        i.rustc
    )
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
        Series::Data => 2,
        Series::Connect => 3,
        _ => 4,
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
    if !continuous.is_empty() {
        out.push_str("| group | configured | series | n | KS D | KS p | AD A² | AD p |\n");
        out.push_str("|---|---|---|---:|---:|---:|---:|---:|\n");
        for r in &continuous {
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
                p_md(ks.p_value),
                ad.map_or_else(String::new, |a| format!("{:.3}", a.statistic)),
                ad.map_or_else(String::new, |a| p_md(a.p_value)),
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
        for r in &fixed {
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
    if fits.is_empty() {
        out.push_str("No series has a distribution to be tested against.\n\n");
    }
    // A reading of the server side: which of its series keep the configured shape.
    let mut kept = Vec::new();
    let mut lost = Vec::new();
    for r in &continuous {
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
            p_md(ks.p_value)
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
                p_md(src.p_value)
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
            ms(c.client_mean_ms),
            ms(c.server_mean_ms),
            c.ks.map_or_else(|| "n/a".to_owned(), |k| format!("{:.3}", k.statistic)),
            c.ks.map_or_else(|| "n/a".to_owned(), |k| p_md(k.p_value)),
        );
    }
}

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
    for (g, group) in d.scenario.clients.iter().enumerate() {
        let gaps = d.data_gaps(Some(g));
        let Some(observed) = mean(&gaps) else {
            let _ = write!(s, " The `{}` group has no data gaps.", group.label);
            continue;
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
    if let Some(latency) = d.mean_latency_ms(None) {
        let _ = write!(
            s,
            " Messages reached the server {latency:.2} ms after their timestamp on average \
             (one-way latency on the same host's clock, millisecond timestamps)."
        );
    }
    s
}

/// The client groups of a scenario: size, distributions, offset (and client seed of `d`'s
/// run when `seeds`).
fn groups_table(out: &mut String, d: &Dataset, seeds: bool) {
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
            ms(g.dist.mean_ms()),
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

/// `report/<scenario>/[<mode>/][run-<k>/]README.md`: one run.
pub fn run_page(d: &Dataset, links: &Links) -> String {
    let mut out = String::new();
    let mut title = d.scenario.name.clone();
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

    out.push_str("## Client groups\n\n");
    groups_table(&mut out, d, true);

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
            ms(observed),
            ms(expected),
            ms(d.mean_drawn_ms(Some(g))),
            ms(mean(&lateness)),
            ms(d.mean_latency_ms(Some(g)))
        );
    }
    if !d.errors.is_empty() {
        out.push_str("\nConnection errors the server logged:\n\n");
        for (conn, e) in &d.errors {
            let _ = writeln!(out, "- connection {conn}: {e}");
        }
    }

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
    out.push_str("![fit](fit.png)\n\n");

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
    out.push_str("\n![lateness](lateness.png)\n\n");

    out.push_str("## Client vs server\n\n");
    out.push_str("What the server observed against what the clients sent, as the two-sample Kolmogorov–Smirnov distance D between the two lists of gaps (0: the same distribution, 1: no overlap at all): the clients' send gaps against the server's data gaps, and the gaps between the clients' connect calls (every group, in time order) against the server's accept gaps.\n\n");
    let comparisons = fidelity::comparisons(d);
    comparison_table(&mut out, &comparisons);
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

    out.push_str("\n## Reading\n\n");
    out.push_str(&reading(d));
    out.push_str("\n\n## Plots\n\n");
    out.push_str("One bar per connection from accept to close, a dot per message received:\n\n![timeline](timeline.png)\n\n");
    out.push_str("Data gaps per client group, with the configured distribution overlaid:\n\n![data gaps](data-gaps.png)\n\n");
    out.push_str("The gap before each accept, in accept order:\n\n![connection gaps](connection-gaps.png)\n\n");
    let _ = writeln!(
        out,
        "Tables: [`connections.csv`]({0}/connections.csv), [`messages.csv`]({0}/messages.csv), \
         [`summary.csv`]({0}/summary.csv), [`distortion.csv`]({0}/distortion.csv); raw logs: [`server-events.jsonl`]({0}/server-events.jsonl), \
         [`client-events.jsonl`]({0}/client-events.jsonl), [`server.log`]({0}/server.log), \
         [`run.json`]({0}/run.json).",
        links.results
    );
    out
}

/// One row of a mode comparison: `| mode | connections | ... |`.
fn mode_row(d: &Dataset) -> String {
    format!(
        "{} | {} | {} | {} | {} | {} | {} | {}",
        d.connections.len(),
        d.messages.len(),
        d.max_concurrent(),
        ms(mean(&d.connection_gaps(None))),
        ms(mean(&d.data_gaps(None))),
        ms(configured_mean_ms(d)),
        ms(d.mean_latency_ms(None)),
        ms(mean(
            &d.connections
                .iter()
                .map(|c| c.lifetime_ms(d.end_ms))
                .collect::<Vec<_>>()
        )),
    )
}

const MODE_HEADER: &str = "connections | messages | max open at once | avg connection gap (ms) | avg data gap (ms) | configured mean data gap (ms) | mean latency (ms) | mean connection lifetime (ms) |";
const MODE_ALIGN: &str = "---:|---:|---:|---:|---:|---:|---:|---:|";

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
    fn distortion(&self, compared: Compared, name: &str) -> Option<Across> {
        across_value(
            &self.distortion,
            &DISTORTION_FIGURES,
            compared.as_str(),
            "all",
            name,
        )
    }
}

const DISTORTION_HEADER: &str = "runs | data gaps: KS D | p | connection gaps: KS D | p | mean connect gap, clients (ms) | mean accept gap, server (ms) |";
const DISTORTION_ALIGN: &str = "---:|---:|---:|---:|---:|---:|---:|";

/// Below this mean gap between the clients' connect calls (ms), a connection-gap comparison
/// compares timing noise: the workers connected all at once.
const ALL_AT_ONCE_MS: f64 = 1.0;

/// True when the mean gap between the clients' connect calls is below [`ALL_AT_ONCE_MS`].
fn connected_at_once(a: &AcrossRuns) -> bool {
    a.distortion(Compared::Connection, "client_mean_ms")
        .is_some_and(|v| v.mean < ALL_AT_ONCE_MS)
}

/// The note that explains the † of [`distortion_cells`].
const AT_ONCE_NOTE: &str = "† The clients connected all at once (their connect calls less than a millisecond apart on average): their connection gaps are timing noise, so this D says only whether the server's accept gaps are that small too (1 when the server stretched them), not how it treats a connection process.";

/// The cells of a mode's distortion row (after the mode), mean ± 95% CI across its runs.
fn distortion_cells(runs: usize, a: &AcrossRuns) -> String {
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

/// Which mode distorts connection and data gaps most and least, by mean KS D.
fn distortion_reading(sets: &[(String, AcrossRuns)]) -> String {
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

/// Per mode, how well the server's data and accept gaps of each group fit the
/// distribution they should follow (mean ± 95% CI across runs, and how many runs pass KS at
/// 5 %). Nothing when no server-side series has a continuous distribution to follow.
fn server_fit_table(out: &mut String, sets: &[Vec<&Dataset>]) {
    let mut lines = Vec::new();
    for runs in sets {
        let Some(first) = runs.first() else { continue };
        let per_run: Vec<Vec<fidelity::Row>> = runs.iter().map(|d| fidelity::rows(d)).collect();
        let a = AcrossRuns::of(runs);
        for series in [Series::Data, Series::Connection] {
            // What the clients produced for the same series: their draws, or connect gaps.
            let source = match series {
                Series::Data => Series::Drawn,
                _ => Series::Connect,
            };
            for (g, group) in first.scenario.clients.iter().enumerate() {
                let p_values = |which: Series| -> Vec<f64> {
                    per_run
                        .iter()
                        .filter_map(|rows| {
                            rows.iter().find_map(|r| match r.fit {
                                Fit::Continuous { ks, .. }
                                    if r.series == which && r.group == Some(g) =>
                                {
                                    Some(ks.p_value)
                                }
                                _ => None,
                            })
                        })
                        .collect()
                };
                let ks = p_values(series);
                if ks.is_empty() {
                    continue;
                }
                let passing = |v: &[f64]| v.iter().filter(|p| **p >= 0.05).count();
                let clients = p_values(source);
                let Some(expected) = series.expected(first, g) else {
                    continue;
                };
                let v = |name| {
                    pm(
                        across_value(
                            &a.summary,
                            &SUMMARY_FIGURES,
                            series.as_str(),
                            &group.label,
                            name,
                        ),
                        name,
                    )
                };
                lines.push(format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {}/{} | {}/{} |",
                    first.mode,
                    group.label,
                    series.describe(),
                    expected.describe(),
                    v("ks_d"),
                    v("ks_p"),
                    v("ad_p"),
                    passing(&ks),
                    ks.len(),
                    passing(&clients),
                    clients.len()
                ));
            }
        }
    }
    if lines.is_empty() {
        return;
    }
    out.push_str("## What the server measured against the configured distributions\n\n");
    out.push_str(
        "One-sample Kolmogorov–Smirnov and Anderson–Darling tests of the server's data gaps \
         (and, for a single group with a connection process, its accept gaps) against the \
         distribution the clients drew from. The last two columns count the runs whose KS p is \
         at least 0.05 (consistent with that distribution): for the server's gaps, and for \
         what the clients produced (the intervals they drew, or the gaps between their connect \
         calls), so a run where the draws themselves stray can be told from a server that \
         distorts.\n\n",
    );
    out.push_str("| mode | group | series | configured | KS D | KS p | AD p | runs passing: server | clients |\n");
    out.push_str("|---|---|---|---|---:|---:|---:|---:|---:|\n");
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out.push('\n');
}

/// `report/<scenario>/README.md` of a sweep: the modes side by side. `sets` holds each
/// mode's runs (several with `repeat`), in sweep order.
pub fn sweep_page(sets: &[Vec<&Dataset>], results_link: &str) -> String {
    let mut out = String::new();
    let Some(first) = sets.first().and_then(|s| s.first()) else {
        return out;
    };
    let repeat = first.scenario.repeat;
    let _ = writeln!(out, "# {}\n", first.scenario.name);
    let _ = writeln!(out, "{}\n", first.scenario.description);
    if repeat > 1 {
        let _ = writeln!(
            out,
            "One workload against {} server modes, {repeat} runs each, scenario seed {} (run 1 \
             uses the scenario seed, run k ≥ 2 the seed `arrivals::seed::derive(seed, 2^32 + k)`; \
             within a run every mode gets the same client seeds, so the clients draw the same \
             intervals). {}\n",
            sets.len(),
            first.scenario.seed,
            provenance(first)
        );
    } else {
        let _ = writeln!(
            out,
            "One workload against {} server modes, scenario seed {} (every mode gets the same \
             client seeds, so the clients draw the same intervals). {}\n",
            sets.len(),
            first.scenario.seed,
            provenance(first)
        );
    }
    let _ = writeln!(
        out,
        "Generated by `orchestrator report` from [`{0}`]({0}): do not edit by hand.\n",
        results_link
    );
    out.push_str("## Client groups\n\n");
    groups_table(&mut out, first, false);
    out.push_str("\n## Modes compared\n\n");
    let _ = writeln!(out, "| mode | {MODE_HEADER} report |");
    let _ = writeln!(out, "|---|{MODE_ALIGN}---|");
    for d in sets.iter().flatten() {
        let _ = writeln!(
            out,
            "| {0} | {1} | [{0}]({2}README.md) |",
            run_name(d),
            mode_row(d),
            run_dir(d)
        );
    }
    let link = if repeat > 1 {
        "; each mode's page gives every figure as mean ± 95 % confidence interval across its runs"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "\n![modes](modes.png)\n\n## Mode distortion\n\n\
         How far each mode's measurements are from what the clients did: the two-sample \
         Kolmogorov–Smirnov distance D between the clients' send gaps and the server's data \
         gaps (every group pooled), and between the gaps of the clients' connect calls (every \
         group, in time order) and the server's accept gaps, with its p-value. D is 0 for the \
         same distribution and 1 for lists that do not overlap at all{}{link}.\n",
        if repeat > 1 {
            format!("; mean ± half width of the 95 % confidence interval over the {repeat} runs")
        } else {
            String::new()
        }
    );
    let _ = writeln!(out, "| mode | {DISTORTION_HEADER}");
    let _ = writeln!(out, "|---|{DISTORTION_ALIGN}");
    let aggregated: Vec<(String, AcrossRuns)> = sets
        .iter()
        .filter_map(|runs| Some((runs.first()?.mode.to_string(), AcrossRuns::of(runs))))
        .collect();
    for ((mode, a), runs) in aggregated.iter().zip(sets) {
        let page = runs.first().map_or_else(String::new, |d| {
            if repeat > 1 {
                format!("{}/", d.mode)
            } else {
                run_dir(d)
            }
        });
        let _ = writeln!(
            out,
            "| [{mode}]({page}README.md) | {}",
            distortion_cells(runs.len(), a)
        );
    }
    if aggregated.iter().any(|(_, a)| connected_at_once(a)) {
        let _ = write!(out, "\n{AT_ONCE_NOTE}\n");
    }
    out.push_str("\n![distortion](distortion.png)\n\n");
    server_fit_table(&mut out, sets);
    out.push_str("## Reading\n\n");
    out.push_str(&distortion_reading(&aggregated));
    out.push_str("\n\n");
    out.push_str(&sweep_reading(sets));
    out.push('\n');
    out
}

/// Which mode stretched the connection gaps most and least, and what the data gaps did
/// (means over each mode's runs).
fn sweep_reading(sets: &[Vec<&Dataset>]) -> String {
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

/// `report/<scenario>/[<mode>/]README.md` of a repeated scenario: the runs of one mode
/// side by side, and every figure of their `summary.csv` and `distortion.csv` as mean ± 95%
/// confidence interval.
pub fn repeat_page(runs: &[&Dataset], results_link: &str) -> String {
    let mut out = String::new();
    let Some(first) = runs.first() else {
        return out;
    };
    let n = runs.len();
    let mut title = first.scenario.name.clone();
    if first.info.sweep {
        let _ = write!(title, " — mode `{}`", first.mode);
    }
    let _ = writeln!(out, "# {title}\n");
    let _ = writeln!(out, "{}\n", first.scenario.description);
    let _ = writeln!(
        out,
        "{n} runs against the {} ({}), scenario seed {}: run 1 draws with the scenario seed, \
         run k ≥ 2 with `arrivals::seed::derive(seed, 2^32 + k)`, and client group g of a run \
         with `arrivals::seed::derive(run seed, g)`. Run 1: {}\n",
        first.mode.server_name(),
        first.mode.describe(),
        first.scenario.seed,
        provenance(first)
    );
    let _ = writeln!(
        out,
        "Generated by `orchestrator report` from [`{0}`]({0}): do not edit by hand.\n",
        results_link
    );
    out.push_str("## Client groups\n\n");
    groups_table(&mut out, first, false);

    out.push_str("\n## Runs\n\n");
    out.push_str("| run | run seed | connections | messages | avg connection gap (ms) | avg data gap (ms) | data gaps: KS D | connection gaps: KS D | report |\n");
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for d in runs {
        let c = fidelity::comparisons(d);
        let ks = |compared| {
            fidelity::overall(&c, compared)
                .and_then(|c| c.ks)
                .map_or_else(|| "n/a".to_owned(), |k| format!("{:.3}", k.statistic))
        };
        let _ = writeln!(
            out,
            "| {0} | {1} | {2} | {3} | {4} | {5} | {6} | {7} | [run {0}](run-{0}/README.md) |",
            d.info.run,
            d.scenario.run_seed(d.info.run),
            d.connections.len(),
            d.messages.len(),
            ms(mean(&d.connection_gaps(None))),
            ms(mean(&d.data_gaps(None))),
            ks(Compared::Data),
            ks(Compared::Connection),
        );
    }

    let a = AcrossRuns::of(runs);
    out.push_str("\n## Client vs server across the runs\n\n");
    let _ = writeln!(
        out,
        "Two-sample Kolmogorov–Smirnov distance between what the clients sent and what the \
         server observed (see a run's page), mean ± half width of the 95 % confidence interval \
         over the {n} runs (Student t with {} degrees of freedom, `arrivals::gof::mean_ci95`).\n",
        n.saturating_sub(1)
    );
    out.push_str("| gaps | client | client mean (ms) | server mean (ms) | KS D | KS p |\n");
    out.push_str("|---|---|---:|---:|---:|---:|\n");
    for r in &a.distortion {
        let v = |name: &str| {
            across_value(
                std::slice::from_ref(r),
                &DISTORTION_FIGURES,
                &r.series,
                &r.client,
                name,
            )
        };
        let f = |name: &str| pm(v(name), name);
        let gaps = match r.series.as_str() {
            "data_gap" => Compared::Data.describe(),
            _ => Compared::Connection.describe(),
        };
        let _ = writeln!(
            out,
            "| {gaps} | {} | {} | {} | {} | {} |",
            r.client,
            f("client_mean_ms"),
            f("server_mean_ms"),
            f("ks_d"),
            f("ks_p")
        );
    }

    out.push_str("\n## Every summary figure across the runs\n\n");
    let _ = writeln!(
        out,
        "Each figure of the runs' `summary.csv` (milliseconds; KS and AD for a continuous \
         configured distribution, the error |x − T| for a fixed interval), as mean ± half width \
         of its 95 % confidence interval over the {n} runs. All of them, with the number of \
         runs behind each, are in [`summary-runs.csv`]({results_link}/summary-runs.csv).\n"
    );
    let names: Vec<(usize, &str)> = SUMMARY_FIGURES
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            a.summary
                .iter()
                .any(|r| r.values.get(*i).copied().flatten().is_some())
        })
        .map(|(i, n)| (i, *n))
        .collect();
    let header: Vec<&str> = names.iter().map(|(_, n)| figure_title(n)).collect();
    let _ = writeln!(out, "| series | client | {} |", header.join(" | "));
    let _ = writeln!(out, "|---|---|{}", "---:|".repeat(names.len()));
    for r in &a.summary {
        let series = Series::ALL
            .iter()
            .find(|s| s.as_str() == r.series)
            .map_or(r.series.as_str(), |s| s.describe());
        let cells: Vec<String> = names
            .iter()
            .map(|(i, name)| pm(r.values.get(*i).copied().flatten(), name))
            .collect();
        let _ = writeln!(out, "| {series} | {} | {} |", r.client, cells.join(" | "));
    }
    out
}

/// One scenario in the index.
#[derive(Debug)]
pub struct IndexEntry<'a> {
    pub name: String,
    /// The runs of each mode of the scenario, in mode order (one set unless it is a
    /// sweep; one run per set unless it repeats).
    pub sets: Vec<Vec<&'a Dataset>>,
}

/// `report/README.md`: every scenario, and every run's numbers side by side.
pub fn index_page(entries: &[IndexEntry<'_>], results_link: &str) -> String {
    let mut out = String::new();
    out.push_str("# arrivals — experiment reports\n\n");
    out.push_str(
        "How a TCP server's concurrency model shapes the inter-arrival times it observes. Each \
         scenario in `experiments/` was run by `orchestrator run`; its raw event logs and CSV \
         tables are under ",
    );
    let _ = writeln!(
        out,
        "[`{results_link}`]({results_link}), its plots and reading under the folder linked \
         below. Regenerate every page (and the CSV tables) from the recorded logs with \
         `just report`.\n"
    );
    out.push_str("## Scenarios\n\n| scenario | modes | runs | description |\n|---|---|---:|---|\n");
    for e in entries {
        let modes: Vec<String> = e
            .sets
            .iter()
            .filter_map(|r| r.first())
            .map(|d| format!("`{}`", d.mode))
            .collect();
        let first = e.sets.first().and_then(|r| r.first());
        let description = first
            .map(|d| d.scenario.description.replace('|', "\\|"))
            .unwrap_or_default();
        let runs = e.sets.iter().map(Vec::len).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "| [{0}]({0}/README.md) | {1} | {runs} | {description} |",
            e.name,
            modes.join(", ")
        );
    }
    out.push_str("\n## Modes compared\n\n");
    out.push_str(
        "One row per run. A connection gap is the time between two accepts, a data gap the \
         time between two messages on one connection; \"max open at once\" is 1 when the server \
         served connections one after another.\n\n",
    );
    let _ = writeln!(out, "| scenario | mode | {MODE_HEADER}");
    let _ = writeln!(out, "|---|---|{MODE_ALIGN}");
    for e in entries {
        for d in e.sets.iter().flatten() {
            let _ = writeln!(
                out,
                "| {} | [{}]({}/{}README.md) | {} |",
                e.name,
                run_name(d),
                e.name,
                run_dir(d),
                mode_row(d)
            );
        }
    }
    out.push_str("\n## Mode distortion\n\n");
    out.push_str(
        "One row per scenario and mode: the two-sample Kolmogorov–Smirnov distance D between \
         what the clients sent and what the server observed — the clients' send gaps against \
         the server's data gaps, and the gaps between the clients' connect calls against the \
         server's accept gaps (0: same distribution, 1: no overlap) — and the mean connection \
         gap on both sides. With several runs, mean ± half width of the 95 % confidence \
         interval.\n\n",
    );
    let _ = writeln!(out, "| scenario | mode | {DISTORTION_HEADER}");
    let _ = writeln!(out, "|---|---|{DISTORTION_ALIGN}");
    let mut at_once = false;
    for e in entries {
        for runs in &e.sets {
            let Some(d) = runs.first() else { continue };
            let a = AcrossRuns::of(runs);
            at_once |= connected_at_once(&a);
            let page = if d.info.sweep {
                format!("{}/{}/README.md", e.name, d.mode)
            } else {
                format!("{}/README.md", e.name)
            };
            let _ = writeln!(
                out,
                "| {} | [{}]({page}) | {}",
                e.name,
                d.mode,
                distortion_cells(runs.len(), &a)
            );
        }
    }
    if at_once {
        let _ = write!(out, "\n{AT_ONCE_NOTE}\n");
    }
    out
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

    #[test]
    fn a_sweep_page_has_the_distortion_and_server_fit_tables() {
        let d = fixtures::iterative();
        let page = sweep_page(&[vec![&d]], "../../results/fixture");
        assert!(page.contains("## Mode distortion"), "{page}");
        assert!(
            page.contains("| [iter](README.md) | 1 | 0.400 | "),
            "{page}"
        );
        // The workers connected 0.2 and 0.3 ms apart: the connection D is marked.
        assert!(page.contains("| 1.000 † |"), "{page}");
        assert!(
            page.contains("† The clients connected all at once"),
            "{page}"
        );
        assert!(
            page.contains(
                "| iter | uni | server data gaps | uniform on [0, 200 ms] | 0.750 | 0.500 | "
            ),
            "{page}"
        );
        assert!(page.contains(" | 1/1 | 1/1 |"), "{page}");
    }

    #[test]
    fn repeats_get_a_page_with_confidence_intervals() {
        let (mut info, server, client) = fixtures::records();
        info.scenario_text = fixtures::SCENARIO.replace("seed = 42", "seed = 42\nrepeat = 2");
        let one =
            Dataset::new(std::path::Path::new("a"), info.clone(), &server, &client).expect("valid");
        info.run = 2;
        // The second run's server saw its connections 301 ms apart instead of 201.
        let slower: Vec<_> = server
            .iter()
            .cloned()
            .map(|mut r| {
                if let arrivals::ServerEvent::ConnectionAccepted {
                    gap_ms: Some(g), ..
                } = &mut r.event
                {
                    *g += 100.0;
                }
                r
            })
            .collect();
        let two = Dataset::new(std::path::Path::new("b"), info, &slower, &client).expect("valid");
        let page = repeat_page(&[&one, &two], "../../results/fixture");
        assert!(page.starts_with("# fixture\n"), "{page}");
        assert!(page.contains("[run 2](run-2/README.md)"), "{page}");
        // Server accept gaps: 201.25 and 301.25 on average; t(0.975, 1) · 50 = 635.31.
        assert!(
            page.contains("| server accept gaps | all | 2.0 ± 0.0 | 251.25 ± 635.31 |"),
            "{page}"
        );
        assert!(
            page.contains("(../../results/fixture/summary-runs.csv)"),
            "{page}"
        );
        assert_eq!(page, repeat_page(&[&one, &two], "../../results/fixture"));

        let entries = [IndexEntry {
            name: "fixture".into(),
            sets: vec![vec![&one, &two]],
        }];
        let index = index_page(&entries, "../results");
        assert!(
            index.contains("| fixture | [iter #2](fixture/run-2/README.md) |"),
            "{index}"
        );
        assert!(
            index.contains("| fixture | [iter](fixture/README.md) | 2 | 0.400 ± 0.000 |"),
            "{index}"
        );
    }

    #[test]
    fn the_index_compares_runs() {
        let d = fixtures::iterative();
        let entries = [IndexEntry {
            name: "fixture".into(),
            sets: vec![vec![&d]],
        }];
        let page = index_page(&entries, "../results");
        assert!(
            page.contains("| [fixture](fixture/README.md) | `iter` |"),
            "{page}"
        );
        assert!(
            page.contains("| fixture | [iter](fixture/README.md) | 3 | 5 | 1 | 201.25 | 90.00 |"),
            "{page}"
        );
        assert!(
            page.contains("| fixture | [iter](fixture/README.md) | 1 | 0.400 | "),
            "{page}"
        );
    }
}
