//! The markdown pages: one per run, one across the runs of a repeated scenario, one per
//! sweep, and the index `report/README.md`. Pure functions of the recorded data; numbers
//! have fixed decimals so a re-render is identical. This module owns the cell formats and
//! run names the pages share; each page, the shared tables and the readings have their own.

mod across;
mod hosts;
mod index;
mod load_page;
mod reading;
mod repeat_page;
mod run_page;
mod sweep_page;
mod tables;
mod theory;

use std::fmt::Write as _;

use super::format::short_p;
use crate::dataset::Dataset;
use crate::fidelity::Across;

pub use across::AcrossRuns;
pub use hosts::twin_section;
pub use index::{IndexEntry, index_page};
pub use load_page::{LoadPage, load_page};
pub use repeat_page::repeat_page;
pub use run_page::{Links, run_page};
pub use sweep_page::sweep_page;

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
        short_p(v)
    } else if name == "ks_d" {
        format!("{v:.3}")
    } else {
        format!("{v:.2}")
    }
}

/// The path of a run's page folder below its scenario's report folder: `[<mode>/][run-<k>/]`.
fn run_dir(d: &Dataset) -> String {
    match d.scenario.step_folder() {
        Some(step) => format!("{step}/{}", run_dir_in_step(d)),
        None => run_dir_in_step(d),
    }
}

/// The path of a run's page folder below its step's folder in a load sweep (below its
/// scenario's otherwise): `[<mode>/][run-<k>/]`.
fn run_dir_in_step(d: &Dataset) -> String {
    let mut path = String::new();
    if d.info.sweep {
        let _ = write!(path, "{}/", d.mode);
    }
    if d.scenario.repeat > 1 {
        let _ = write!(path, "run-{}/", d.info.run);
    }
    path
}

/// The name of a run in tables: its mode, `#k` in a repeated scenario, and its step in a
/// load sweep.
fn run_name(d: &Dataset) -> String {
    let mut name = d.mode.to_string();
    if d.scenario.repeat > 1 {
        let _ = write!(name, " #{}", d.info.run);
    }
    if let (Some(load), Some(i)) = (&d.scenario.load, d.scenario.step) {
        let _ = write!(name, " at {}", load.describe(i));
    }
    name
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

/// Below this mean gap between the clients' connect calls (ms), a connection-gap comparison
/// compares timing noise: the workers connected all at once.
const ALL_AT_ONCE_MS: f64 = 1.0;
