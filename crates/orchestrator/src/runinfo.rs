//! `run.json`: what was run, with what, where and when — the provenance that the report
//! quotes, and the scenario text it re-reads to know the client groups.

use std::path::Path;
use std::process::Command;

use arrivals::Mode;
use arrivals::args::{ClientArgs, ServerArgs};
pub use arrivals::clock::utc_now;
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
    /// The step of a load sweep this run belongs to (an index into `[sweep] values`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
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
    /// The open-file limit (`ulimit -n`) the orchestrator ran the server and clients with,
    /// after raising it to the hard limit; absent in runs recorded before it was noted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_file_limit: Option<u64>,
    /// Why the run failed, when it did: its logs in the folder are partial, and the report
    /// draws nothing from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    /// Where the processes ran, the links they crossed and the hosts' clock offsets;
    /// absent when everything ran locally over loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<crate::hosts::HostsRecord>,
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
