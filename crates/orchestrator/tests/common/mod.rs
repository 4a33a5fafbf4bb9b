//! What the integration tests share.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Builds `server` and `client` beside the orchestrator under test (once per test binary),
/// so `cargo test -p orchestrator` works without a prior `cargo build`; returns their
/// folder.
pub fn ensure_bins() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let bin_dir = Path::new(env!("CARGO_BIN_EXE_orchestrator"))
                .parent()
                .expect("the binary has a folder")
                .to_owned();
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let mut cmd = Command::new(env!("CARGO"));
            cmd.current_dir(&workspace)
                .args(["build", "--quiet", "--bins", "-p", "server", "-p", "client"]);
            if bin_dir.ends_with("release") {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("cargo runs");
            assert!(
                status.success(),
                "cannot build the server and client binaries"
            );
            for name in ["server", "client"] {
                assert!(
                    bin_dir.join(name).is_file(),
                    "{name} is not in {}",
                    bin_dir.display()
                );
            }
            bin_dir
        })
        .clone()
}
