//! The one place that decides where recorded results and rendered reports live, and that
//! reads and writes them:
//!
//! ```text
//! results/<scenario>/            one run: event logs, console logs, run.json, CSV tables
//! results/<scenario>/<mode>/     the same, per mode of a sweep
//! results/<scenario>/[<mode>/]run-<k>/   run k of a scenario with `repeat = N` > 1, and
//!                                summary-runs.csv (mean ± 95% CI across the runs) above them
//! report/<scenario>/[<mode>/][run-<k>/]  timeline.png, data-gaps.png, connection-gaps.png,
//!                                fit.png, lateness.png, README.md (one folder per run; with
//!                                repeats a README.md above them compares the runs)
//! report/<scenario>/             modes.png, distortion.png, delay.png and README.md of a sweep
//! results/<scenario>/step-<key>-<value>/   one step of a load sweep: a sweep of its own
//!                                (one folder per mode), load.csv above the steps
//! report/<scenario>/step-<key>-<value>/    its pages; load.png, delay.png and README.md
//!                                of the load sweep above them
//! report/README.md               the index
//! ```

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use arrivals::events::{ReadLogError, read_log};
use arrivals::{ClientEvent, Mode, Record, ServerEvent};

use crate::dataset::{Dataset, DatasetError};
use crate::runinfo::RunInfo;

pub const SERVER_EVENTS: &str = "server-events.jsonl";
pub const CLIENT_EVENTS: &str = "client-events.jsonl";
pub const SERVER_LOG: &str = "server.log";
pub const RUN_JSON: &str = "run.json";
pub const CONNECTIONS_CSV: &str = "connections.csv";
pub const MESSAGES_CSV: &str = "messages.csv";
pub const SUMMARY_CSV: &str = "summary.csv";
pub const DISTORTION_CSV: &str = "distortion.csv";
pub const SUMMARY_RUNS_CSV: &str = "summary-runs.csv";
pub const LOAD_CSV: &str = "load.csv";
pub const THEORY_CSV: &str = "theory.csv";
pub const README_MD: &str = "README.md";

/// The console log of client group `label`.
pub fn client_log(label: &str) -> String {
    format!("client-{label}.log")
}

/// The folder of run `k` of a repeated scenario.
pub fn run_folder(k: u32) -> String {
    format!("run-{k}")
}

/// `k` of a folder named `run-<k>`.
fn parse_run_folder(name: &str) -> Option<u32> {
    name.strip_prefix("run-")?.parse().ok().filter(|k| *k >= 1)
}

/// The event log a client group's process writes before it is merged.
pub fn client_events_part(label: &str) -> String {
    format!("client-{label}.events.part.jsonl")
}

/// An error reading or writing results, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot remove {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("{path}: not a valid run record: {source}")]
    RunJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}:{line}: not a client event: {message}")]
    ClientLine {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(transparent)]
    Log(#[from] ReadLogError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
}

/// The roots of results and reports.
#[derive(Clone, Debug)]
pub struct Layout {
    pub results: PathBuf,
    pub report: PathBuf,
}

impl Layout {
    /// `results/<scenario>/`.
    pub fn scenario_results(&self, scenario: &str) -> PathBuf {
        self.results.join(scenario)
    }

    /// `report/<scenario>/`.
    pub fn scenario_report(&self, scenario: &str) -> PathBuf {
        self.report.join(scenario)
    }

    /// Where `s` is recorded: this layout and its name, or, at a step of a load sweep, the
    /// layout rooted at `results/<scenario>/` and `report/<scenario>/` with the step's
    /// folder (`step-KEY-VALUE`) in place of the name.
    pub fn at(&self, s: &crate::scenario::Scenario) -> (Layout, String) {
        match s.step_folder() {
            Some(folder) => (self.below(&s.name), folder),
            None => (self.clone(), s.name.clone()),
        }
    }

    /// The layout rooted at `results/<scenario>/` and `report/<scenario>/`.
    pub fn below(&self, scenario: &str) -> Layout {
        Layout {
            results: self.scenario_results(scenario),
            report: self.scenario_report(scenario),
        }
    }

    /// Where the runs of one mode go: `results/<scenario>/`, or `.../<mode>/` in a sweep.
    pub fn mode_results(&self, scenario: &str, mode: Mode, sweep: bool) -> PathBuf {
        let dir = self.scenario_results(scenario);
        if sweep { dir.join(mode.name()) } else { dir }
    }

