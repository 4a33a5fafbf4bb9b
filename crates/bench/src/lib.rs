//! The benchmark suite of the arrivals instrument: runs each group against the `server` and
//! `client` binaries of `--bin-dir`, prints one table and writes it with the run's provenance.

mod accept;
mod ingest;
mod memory;
mod report;
mod servers;
mod stats;
pub mod table;
mod timing;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, ValueEnum};

use crate::report::RunInfo;
use crate::servers::Bins;
use crate::table::{Row, Table};

/// Benchmark suite: ingest, accept rate, memory, send timing and statistics of the arrivals
/// binaries, as one table (stdout, `bench.csv`, `run.json` and a markdown report).
#[derive(Debug, Parser)]
#[command(version)]
pub struct Options {
    /// Directory of the `server` and `client` binaries to measure (relative paths: to the
    /// current directory; default: the repository's `target/release`)
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Small sizes, for a smoke test
    #[arg(long)]
    pub quick: bool,
    /// Where `bench.csv` and `run.json` go [default: results/bench in the repository]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where the markdown report goes [default: report/bench in the repository]
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Run one group only
    #[arg(long, value_enum, value_name = "GROUP")]
    pub only: Option<Group>,
}

/// A group of rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Group {
    Ingest,
    Accept,
    Memory,
    Timing,
    Stats,
}

/// The sizes of a run.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub(crate) struct Sizes {
    /// Lines per flood connection (4 connections).
    pub flood_lines: usize,
    /// Connections per accept thread (2 threads).
    pub accept_each: usize,
    pub memory_async: usize,
    pub memory_thr: usize,
    /// Messages of the one-worker timing runs (the four-worker run sends a fifth each).
    pub timing_n: usize,
    pub stats_n: usize,
    /// Interleaved rounds of the ingest rows without log and with it, and of the accept rows.
    pub rounds_ingest: usize,
    pub rounds_events: usize,
    pub rounds_accept: usize,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                flood_lines: 20_000,
                accept_each: 200,
                memory_async: 200,
                memory_thr: 50,
                timing_n: 100,
                stats_n: 10_000,
                rounds_ingest: 2,
                rounds_events: 1,
                rounds_accept: 2,
            }
        } else {
            Self {
                flood_lines: 500_000,
                accept_each: 5_000,
                memory_async: 10_000,
                memory_thr: 1_000,
                timing_n: 1_000,
                stats_n: 1_000_000,
                rounds_ingest: 5,
                rounds_events: 3,
                rounds_accept: 3,
            }
        }
    }
}

/// The rows `f` measured, or one FAILED row named `name` that says why (also on stderr).
pub(crate) fn group_rows(
    group: &'static str,
    name: &str,
    f: impl FnOnce() -> anyhow::Result<Vec<Row>>,
) -> Vec<Row> {
    f().unwrap_or_else(|e| {
        eprintln!("Error: {group} {name}: {e:#}");
        vec![Row::failure(group, name, &format!("{e:#}"))]
    })
}

/// Runs `measure(name)` for every name, `rounds` times, round after round, so that a load
/// coming and going on a shared host hits every row alike. Per name: its samples, or the
/// first error (that name is not measured again).
pub(crate) fn interleaved<T>(
    names: &[&str],
    rounds: usize,
    mut measure: impl FnMut(&str) -> anyhow::Result<T>,
) -> Vec<anyhow::Result<Vec<T>>> {
    let mut out: Vec<anyhow::Result<Vec<T>>> = names.iter().map(|_| Ok(Vec::new())).collect();
    for _ in 0..rounds {
        for (name, slot) in names.iter().zip(&mut out) {
            if let Ok(samples) = slot {
                match measure(name) {
                    Ok(sample) => samples.push(sample),
                    Err(e) => *slot = Err(e),
                }
            }
        }
    }
    out
}

/// The median and range of repeated measurements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    /// The spread of `values`; NaN fields when there are none.
    pub fn of(values: &[f64]) -> Self {
        let sorted = arrivals::gof::sorted(values);
        let median = if sorted.is_empty() {
            f64::NAN
        } else {
            arrivals::stats::quantile_sorted(&sorted, 0.5)
        };
        Self {
            median,
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
            n: sorted.len(),
        }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (min, max) = (table::format_value(self.min), table::format_value(self.max));
        write!(f, "median of {} ({min}–{max})", self.n)
    }
}

/// The repository this crate was built in.
fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // crates/bench sits two levels below the root.
    manifest.ancestors().nth(2).unwrap_or(manifest).to_owned()
}

/// Children inherit the raised limit: the memory group holds 10,000 connections.
fn raise_nofile() -> anyhow::Result<()> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    )
    .context("cannot raise RLIMIT_NOFILE to its hard limit")
}

/// Runs the selected groups, prints the table and writes the results; true when no row failed.
pub fn run(options: &Options) -> anyhow::Result<bool> {
    let started = Instant::now();
    let root = repo_root();
    let bin_dir = options
        .bin_dir
        .clone()
        .unwrap_or_else(|| root.join("target/release"));
    let bins = Bins::locate(&bin_dir)?;
    raise_nofile()?;
    let sizes = Sizes::new(options.quick);
    let wanted = |g: Group| options.only.is_none_or(|o| o == g);
    let mut info = RunInfo::probe(&root, &bins, options.quick, sizes);
    let mut table = Table::default();
    let groups: [(Group, &dyn Fn() -> Vec<Row>); 5] = [
        (Group::Ingest, &|| ingest::rows(&bins, &sizes)),
        (Group::Accept, &|| accept::rows(&bins, &sizes)),
        (Group::Memory, &|| memory::rows(&bins, &sizes)),
        (Group::Timing, &|| timing::rows(&bins, &sizes)),
        (Group::Stats, &|| stats::rows(&sizes)),
    ];
    for (group, measure) in groups {
        if wanted(group) {
            let t = Instant::now();
            table.rows.extend(measure());
            eprintln!("{group:?}: {:.1} s", t.elapsed().as_secs_f64());
        }
    }
    table.resolve_ratios();
    info.duration_s = started.elapsed().as_secs_f64();
    info.loadavg_end = report::proc_file("/proc/loadavg");
    print!("{}", table.to_text());
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| root.join("results/bench"));
    let report_dir = options
        .report
        .clone()
        .unwrap_or_else(|| root.join("report/bench"));
    write(&out.join("bench.csv"), &table.to_csv()?)?;
    write(&out.join("run.json"), &serde_json::to_vec_pretty(&info)?)?;
    write(
        &report_dir.join("README.md"),
        report::readme(&table, &info).as_bytes(),
    )?;
    eprintln!(
        "total {:.1} s; wrote {} and {}",
        info.duration_s,
        out.display(),
        report_dir.display()
    );
    Ok(table.all_ok())
}

/// The one place that writes files: creates the parent directory first.
fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
