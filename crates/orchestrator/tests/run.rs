//! A small real run inside `cargo test`: the real server and client binaries, results and
//! report in a temp dir, CSV row counts, decodable PNGs, and a byte-identical re-render.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::ensure_bins;

/// Two groups against a threaded server: 2 workers × 3 and 1 worker × 2 messages.
const SMALL: &str = r#"description = "a small threaded run"
seed = 3
settle_ms = 100

[server]
mode = "thr"

[[clients]]
label = "fixed"
workers = 2
intervals = 3
dist = "d"
param = 0.02

[[clients]]
label = "uniform"
workers = 1
intervals = 2
dist = "u"
param = 0.04
start_after_ms = 20
"#;

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new(scenarios: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("experiments")).expect("experiments dir");
        for (name, text) in scenarios {
            std::fs::write(dir.path().join(format!("experiments/{name}.toml")), text)
                .expect("write");
        }
        Self { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn orchestrator(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_orchestrator"))
            .arg("--experiments")
            .arg(self.path("experiments"))
            .arg("--results")
            .arg(self.path("results"))
            .arg("--report")
            .arg(self.path("report"))
            .args(args)
            .output()
            .expect("orchestrator runs");
        assert!(
            out.status.success(),
            "orchestrator {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Every CSV under results/ and markdown under report/, by path.
    fn derived(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        for root in ["results", "report"] {
            collect(&self.path(root), &mut out);
        }
        out.retain(|p, _| p.extension().is_some_and(|e| e == "csv" || e == "md"));
        out
    }
}

fn collect(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.insert(path.clone(), std::fs::read(&path).expect("read"));
        }
    }
}

fn csv_rows(path: &Path) -> Vec<csv::StringRecord> {
    let mut reader = csv::Reader::from_path(path).expect("csv opens");
    reader.records().map(|r| r.expect("csv row")).collect()
}

fn assert_png(path: &Path) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(file).read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).expect("png decodes");
    assert_eq!(
        (frame.width, frame.height),
        (1200, 700),
        "{}",
        path.display()
    );
}

