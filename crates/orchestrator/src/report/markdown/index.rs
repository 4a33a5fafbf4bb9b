//! `report/README.md`: every scenario, and every run's numbers side by side.

use std::fmt::Write as _;

use super::across::{AcrossRuns, connected_at_once};
use super::tables::{
    AT_ONCE_NOTE, DISTORTION_ALIGN, DISTORTION_HEADER, MODE_ALIGN, MODE_HEADER, distortion_cells,
    mode_row,
};
use super::{run_dir, run_name};
use crate::dataset::Dataset;

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
        let mut modes: Vec<String> = Vec::new();
        for d in e.sets.iter().filter_map(|r| r.first()) {
            let mode = format!("`{}`", d.mode);
            // A load sweep lists each mode at every step: name it once.
            if !modes.contains(&mode) {
                modes.push(mode);
            }
        }
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
                d.scenario.title(),
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
            let step = d
                .scenario
                .step_folder()
                .map_or_else(String::new, |f| format!("{f}/"));
            let page = if d.info.sweep {
                format!("{}/{step}{}/README.md", e.name, d.mode)
            } else {
                format!("{}/README.md", e.name)
            };
            let _ = writeln!(
                out,
                "| {} | [{}]({page}) | {}",
                d.scenario.title(),
                d.mode,
                distortion_cells(runs.len(), &a)
            );
        }
    }
    if at_once {
        let _ = write!(out, "\n{AT_ONCE_NOTE}\n");
    }
    theory_table(&mut out, entries);
    out
}

/// Theory vs measurement across scenarios: every prediction that applies, with its verdict,
/// and how many do not apply.
fn theory_table(out: &mut String, entries: &[IndexEntry<'_>]) {
    out.push_str("\n## Theory vs measurement\n\n");
    out.push_str(
        "Every prediction of queueing theory that applies to a scenario's runs (an iterative \
         server as M/G/1, the concurrent modes as M/G/∞, Little's law for all; at least 30 \
         connections and, but for Little's law, Poisson connection arrivals), fed with what \
         the runs measured, against the measurement: with repeats, mean ± half width of the \
         95 % confidence interval and whether the prediction falls inside. Each run's page \
         says why the others do not apply.\n\n",
    );
    out.push_str(
        "| scenario | mode | quantity | formula | predicted | measured | runs | verdict |\n",
    );
    out.push_str("|---|---|---|---|---:|---:|---:|---|\n");
    let (mut shown, mut skipped) = (0, 0);
    for e in entries {
        for runs in &e.sets {
            let Some(d) = runs.first() else { continue };
            for v in crate::theory::verify(runs) {
                if v.not_applicable.is_some() {
                    skipped += 1;
                    continue;
                }
                shown += 1;
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    d.scenario.title(),
                    d.mode,
                    super::theory::verified_cells(&v)
                );
            }
        }
    }
    if shown == 0 {
        out.push_str("| | | no prediction applies to the recorded runs | | | | | |\n");
    }
    let _ = writeln!(
        out,
        "\n{skipped} further predictions do not apply (too few connections, or connections \
         that do not arrive as a Poisson process, or ρ ≥ 1)."
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::fixtures;

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
