//! Scenario files (`experiments/*.toml`): the TOML model, and the validation that refuses a
//! bad file once, before anything starts, with an error naming the file, line and key.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use arrivals::{DistKind, Distribution, DistributionError, Mode};
use serde::Deserialize;
use toml::Spanned;

/// Default pause between the last client's exit and the server's SIGINT.
pub const DEFAULT_SETTLE_MS: u64 = 300;
/// Upper bound on `settle_ms` and `start_after_ms`: a scenario is minutes long at most.
const MAX_OFFSET_MS: u64 = 600_000;
/// Descriptors a client or the server needs besides one socket per worker.
const RESERVED_FDS: u64 = 64;

/// Upper bound on `spin_us`, as the client has it.
const MAX_SPIN_US: u64 = 1_000_000;
/// Upper bound on `repeat`.
const MAX_REPEAT: u64 = 100;
/// Run seeds of repeats 2, 3, ... are derived with stream indices from here on, far above
/// any client group index, so no run seed equals a client group seed of another run.
const REPEAT_STREAM: u64 = 1 << 32;

/// Why a scenario was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no scenario named `{name}`: {path} does not exist (available: {available})")]
    UnknownName {
        name: String,
        path: PathBuf,
        available: String,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// One `[[clients]]` group: a `client` process with its own workers and distribution.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientGroup {
    /// Unique, file-name safe label (`client-<label>.log`).
    pub label: String,
    pub workers: u32,
    pub intervals: u32,
    pub dist: Distribution,
    /// The connection arrival process (`client --connect-dist/--connect-param`): worker 1
    /// connects at once, each next one a drawn interval later. `None`: all at once.
    pub connect: Option<Distribution>,
    /// Launch offset after the server is ready.
    pub start_after_ms: u64,
    /// `client --spin-us`, `--connect-timeout`, `--io-timeout` (the client's defaults when
    /// absent).
    pub spin_us: u64,
    pub connect_timeout: Option<f64>,
    pub io_timeout: Option<f64>,
}

impl ClientGroup {
    /// Messages this group sends: one per interval per worker.
    pub fn messages(&self) -> u64 {
        u64::from(self.workers) * u64::from(self.intervals)
    }

    /// The mean interval in ms; the median when the mean is infinite (Pareto α ≤ 1).
    pub fn typical_interval_ms(&self) -> f64 {
        typical_ms(&self.dist)
    }

    /// How long after its launch the group's last worker connects, typically: (workers − 1)
    /// connection intervals, or 0 when every worker connects at once.
    pub fn typical_connect_span_ms(&self) -> f64 {
        self.connect
            .map_or(0.0, |c| f64::from(self.workers - 1) * typical_ms(&c))
    }
}

/// The mean in ms; the median when the mean is infinite (Pareto α ≤ 1).
pub(crate) fn typical_ms(dist: &Distribution) -> f64 {
    dist.mean_ms().unwrap_or_else(|| dist.quantile_ms(0.5))
}

/// A validated scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file stem: `experiments/NAME.toml`.
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub settle_ms: u64,
    /// How many times the whole scenario runs (`repeat`, default 1), each run with its own
    /// seed (see [`Scenario::run_seed`]).
    pub repeat: u32,
    /// The modes to run, in file order; one unless it is a sweep.
    pub modes: Vec<Mode>,
    /// True when the file used `modes = [...]`: results get one folder per mode.
    pub sweep: bool,
    pub max_connections: Option<u64>,
    /// `server --idle-timeout`, seconds.
    pub idle_timeout: Option<f64>,
    pub clients: Vec<ClientGroup>,
    /// A load sweep (`[sweep]`): one client parameter over a list of values, every mode at
    /// each step.
    pub load: Option<LoadSweep>,
    /// The step of the load sweep these clients are at (see [`Scenario::at_step`]).
    pub step: Option<usize>,
    /// The file's text, recorded in `run.json`.
    pub text: String,
    /// Where the processes run (`host`, `[[hosts]]`, `loopback_twin`); all local by default.
    pub placement: crate::hosts::Placement,
}

/// The client parameter a load sweep varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepKey {
    /// The group's `workers`: more connections at the same per-worker rate.
    Workers,
    /// The group's `param`: the interval distribution's parameter (its rate or interval).
    Param,
    /// The group's `connect_param`: the parameter of its connection arrival process.
    ConnectParam,
}

impl SweepKey {
    pub const ALL: [SweepKey; 3] = [SweepKey::Workers, SweepKey::Param, SweepKey::ConnectParam];

    /// The key's name, as in the file and in the step folders.
    pub fn name(self) -> &'static str {
        match self {
            Self::Workers => "workers",
            Self::Param => "param",
            Self::ConnectParam => "connect_param",
        }
    }
}

/// A validated `[sweep]`: `key` of client group `group` takes each of `values` in turn.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadSweep {
    pub key: SweepKey,
    /// Index of the swept client group.
    pub group: usize,
    pub values: Vec<f64>,
}

impl LoadSweep {
    /// A value as written in folder names and tables: an integer without decimals.
    pub fn format_value(v: f64) -> String {
        if v.fract() == 0.0 && v.abs() < 1e15 {
            format!("{v:.0}")
        } else {
            format!("{v}")
        }
    }

    /// The results folder of step `i`: `step-KEY-VALUE`.
    pub fn folder(&self, i: usize) -> String {
        format!(
            "step-{}-{}",
            self.key.name(),
            Self::format_value(self.values[i])
        )
    }

