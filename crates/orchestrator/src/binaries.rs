//! Finding the `server` and `client` binaries: they live beside the orchestrator's own
//! executable (`target/release/` or `target/debug/`); and naming them in `run.json` without
//! the machine's paths.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use sha2::{Digest, Sha256};

use crate::runinfo::{self, Binary};

/// How long a binary may take to print its `--version`.
const VERSION_TIMEOUT: Duration = Duration::from_secs(2);

/// A binary the orchestrator needs is not where it should be.
#[derive(Debug, thiserror::Error)]
pub enum BinaryError {
    #[error("cannot find the orchestrator's own executable: {0}")]
    CurrentExe(std::io::Error),
    #[error(
        "the `{name}` binary is missing: expected {path} beside the orchestrator. Build it with \
         `cargo build {profile}--bins` from the workspace root (`just experiment NAME` builds first)"
    )]
    Missing {
        name: &'static str,
        path: PathBuf,
        profile: &'static str,
    },
}

/// The three binaries of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Binaries {
    pub orchestrator: PathBuf,
    pub server: PathBuf,
    pub client: PathBuf,
}

impl Binaries {
    /// Finds `server` and `client` beside the running executable.
    pub fn beside_current_exe() -> Result<Self, BinaryError> {
        let me = std::env::current_exe().map_err(BinaryError::CurrentExe)?;
        Self::beside(&me)
    }

    /// Finds `server` and `client` in the folder of `orchestrator`.
    pub fn beside(orchestrator: &Path) -> Result<Self, BinaryError> {
        let dir = orchestrator.parent().unwrap_or(Path::new("."));
        let profile = if dir.ends_with("release") {
            "--release "
        } else {
            ""
        };
        let find = |name: &'static str| {
            let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
            if path.is_file() {
                Ok(path)
            } else {
                Err(BinaryError::Missing {
                    name,
                    path,
                    profile,
                })
            }
        };
        Ok(Self {
            orchestrator: orchestrator.to_owned(),
            server: find("server")?,
            client: find("client")?,
        })
    }
    /// What `run.json` records of the three: each path relative to the repository `root`,
    /// `--version` and SHA-256.
    pub fn identify(&self, root: &Path) -> runinfo::Binaries {
        runinfo::Binaries {
            orchestrator: identify(&self.orchestrator, root),
            server: identify(&self.server, root),
            client: identify(&self.client, root),
        }
    }
}

/// `path` relative to `root` (its file name alone when it lies elsewhere), what it prints
/// for `--version`, and the SHA-256 of the file; `unknown` where they cannot be had.
fn identify(path: &Path, root: &Path) -> Binary {
    let absolute = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_owned());
    let (path_abs, root_abs) = (absolute(path), absolute(root));
    let relative = path_abs
        .strip_prefix(&root_abs)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.file_name().map(PathBuf::from).unwrap_or_default());
    let version = version(path).unwrap_or_else(|| "unknown".to_owned());
    let sha256 = std::fs::read(path).map_or_else(
        |_| "unknown".to_owned(),
        |bytes| {
            Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        },
    );
    Binary::Identified {
        path: relative.to_string_lossy().into_owned(),
        version,
        sha256,
    }
}

/// What `path --version` prints, if it answers within [`VERSION_TIMEOUT`]; otherwise its
/// process group is killed (a stand-in that ignores the flag must not hold up the run).
fn version(path: &Path) -> Option<String> {
    let mut cmd = Command::new(path);
    cmd.arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    let child = cmd.spawn().ok()?;
    let pid = Pid::from_child(&child);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(VERSION_TIMEOUT) {
        Ok(Ok(out)) if out.status.success() => {
            Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        Ok(_) => None,
        Err(_) => {
            // The group id is the child's pid; the thread reaps it once killed.
            let _ = kill_process_group(pid, Signal::KILL);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_is_named_relative_to_the_root_with_its_hash() {
        let root = tempfile::tempdir().expect("temp dir");
        let bin = root.path().join("target/release/tool");
        std::fs::create_dir_all(bin.parent().expect("folder")).expect("folders");
        std::fs::write(&bin, b"abc").expect("file");
        let Binary::Identified {
            path,
            version,
            sha256,
        } = identify(&bin, root.path())
        else {
            panic!("identified");
        };
        assert_eq!(path, "target/release/tool");
        // Not executable: no version to ask for.
        assert_eq!(version, "unknown");
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let elsewhere = identify(&bin, Path::new("/nonexistent-root"));
        assert!(matches!(elsewhere, Binary::Identified { path, .. } if path == "tool"));
    }

    #[test]
    fn run_json_of_earlier_runs_still_reads() {
        let old: runinfo::Binaries = serde_json::from_str(
            r#"{"orchestrator": "/home/x/o", "server": "/home/x/s", "client": "/home/x/c"}"#,
        )
        .expect("the old form parses");
        assert_eq!(old.server, Binary::Path("/home/x/s".into()));
    }
}