    /// Where the report of one mode goes (mirrors [`Layout::mode_results`]).
    pub fn mode_report(&self, scenario: &str, mode: Mode, sweep: bool) -> PathBuf {
        let dir = self.scenario_report(scenario);
        if sweep { dir.join(mode.name()) } else { dir }
    }

    /// Where one run's results go: the mode's folder, or its `run-<k>/` when `run` is given
    /// (a scenario with `repeat` > 1).
    pub fn run_results(
        &self,
        scenario: &str,
        mode: Mode,
        sweep: bool,
        run: Option<u32>,
    ) -> PathBuf {
        let dir = self.mode_results(scenario, mode, sweep);
        match run {
            Some(k) => dir.join(run_folder(k)),
            None => dir,
        }
    }

    /// Where one run's report goes (mirrors [`Layout::run_results`]).
    pub fn run_report(&self, scenario: &str, mode: Mode, sweep: bool, run: Option<u32>) -> PathBuf {
        let dir = self.mode_report(scenario, mode, sweep);
        match run {
            Some(k) => dir.join(run_folder(k)),
            None => dir,
        }
    }

    /// A link from the folder `from` to `to`, relative, with `/` separators.
    pub fn link(from: &Path, to: &Path) -> String {
        relative(from, to)
    }
}

/// Creates `dir` and its parents.
pub fn create_dir(dir: &Path) -> Result<(), ResultsError> {
    fs::create_dir_all(dir).map_err(|source| ResultsError::Write {
        path: dir.to_owned(),
        source,
    })
}

/// Removes `dir` and everything in it, if it exists.
pub fn remove_dir(dir: &Path) -> Result<(), ResultsError> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ResultsError::Remove {
            path: dir.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Writes `bytes` to `path`, creating its folder.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), ResultsError> {
    if let Some(parent) = path.parent() {
        create_dir(parent)?;
    }
    fs::write(path, bytes).map_err(|source| ResultsError::Write {
        path: path.to_owned(),
        source,
    })
}

