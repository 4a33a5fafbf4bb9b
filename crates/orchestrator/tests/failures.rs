//! Failing runs, with stand-in `server` and `client` scripts beside a copy of the
//! orchestrator: the run says why, exits non-zero and leaves no process behind.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

mod common;

const SCENARIO: &str = r#"description = "stand-ins"
seed = 1
settle_ms = 50

[server]
mode = "thr"

[[clients]]
label = "fixed"
workers = 1
intervals = 1
dist = "d"
param = 0.01
"#;

/// The tests of this file run one at a time: each writes executables (a copy of the
/// orchestrator, stand-in scripts) and then runs them, and a child forked meanwhile by a
/// parallel test of this process would hold the new file open for writing until it execs,
/// making that exec fail with ETXTBSY ("Text file busy").
static SERIAL: Mutex<()> = Mutex::new(());

struct Lab {
    dir: tempfile::TempDir,
    _serial: MutexGuard<'static, ()>,
}

impl Lab {
    /// A copy of the orchestrator in `bin/`, with the given stand-in scripts beside it.
    fn new(scripts: &[(&str, &str)]) -> Self {
        // A test that failed while holding the lock leaves nothing shared behind.
        let serial = SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("bin dir");
        std::fs::copy(env!("CARGO_BIN_EXE_orchestrator"), bin.join("orchestrator"))
            .expect("copy the orchestrator");
        for (name, body) in scripts {
            let path = bin.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("script");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        std::fs::create_dir(dir.path().join("experiments")).expect("experiments");
        std::fs::write(dir.path().join("experiments/s.toml"), SCENARIO).expect("scenario");
        Self {
            dir,
            _serial: serial,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn run(&self) -> Output {
        self.run_these(&["s"])
    }

    fn run_these(&self, names: &[&str]) -> Output {
        Command::new(self.path("bin/orchestrator"))
            .current_dir(self.dir.path())
            .env("PIDS", self.path("pids"))
            .arg("run")
            .args(names)
            .output()
            .expect("orchestrator runs")
    }

    /// Every pid a stand-in recorded is gone (killed; a zombie left to init counts as gone).
    /// SIGKILL is delivered asynchronously and a stand-in's own child (its `sleep`) is not
    /// the orchestrator's to reap, so each pid gets a bounded grace period to vanish.
    fn assert_no_process_left(&self) {
        let Ok(pids) = std::fs::read_to_string(self.path("pids")) else {
            return;
        };
        for pid in pids.split_whitespace() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while running(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            assert!(!running(pid), "process {pid} is still running");
        }
    }
}

/// True while `pid` exists and is not a zombie.
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

/// A server that starts, prints its port line, ignores SIGINT and sleeps.
const STUBBORN_SERVER: &str = r#"echo $$ >> "$PIDS"
trap '' INT
echo "Listening on 127.0.0.1:9"
sleep 30 &
echo $! >> "$PIDS"
wait"#;

#[test]
fn a_failing_client_fails_the_run_and_the_server_is_killed() {
    let lab = Lab::new(&[
        ("server", STUBBORN_SERVER),
        (
            "client",
            r#"echo $$ >> "$PIDS"; echo "cannot connect" >&2; exit 3"#,
        ),
    ]);
    let started = Instant::now();
    let out = lab.run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("client group `fixed` failed"), "{stderr}");
    assert!(stderr.contains("client-fixed.log"), "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
    lab.assert_no_process_left();
    assert_marked_failed(&lab, "s", "client group `fixed` failed");
}

/// The run of scenario `name` is marked failed in its `run.json` (with `why`), its partial
/// logs are kept, and its report page says so.
fn assert_marked_failed(lab: &Lab, name: &str, why: &str) {
    let run_json = std::fs::read_to_string(lab.path(&format!("results/{name}/run.json")))
        .expect("a failed run has a run.json");
    let info: serde_json::Value = serde_json::from_str(&run_json).expect("run.json");
    let failed = info["failed"].as_str().expect("`failed` names the reason");
    assert!(failed.contains(why), "{failed}");
    assert!(
        lab.path(&format!("results/{name}/server.log")).exists(),
        "partial logs kept"
    );
    let page = std::fs::read_to_string(lab.path(&format!("report/{name}/README.md")))
        .expect("the failed run's page");
    assert!(page.contains("failed") && page.contains(why), "{page}");
}

/// A server that gets ready, then is killed (SIGKILL) while the client runs.
const KILLED_SERVER: &str = r#"echo $$ >> "$PIDS"
echo "Listening on 127.0.0.1:9"
sleep 0.3
kill -9 $$"#;

#[test]
fn a_server_killed_mid_run_marks_the_run_failed_and_the_next_scenario_runs() {
    let lab = Lab::new(&[
        ("server", KILLED_SERVER),
        ("client", r#"echo $$ >> "$PIDS"; sleep 5"#),
    ]);
    std::fs::write(lab.path("experiments/t.toml"), SCENARIO).expect("second scenario");
    let out = lab.run_these(&["s", "t"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // Both scenarios ran; each run is marked failed with what was lost.
    for name in ["s", "t"] {
        assert_marked_failed(&lab, name, "signal: 9");
    }
    assert!(stderr.contains("2 of 2 scenarios failed"), "{stderr}");
    lab.assert_no_process_left();
}

#[test]
fn a_server_that_never_gets_ready_is_reported() {
    let lab = Lab::new(&[
        (
            "server",
            r#"echo $$ >> "$PIDS"; echo "port in use" >&2; exit 1"#,
        ),
        ("client", "exit 0"),
    ]);
    let out = lab.run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("before it was ready"), "{stderr}");
    assert!(stderr.contains("port in use"), "{stderr}");
    lab.assert_no_process_left();
}

#[test]
fn a_missing_binary_says_how_to_build_it() {
    let lab = Lab::new(&[("server", "exit 0")]);
    let out = lab.run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("the `client` binary is missing"),
        "{stderr}"
    );
    assert!(stderr.contains("cargo build --bins"), "{stderr}");
    assert!(!lab.path("results").exists());
}

/// A load sweep over `workers` = 1, 2, 3 whose step 2 cannot run.
const SWEEP: &str = r#"description = "a sweep with a step that cannot run"
seed = 2
settle_ms = 50

[server]
mode = "thr"

[[clients]]
label = "load"
workers = 1
intervals = 3
dist = "d"
param = 0.01

[sweep]
key = "workers"
group = "load"
values = [1, 2, 3]
"#;

#[test]
fn a_sweep_step_that_cannot_run_is_recorded_failed_and_the_sweep_goes_on() {
    let real = common::ensure_bins();
    // The real binaries, except that the client refuses to start 2 workers, as a client
    // out of ports or file descriptors would.
    let client = format!(
        r#"prev=""
for a in "$@"; do
  if [ "$prev" = "--workers" ] && [ "$a" = "2" ]; then
    echo "cannot connect: no free local port (stand-in)" >&2; exit 3
  fi
  prev="$a"
done
exec "{}" "$@""#,
        real.join("client").display()
    );
    let server = format!(r#"exec "{}" "$@""#, real.join("server").display());
    let lab = Lab::new(&[("server", &server), ("client", &client)]);
    std::fs::write(lab.path("experiments/sweep.toml"), SWEEP).expect("scenario");
    let out = lab.run_these(&["sweep"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("workers = 2, mode thr"), "{stderr}");
    assert!(stderr.contains("1 of 3 runs failed"), "{stderr}");
    // Steps 1 and 3 ran and add up; step 2 says why it did not.
    assert!(
        stdout.contains("sweep (workers = 1, thr): 1 connections, 3 messages"),
        "{stdout}"
    );
    assert!(
        stdout.contains("sweep (workers = 3, thr): 3 connections, 9 messages"),
        "{stdout}"
    );
    let info: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.path("results/sweep/step-workers-2/thr/run.json"))
            .expect("the failed step's run.json"),
    )
    .expect("json");
    assert!(
        info["failed"]
            .as_str()
            .is_some_and(|f| f.contains("no free local port")),
        "{info}"
    );
    let load = std::fs::read_to_string(lab.path("results/sweep/load.csv")).expect("load.csv");
    let rows: Vec<&str> = load.lines().collect();
    assert_eq!(rows.len(), 4, "{load}");
    assert!(rows[2].starts_with("2,thr,0,"), "{load}");
    assert!(rows[2].contains("no free local port"), "{load}");
    let page = std::fs::read_to_string(lab.path("report/sweep/README.md")).expect("page");
    assert!(page.contains("| 2 | thr ◆ | 200.0 | failed: "), "{page}");
    assert!(page.contains("![load](load.png)"), "{page}");
    // Re-rendered from the recorded files, every table and page is the same.
    let before = derived(&lab);
    let status = Command::new(lab.path("bin/orchestrator"))
        .current_dir(lab.dir.path())
        .arg("report")
        .status()
        .expect("report runs");
    assert!(status.success());
    assert_eq!(before, derived(&lab));
}

/// Every CSV under results/ and every page and plot under report/, by path.
fn derived(lab: &Lab) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    fn collect(dir: &std::path::Path, out: &mut std::collections::BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                collect(&path, out);
            } else if path
                .extension()
                .is_some_and(|e| e == "csv" || e == "md" || e == "png")
            {
                out.insert(path.clone(), std::fs::read(&path).expect("read"));
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    collect(&lab.path("results"), &mut out);
    collect(&lab.path("report"), &mut out);
    out
}