    /// `KEY = VALUE` of step `i`, for titles.
    pub fn describe(&self, i: usize) -> String {
        format!(
            "{} = {}",
            self.key.name(),
            Self::format_value(self.values[i])
        )
    }
}

impl Scenario {
    /// Reads and validates `path`; the scenario is named after the file stem.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::from_toml_str(&name, &text, path)
    }

    /// Validates `text`; `origin` is the path errors name.
    pub fn from_toml_str(name: &str, text: &str, origin: &Path) -> Result<Self, ScenarioError> {
        Self::parse(name, text, origin, true)
    }

    /// A scenario as a recorded `run.json` holds it: validated like a file, except against
    /// this machine's open-file limit (the run happened, wherever it was).
    pub fn from_recorded(name: &str, text: &str, origin: &Path) -> Result<Self, ScenarioError> {
        Self::parse(name, text, origin, false)
    }

    fn parse(
        name: &str,
        text: &str,
        origin: &Path,
        check_limits: bool,
    ) -> Result<Self, ScenarioError> {
        let src = Source {
            text,
            origin,
            check_limits,
        };
        if !is_safe_name(name) {
            return Err(src.invalid(
                0..0,
                format!(
                    "the scenario name \"{name}\" (the file name) must use only letters, digits, '-' and '_'"
                ),
            ));
        }
        if name == crate::results::BENCH_DIR {
            return Err(src.invalid(
                0..0,
                format!(
                    "the scenario name \"{name}\" is taken: results/{name}/ and report/{name}/ hold the benchmark suite's figures (`just bench`)"
                ),
            ));
        }
        let mut raw: RawScenario = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = name_the_key(text, span.start, e.message().trim());
            src.invalid(span, message)
        })?;
        let top = |key: &str, why: String| format!("key `{key}`: {why}");
        let description = raw.description.get_ref().trim().to_owned();
        if description.is_empty() {
            return Err(src.invalid(
                raw.description.span(),
                top("description", "must say what the scenario shows".into()),
            ));
        }
        let settle_ms = src.offset_ms("settle_ms", raw.settle_ms.as_ref(), &top)?;
        let settle_ms = settle_ms.unwrap_or(DEFAULT_SETTLE_MS);
        let repeat = match &raw.repeat {
            Some(r) if *r.get_ref() == 0 || *r.get_ref() > MAX_REPEAT => {
                return Err(src.invalid(
                    r.span(),
                    format!(
                        "key `repeat`: must be between 1 and {MAX_REPEAT}, got {}",
                        r.get_ref()
                    ),
                ));
            }
            // In range: at most MAX_REPEAT.
            Some(r) => *r.get_ref() as u32,
            None => 1,
        };
        let server_place = raw.server.get_mut().place();
        let client_places: Vec<_> = raw
            .clients
            .iter_mut()
            .map(|c| {
                let c = c.get_mut();
                (c.label.get_ref().clone(), c.place())
            })
            .collect();
        let server = src.server(raw.server)?;
        let clients = src.clients(raw.clients)?;
        let load = match raw.sweep {
            Some(sweep) => Some(src.load_sweep(sweep, &clients)?),
            None => None,
        };
        let placement = crate::hosts::spec::placement(
            &|span, message| src.invalid(span, message),
            &|offset| {
                let (line, column) = line_column(text, offset);
                crate::hosts::Pos { line, column }
            },
            raw.hosts,
            server_place,
            client_places,
            raw.loopback_twin,
            name,
        )?;
        Ok(Self {
            name: name.to_owned(),
            description,
            seed: *raw.seed.get_ref(),
            settle_ms,
            repeat,
            modes: server.modes,
            // A load sweep keeps one folder per mode at every step, even with one mode.
            sweep: server.sweep || load.is_some(),
            max_connections: server.max_connections,
            idle_timeout: server.idle_timeout,
            clients,
            load,
            step: None,
            text: text.to_owned(),
            placement,
        })
    }

    /// This scenario at step `i` of its load sweep: the swept group's key set to the
    /// step's value (validated when the file was read). Itself without a sweep.
    pub fn at_step(&self, i: usize) -> Self {
        let mut s = self.clone();
        if let Some(load) = &self.load
            && let Some(&v) = load.values.get(i)
        {
            // Every value was applied once in `load_sweep`: it cannot fail here.
            if let Ok(group) = apply(&self.clients[load.group], load.key, v) {
                s.clients[load.group] = group;
            }
            s.step = Some(i);
        }
        s
    }

    /// The steps of the load sweep: each step's scenario (one, itself, without a sweep).
    pub fn steps(&self) -> Vec<Self> {
        match &self.load {
            Some(load) => (0..load.values.len()).map(|i| self.at_step(i)).collect(),
            None => vec![self.clone()],
        }
    }

    /// The name in titles: `NAME`, or `NAME — KEY = VALUE` at a step of a load sweep.
    pub fn title(&self) -> String {
        match (&self.load, self.step) {
            (Some(load), Some(i)) => format!("{} — {}", self.name, load.describe(i)),
            _ => self.name.clone(),
        }
    }

    /// The results folder of this step below the scenario's (`step-KEY-VALUE`), if it is
    /// a step of a load sweep.
    pub fn step_folder(&self) -> Option<String> {
        Some(self.load.as_ref()?.folder(self.step?))
    }

    /// The messages per second the clients are asked to send: workers / mean interval,
    /// summed over the groups (a group with no finite mean counts by its median).
    pub fn offered_rate(&self) -> f64 {
        self.clients
            .iter()
            .map(|g| f64::from(g.workers) * 1e3 / g.typical_interval_ms())
            .sum()
    }

    /// Connections the server should see: one per worker.
    pub fn expected_connections(&self) -> u64 {
        self.clients.iter().map(|g| u64::from(g.workers)).sum()
    }

    /// Messages the server should see: workers × intervals, summed over the groups.
    pub fn expected_messages(&self) -> u64 {
        self.clients.iter().map(ClientGroup::messages).sum()
    }

    /// The seed of run `run` (from 1): the scenario seed itself for run 1 (so `repeat = 1`
    /// and the first of several runs draw the same intervals), and
    /// `arrivals::seed::derive(seed, 2^32 + run)` for runs 2, 3, ...
    pub fn run_seed(&self, run: u32) -> u64 {
        if run <= 1 {
            self.seed
        } else {
            arrivals::seed::derive(self.seed, REPEAT_STREAM + u64::from(run))
        }
    }

    /// The client seed of group `index` in run `run`: `arrivals::seed::derive(run seed, index)`.
    pub fn group_seed(&self, run: u32, index: usize) -> u64 {
        arrivals::seed::derive(self.run_seed(run), index as u64)
    }

    /// How long the clients should take in `mode`, in ms: the iterative server serves one
    /// worker after another, the others serve every worker as it connects.
    pub fn expected_client_ms(&self, mode: Mode) -> f64 {
        let per_worker = |g: &ClientGroup| f64::from(g.intervals) * g.typical_interval_ms();
        let concurrent = self
            .clients
            .iter()
            .map(|g| g.start_after_ms as f64 + g.typical_connect_span_ms() + per_worker(g))
            .fold(0.0, f64::max);
        if mode.is_iterative() {
            let first = self
                .clients
                .iter()
                .map(|g| g.start_after_ms)
                .min()
                .unwrap_or(0);
            let serial: f64 = self
                .clients
                .iter()
                .map(|g| f64::from(g.workers) * per_worker(g))
                .sum();
            (first as f64 + serial).max(concurrent)
        } else {
            concurrent
        }
    }
}