fn read_string(path: &Path) -> Result<String, ResultsError> {
    fs::read_to_string(path).map_err(|source| ResultsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Writes `run.json`.
pub fn write_run_info(dir: &Path, info: &RunInfo) -> Result<(), ResultsError> {
    let path = dir.join(RUN_JSON);
    let mut text = serde_json::to_string_pretty(info).map_err(|source| ResultsError::RunJson {
        path: path.clone(),
        source,
    })?;
    text.push('\n');
    write(&path, text.as_bytes())
}

/// Reads `run.json`.
pub fn read_run_info(dir: &Path) -> Result<RunInfo, ResultsError> {
    let path = dir.join(RUN_JSON);
    let text = read_string(&path)?;
    serde_json::from_str(&text).map_err(|source| ResultsError::RunJson { path, source })
}

/// Merges the per-group client logs into `client-events.jsonl`, adding a `client` field
/// (the group label) at the front of every line, and removes the parts.
pub fn merge_client_events(dir: &Path, labels: &[String]) -> Result<(), ResultsError> {
    let mut merged = String::new();
    for label in labels {
        let part = dir.join(client_events_part(label));
        let text = match fs::read_to_string(&part) {
            Ok(t) => t,
            // A client that failed before opening its log contributes nothing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => return Err(ResultsError::Read { path: part, source }),
        };
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = |message: String| ResultsError::ClientLine {
                path: part.clone(),
                line: i + 1,
                message,
            };
            serde_json::from_str::<Record<ClientEvent>>(line).map_err(|e| bad(e.to_string()))?;
            let rest = line
                .trim()
                .strip_prefix('{')
                .ok_or_else(|| bad("not a JSON object".into()))?;
            let label_json = serde_json::to_string(label).map_err(|e| bad(e.to_string()))?;
            merged.push_str(&format!("{{\"client\":{label_json},{rest}\n"));
        }
    }
    write(&dir.join(CLIENT_EVENTS), merged.as_bytes())?;
    for label in labels {
        let part = dir.join(client_events_part(label));
        match fs::remove_file(&part) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(ResultsError::Remove {
                    path: part,
                    source: e,
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads `client-events.jsonl`: each record with the label of the group that wrote it.
pub fn read_client_events(dir: &Path) -> Result<Vec<(String, Record<ClientEvent>)>, ResultsError> {
    let path = dir.join(CLIENT_EVENTS);
    let text = read_string(&path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| ResultsError::ClientLine {
            path: path.clone(),
            line: i + 1,
            message,
        };
        let mut value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let label = value
            .as_object_mut()
            .and_then(|o| o.remove("client"))
            .and_then(|v| v.as_str().map(str::to_owned))
            .ok_or_else(|| bad("no `client` label".into()))?;
        let record = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        out.push((label, record));
    }
    Ok(out)
}

/// Reads one recorded run and joins its files into a [`Dataset`].
pub fn load_run(dir: &Path) -> Result<Dataset, ResultsError> {
    load_logs(dir, read_run_info(dir)?)
}

/// Reads the two event logs in `dir` once and joins them, with `info`, into the
/// [`Dataset`] that the cross-check, the tables and the plots all read.
pub fn load_logs(dir: &Path, info: RunInfo) -> Result<Dataset, ResultsError> {
    let server: Vec<Record<ServerEvent>> = read_log(&dir.join(SERVER_EVENTS))?;
    let client = read_client_events(dir)?;
    Ok(Dataset::new(dir, info, &server, &client)?)
}

/// A scenario found under `results/`.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub name: String,
    /// One set of runs per mode, in mode order; one set unless it is a sweep.
    pub sets: Vec<RunSet>,
    pub sweep: bool,
    /// A load sweep's steps, by swept value: each a sweep of its own, named after its
    /// folder (`step-KEY-VALUE`). Empty unless it is a load sweep (then `sets` is empty).
    pub steps: Vec<(f64, Recorded)>,
}

/// The runs of one mode of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSet {
    /// The mode's folder: `results/<scenario>/[<mode>/]`.
    pub dir: PathBuf,
    /// The run folders in run order, with their `k` when they are `run-<k>/` folders
    /// (a scenario with `repeat` > 1); a single run is the mode's folder itself.
    pub runs: Vec<(Option<u32>, PathBuf)>,
}

impl RunSet {
    /// True when the runs are `run-<k>/` folders of a repeated scenario.
    pub fn repeated(&self) -> bool {
        self.runs.iter().any(|(k, _)| k.is_some())
    }

    /// The finished runs in `dir`: `dir` itself, or its `run-<k>/` folders by k. `None`
    /// when there are none.
    fn find(dir: &Path) -> Option<Self> {
        if dir.join(RUN_JSON).is_file() {
            return Some(Self {
                dir: dir.to_owned(),
                runs: vec![(None, dir.to_owned())],
            });
        }
        let mut runs: Vec<(Option<u32>, PathBuf)> = fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let k = parse_run_folder(&e.file_name().to_string_lossy())?;
                let path = e.path();
                path.join(RUN_JSON).is_file().then_some((Some(k), path))
            })
            .collect();
        runs.sort_by_key(|(k, _)| *k);
        (!runs.is_empty()).then(|| Self {
            dir: dir.to_owned(),
            runs,
        })
    }
}

/// The finished runs of the scenario recorded in `dir` (`results/<name>/`): a single run,
/// `run-<k>/` folders, or one of those per mode folder of a sweep. `None` when there are none.
pub fn discover_scenario(dir: &Path) -> Option<Recorded> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(set) = RunSet::find(dir) {
        return Some(Recorded {
            name,
            sets: vec![set],
            sweep: false,
            steps: Vec::new(),
        });
    }
    let sets: Vec<RunSet> = Mode::ALL
        .iter()
        .filter_map(|m| RunSet::find(&dir.join(m.name())))
        .collect();
    if !sets.is_empty() {
        return Some(Recorded {
            name,
            sets,
            sweep: true,
            steps: Vec::new(),
        });
    }
    let mut steps: Vec<(f64, Recorded)> = fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let value = parse_step_folder(&e.file_name().to_string_lossy())?;
            Some((value, discover_scenario(&e.path())?))
        })
        .filter(|(_, r)| r.steps.is_empty())
        .collect();
    steps.sort_by(|a, b| a.0.total_cmp(&b.0));
    (!steps.is_empty()).then_some(Recorded {
        name,
        sets: Vec::new(),
        sweep: true,
        steps,
    })
}

/// The swept value of a folder named `step-KEY-VALUE`.
fn parse_step_folder(name: &str) -> Option<f64> {
    let (_, value) = name.strip_prefix("step-")?.split_once('-')?;
    value.parse().ok().filter(|v: &f64| v.is_finite())
}

