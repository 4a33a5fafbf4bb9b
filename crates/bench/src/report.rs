//! What a run records besides the table: `run.json` (where, when, with which binaries) and
//! the `README.md` of the report. Pure: both return bytes; `lib.rs` writes them.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

use crate::servers::Bins;
use crate::table::Table;

/// The provenance of one run.
#[derive(Debug, Serialize)]
pub struct RunInfo {
    pub host: String,
    pub git_commit: String,
    pub git_dirty: bool,
    pub date: String,
    pub bin_dir: String,
    /// The commit of the repository holding the binaries, when they sit in one.
    pub bin_git_commit: String,
    pub kernel: String,
    pub server_version: String,
    pub client_version: String,
    pub quick: bool,
    pub args: Vec<String>,
    pub duration_s: f64,
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn proc_file(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "unknown".into(), |s| s.trim().to_owned())
}

impl RunInfo {
    /// Asks git (in `repo` and in the binaries' directory), /proc and the binaries.
    pub fn probe(repo: &Path, bins: &Bins, quick: bool) -> Self {
        let unknown = || "unknown".to_owned();
        let version = |bin: &Path| Bins::ask(bin, "--version").unwrap_or_else(|_| unknown());
        Self {
            host: proc_file("/proc/sys/kernel/hostname"),
            git_commit: git(repo, &["rev-parse", "HEAD"]).unwrap_or_else(unknown),
            git_dirty: git(repo, &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty()),
            date: arrivals::clock::utc_now(),
            bin_dir: bins.dir.display().to_string(),
            bin_git_commit: git(&bins.dir, &["rev-parse", "HEAD"]).unwrap_or_else(unknown),
            kernel: proc_file("/proc/sys/kernel/osrelease"),
            server_version: version(&bins.server),
            client_version: version(&bins.client),
            quick,
            args: std::env::args().skip(1).collect(),
            duration_s: 0.0,
        }
    }
}

const ROWS: &str = "\
- **ingest** — lines per second a server reads from a flood of 4 connections × 500,000 lines in
  the client's format (written in 64 KiB chunks, each connection shut down for writing and read
  to its end, which the server closes after reading everything): first connect → last end of
  stream. `ceiling` is a newline counter inside the bench fed by the same flood. Each mode runs
  without and with `--events`; `+events incl. log written` runs to the server's exit after
  SIGINT, when the log is complete. Checked: the server's `(n = N)` and the log's
  `message_received` lines equal the lines sent.
- **accept** — connections per second: 2 threads connect, read the greeting and close, 5,000
  times each. Checked: the server's connection-gap count is connections − 1.
- **memory** — VmRSS of `async` holding 10,000 and `thr` holding 1,000 idle connections
  (greeted, left open), above the idle server.
- **timing** — a `thr` server and the client with event logs: `d5ms×4` is `-w 4 -n 200 -d d
  -p 0.005` (the server's |data gap − 5 ms| and the client's send lateness, µs); `d5ms×1` is
  `-w 1 -n 1000 -d d -p 0.005` (lateness; targets p50 ≤ 10 µs, p99 ≤ 100 µs); `e200×1` is `-w 1
  -n 1000 -d e -p 200` (KS distance of the client's send gaps and the server's data gaps to the
  exponential, rate 200/s). `+spin200` rows rerun with `--spin-us 200` (n/a for clients
  without it).
- **stats** — the goodness-of-fit pipeline of `cargo bench -p arrivals --bench stats` on
  1,000,000 exponential gaps, each step next to the one sort.

`ratio` is `value` divided by the value of the row named in `compared_with`, measured in the
same run. Wall-clock figures depend on the host and on whatever else it runs.
";

/// The report's README: what each row measures, how to reproduce it, and the table.
pub fn readme(table: &Table, info: &RunInfo) -> String {
    format!(
        "# Benchmark suite\n\n`just bench` builds the release binaries and runs \
         `target/release/bench`, which drives the real `server` and `client` as child processes \
         and writes `results/bench/bench.csv`, `results/bench/run.json` and this page. \
         `target/release/bench --bin-dir DIR` measures binaries built elsewhere (e.g. from an \
         older commit); `--quick` shrinks every size, `--only GROUP` runs one group.\n\n\
         ## Rows\n\n{ROWS}\n## Last run\n\n{} on {} (kernel {}), commit {}{}, binaries {} ({}), \
         {:.0} s{}.\n\n{}",
        info.date,
        info.host,
        info.kernel,
        info.git_commit,
        if info.git_dirty { " (dirty)" } else { "" },
        info.bin_dir,
        info.server_version,
        info.duration_s,
        if info.quick { ", --quick" } else { "" },
        table.to_markdown()
    )
}
