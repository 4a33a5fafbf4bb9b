//! The markdown pages: one per run, one per sweep, and the index `report/README.md`. Pure
//! functions of the recorded data; numbers have fixed decimals so a re-render is identical.

use std::fmt::Write as _;

use arrivals::Summary;
use arrivals::stats::mean;

use crate::dataset::{Dataset, GapKind};

/// Where a page's links point: the run's results folder, relative to the page.
#[derive(Clone, Debug)]
pub struct Links {
    pub results: String,
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}"))
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

fn summary_table(out: &mut String, d: &Dataset) {
    out.push_str("| gap | client | count | mean | median | p90 | p99 | min | max |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (kind, client, s) in d.summaries() {
        let kind = match kind {
            GapKind::Connection => "connection",
            GapKind::Data => "data",
        };
        let cells = match s {
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
        let _ = writeln!(out, "| {kind} | {client} | {cells} |");
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
    if let (Some(gap), Some(life)) = (conn_gap, mean(&lifetimes)) {
        if open == 1 && conns > 1 {
            let _ = write!(
                s,
                " The average connection gap, {gap:.2} ms, is set by how long each connection \
                 kept the server busy (the average lifetime is {life:.2} ms), not by when the \
                 clients connected."
            );
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

/// `report/<scenario>/README.md` (or `report/<scenario>/<mode>/README.md` in a sweep).
pub fn run_page(d: &Dataset, links: &Links) -> String {
    let mut out = String::new();
    let title = if d.info.sweep {
        format!("{} — mode `{}`", d.scenario.name, d.mode)
    } else {
        d.scenario.name.clone()
    };
    let _ = writeln!(out, "# {title}\n");
    let _ = writeln!(out, "{}\n", d.scenario.description);
    let _ = writeln!(
        out,
        "Server mode **{}** ({}), scenario seed {}. {}\n",
        d.mode,
        d.mode.describe(),
        d.scenario.seed,
        provenance(d)
    );
    let _ = writeln!(
        out,
        "Generated by `orchestrator report` from the recorded files in [`{0}`]({0}): \
         do not edit by hand.\n",
        links.results
    );

    out.push_str("## Client groups\n\n");
    out.push_str("| group | workers | intervals | distribution | configured mean (ms) | start after (ms) | client seed |\n");
    out.push_str("|---|---:|---:|---|---:|---:|---:|\n");
    for (i, g) in d.scenario.clients.iter().enumerate() {
        let seed = d
            .info
            .clients
            .iter()
            .find(|c| c.label == g.label)
            .map_or_else(|| d.scenario.group_seed(i), |c| c.seed);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {seed} |",
            g.label,
            g.workers,
            g.intervals,
            g.dist.describe(),
            ms(g.dist.mean_ms()),
            g.start_after_ms
        );
    }

    out.push_str("\n## What the server measured\n\n");
    out.push_str("Gaps in milliseconds. A connection gap is the time since the previous accept (of any group); a data gap is the time since the previous message on the same connection, or since its accept for the first one.\n\n");
    summary_table(&mut out, d);
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

    out.push_str("\n## Reading\n\n");
    out.push_str(&reading(d));
    out.push_str("\n\n## Plots\n\n");
    out.push_str("One bar per connection from accept to close, a dot per message received:\n\n![timeline](timeline.png)\n\n");
    out.push_str("Data gaps per client group, with the configured distribution overlaid:\n\n![data gaps](data-gaps.png)\n\n");
    out.push_str("The gap before each accept, in accept order:\n\n![connection gaps](connection-gaps.png)\n\n");
    let _ = writeln!(
        out,
        "Tables: [`connections.csv`]({0}/connections.csv), [`messages.csv`]({0}/messages.csv), \
         [`summary.csv`]({0}/summary.csv); raw logs: [`server-events.jsonl`]({0}/server-events.jsonl), \
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

/// `report/<scenario>/README.md` of a sweep: the modes side by side.
pub fn sweep_page(runs: &[&Dataset], results_link: &str) -> String {
    let mut out = String::new();
    let Some(first) = runs.first() else {
        return out;
    };
    let _ = writeln!(out, "# {}\n", first.scenario.name);
    let _ = writeln!(out, "{}\n", first.scenario.description);
    let _ = writeln!(
        out,
        "One workload against {} server modes, scenario seed {} (every mode gets the same \
         client seeds, so the clients draw the same intervals). {}\n",
        runs.len(),
        first.scenario.seed,
        provenance(first)
    );
    let _ = writeln!(
        out,
        "Generated by `orchestrator report` from [`{0}`]({0}): do not edit by hand.\n",
        results_link
    );
    out.push_str(
        "## Client groups\n\n| group | workers | intervals | distribution |\n|---|---:|---:|---|\n",
    );
    for g in &first.scenario.clients {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            g.label,
            g.workers,
            g.intervals,
            g.dist.describe()
        );
    }
    out.push_str("\n## Modes compared\n\n");
    let _ = writeln!(out, "| mode | {MODE_HEADER} report |");
    let _ = writeln!(out, "|---|{MODE_ALIGN}---|");
    for d in runs {
        let _ = writeln!(
            out,
            "| {0} | {1} | [{0}]({0}/README.md) |",
            d.mode,
            mode_row(d)
        );
    }
    out.push_str("\n![modes](modes.png)\n\n## Reading\n\n");
    out.push_str(&sweep_reading(runs));
    out.push('\n');
    out
}

/// Which mode stretched the connection gaps most and least, and what the data gaps did.
fn sweep_reading(runs: &[&Dataset]) -> String {
    let conn: Vec<(String, f64)> = runs
        .iter()
        .filter_map(|d| Some((d.mode.to_string(), mean(&d.connection_gaps(None))?)))
        .collect();
    let data: Vec<(String, f64)> = runs
        .iter()
        .filter_map(|d| Some((d.mode.to_string(), mean(&d.data_gaps(None))?)))
        .collect();
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
                if let Some(drawn) = runs.first().and_then(|d| d.mean_drawn_ms(None)) {
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

/// One scenario in the index.
#[derive(Debug)]
pub struct IndexEntry<'a> {
    pub name: String,
    /// The runs of the scenario, in mode order (one unless it is a sweep).
    pub runs: Vec<&'a Dataset>,
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
    out.push_str("## Scenarios\n\n| scenario | modes | description |\n|---|---|---|\n");
    for e in entries {
        let modes: Vec<String> = e.runs.iter().map(|d| format!("`{}`", d.mode)).collect();
        let description = e
            .runs
            .first()
            .map(|d| d.scenario.description.replace('|', "\\|"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| [{0}]({0}/README.md) | {1} | {description} |",
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
        for d in &e.runs {
            let link = if d.info.sweep {
                format!("[{0}]({1}/{0}/README.md)", d.mode, e.name)
            } else {
                format!("[{0}]({1}/README.md)", d.mode, e.name)
            };
            let _ = writeln!(out, "| {} | {link} | {} |", e.name, mode_row(d));
        }
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
        assert!(page.contains("(../../results/fixture/summary.csv)"));
        assert_eq!(page, run_page(&d, &links), "deterministic");
    }

    #[test]
    fn the_index_compares_runs() {
        let d = fixtures::iterative();
        let entries = [IndexEntry {
            name: "fixture".into(),
            runs: vec![&d],
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
    }
}
