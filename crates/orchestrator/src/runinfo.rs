//! `run.json`: what was run, with what, where and when — the provenance that the report
//! quotes, and the scenario text it re-reads to know the client groups.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use arrivals::Mode;
use arrivals::args::{ClientArgs, ServerArgs};
use serde::{Deserialize, Serialize};

/// The recorded facts of one run (one mode of a scenario).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub scenario: String,
    /// The scenario file the run read, as given on the command line.
    pub scenario_file: String,
    pub scenario_text: String,
    pub seed: u64,
    pub mode: Mode,
    /// True when the scenario is a sweep (this run is one of its modes).
    pub sweep: bool,
    /// Which run of a scenario with `repeat = N` this is, from 1 (1 when it runs once).
    #[serde(default = "first_run")]
    pub run: u32,
    /// UTC, ISO 8601.
    pub date: String,
    pub git_commit: String,
    pub git_dirty: bool,
    pub rustc: String,
    pub host_cores: usize,
    pub binaries: Binaries,
    /// The server's command line as run (after the program name).
    pub server_args: Vec<String>,
    /// The same, typed; absent in runs recorded before it was.
    #[serde(default)]
    pub server: Option<ServerArgs>,
    pub server_port: u16,
    pub clients: Vec<ClientRun>,
    /// Wall-clock time from the server's start to its exit.
    pub duration_ms: f64,
    /// The two average lines the server printed when it stopped.
    pub server_printed: Vec<String>,
}

fn first_run() -> u32 {
    1
}

/// The binaries a run used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Binaries {
    pub orchestrator: Binary,
    pub server: Binary,
    pub client: Binary,
}

/// One binary of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Binary {
    /// Its path relative to the repository root, its `--version` line and the SHA-256 of
    /// the file (lowercase hex).
    Identified {
        path: String,
        version: String,
        sha256: String,
    },
    /// How runs recorded before named it: its path on the machine that ran them.
    Path(String),
}

/// One client group's process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientRun {
    pub label: String,
    pub seed: u64,
    /// Its command line as run (after the program name).
    pub args: Vec<String>,
    /// The same, typed; absent in runs recorded before it was.
    #[serde(default)]
    pub client: Option<ClientArgs>,
    /// When it was launched and when it exited, ms after the server was ready.
    pub launched_ms: f64,
    pub exited_ms: f64,
}

/// Provenance gathered once per `orchestrator run`.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    pub git_commit: String,
    pub git_dirty: bool,
    pub rustc: String,
    pub host_cores: usize,
    pub binaries: Binaries,
}

impl Host {
    /// Asks git (in `dir`), rustc and the binaries; `unknown` where they cannot answer.
    pub fn probe(dir: &Path, bins: &crate::binaries::Binaries) -> Self {
        let out = |program: &str, args: &[&str]| -> Option<String> {
            let o = Command::new(program)
                .args(args)
                .current_dir(dir)
                .output()
                .ok()?;
            o.status
                .success()
                .then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        };
        let git_commit = out("git", &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
        let git_dirty = out("git", &["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|s| !s.is_empty());
        let rustc = out("rustc", &["--version"]).unwrap_or_else(|| "unknown".into());
        let host_cores = std::thread::available_parallelism().map_or(1, usize::from);
        let root = out("git", &["rev-parse", "--show-toplevel"])
            .map_or_else(|| dir.to_owned(), std::path::PathBuf::from);
        Self {
            git_commit,
            git_dirty,
            rustc,
            host_cores,
            binaries: bins.identify(&root),
        }
    }
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

/// Formats Unix seconds as ISO 8601 UTC (the civil-from-days algorithm of H. Hinnant).
fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_match_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        // `date -u -d @1768823258` → 2026-01-19T11:47:38Z (the seed lab's first timestamp).
        assert_eq!(format_utc(1_768_823_258), "2026-01-19T11:47:38Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