/// The `[server]` section, validated.
#[derive(Debug)]
struct ServerSection {
    modes: Vec<Mode>,
    sweep: bool,
    max_connections: Option<u64>,
    idle_timeout: Option<f64>,
}

/// Builds the message of a key: `key `K`: why` or `key `K` of [[clients]] "a": why`.
type Here<'a> = &'a dyn Fn(&str, String) -> String;

/// The text being validated and the path its errors name; one method per section.
#[derive(Debug, Clone, Copy)]
struct Source<'a> {
    text: &'a str,
    origin: &'a Path,
    /// Refuse workers beyond this machine's open-file limit.
    check_limits: bool,
}

impl Source<'_> {
    /// Sockets the open-file limit leaves for workers (unbounded when not checked).
    fn fd_room(&self) -> u64 {
        if self.check_limits {
            arrivals::limits::open_file_limit().saturating_sub(RESERVED_FDS)
        } else {
            u64::MAX
        }
    }

    fn invalid(&self, span: Range<usize>, message: String) -> ScenarioError {
        let (line, column) = line_column(self.text, span.start);
        ScenarioError::Invalid {
            path: self.origin.to_owned(),
            line,
            column,
            message,
        }
    }

    /// An offset in ms (`settle_ms`, `start_after_ms`), refused above [`MAX_OFFSET_MS`].
    fn offset_ms(
        &self,
        key: &str,
        value: Option<&Spanned<u64>>,
        here: Here<'_>,
    ) -> Result<Option<u64>, ScenarioError> {
        match value {
            Some(v) if *v.get_ref() > MAX_OFFSET_MS => Err(self.invalid(
                v.span(),
                here(
                    key,
                    format!(
                        "{} is more than the limit of {MAX_OFFSET_MS} ms",
                        v.get_ref()
                    ),
                ),
            )),
            Some(v) => Ok(Some(*v.get_ref())),
            None => Ok(None),
        }
    }

    /// `[server]`: `mode` or a sweep's `modes`, and `max_connections`.
    fn server(&self, server: Spanned<RawServer>) -> Result<ServerSection, ScenarioError> {
        let span = server.span();
        let server = server.into_inner();
        let (modes, sweep) = match (server.mode, server.modes) {
            (Some(_), Some(modes)) => {
                return Err(self.invalid(
                    modes.span(),
                    "key `modes`: [server] takes either `mode` or `modes`, not both".into(),
                ));
            }
            (None, None) => {
                return Err(self.invalid(
                    span,
                    "key `mode`: [server] needs `mode = \"iter\"` (or `modes = [...]` for a sweep)"
                        .into(),
                ));
            }
            (Some(mode), None) => (vec![self.mode("mode", &mode)?], false),
            (None, Some(list)) => (self.mode_list(list)?, true),
        };
        if let Some(max) = server
            .max_connections
            .as_ref()
            .filter(|m| *m.get_ref() == 0)
        {
            return Err(self.invalid(
                max.span(),
                "key `max_connections`: must be at least 1".into(),
            ));
        }
        let here = |key: &str, why: String| format!("key `{key}` of [server]: {why}");
        Ok(ServerSection {
            modes,
            sweep,
            max_connections: server.max_connections.map(Spanned::into_inner),
            idle_timeout: self.seconds("idle_timeout", server.idle_timeout.as_ref(), &here)?,
        })
    }

    /// A timeout in seconds (`idle_timeout`, `connect_timeout`, `io_timeout`): what the
    /// server and client accept, (0, 86400].
    fn seconds(
        &self,
        key: &str,
        value: Option<&Spanned<f64>>,
        here: Here<'_>,
    ) -> Result<Option<f64>, ScenarioError> {
        match value {
            Some(v) if !(*v.get_ref() > 0.0 && *v.get_ref() <= 86_400.0) => Err(self.invalid(
                v.span(),
                here(
                    key,
                    format!("{} is not between 0 and 86400 seconds", v.get_ref()),
                ),
            )),
            Some(v) => Ok(Some(*v.get_ref())),
            None => Ok(None),
        }
    }

    fn mode(&self, key: &str, name: &Spanned<String>) -> Result<Mode, ScenarioError> {
        name.get_ref()
            .parse::<Mode>()
            .map_err(|e| self.invalid(name.span(), format!("key `{key}`: {e}")))
    }

    /// A sweep's `modes = [...]`: not empty, no mode twice.
    fn mode_list(&self, list: Spanned<Vec<Spanned<String>>>) -> Result<Vec<Mode>, ScenarioError> {
        let span = list.span();
        let mut modes = Vec::new();
        for item in list.into_inner() {
            let m = self.mode("modes", &item)?;
            if modes.contains(&m) {
                return Err(self.invalid(
                    item.span(),
                    format!("key `modes`: mode \"{m}\" is listed twice"),
                ));
            }
            modes.push(m);
        }
        if modes.is_empty() {
            return Err(self.invalid(span, "key `modes`: the list is empty".into()));
        }
        Ok(modes)
    }

    /// The `[[clients]]` groups: at least one, labels unique.
    fn clients(&self, raw: Vec<Spanned<RawClient>>) -> Result<Vec<ClientGroup>, ScenarioError> {
        if raw.is_empty() {
            return Err(self.invalid(
                0..0,
                "key `clients`: at least one [[clients]] group is needed".into(),
            ));
        }
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut clients = Vec::new();
        for (i, group) in raw.into_iter().enumerate() {
            let group = group.into_inner();
            let label = self.label(i, &group.label, &seen)?;
            seen.insert(
                label.clone(),
                line_column(self.text, group.label.span().start).0,
            );
            clients.push(self.client(label, &group)?);
        }
        // The server holds one socket per worker of every group at once.
        let total: u64 = clients.iter().map(|g| u64::from(g.workers)).sum();
        let room = self.fd_room();
        if total > room {
            return Err(self.invalid(
                0..0,
                format!(
                    "key `workers`: the groups' {total} workers need as many sockets in the \
                     server, but the open-file limit (`ulimit -n`) leaves room for {room}"
                ),
            ));
        }
        Ok(clients)
    }

    /// The label of group `i` (from 0): file-name safe and not used before.
    fn label(
        &self,
        i: usize,
        label: &Spanned<String>,
        seen: &BTreeMap<String, usize>,
    ) -> Result<String, ScenarioError> {
        let here = |why: String| format!("key `label` of [[clients]] #{}: {why}", i + 1);
        let text = label.get_ref();
        if !is_safe_name(text) || text.len() > 40 {
            return Err(self.invalid(
                label.span(),
                here(format!(
                    "\"{text}\" must be 1 to 40 letters, digits, '-' or '_' (it names files)"
                )),
            ));
        }
        if let Some(first) = seen.get(text) {
            return Err(self.invalid(
                label.span(),
                here(format!(
                    "duplicate label \"{text}\" (first used on line {first})"
                )),
            ));
        }
        Ok(text.clone())
    }

    /// One `[[clients]]` group, its label already checked.
    fn client(&self, label: String, group: &RawClient) -> Result<ClientGroup, ScenarioError> {
        let here =
            |key: &str, why: String| format!("key `{key}` of [[clients]] \"{label}\": {why}");
        for (key, value) in [("workers", &group.workers), ("intervals", &group.intervals)] {
            if *value.get_ref() == 0 {
                return Err(
                    self.invalid(value.span(), here(key, "must be at least 1, got 0".into()))
                );
            }
        }
        // Every worker holds a socket in its client and one in the server: more than the
        // open-file limit allows cannot run on this machine.
        let room = self.fd_room();
        if u64::from(*group.workers.get_ref()) > room {
            return Err(self.invalid(
                group.workers.span(),
                here(
                    "workers",
                    format!(
                        "{} needs as many sockets, but the open-file limit (`ulimit -n`) leaves \
                         room for {room}",
                        group.workers.get_ref()
                    ),
                ),
            ));
        }
        let dist = self.distribution(
            &here,
            ("dist", &group.dist),
            ("param", &group.param),
            Some(group.shape.as_ref()),
        )?;
        let connect = match (&group.connect_dist, &group.connect_param) {
            (None, None) => None,
            (Some(d), None) => {
                return Err(self.invalid(
                    d.span(),
                    here(
                        "connect_dist",
                        "needs `connect_param` too (set both or neither)".into(),
                    ),
                ));
            }
            (None, Some(p)) => {
                return Err(self.invalid(
                    p.span(),
                    here(
                        "connect_param",
                        "given without `connect_dist` (set both or neither)".into(),
                    ),
                ));
            }
            // As the client builds it: Pareto and log-normal take their default shape.
            (Some(d), Some(p)) => {
                Some(self.distribution(&here, ("connect_dist", d), ("connect_param", p), None)?)
            }
        };
        let start_after_ms =
            self.offset_ms("start_after_ms", group.start_after_ms.as_ref(), &here)?;
        let spin_us = group.spin_us.as_ref().map_or(Ok(0), |v| {
            if *v.get_ref() > MAX_SPIN_US {
                Err(self.invalid(
                    v.span(),
                    here(
                        "spin_us",
                        format!("{} is more than {MAX_SPIN_US} (1 s)", v.get_ref()),
                    ),
                ))
            } else {
                Ok(*v.get_ref())
            }
        })?;
        Ok(ClientGroup {
            spin_us,
            connect_timeout: self.seconds(
                "connect_timeout",
                group.connect_timeout.as_ref(),
                &here,
            )?,
            io_timeout: self.seconds("io_timeout", group.io_timeout.as_ref(), &here)?,
            workers: *group.workers.get_ref(),
            intervals: *group.intervals.get_ref(),
            dist,
            connect,
            start_after_ms: start_after_ms.unwrap_or(0),
            label,
        })
    }

    /// A distribution from its keys: the family (`dist`, `connect_dist`), its parameter
    /// and, where the file may give one, its `shape` (`None`: the key does not exist here,
    /// so the family's default shape is used).
    fn distribution(
        &self,
        here: Here<'_>,
        (kind_key, kind): (&str, &Spanned<String>),
        (param_key, param): (&str, &Spanned<f64>),
        shape: Option<Option<&Spanned<f64>>>,
    ) -> Result<Distribution, ScenarioError> {
        let k: DistKind = kind.get_ref().parse().map_err(|e: DistributionError| {
            self.invalid(kind.span(), here(kind_key, e.to_string()))
        })?;
        let given = shape.flatten();
        Distribution::new(k, *param.get_ref(), given.map(|s| *s.get_ref())).map_err(|e| match e {
            DistributionError::Shape { why, value, .. } if shape.is_some() => self.invalid(
                given.map_or(kind.span(), Spanned::span),
                here("shape", format!("{value} is invalid for {k}: {why}")),
            ),
            DistributionError::Param { why, value, .. }
            | DistributionError::Shape { why, value, .. } => self.invalid(
                param.span(),
                here(param_key, format!("{value} is invalid for {k}: {why}")),
            ),
            other @ DistributionError::UnknownKind(_) => {
                self.invalid(kind.span(), here(kind_key, other.to_string()))
            }
        })
    }
}

