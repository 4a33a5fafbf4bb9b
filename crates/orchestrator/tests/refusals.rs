//! A bad scenario is refused before anything starts: the real binary exits non-zero, names
//! the file, line and key, and creates no results (so no server was started).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const GOOD: &str = r#"description = "a small scenario"
seed = 3

[server]
mode = "thr"

[[clients]]
label = "fixed"
workers = 2
intervals = 3
dist = "d"
param = 0.02
"#;

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("experiments")).expect("experiments dir");
        Self { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn scenario(&self, name: &str, text: &str) -> &Self {
        std::fs::write(self.path(&format!("experiments/{name}.toml")), text).expect("write");
        self
    }

    fn orchestrator(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_orchestrator"))
            .arg("--experiments")
            .arg(self.path("experiments"))
            .arg("--results")
            .arg(self.path("results"))
            .arg("--report")
            .arg(self.path("report"))
            .args(args)
            .output()
            .expect("orchestrator runs")
    }

    /// Runs `run bad` and returns stderr, asserting the refusal left nothing behind.
    fn refuse(&self, text: &str) -> String {
        self.scenario("bad", text);
        let out = self.orchestrator(&["run", "bad"]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "accepted a bad scenario: {stderr}");
        assert!(stderr.starts_with("Error: "), "{stderr}");
        assert!(
            !self.path("results").exists(),
            "results were created: {stderr}"
        );
        assert!(
            !self.path("report").exists(),
            "a report was created: {stderr}"
        );
        stderr
    }
}

fn names(stderr: &str, file: &Path, line: usize, key: &str) {
    let at = format!("{}:{line}:", file.display());
    assert!(stderr.contains(&at), "expected {at} in: {stderr}");
    assert!(
        stderr.contains(&format!("`{key}`")),
        "expected key `{key}` in: {stderr}"
    );
}

#[test]
fn a_misspelt_key_is_refused_with_its_line() {
    let lab = Lab::new();
    let err = lab.refuse(&GOOD.replace("intervals = 3", "intervalz = 3"));
    names(&err, &lab.path("experiments/bad.toml"), 10, "intervalz");
}

#[test]
fn an_unknown_distribution_is_refused() {
    let lab = Lab::new();
    let err = lab.refuse(&GOOD.replace(r#"dist = "d""#, r#"dist = "x""#));
    names(&err, &lab.path("experiments/bad.toml"), 11, "dist");
    assert!(err.contains("unknown distribution 'x'"), "{err}");
}

#[test]
fn zero_workers_are_refused() {
    let lab = Lab::new();
    let err = lab.refuse(&GOOD.replace("workers = 2", "workers = 0"));
    names(&err, &lab.path("experiments/bad.toml"), 9, "workers");
}

#[test]
fn a_bad_parameter_and_an_unknown_mode_are_refused() {
    let lab = Lab::new();
    let err = lab.refuse(
        &GOOD
            .replace(r#"dist = "d""#, r#"dist = "e""#)
            .replace("0.02", "0"),
    );
    names(&err, &lab.path("experiments/bad.toml"), 12, "param");
    let err = lab.refuse(&GOOD.replace(r#""thr""#, r#""threads""#));
    names(&err, &lab.path("experiments/bad.toml"), 5, "mode");
}

#[test]
fn bad_connection_processes_and_repeats_are_refused() {
    let lab = Lab::new();
    let bad = lab.path("experiments/bad.toml");
    let err = lab.refuse(&GOOD.replace(
        "param = 0.02\n",
        "param = 0.02\nconnect_dist = \"poisson\"\nconnect_param = 2.0\n",
    ));
    names(&err, &bad, 13, "connect_dist");
    assert!(err.contains("unknown distribution 'poisson'"), "{err}");
    let err = lab.refuse(&GOOD.replace("param = 0.02\n", "param = 0.02\nconnect_param = 2.0\n"));
    names(&err, &bad, 13, "connect_param");
    assert!(err.contains("without `connect_dist`"), "{err}");
    let err = lab.refuse(&GOOD.replace(
        "param = 0.02\n",
        "param = 0.02\nconnect_dist = \"e\"\nconnect_param = -1.0\n",
    ));
    names(&err, &bad, 14, "connect_param");
    let err = lab.refuse(&GOOD.replace("seed = 3\n", "seed = 3\nrepeat = 0\n"));
    names(&err, &bad, 3, "repeat");
}

#[test]
fn a_missing_scenario_names_the_path() {
    let lab = Lab::new();
    lab.scenario("other", GOOD);
    let out = lab.orchestrator(&["run", "nope"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let expected = lab.path("experiments/nope.toml");
    assert!(stderr.contains(&expected.display().to_string()), "{stderr}");
    assert!(stderr.contains("available: other"), "{stderr}");

    let missing = lab.path("elsewhere/gone.toml");
    let out = lab.orchestrator(&["run", &missing.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("cannot read scenario {}", missing.display())),
        "{stderr}"
    );
    assert!(!lab.path("results").exists());
}

#[test]
fn one_bad_file_stops_the_whole_batch() {
    let lab = Lab::new();
    lab.scenario("good", GOOD);
    let err = lab.refuse(&GOOD.replace("seed = 3", "seed = 3\nspeed = 4"));
    names(&err, &lab.path("experiments/bad.toml"), 3, "speed");
    let out = lab.orchestrator(&["run", "--all"]);
    assert!(!out.status.success());
    assert!(!lab.path("results").exists());
}

#[test]
fn list_shows_names_and_descriptions() {
    let lab = Lab::new();
    lab.scenario("small", GOOD);
    let out = lab.orchestrator(&["list"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("small "), "{stdout}");
    assert!(stdout.contains("thr"), "{stdout}");
    assert!(stdout.contains("a small scenario"), "{stdout}");
}
