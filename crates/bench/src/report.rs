//! What a run records besides the table: `run.json` (where, when, with which binaries) and
//! the `README.md` of the report. Pure: both return bytes; `lib.rs` writes them.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

use crate::Sizes;
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
    pub sizes: Sizes,
    pub args: Vec<String>,
    pub duration_s: f64,
    /// /proc/loadavg when the run started and when it ended: the host is shared.
    pub loadavg_start: String,
    pub loadavg_end: String,
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

pub fn proc_file(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "unknown".into(), |s| s.trim().to_owned())
}

impl RunInfo {
    /// Asks git (in `repo` and in the binaries' directory), /proc and the binaries.
    pub fn probe(repo: &Path, bins: &Bins, quick: bool, sizes: Sizes) -> Self {
        let unknown = || "unknown".to_owned();
        let version = |bin: &Path| Bins::ask(bin, "--version").unwrap_or_else(|_| unknown());
        Self {
            host: proc_file("/proc/sys/kernel/hostname"),
            git_commit: git(repo, &["rev-parse", "HEAD"]).unwrap_or_else(unknown),
            git_dirty: git(repo, &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty()),
            date: arrivals::clock::utc_now(),
            // Relative to the repository when inside it: a local absolute path says nothing
            // to a reader elsewhere.
            bin_dir: std::path::absolute(&bins.dir)
                .ok()
                .and_then(|d| {
                    let repo = std::path::absolute(repo).ok()?;
                    d.strip_prefix(&repo).ok().map(Path::to_path_buf)
                })
                .unwrap_or_else(|| bins.dir.clone())
                .display()
                .to_string(),
            bin_git_commit: git(&bins.dir, &["rev-parse", "HEAD"]).unwrap_or_else(unknown),
            kernel: proc_file("/proc/sys/kernel/osrelease"),
            server_version: version(&bins.server),
            client_version: version(&bins.client),
            quick,
            sizes,
            args: std::env::args().skip(1).collect(),
            duration_s: 0.0,
            loadavg_start: proc_file("/proc/loadavg"),
            loadavg_end: String::new(),
        }
    }
}

/// What each group measures, with the sizes of this run.
fn rows_text(z: &Sizes) -> String {
    let flood = z.flood_lines;
    let (accept, m_async, m_thr) = (z.accept_each, z.memory_async, z.memory_thr);
    let (n, n4) = (z.timing_n, z.timing_n / 5);
    let (ri, re, ra) = (z.rounds_ingest, z.rounds_events, z.rounds_accept);
    format!(
        "\
- **ingest** — lines per second a server reads from a flood of 4 connections × {flood} lines in
  the client's format (written in 64 KiB chunks, each connection shut down for writing and read
  to its end, which the server closes after reading everything): first connect → last end of
  stream. `ceiling` is a newline counter inside the bench fed by the same flood. Each mode runs
  without (the median of {ri} rounds run interleaved with the ceiling, range in the note;
  compared with the ceiling; `proc vs thr` repeats proc compared with thr) and with `--events`
  (the median of {re} rounds run interleaved, compared with the same mode without):
  `+events` until the server has read everything, `+events incl. log written` to the server's
  exit after SIGINT, when the log is complete, and `+events bound` as if writing the log's bytes
  were all there was to do: the same number of bytes, copied from the log, written from memory
  in 1 MiB writes to the same directory (the fastest round: the page cache's writeback makes it
  vary). No writer of these records can finish faster on this host, so `+events bound` caps
  the ratio of `+events incl. log written`. `paced` floods the same way at a fixed 1 M lines/s
  (4 × 250 k, half the lines), once without and once with the log, first connect → server
  exit: below the log's capacity, `paced +events` compared with `paced` shows what the log
  costs a run that it can keep up with. Checked: the server's `(n = N)` and the log's
  `message_received` lines equal the lines sent. `iter` serves the 4 connections one after the
  other (the others wait in the backlog).
- **accept** — connections per second: 2 threads connect, read the greeting and close, {accept}
  times each (the median of {ra} interleaved rounds); compared with `iter`. Checked: the
  server's connection-gap count is connections − 1.
- **memory** — VmRSS of `async` holding {m_async} and `thr` holding {m_thr} idle connections
  (greeted, left open; `--max-connections 20000`), compared with the idle server, and the
  growth per connection.
- **timing** — a `thr` server and the client, both with event logs. `d5ms×4` is `-w 4 -n {n4}
  -d d -p 0.005`: the client's send lateness (compared with `d5ms×1`) and the server's
  |data gap − 5 ms| without each connection's first gap, which is measured from the accept
  (compared with the lateness; target p99 ≤ 500 µs), µs. `d5ms×1` is `-w 1 -n {n} -d d -p 0.005`: send lateness,
  targets p50 ≤ 10 µs, p99 ≤ 100 µs. `e200×1` is `-w 1 -n {n} -d e -p 200 --seed 1`: the
  Kolmogorov–Smirnov distance D of the client's send gaps and of the server's data gaps to the
  exponential with rate 200/s. Each schedule runs again with `--spin-us 200` (busy-wait the
  last 200 µs before each send): `+spin200` rows, compared with the plain row, n/a for a client
  without that flag.
- **stats** — the goodness-of-fit pipeline of `cargo bench -p arrivals --bench stats` on
  {} exponential gaps in process, each step compared with the one sort.

`ratio` is `value` divided by the value of the row named in `compared_with`, measured in the
same run. Wall-clock figures depend on the host and on whatever else it runs: compare ratios.
",
        z.stats_n
    )
}

/// The report's README: what each row measures, how to reproduce it, and the table.
pub fn readme(table: &Table, info: &RunInfo) -> String {
    format!(
        "# Benchmark suite\n\n`just bench` builds the release binaries and runs \
         `target/release/bench`, which drives the real `server` and `client` as child processes \
         and writes `results/bench/bench.csv`, `results/bench/run.json` and this page. \
         `target/release/bench --bin-dir DIR` measures binaries built elsewhere (e.g. from an \
         older commit); `--quick` shrinks every size, `--only GROUP` runs one group.\n\n\
         ## Rows\n\n{}\n## Last run\n\n{} on {} (kernel {}), commit {}{}, binaries {} ({}), \
         {:.0} s{}; load average at start `{}`, at end `{}`.\n\n{}",
        rows_text(&info.sizes),
        info.date,
        info.host,
        info.kernel,
        info.git_commit,
        if info.git_dirty { " (dirty)" } else { "" },
        info.bin_dir,
        info.server_version,
        info.duration_s,
        if info.quick { ", --quick" } else { "" },
        info.loadavg_start,
        info.loadavg_end,
        table.to_markdown()
    )
}