/// The folder under `results/` and `report/` that holds the benchmark suite's figures
/// (`just bench`), not a scenario's.
pub const BENCH_DIR: &str = "bench";

/// Every scenario with a finished run under `results/`, by name. Folders without
/// `run.json` (a run that did not finish) are listed in the second value; the benchmark
/// suite's folder is neither.
pub fn discover(results: &Path) -> Result<(Vec<Recorded>, Vec<PathBuf>), ResultsError> {
    let mut found = Vec::new();
    let mut unfinished = Vec::new();
    let entries = match fs::read_dir(results) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((found, unfinished)),
        Err(source) => {
            return Err(ResultsError::Read {
                path: results.to_owned(),
                source,
            });
        }
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.ends_with(BENCH_DIR))
        .collect();
    dirs.sort();
    for dir in dirs {
        match discover_scenario(&dir) {
            Some(r) => found.push(r),
            None => unfinished.push(dir),
        }
    }
    Ok((found, unfinished))
}

/// A relative path from folder `from` to `to`, with `/` separators.
fn relative(from: &Path, to: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let normal = |p: PathBuf| -> Vec<String> {
        let mut parts: Vec<String> = Vec::new();
        for c in p.components() {
            match c {
                Component::ParentDir => {
                    parts.pop();
                }
                Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                _ => {}
            }
        }
        parts
    };
    let (from, to) = (normal(abs(from)), normal(abs(to)));
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); from.len() - common];
    parts.extend(to[common..].iter().cloned());
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative() {
        assert_eq!(
            relative(Path::new("report/a"), Path::new("results/a")),
            "../../results/a"
        );
        assert_eq!(
            relative(Path::new("/x/report/a/thr"), Path::new("/x/results/a/thr")),
            "../../../results/a/thr"
        );
        assert_eq!(
            relative(Path::new("/x/report"), Path::new("/x/report")),
            "."
        );
    }

    #[test]
    fn client_events_are_labelled_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let line =
            r#"{"t_ms":1.5,"unix_ms":2.0,"event":"worker_finished","worker":1,"messages":3}"#;
        fs::write(
            dir.path().join(client_events_part("a")),
            format!("{line}\n"),
        )
        .expect("write");
        fs::write(
            dir.path().join(client_events_part("b")),
            format!("{line}\n{line}\n"),
        )
        .expect("write");
        merge_client_events(dir.path(), &["a".into(), "b".into()]).expect("merge");
        let text = fs::read_to_string(dir.path().join(CLIENT_EVENTS)).expect("read");
        assert!(text.starts_with(r#"{"client":"a","t_ms":1.5,"#), "{text}");
        assert!(!dir.path().join(client_events_part("a")).exists());
        let back = read_client_events(dir.path()).expect("parse");
        let labels: Vec<&str> = back.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["a", "b", "b"]);
    }

    #[test]
    fn repeated_runs_are_found_in_run_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("s");
        for k in [10, 2, 1] {
            let run = root.join("thr").join(run_folder(k));
            fs::create_dir_all(&run).expect("mkdir");
            fs::write(run.join(RUN_JSON), "{}").expect("write");
        }
        // Not a finished run, and not a run folder.
        fs::create_dir_all(root.join("thr/run-3")).expect("mkdir");
        fs::create_dir_all(root.join("thr/other")).expect("mkdir");
        let r = discover_scenario(&root).expect("found");
        assert!(r.sweep);
        assert_eq!(r.sets.len(), 1);
        assert!(r.sets[0].repeated());
        let ks: Vec<Option<u32>> = r.sets[0].runs.iter().map(|(k, _)| *k).collect();
        assert_eq!(ks, [Some(1), Some(2), Some(10)]);
        let layout = Layout {
            results: dir.path().to_owned(),
            report: dir.path().join("report"),
        };
        assert_eq!(
            layout.run_results("s", Mode::Thr, true, Some(2)),
            root.join("thr/run-2")
        );
        assert_eq!(layout.run_results("s", Mode::Thr, false, None), root);
    }

    #[test]
    fn a_bad_client_line_names_file_and_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join(client_events_part("a")), "{}\n").expect("write");
        let err = merge_client_events(dir.path(), &["a".into()]).expect_err("bad");
        assert!(err.to_string().contains("events.part.jsonl:1:"), "{err}");
    }
}