impl Source<'_> {
    /// `[sweep]`: a known key of an existing group, and a non-empty list of values that key
    /// can take (each is applied to the group once, as a run would).
    fn load_sweep(
        &self,
        raw: Spanned<RawSweep>,
        clients: &[ClientGroup],
    ) -> Result<LoadSweep, ScenarioError> {
        let span = raw.span();
        let raw = raw.into_inner();
        let key_name = raw.key.get_ref().as_str();
        let key = SweepKey::ALL
            .into_iter()
            .find(|k| k.name() == key_name)
            .ok_or_else(|| {
                let names: Vec<&str> = SweepKey::ALL.iter().map(|k| k.name()).collect();
                self.invalid(
                    raw.key.span(),
                    format!(
                        "key `key` of [sweep]: \"{key_name}\" is not a client key a sweep can vary \
                         (one of: {})",
                        names.join(", ")
                    ),
                )
            })?;
        let group = match &raw.group {
            Some(label) => clients
                .iter()
                .position(|g| g.label == *label.get_ref())
                .ok_or_else(|| {
                    let labels: Vec<&str> = clients.iter().map(|g| g.label.as_str()).collect();
                    self.invalid(
                        label.span(),
                        format!(
                            "key `group` of [sweep]: no [[clients]] group is labelled \"{}\" \
                             (the groups: {})",
                            label.get_ref(),
                            labels.join(", ")
                        ),
                    )
                })?,
            None if clients.len() == 1 => 0,
            None => {
                return Err(self.invalid(
                    span,
                    "key `group`: [sweep] must name the client group it varies when there are \
                     several"
                        .into(),
                ));
            }
        };
        let values_span = raw.values.span();
        let mut values = Vec::new();
        for item in raw.values.into_inner() {
            let here =
                |why: String| self.invalid(item.span(), format!("key `values` of [sweep]: {why}"));
            let v = match item.get_ref() {
                toml::Value::Integer(i) => *i as f64,
                toml::Value::Float(f) => *f,
                other => return Err(here(format!("{other} is not a number"))),
            };
            let swept = apply(&clients[group], key, v).map_err(here)?;
            let total: u64 = clients
                .iter()
                .enumerate()
                .map(|(i, g)| u64::from(if i == group { &swept } else { g }.workers))
                .sum();
            let room = self.fd_room();
            if total > room {
                return Err(here(format!(
                    "at {} the groups' {total} workers need as many sockets in the server, but \
                     the open-file limit (`ulimit -n`) leaves room for {room}",
                    LoadSweep::format_value(v)
                )));
            }
            if values.contains(&v) {
                return Err(here(format!(
                    "{} is listed twice",
                    LoadSweep::format_value(v)
                )));
            }
            values.push(v);
        }
        if values.is_empty() {
            return Err(self.invalid(
                values_span,
                "key `values` of [sweep]: the list is empty".into(),
            ));
        }
        Ok(LoadSweep { key, group, values })
    }
}

