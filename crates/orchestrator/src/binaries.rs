//! Finding the `server` and `client` binaries: they live beside the orchestrator's own
//! executable (`target/release/` or `target/debug/`).

use std::path::{Path, PathBuf};

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
}