#[test]
fn a_small_scenario_runs_and_re_renders_identically() {
    ensure_bins();
    let lab = Lab::new(&[("small", SMALL)]);
    let out = lab.orchestrator(&["run", "small"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("3 connections, 8 messages"), "{stdout}");

    let results = lab.path("results/small");
    for file in [
        "server-events.jsonl",
        "client-events.jsonl",
        "server.log",
        "client-fixed.log",
        "client-uniform.log",
        "run.json",
    ] {
        assert!(results.join(file).is_file(), "missing {file}");
    }
    let connections = csv_rows(&results.join("connections.csv"));
    assert_eq!(connections.len(), 3, "one row per worker");
    let messages = csv_rows(&results.join("messages.csv"));
    assert_eq!(messages.len(), 2 * 3 + 2, "workers × intervals");
    let labels: Vec<&str> = messages.iter().map(|r| &r[1]).collect();
    assert_eq!(
        labels.iter().filter(|l| **l == "fixed").count(),
        6,
        "{labels:?}"
    );
    assert_eq!(
        labels.iter().filter(|l| **l == "uniform").count(),
        2,
        "{labels:?}"
    );
    let summary = csv_rows(&results.join("summary.csv"));
    let data_all = summary
        .iter()
        .find(|r| &r[0] == "data_gap" && &r[1] == "all")
        .expect("overall data-gap row");
    assert_eq!(&data_all[2], "8");
    // Fixed 20 ms intervals: every data gap of that group is near 20 ms.
    let fixed = summary
        .iter()
        .find(|r| &r[0] == "data_gap" && &r[1] == "fixed")
        .expect("fixed row");
    let median: f64 = fixed[4].parse().expect("median");
    assert!((15.0..60.0).contains(&median), "median {median}");

    // Goodness of fit: the uniform group gets KS and AD, the fixed one |gap − T|.
    let uniform = summary
        .iter()
        .find(|r| &r[0] == "data_gap" && &r[1] == "uniform")
        .expect("uniform row");
    let ks_d: f64 = uniform[9].parse().expect("KS D");
    let ks_p: f64 = uniform[10].parse().expect("KS p");
    assert!(
        (0.0..=1.0).contains(&ks_d) && (0.0..=1.0).contains(&ks_p),
        "{uniform:?}"
    );
    assert!(
        !uniform[12].is_empty() && uniform[14].is_empty(),
        "{uniform:?}"
    );
    let err_max: f64 = fixed[15].parse().expect("max |gap − T|");
    assert!(fixed[9].is_empty() && err_max < 40.0, "{fixed:?}");
    let lateness = summary
        .iter()
        .find(|r| &r[0] == "send_lateness" && &r[1] == "all")
        .expect("lateness row");
    assert_eq!(&lateness[2], "8", "one lateness per send");
    let distortion = csv_rows(&results.join("distortion.csv"));
    let keys: Vec<(&str, &str)> = distortion.iter().map(|r| (&r[0], &r[1])).collect();
    assert_eq!(
        keys,
        [
            ("data_gap", "all"),
            ("data_gap", "fixed"),
            ("data_gap", "uniform"),
            ("connection_gap", "all")
        ]
    );
    assert_eq!((&distortion[0][2], &distortion[0][3]), ("8", "8"));
    // The delay the server added: every message has a kernel arrival it was read after.
    let delay = summary
        .iter()
        .find(|r| &r[0] == "server_delay" && &r[1] == "all")
        .expect("server-delay row");
    assert_eq!(&delay[2], "8", "one server delay per message");
    let min_delay: f64 = delay[7].parse().expect("min");
    assert!(min_delay >= 0.0, "{delay:?}");
    let waits = summary
        .iter()
        .find(|r| &r[0] == "connect_wait" && &r[1] == "all")
        .expect("connect-wait row");
    assert_eq!(&waits[2], "3", "one wait per connection");
    // Theory: three connections are too few to estimate λ; the table says so.
    let theory = csv_rows(&results.join("theory.csv"));
    let names: Vec<&str> = theory.iter().map(|r| &r[0]).collect();
    assert!(
        names.contains(&"mean_open") && names.contains(&"little_l"),
        "{names:?}"
    );
    let open = theory.iter().find(|r| &r[0] == "mean_open").expect("row");
    assert!(
        open[2].is_empty() && open[4].contains("fewer than 30"),
        "{open:?}"
    );

    let report = lab.path("report/small");
    for png in [
        "timeline.png",
        "data-gaps.png",
        "connection-gaps.png",
        "fit.png",
        "lateness.png",
        "delay.png",
        "merged.png",
    ] {
        assert_png(&report.join(png));
    }
    let page = std::fs::read_to_string(report.join("README.md")).expect("page");
    assert!(page.contains("![timeline](timeline.png)"), "{page}");
    assert!(page.contains("![fit](fit.png)"), "{page}");
    assert!(page.contains("## Client vs server"), "{page}");
    assert!(page.contains("## The delay the server added"), "{page}");
    assert!(page.contains("## Theory vs measurement"), "{page}");
    let index = std::fs::read_to_string(lab.path("report/README.md")).expect("index");
    assert!(index.contains("[small](small/README.md)"), "{index}");

    // The CSV tables and pages derive from the recorded files only.
    let first = lab.derived();
    assert!(first.len() >= 5, "{:?}", first.keys());
    lab.orchestrator(&["report"]);
    let second = lab.derived();
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &first {
        assert!(
            second[path] == *bytes,
            "{} changed on re-render",
            path.display()
        );
    }
    lab.orchestrator(&["report"]);
    assert_eq!(second, lab.derived(), "rendering twice differs");
}

#[test]
fn a_repeated_sweep_gets_run_folders_confidence_intervals_and_a_distortion_table() {
    ensure_bins();
    // Two runs of two modes; the fixed group's workers connect 15 ms apart.
    let sweep = SMALL
        .replace(r#"mode = "thr""#, r#"modes = ["iter", "async"]"#)
        .replace("seed = 3\n", "seed = 3\nrepeat = 2\n")
        .replace(
            "param = 0.02\n",
            "param = 0.02\nconnect_dist = \"d\"\nconnect_param = 0.015\n",
        )
        .replace("a small threaded run", "a small sweep");
    let lab = Lab::new(&[("sweep", &sweep)]);
    lab.orchestrator(&["run", "--all"]);
    for mode in ["iter", "async"] {
        for run in ["run-1", "run-2"] {
            let dir = format!("results/sweep/{mode}/{run}");
            let rows = csv_rows(&lab.path(&format!("{dir}/messages.csv")));
            assert_eq!(rows.len(), 8, "{dir}");
            let report = format!("report/sweep/{mode}/{run}");
            for png in ["timeline.png", "fit.png", "lateness.png"] {
                assert_png(&lab.path(&format!("{report}/{png}")));
            }
        }
        // The orchestrator passed the connection process to the fixed group's client only.
        let log = std::fs::read_to_string(
            lab.path(&format!("results/sweep/{mode}/run-1/client-events.jsonl")),
        )
        .expect("client events");
        let started: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(r#""event":"client_started""#))
            .collect();
        assert_eq!(started.len(), 2, "{log}");
        for line in started {
            if line.starts_with(r#"{"client":"fixed","#) {
                assert!(
                    line.contains(r#""connect":"deterministic 15 ms""#),
                    "{line}"
                );
            } else {
                assert!(!line.contains(r#""connect""#), "{line}");
            }
        }
        let across = csv_rows(&lab.path(&format!("results/sweep/{mode}/summary-runs.csv")));
        let count = across
            .iter()
            .find(|r| {
                &r[0] == "summary" && &r[1] == "data_gap" && &r[2] == "all" && &r[3] == "count"
            })
            .expect("count across runs");
        assert_eq!((&count[4], &count[5], &count[6]), ("2", "8.00", "0.00"));
        let page = std::fs::read_to_string(lab.path(&format!("report/sweep/{mode}/README.md")))
            .expect("repeat page");
        assert!(page.contains("[run 2](run-2/README.md)"), "{page}");
        assert!(page.contains(" ± "), "{page}");
    }
    // The two runs drew different intervals.
    let drawn = |run: &str| {
        csv_rows(&lab.path(&format!("results/sweep/async/{run}/messages.csv")))
            .iter()
            .map(|r| r[7].to_owned())
            .collect::<Vec<_>>()
    };
    assert_ne!(drawn("run-1"), drawn("run-2"));
    assert_png(&lab.path("report/sweep/modes.png"));
    assert_png(&lab.path("report/sweep/distortion.png"));
    let page = std::fs::read_to_string(lab.path("report/sweep/README.md")).expect("page");
    assert!(page.contains("[iter #2](iter/run-2/README.md)"), "{page}");
    assert!(page.contains("## Mode distortion"), "{page}");
    assert!(page.contains("| [async](async/README.md) | 2 |"), "{page}");
    let index = std::fs::read_to_string(lab.path("report/README.md")).expect("index");
    assert!(
        index.contains("[iter #1](sweep/iter/run-1/README.md)"),
        "{index}"
    );
    assert!(
        index.contains("| sweep | [iter](sweep/iter/README.md) | 2 |"),
        "{index}"
    );

    let first = lab.derived();
    lab.orchestrator(&["report"]);
    assert_eq!(first, lab.derived(), "a re-render changed a table or page");

    // The iterative server serves one connection at a time; async serves all at once.
    let open = |mode: &str| -> usize {
        let rows = csv_rows(&lab.path(&format!("results/sweep/{mode}/run-1/connections.csv")));
        let spans: Vec<(f64, f64)> = rows
            .iter()
            .map(|r| (r[6].parse().expect("accept"), r[7].parse().expect("close")))
            .collect();
        spans
            .iter()
            .map(|(a, _)| spans.iter().filter(|(b, c)| b <= a && a < c).count())
            .max()
            .unwrap_or(0)
    };
    assert_eq!(open("iter"), 1);
    assert!(open("async") >= 2);
}
