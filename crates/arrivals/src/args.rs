//! Typed command lines of the `server` and `client` binaries: the orchestrator fills a
//! [`ServerArgs`] or [`ClientArgs`] and gets the argv to run, and `run.json` records the
//! typed values. Each builder is tested against the binary's own clap parser (the
//! `args_round_trip` tests of the server and client crates), so a flag renamed there fails
//! a test here. Adding a flag: one field and one line in `to_args`.

use std::ffi::OsString;
use std::fmt::Display;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Default of the server's `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

use crate::distribution::DistKind;
use crate::mode::Mode;

/// The `server` command line (SPEC §3); `None` leaves a flag at the server's default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerArgs {
    pub address: String,
    /// 0 lets the server pick a free port.
    pub port: u16,
    pub mode: Mode,
    pub events: Option<PathBuf>,
    pub verbose: bool,
    pub max_connections: Option<u64>,
    /// `--idle-timeout` in seconds; absent in runs recorded before it existed.
    #[serde(default)]
    pub idle_timeout: Option<f64>,
}

impl ServerArgs {
    /// The arguments after the program name.
    pub fn to_args(&self) -> Vec<OsString> {
        Argv::default()
            .value("--address", &self.address)
            .value("--port", self.port)
            .value("--concurrency-mode", self.mode)
            .path("--events", self.events.as_deref())
            .switch("--verbose", self.verbose)
            .option("--max-connections", self.max_connections)
            .option("--idle-timeout", self.idle_timeout)
            .0
    }
}

/// The `client` command line (SPEC §4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientArgs {
    pub workers: u32,
    pub intervals: u32,
    pub dist: DistKind,
    pub param: f64,
    pub shape: Option<f64>,
    /// `--connect-dist` and `--connect-param`.
    pub connect: Option<(DistKind, f64)>,
    pub server: String,
    pub port: u16,
    pub seed: Option<u64>,
    pub events: Option<PathBuf>,
    pub verbose: bool,
    /// Passed only when non-zero (the client's default).
    #[serde(default)]
    pub spin_us: u64,
    /// `--connect-timeout` and `--io-timeout` in seconds (the client's defaults when absent).
    #[serde(default)]
    pub connect_timeout: Option<f64>,
    #[serde(default)]
    pub io_timeout: Option<f64>,
}

impl ClientArgs {
    /// The arguments after the program name.
    pub fn to_args(&self) -> Vec<OsString> {
        Argv::default()
            .value("--workers", self.workers)
            .value("--intervals", self.intervals)
            .value("--dist", self.dist.short())
            .value("--param", self.param)
            .option("--shape", self.shape)
            .option("--connect-dist", self.connect.map(|(kind, _)| kind.short()))
            .option("--connect-param", self.connect.map(|(_, param)| param))
            .value("--server", &self.server)
            .value("--port", self.port)
            .option("--seed", self.seed)
            .path("--events", self.events.as_deref())
            .switch("--verbose", self.verbose)
            .option("--spin-us", (self.spin_us != 0).then_some(self.spin_us))
            .option("--connect-timeout", self.connect_timeout)
            .option("--io-timeout", self.io_timeout)
            .0
    }
}

/// An argv under construction, one call per flag. Values are written with `Display`,
/// which for `f64` gives the shortest text that parses back to the same number.
#[derive(Debug, Default)]
struct Argv(Vec<OsString>);

impl Argv {
    fn value(mut self, flag: &str, value: impl Display) -> Self {
        self.0.push(flag.into());
        self.0.push(value.to_string().into());
        self
    }

    fn option(self, flag: &str, value: Option<impl Display>) -> Self {
        match value {
            Some(v) => self.value(flag, v),
            None => self,
        }
    }

    fn path(mut self, flag: &str, path: Option<&Path>) -> Self {
        if let Some(p) = path {
            self.0.push(flag.into());
            self.0.push(p.into());
        }
        self
    }

    fn switch(mut self, flag: &str, on: bool) -> Self {
        if on {
            self.0.push(flag.into());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_options_are_left_out() {
        let args = ServerArgs {
            address: "127.0.0.1".into(),
            port: 0,
            mode: Mode::Proc,
            events: None,
            verbose: false,
            max_connections: None,
            idle_timeout: None,
        };
        assert_eq!(
            args.to_args(),
            [
                "--address",
                "127.0.0.1",
                "--port",
                "0",
                "--concurrency-mode",
                "proc"
            ]
        );
    }

    #[test]
    fn client_numbers_are_written_to_parse_back_exactly() {
        let args = ClientArgs {
            workers: 2,
            intervals: 3,
            dist: DistKind::Exponential,
            param: 0.1,
            shape: None,
            connect: Some((DistKind::Uniform, 4.0)),
            server: "::1".into(),
            port: 9,
            seed: Some(u64::MAX),
            events: None,
            verbose: true,
            spin_us: 0,
            connect_timeout: None,
            io_timeout: None,
        };
        let argv: Vec<String> = args
            .to_args()
            .into_iter()
            .map(|a| a.into_string().expect("utf-8"))
            .collect();
        assert_eq!(
            argv.join(" "),
            "--workers 2 --intervals 3 --dist e --param 0.1 --connect-dist u --connect-param 4 \
             --server ::1 --port 9 --seed 18446744073709551615 --verbose"
        );
    }
}
