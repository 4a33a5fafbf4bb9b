//! The one place that decides where recorded results and rendered reports live, and that
//! reads and writes them:
//!
//! ```text
//! results/<scenario>/            one run: event logs, console logs, run.json, CSV tables
//! results/<scenario>/<mode>/     the same, per mode of a sweep
//! report/<scenario>/[<mode>/]    timeline.png, data-gaps.png, connection-gaps.png, README.md
//! report/<scenario>/modes.png    a sweep's comparison (with its README.md)
//! report/README.md               the index
//! ```

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use arrivals::events::{ReadLogError, read_log};
use arrivals::{ClientEvent, Record, ServerEvent};

use crate::dataset::{Dataset, DatasetError};
use crate::runinfo::RunInfo;
use crate::scenario::Mode;

pub const SERVER_EVENTS: &str = "server-events.jsonl";
pub const CLIENT_EVENTS: &str = "client-events.jsonl";
pub const SERVER_LOG: &str = "server.log";
pub const RUN_JSON: &str = "run.json";
pub const CONNECTIONS_CSV: &str = "connections.csv";
pub const MESSAGES_CSV: &str = "messages.csv";
pub const SUMMARY_CSV: &str = "summary.csv";
pub const TIMELINE_PNG: &str = "timeline.png";
pub const DATA_GAPS_PNG: &str = "data-gaps.png";
pub const CONNECTION_GAPS_PNG: &str = "connection-gaps.png";
pub const MODES_PNG: &str = "modes.png";
pub const README_MD: &str = "README.md";

/// The console log of client group `label`.
pub fn client_log(label: &str) -> String {
    format!("client-{label}.log")
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

    /// Where one run's results go: `results/<scenario>/`, or `.../<mode>/` in a sweep.
    pub fn run_results(&self, scenario: &str, mode: Mode, sweep: bool) -> PathBuf {
        let dir = self.scenario_results(scenario);
        if sweep { dir.join(mode.as_str()) } else { dir }
    }

    /// Where one run's report goes.
    pub fn run_report(&self, scenario: &str, mode: Mode, sweep: bool) -> PathBuf {
        let dir = self.scenario_report(scenario);
        if sweep { dir.join(mode.as_str()) } else { dir }
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
    let info = read_run_info(dir)?;
    let server: Vec<Record<ServerEvent>> = read_log(&dir.join(SERVER_EVENTS))?;
    let client = read_client_events(dir)?;
    Ok(Dataset::new(dir, info, &server, &client)?)
}

/// A scenario found under `results/`.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub name: String,
    /// The run folders, in mode order; one unless it is a sweep.
    pub runs: Vec<PathBuf>,
    pub sweep: bool,
}

/// Every scenario with a finished run under `results/`, by name. Folders without
/// `run.json` (a run that did not finish) are listed in the second value.
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
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if dir.join(RUN_JSON).is_file() {
            found.push(Recorded {
                name,
                runs: vec![dir],
                sweep: false,
            });
            continue;
        }
        let mut runs: Vec<(Mode, PathBuf)> = Mode::ALL
            .iter()
            .map(|m| (*m, dir.join(m.as_str())))
            .filter(|(_, p)| p.join(RUN_JSON).is_file())
            .collect();
        runs.sort_by_key(|(m, _)| *m);
        if runs.is_empty() {
            unfinished.push(dir);
        } else {
            found.push(Recorded {
                name,
                runs: runs.into_iter().map(|(_, p)| p).collect(),
                sweep: true,
            });
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
    fn a_bad_client_line_names_file_and_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join(client_events_part("a")), "{}\n").expect("write");
        let err = merge_client_events(dir.path(), &["a".into()]).expect_err("bad");
        assert!(err.to_string().contains("events.part.jsonl:1:"), "{err}");
    }
}
