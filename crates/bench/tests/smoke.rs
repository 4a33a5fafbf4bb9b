//! Smoke test: the bench binary runs its accept group quickly against the debug `server`
//! and `client` beside it and writes a table whose rows exist and whose counts match.

use std::path::{Path, PathBuf};
use std::process::Command;

const BENCH: &str = env!("CARGO_BIN_EXE_bench");

/// The directory of the `server` and `client` binaries beside ours, built on demand when
/// only this package was built.
fn bin_dir() -> PathBuf {
    let dir = Path::new(BENCH)
        .parent()
        .expect("the bench binary has a directory");
    if !dir.join("server").exists() || !dir.join("client").exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "server", "-p", "client", "--bins"])
            .status()
            .expect("run cargo build");
        assert!(
            status.success(),
            "cannot build the server and client binaries"
        );
    }
    dir.to_owned()
}

#[test]
fn quick_accept_group_writes_checked_rows() {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let out = Command::new(BENCH)
        .args(["--quick", "--only", "accept", "--bin-dir"])
        .arg(bin_dir())
        .arg("--out")
        .arg(tmp.path())
        .arg("--report")
        .arg(tmp.path())
        .output()
        .expect("run bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed:\n{stdout}\n{stderr}");

    let csv = std::fs::read_to_string(tmp.path().join("bench.csv")).expect("bench.csv");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a CSV row")).collect();
    let names: Vec<&str> = rows.iter().map(|r| &r[1]).collect();
    assert_eq!(names, ["iter", "thr", "proc", "async"], "{csv}");
    for row in &rows {
        assert_eq!(&row[0], "accept");
        assert_eq!(&row[3], "conn/s");
        assert!(row[2].parse::<f64>().is_ok_and(|v| v > 0.0), "{row:?}");
        assert!(
            row[6].contains("400 connections; connection gaps n = 399"),
            "{row:?}"
        );
        assert!(!row[6].contains("FAILED"), "{row:?}");
    }
    assert!(
        rows[1..]
            .iter()
            .all(|r| &r[4] == "iter" && !r[5].is_empty())
    );
    assert!(stdout.lines().count() == 5, "{stdout}");

    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("run.json")).expect("run.json"))
            .expect("JSON");
    assert!(
        run["server_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("server ")),
        "{run}"
    );
    let readme = std::fs::read_to_string(tmp.path().join("README.md")).expect("README.md");
    assert!(readme.contains("| accept | proc |"), "{readme}");
}