/// `group` with `key` set to `v`, or why `v` is no value of that key.
fn apply(group: &ClientGroup, key: SweepKey, v: f64) -> Result<ClientGroup, String> {
    let mut g = group.clone();
    match key {
        SweepKey::Workers => {
            if !(v >= 1.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX)) {
                return Err(format!(
                    "{} is no number of workers (a whole number, at least 1)",
                    LoadSweep::format_value(v)
                ));
            }
            g.workers = v as u32;
        }
        SweepKey::Param => {
            g.dist = Distribution::new(g.dist.kind(), v, g.dist.shape()).map_err(|e| {
                format!(
                    "{} is no `param` of group \"{}\": {e}",
                    LoadSweep::format_value(v),
                    g.label
                )
            })?;
        }
        SweepKey::ConnectParam => {
            let Some(c) = g.connect else {
                return Err(format!(
                    "group \"{}\" has no connection process to vary (set its `connect_dist` and \
                     `connect_param`)",
                    g.label
                ));
            };
            g.connect = Some(Distribution::new(c.kind(), v, c.shape()).map_err(|e| {
                format!(
                    "{} is no `connect_param` of group \"{}\": {e}",
                    LoadSweep::format_value(v),
                    g.label
                )
            })?);
        }
    }
    Ok(g)
}

