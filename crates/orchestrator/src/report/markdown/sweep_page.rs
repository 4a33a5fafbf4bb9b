//! `report/<scenario>/README.md` of a sweep: the server modes side by side, their distortion
//! and how well each fits the configured distributions.

use crate::report::figures;
use std::fmt::Write as _;

use super::across::{AcrossRuns, across_value, connected_at_once};
use super::reading::{distortion_reading, sweep_reading};
use super::tables::{
    AT_ONCE_NOTE, DISTORTION_ALIGN, DISTORTION_HEADER, MODE_ALIGN, MODE_HEADER, distortion_cells,
    groups_table, mode_row,
};
use super::{pm, provenance, run_dir_in_step, run_name};
use crate::dataset::Dataset;
use crate::fidelity::{self, Fit, SUMMARY_FIGURES, Series};

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

/// Per mode (runs pooled): the server delay's quantiles, and the mean connect → accept
/// wait, with `delay.png`.
pub(super) fn delay_table(out: &mut String, sets: &[Vec<&Dataset>]) {
    out.push_str("## The delay each mode added\n\n");
    out.push_str(
        "The server delay of every message (the instant the server read it minus the instant \
         the kernel had its bytes, from `SO_TIMESTAMPING`), each mode's runs pooled, and the \
         mean wait from a worker's `connect` call to the server's accept, in milliseconds. \
         Modes whose average gaps agree can still differ here by orders of magnitude.\n\n",
    );
    out.push_str(
        "| mode | messages | server delay p50 | p90 | p99 | max | mean connect → accept wait |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    for runs in sets {
        let Some(first) = runs.first() else { continue };
        let delays: Vec<f64> = runs.iter().flat_map(|d| d.server_delays(None)).collect();
        let waits: Vec<f64> = runs.iter().flat_map(|d| d.connect_waits(None)).collect();
        let cells = match arrivals::Summary::of(&delays) {
            Some(s) => format!(
                "{} | {:.3} | {:.3} | {:.3} | {:.3}",
                s.count, s.median, s.p90, s.p99, s.max
            ),
            None => "0 | n/a | n/a | n/a | n/a".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {cells} | {} |",
            first.mode,
            crate::report::format::cell_ms(arrivals::stats::mean(&waits))
        );
    }
    let _ = write!(out, "\n{}\n\n", figures::DELAY_MODES.embed());
}

/// `report/<scenario>/README.md` of a sweep: the modes side by side. `sets` holds each
/// mode's runs (several with `repeat`), in sweep order.
pub fn sweep_page(sets: &[Vec<&Dataset>], results_link: &str) -> String {
    let mut out = String::new();
    let Some(first) = sets.first().and_then(|s| s.first()) else {
        return out;
    };
    let repeat = first.scenario.repeat;
    let _ = writeln!(out, "# {}\n", first.scenario.title());
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
            run_dir_in_step(d)
        );
    }
    let link = if repeat > 1 {
        "; each mode's page gives every figure as mean ± 95 % confidence interval across its runs"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "\n{}\n\n## Mode distortion\n\n\
         How far each mode's measurements are from what the clients did: the two-sample \
         Kolmogorov–Smirnov distance D between the clients' send gaps and the server's data \
         gaps (every group pooled), and between the gaps of the clients' connect calls (every \
         group, in time order) and the server's accept gaps, with its p-value. D is 0 for the \
         same distribution and 1 for lists that do not overlap at all{}{link}.\n",
        figures::MODES.embed(),
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
                run_dir_in_step(d)
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
    let _ = write!(out, "\n{}\n\n", figures::DISTORTION.embed());
    server_fit_table(&mut out, sets);
    delay_table(&mut out, sets);
    out.push_str("## Theory vs measurement\n\n");
    out.push_str(
        "Each mode's predictions of queueing theory (an iterative server as M/G/1, the others \
         as M/G/∞, Little's law for all), fed with what each run measured, against the \
         measurement (with repeats: its mean ± the half width of the 95 % confidence interval \
         over the runs, and whether the prediction falls inside).\n\n",
    );
    super::theory::verified_table(&mut out, sets);
    out.push('\n');
    out.push_str("## Reading\n\n");
    out.push_str(&distortion_reading(&aggregated));
    out.push_str("\n\n");
    out.push_str(&sweep_reading(sets));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::fixtures;

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
}