/// Letters, digits, '-' and '_' only, not empty: safe as a file or folder name.
pub fn is_safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Prefixes a parser message with the key of the line it points at, unless it names one.
fn name_the_key(text: &str, offset: usize, message: &str) -> String {
    if message.contains("field `") || message.contains("key `") {
        return message.to_owned();
    }
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    match line.split_once('=') {
        Some((key, _)) if !key.trim().is_empty() && !key.contains('[') => {
            format!("key `{}`: {message}", key.trim().trim_matches('"'))
        }
        _ => message.to_owned(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    description: Spanned<String>,
    seed: Spanned<u64>,
    settle_ms: Option<Spanned<u64>>,
    repeat: Option<Spanned<u64>>,
    server: Spanned<RawServer>,
    clients: Vec<Spanned<RawClient>>,
    #[serde(default)]
    hosts: Vec<Spanned<crate::hosts::RawHost>>,
    loopback_twin: Option<Spanned<String>>,
    sweep: Option<Spanned<RawSweep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    key: Spanned<String>,
    group: Option<Spanned<String>>,
    values: Spanned<Vec<Spanned<toml::Value>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    mode: Option<Spanned<String>>,
    modes: Option<Spanned<Vec<Spanned<String>>>>,
    max_connections: Option<Spanned<u64>>,
    idle_timeout: Option<Spanned<f64>>,
    host: Option<Spanned<String>>,
    bin_dir: Option<Spanned<String>>,
}

impl RawServer {
    /// Takes the `host` and `bin_dir` keys out (validated by [`crate::hosts::spec`]).
    fn place(&mut self) -> crate::hosts::RawPlace {
        crate::hosts::RawPlace {
            host: self.host.take(),
            bin_dir: self.bin_dir.take(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    label: Spanned<String>,
    workers: Spanned<u32>,
    intervals: Spanned<u32>,
    dist: Spanned<String>,
    param: Spanned<f64>,
    shape: Option<Spanned<f64>>,
    connect_dist: Option<Spanned<String>>,
    connect_param: Option<Spanned<f64>>,
    start_after_ms: Option<Spanned<u64>>,
    spin_us: Option<Spanned<u64>>,
    connect_timeout: Option<Spanned<f64>>,
    io_timeout: Option<Spanned<f64>>,
    host: Option<Spanned<String>>,
    bin_dir: Option<Spanned<String>>,
}

impl RawClient {
    /// Takes the `host` and `bin_dir` keys out (validated by [`crate::hosts::spec`]).
    fn place(&mut self) -> crate::hosts::RawPlace {
        crate::hosts::RawPlace {
            host: self.host.take(),
            bin_dir: self.bin_dir.take(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"description = "Iterative server, two clients launched together"
seed = 42
[server]
mode = "iter"
[[clients]]
label = "uniform"
workers = 2
intervals = 4
dist = "u"
param = 1.0
[[clients]]
label = "deterministic"
workers = 3
intervals = 3
dist = "d"
param = 0.5
start_after_ms = 0
"#;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::from_toml_str("t", text, Path::new("exp/t.toml"))
    }

    fn refusal(text: &str) -> String {
        parse(text).expect_err("must be refused").to_string()
    }

    #[test]
    fn timeouts_and_spin_pass_through_and_are_bounded() {
        let s = parse(
            &GOOD
                .replace("mode = \"iter\"", "mode = \"iter\"\nidle_timeout = 2.5")
                .replace(
                    "start_after_ms = 0",
                    "start_after_ms = 0\nspin_us = 200\nconnect_timeout = 3\nio_timeout = 0.5",
                ),
        )
        .expect("valid");
        assert_eq!(s.idle_timeout, Some(2.5));
        let g = s.clients.last().expect("a group");
        assert_eq!(
            (g.spin_us, g.connect_timeout, g.io_timeout),
            (200, Some(3.0), Some(0.5))
        );
        let err = parse(&GOOD.replace("mode = \"iter\"", "mode = \"iter\"\nidle_timeout = 0"))
            .expect_err("zero");
        assert!(err.to_string().contains("idle_timeout"), "{err}");
        let err = parse(&GOOD.replace(
            "start_after_ms = 0",
            "start_after_ms = 0\nspin_us = 2000000",
        ))
        .expect_err("too much spin");
        assert!(err.to_string().contains("spin_us"), "{err}");
    }

    #[test]
    fn workers_beyond_the_open_file_limit_are_refused() {
        let err =
            parse(&GOOD.replacen("workers = 2", "workers = 4000000000", 1)).expect_err("too many");
        assert!(err.to_string().contains("open-file limit"), "{err}");
    }

    #[test]
    fn the_benchmark_folder_is_no_scenario_name() {
        let err = Scenario::from_toml_str("bench", GOOD, Path::new("exp/bench.toml"))
            .expect_err("reserved");
        assert!(err.to_string().contains("benchmark suite"), "{err}");
    }

    #[test]
    fn the_spec_example_parses() {
        let s = parse(GOOD).expect("valid");
        assert_eq!(s.modes, vec![Mode::Iter]);
        assert!(!s.sweep);
        assert_eq!(s.settle_ms, DEFAULT_SETTLE_MS);
        assert_eq!(s.clients.len(), 2);
        assert_eq!(s.clients[1].dist.describe(), "deterministic 500 ms");
        assert_eq!(s.expected_connections(), 5);
        assert_eq!(s.expected_messages(), 17);
        // Iterative: 2 workers × 4 × 500 ms + 3 workers × 3 × 500 ms, one after another.
        assert_eq!(s.expected_client_ms(Mode::Iter), 8500.0);
        assert_eq!(s.expected_client_ms(Mode::Thr), 2000.0);
        assert_ne!(s.group_seed(1, 0), s.group_seed(1, 1));
        assert_eq!(s.repeat, 1);
        assert_eq!(s.clients[0].connect, None);
    }

    #[test]
    fn repeats_get_their_own_seeds_and_run_one_keeps_the_scenario_seed() {
        let s = parse(&GOOD.replace("seed = 42", "seed = 42\nrepeat = 3")).expect("valid");
        assert_eq!(s.repeat, 3);
        assert_eq!(s.run_seed(1), 42);
        assert_eq!(s.run_seed(2), arrivals::seed::derive(42, (1 << 32) + 2));
        assert_eq!(s.group_seed(1, 1), arrivals::seed::derive(42, 1));
        let seeds: std::collections::BTreeSet<u64> = (1..=3)
            .flat_map(|r| (0..2).map(move |g| (r, g)))
            .map(|(r, g)| s.group_seed(r, g))
            .collect();
        assert_eq!(seeds.len(), 6, "every run and group draws its own stream");
    }

    #[test]
    fn a_connect_process_is_parsed_and_lengthens_the_schedule() {
        let text = GOOD.replace(
            "param = 1.0\n",
            "param = 1.0\nconnect_dist = \"e\"\nconnect_param = 4.0\n",
        );
        let s = parse(&text).expect("valid");
        let c = s.clients[0].connect.expect("a connect process");
        assert_eq!(c.describe(), "exponential, rate 4/s (mean 250 ms)");
        // One 250 ms gap before the second worker, then 4 × 500 ms.
        assert_eq!(s.expected_client_ms(Mode::Thr), 2250.0);
        assert_eq!(s.expected_client_ms(Mode::Iter), 8500.0);
    }

    #[test]
    fn a_sweep_lists_modes() {
        let text = GOOD.replace(r#"mode = "iter""#, r#"modes = ["iter", "thread", "async"]"#);
        let s = parse(&text).expect("valid");
        assert_eq!(s.modes, vec![Mode::Iter, Mode::Thr, Mode::Async]);
        assert!(s.sweep);
    }

    #[test]
    fn a_misspelt_key_names_file_line_and_key() {
        let msg = refusal(&GOOD.replace("workers = 3", "workerz = 3"));
        assert!(msg.starts_with("exp/t.toml:13:1: "), "{msg}");
        assert!(msg.contains("unknown field `workerz`"), "{msg}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                GOOD.replace("workers = 3", "workers = 0"),
                "exp/t.toml:13:",
                "`workers`",
            ),
            (
                GOOD.replace("intervals = 4", "intervals = 0"),
                "exp/t.toml:8:",
                "`intervals`",
            ),
            (
                GOOD.replace(r#"dist = "d""#, r#"dist = "x""#),
                "exp/t.toml:15:",
                "`dist`",
            ),
            (
                GOOD.replace("param = 1.0", "param = -1.0"),
                "exp/t.toml:10:",
                "`param`",
            ),
            (
                GOOD.replace(r#"mode = "iter""#, r#"mode = "fast""#),
                "exp/t.toml:4:",
                "`mode`",
            ),
            (
                GOOD.replace(r#""deterministic""#, r#""uniform""#),
                "exp/t.toml:12:",
                "duplicate",
            ),
            (
                GOOD.replace("workers = 2", r#"workers = "two""#),
                "exp/t.toml:7:",
                "`workers`",
            ),
            (
                GOOD.replace("seed = 42", "seed = -1"),
                "exp/t.toml:2:",
                "`seed`",
            ),
            (
                GOOD.replace(r#"label = "uniform""#, r#"label = "a b""#),
                "exp/t.toml:6:",
                "`label`",
            ),
            (
                GOOD.replace("param = 0.5", "param = 0.5\nshape = 2.0"),
                "exp/t.toml:17:",
                "`shape`",
            ),
            (
                GOOD.replace(
                    "param = 0.5",
                    "param = 0.5\nconnect_dist = \"z\"\nconnect_param = 1.0",
                ),
                "exp/t.toml:17:",
                "`connect_dist`",
            ),
            (
                GOOD.replace("param = 0.5", "param = 0.5\nconnect_param = 1.0"),
                "exp/t.toml:17:",
                "`connect_param`",
            ),
            (
                GOOD.replace("param = 0.5", "param = 0.5\nconnect_dist = \"e\""),
                "exp/t.toml:17:",
                "`connect_dist`",
            ),
            (
                GOOD.replace(
                    "param = 0.5",
                    "param = 0.5\nconnect_dist = \"e\"\nconnect_param = 0.0",
                ),
                "exp/t.toml:18:",
                "`connect_param`",
            ),
            (
                GOOD.replace("seed = 42", "seed = 42\nrepeat = 0"),
                "exp/t.toml:3:",
                "`repeat`",
            ),
        ];
        for (text, at, key) in cases {
            let msg = refusal(&text);
            assert!(msg.starts_with(at), "{msg}");
            assert!(msg.contains(key), "{msg}");
        }
    }

    #[test]
    fn mode_and_modes_are_exclusive_and_one_is_required() {
        let both = GOOD.replace(r#"mode = "iter""#, "mode = \"iter\"\nmodes = [\"thr\"]");
        assert!(refusal(&both).contains("not both"));
        let neither = GOOD.replace(r#"mode = "iter""#, "");
        assert!(refusal(&neither).contains("key `mode`"));
        let twice = GOOD.replace(r#"mode = "iter""#, r#"modes = ["thr", "thread"]"#);
        assert!(refusal(&twice).contains("listed twice"));
    }

    #[test]
    fn missing_keys_are_named() {
        let msg = refusal(&GOOD.replace("dist = \"u\"\n", ""));
        assert!(msg.contains("missing field `dist`"), "{msg}");
        let msg = refusal(&GOOD.replace("seed = 42\n", ""));
        assert!(msg.contains("missing field `seed`"), "{msg}");
    }

    #[test]
    fn a_load_sweep_applies_each_value_to_its_group() {
        let s = parse(&format!(
            "{GOOD}[sweep]\nkey = \"workers\"\ngroup = \"deterministic\"\nvalues = [1, 10, 100]\n"
        ))
        .expect("valid");
        let load = s.load.clone().expect("a sweep");
        assert_eq!(
            (load.key, load.group, load.values.len()),
            (SweepKey::Workers, 1, 3)
        );
        assert!(s.sweep, "a load sweep keeps one folder per mode");
        let steps = s.steps();
        assert_eq!(steps[2].clients[1].workers, 100);
        assert_eq!(steps[2].clients[0].workers, 2, "other groups unchanged");
        assert_eq!(steps[2].expected_connections(), 102);
        assert_eq!(steps[1].step_folder().as_deref(), Some("step-workers-10"));
        assert_eq!(steps[1].title(), "t — workers = 10");
        // A rate sweep: exponential at 2.5/s, the parameter as written.
        let s = parse(&format!(
            "{}[sweep]\nkey = \"param\"\ngroup = \"uniform\"\nvalues = [0.5, 2]\n",
            GOOD.replace("dist = \"u\"", "dist = \"e\"")
        ))
        .expect("valid");
        assert_eq!(s.at_step(0).clients[0].dist.param(), 0.5);
        assert_eq!(s.load.as_ref().expect("sweep").folder(1), "step-param-2");
        assert_eq!(s.at_step(0).offered_rate(), 2.0 * 0.5 + 3.0 * 2.0);
    }

    #[test]
    fn bad_sweeps_are_refused_with_file_line_and_column() {
        let sweep = |body: &str| format!("{GOOD}[sweep]\n{body}");
        let cases = [
            (
                sweep("key = \"wrokers\"\ngroup = \"uniform\"\nvalues = [1]\n"),
                "exp/t.toml:19:7: ",
                "\"wrokers\" is not a client key",
            ),
            (
                sweep("key = \"workers\"\ngroup = \"uniform\"\nvalues = []\n"),
                "exp/t.toml:21:10: ",
                "the list is empty",
            ),
            (
                sweep("key = \"workers\"\ngroup = \"uniform\"\nvalues = [1, 2.5]\n"),
                "exp/t.toml:21:14: ",
                "2.5 is no number of workers",
            ),
            (
                sweep("key = \"workers\"\ngroup = \"uniform\"\nvalues = [1, 0]\n"),
                "exp/t.toml:21:14: ",
                "0 is no number of workers",
            ),
            (
                sweep("key = \"param\"\ngroup = \"uniform\"\nvalues = [1, -3]\n"),
                "exp/t.toml:21:14: ",
                "no `param` of group",
            ),
            (
                sweep("key = \"connect_param\"\ngroup = \"uniform\"\nvalues = [1]\n"),
                "exp/t.toml:21:11: ",
                "has no connection process",
            ),
            (
                sweep("key = \"workers\"\ngroup = \"nobody\"\nvalues = [1]\n"),
                "exp/t.toml:20:9: ",
                "no [[clients]] group is labelled \"nobody\"",
            ),
            (
                sweep("key = \"workers\"\nvalues = [1]\n"),
                "exp/t.toml:",
                "must name the client group",
            ),
            (
                sweep("key = \"workers\"\ngroup = \"uniform\"\nvalues = [1, \"x\"]\n"),
                "exp/t.toml:21:14: ",
                "is not a number",
            ),
            (
                sweep("key = \"workers\"\ngroup = \"uniform\"\nvalues = [2, 2]\n"),
                "exp/t.toml:21:14: ",
                "listed twice",
            ),
            (
                sweep("key = \"workers\"\ngroup = \"uniform\"\nvalues = [4000000000]\n"),
                "exp/t.toml:21:11: ",
                "open-file limit",
            ),
            (
                sweep("kee = \"workers\"\n"),
                "exp/t.toml:19:1: ",
                "unknown field `kee`",
            ),
        ];
        for (text, at, what) in cases {
            let msg = refusal(&text);
            assert!(msg.starts_with(at), "{at}: {msg}");
            assert!(msg.contains(what), "{what}: {msg}");
        }
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é\nx", 3), (2, 1));
    }
}
