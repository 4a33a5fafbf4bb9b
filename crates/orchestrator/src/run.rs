//! One run of a scenario in one server mode: start the server on port 0, launch each client
//! group at its offset, wait, let in-flight data settle, stop the server with SIGINT, and
//! cross-check what it printed against its event log. Every process is killed and reaped on
//! every error path (see [`Proc`]'s `Drop`).

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use arrivals::Mode;
use arrivals::args::{ClientArgs, ServerArgs};
use arrivals::console::{self, Averaged};
use rustix::process::{Pid, Signal, kill_process, kill_process_group};

use crate::binaries::Binaries;
use crate::dataset::Dataset;
use crate::hosts::{HostsError, HostsRecord, Launcher, Sites};
use crate::progress::Progress;
use crate::results::{self, Layout, ResultsError};
use crate::runinfo::{self, ClientRun, Host, RunInfo};
use crate::scenario::{ClientGroup, Scenario};

/// How long the server may take to print `Listening on`.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the server may take to exit after SIGINT.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Polling period of the supervision loop.
const TICK: Duration = Duration::from_millis(25);

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start {what} ({program}): {source}")]
    Spawn {
        what: String,
        program: PathBuf,
        source: io::Error,
    },
    #[error("cannot create {path}: {source}")]
    CreateLog { path: PathBuf, source: io::Error },
    #[error("cannot supervise {what}: {source}")]
    Wait { what: String, source: io::Error },
    #[error("the server did not print its `Listening on` line within {} s; see {log}", READY_TIMEOUT.as_secs())]
    NotReady { log: PathBuf },
    #[error("the server exited ({status}) before it was ready; see {log}{tail}")]
    ServerDiedEarly {
        status: ExitStatus,
        log: PathBuf,
        tail: String,
    },
    #[error("the server exited ({status}) while the clients were running; see {log}{tail}")]
    ServerDied {
        status: ExitStatus,
        log: PathBuf,
        tail: String,
    },
    #[error(
        "client group `{label}` was still running {secs:.0} s after the server was ready (the schedule expects ≈ {expected:.1} s); it was killed. See {log}"
    )]
    ClientTimeout {
        label: String,
        secs: f64,
        expected: f64,
        log: PathBuf,
    },
    #[error("client group `{label}` failed ({status}); see {log}{tail}")]
    ClientFailed {
        label: String,
        status: ExitStatus,
        log: PathBuf,
        tail: String,
    },
    #[error(
        "the server did not exit within {} s of SIGINT and was killed; see {log}",
        STOP_TIMEOUT.as_secs()
    )]
    ServerHung { log: PathBuf },
    #[error("the server exited with {status} after SIGINT (expected 0); see {log}{tail}")]
    ServerFailed {
        status: ExitStatus,
        log: PathBuf,
        tail: String,
    },
    #[error("interrupted: the server and clients were stopped")]
    Interrupted,
    #[error("the run in {dir} does not add up:\n  - {}", problems.join("\n  - "))]
    CrossCheck { dir: PathBuf, problems: Vec<String> },
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error(transparent)]
    Hosts(#[from] HostsError),
}

/// What a run needs besides its scenario.
#[derive(Debug)]
pub struct RunContext<'a> {
    pub layout: &'a Layout,
    pub bins: &'a Binaries,
    pub host: &'a Host,
    /// The scenario file as given on the command line (recorded in `run.json`).
    pub scenario_file: String,
    /// Set by SIGINT/SIGTERM: every wait checks it and stops the run.
    pub interrupted: Arc<AtomicBool>,
    /// Where the server and each client group run (all local unless the scenario says).
    pub sites: &'a Sites,
}

/// The outcome of a successful run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub mode: Mode,
    /// Which run of the scenario (from 1).
    pub run: u32,
    pub connections: u64,
    pub messages: u64,
    pub printed: Vec<String>,
    pub duration: Duration,
}

/// A child process in its own process group, killed (with its group) and reaped when
/// dropped unless it already exited.
#[derive(Debug)]
struct Proc {
    what: String,
    child: Child,
    status: Option<ExitStatus>,
    /// On an SSH host: its launcher and pid-file tag, through which it is signalled (the
    /// local child is the `ssh` client).
    remote: Option<(Launcher, String)>,
}

impl Proc {
    fn spawn(what: &str, cmd: &mut Command) -> Result<Self, RunError> {
        use std::os::unix::process::CommandExt;
        // Its own process group: a Ctrl-C in the terminal reaches the orchestrator only, and
        // a forced stop can take a `proc`-mode server's children with it.
        cmd.process_group(0);
        let child = cmd.spawn().map_err(|source| RunError::Spawn {
            what: what.to_owned(),
            program: PathBuf::from(cmd.get_program()),
            source,
        })?;
        Ok(Self {
            what: what.to_owned(),
            child,
            status: None,
            remote: None,
        })
    }

    /// Signals go to process `tag` of `launcher`'s host when it is remote.
    fn on(mut self, launcher: &Launcher, tag: &str) -> Self {
        if launcher.is_remote() {
            self.remote = Some((launcher.clone(), tag.to_owned()));
        }
        self
    }

    /// The exit status, once the process has exited (it is then reaped).
    fn poll(&mut self) -> Result<Option<ExitStatus>, RunError> {
        if self.status.is_none() {
            self.status = self.child.try_wait().map_err(|source| RunError::Wait {
                what: self.what.clone(),
                source,
            })?;
        }
        Ok(self.status)
    }

    /// Sends `sig` to the process. Callers check `status` first: the child is not yet
    /// reaped, so its pid cannot have been reused.
    fn signal(&self, sig: Signal) {
        if let Some((launcher, tag)) = &self.remote {
            launcher.signal_remote(tag, if sig == Signal::INT { "INT" } else { "TERM" });
            return;
        }
        let _ = kill_process(Pid::from_child(&self.child), sig);
    }

    /// SIGKILLs the process and its whole group, then reaps it.
    fn kill(&mut self) {
        if self.status.is_some() {
            return;
        }
        if let Some((launcher, tag)) = &self.remote {
            launcher.signal_remote(tag, "KILL");
        }
        // The group id is the unreaped child's pid (`process_group(0)`).
        let _ = kill_process_group(Pid::from_child(&self.child), Signal::KILL);
        self.status = self.child.wait().ok();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

/// The last lines of a log, indented, for an error message.
fn tail(path: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(8);
    if lines.is_empty() {
        return String::new();
    }
    let mut out = String::from(":");
    for l in &lines[from..] {
        out.push_str("\n    ");
        out.push_str(l);
    }
    out
}

/// Reads the server's stdout line by line into `server.log` and a channel.
fn spawn_reader(
    stdout: impl Read + Send + 'static,
    mut log: File,
    tx: mpsc::Sender<String>,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let _ = log.write_all(&buf);
                    let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = log.flush();
    })
}

/// Counts `message_received` lines appended to the server's event log since the last call.
#[derive(Debug)]
struct LogTail {
    path: PathBuf,
    file: Option<File>,
    partial: Vec<u8>,
    received: u64,
}

impl LogTail {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            file: None,
            partial: Vec::new(),
            received: 0,
        }
    }

    fn poll(&mut self) -> u64 {
        if self.file.is_none() {
            self.file = File::open(&self.path).ok();
        }
        if let Some(f) = &mut self.file {
            let mut chunk = Vec::new();
            if f.read_to_end(&mut chunk).is_ok() {
                self.partial.extend_from_slice(&chunk);
                if let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') {
                    let complete: Vec<u8> = self.partial.drain(..=end).collect();
                    let text = String::from_utf8_lossy(&complete);
                    self.received += text
                        .lines()
                        .filter(|l| l.contains("\"message_received\""))
                        .count() as u64;
                }
            }
        }
        self.received
    }
}

fn check_interrupt(flag: &AtomicBool) -> Result<(), RunError> {
    if flag.load(Ordering::SeqCst) {
        Err(RunError::Interrupted)
    } else {
        Ok(())
    }
}

/// Sleeps `d` in short steps, returning early with an error if interrupted.
fn sleep_checked(d: Duration, flag: &AtomicBool) -> Result<(), RunError> {
    let until = Instant::now() + d;
    while Instant::now() < until {
        check_interrupt(flag)?;
        thread::sleep(TICK.min(until.saturating_duration_since(Instant::now())));
    }
    Ok(())
}

fn open_log(path: &Path) -> Result<File, RunError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| RunError::CreateLog {
            path: path.to_owned(),
            source,
        })
}

/// The `client` command line for group `g` of `s` in run `run`.
fn client_args(
    s: &Scenario,
    run: u32,
    g: usize,
    group: &ClientGroup,
    (server, port): (&str, u16),
    events: &Path,
) -> ClientArgs {
    ClientArgs {
        workers: group.workers,
        intervals: group.intervals,
        dist: group.dist.kind(),
        param: group.dist.param(),
        shape: group.dist.shape(),
        connect: group.connect.map(|c| (c.kind(), c.param())),
        server: server.to_owned(),
        port,
        seed: Some(s.group_seed(run, g)),
        events: Some(events.to_owned()),
        verbose: true,
        spin_us: group.spin_us,
        connect_timeout: group.connect_timeout,
        io_timeout: group.io_timeout,
    }
}

/// An argv as text, for `run.json`.
fn argv_text(args: &[OsString]) -> Vec<String> {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// Runs `s` in `mode` (run `run` of its `repeat`, from 1), records everything under its
/// results folder, and cross-checks it.
pub fn run_mode(
    s: &Scenario,
    mode: Mode,
    run: u32,
    ctx: &RunContext<'_>,
) -> Result<RunSummary, RunError> {
    let (layout, name) = ctx.layout.at(s);
    let dir = layout.run_results(&name, mode, s.sweep, (s.repeat > 1).then_some(run));
    results::remove_dir(&dir)?;
    results::create_dir(&dir)?;
    let flag = &*ctx.interrupted;
    let expected_ms = s.expected_client_ms(mode);
    let mut progress = Progress::start(
        &progress_prefix(s, mode, run),
        Duration::from_secs_f64((expected_ms + s.settle_ms as f64) / 1e3),
        s.expected_messages(),
    );
    let sites = ctx.sites;
    // Before anything starts: the hosts' clocks, and their working folders.
    let labels: Vec<String> = s.clients.iter().map(|g| g.label.clone()).collect();
    let hosts = sites.record(&labels)?;
    sites.prepare()?;
    let mut server = Server::start(s, mode, &dir, &ctx.bins.server, sites)?;
    let port = server.wait_ready(flag)?;
    progress.note(&format!(
        "{mode} server ({}) listening on {}:{port}{}",
        mode.describe(),
        sites.bind_address(),
        crate::hosts::describe_server(sites)
    ));
    let clients = Clients::new(s, run, (sites, port), &dir, &ctx.bins.client);
    let clients = clients.run_to_end(&mut server, &mut progress, flag, expected_ms)?;
    // Let in-flight data reach the server, then stop it as an operator would.
    sleep_checked(Duration::from_millis(s.settle_ms), flag)?;
    server.report_progress(&mut progress);
    let status = server.stop(flag)?;
    let duration = server.started.elapsed();
    server.drain();
    progress.finish();
    if !status.success() {
        return Err(RunError::ServerFailed {
            status,
            tail: tail(&server.log),
            log: server.log,
        });
    }
    fetch_remote(s, sites, &dir)?;
    let run = Recorded {
        mode,
        run,
        port,
        clients,
        duration,
        hosts,
    };
    record(s, ctx, dir, server, run)
}

/// The server's `--max-connections`: the scenario's, or, when the scenario sets none and
/// its workers are more than the server's default admits at once, one per worker.
fn max_connections(s: &Scenario) -> Option<u64> {
    let default = arrivals::args::DEFAULT_MAX_CONNECTIONS as u64;
    s.max_connections.or_else(|| {
        let workers = s.expected_connections();
        (workers > default).then_some(workers)
    })
}

/// Copies the event logs written on SSH hosts into the run folder.
fn fetch_remote(s: &Scenario, sites: &Sites, dir: &Path) -> Result<(), RunError> {
    sites
        .server
        .launcher
        .fetch(results::SERVER_EVENTS, &dir.join(results::SERVER_EVENTS))?;
    for (g, site) in s.clients.iter().zip(&sites.clients) {
        let part = results::client_events_part(&g.label);
        site.launcher.fetch(&part, &dir.join(&part))?;
    }
    Ok(())
}

/// `[name mode run k/N]`: what the progress lines of a run start with.
fn progress_prefix(s: &Scenario, mode: Mode, run: u32) -> String {
    let mut prefix = format!("[{}", s.title());
    if s.sweep {
        prefix.push_str(&format!(" {mode}"));
    }
    if s.repeat > 1 {
        prefix.push_str(&format!(" run {run}/{}", s.repeat));
    }
    prefix.push(']');
    prefix
}

/// The server of a run: its process, its console lines as they come, and its files.
#[derive(Debug)]
struct Server {
    proc: Proc,
    args: ServerArgs,
    argv: Vec<OsString>,
    /// Console lines from the reader thread.
    rx: mpsc::Receiver<String>,
    /// The console lines read so far.
    lines: Vec<String>,
    log: PathBuf,
    received: LogTail,
    started: Instant,
}

impl Server {
    /// Starts the server on port 0, its stdout read by a thread into `server.log`.
    fn start(
        s: &Scenario,
        mode: Mode,
        dir: &Path,
        program: &Path,
        sites: &Sites,
    ) -> Result<Self, RunError> {
        let log = dir.join(results::SERVER_LOG);
        let launcher = &sites.server.launcher;
        let events = launcher.file(dir, results::SERVER_EVENTS);
        let log_file = open_log(&log)?;
        let log_for_stderr = log_file.try_clone().map_err(|source| RunError::CreateLog {
            path: log.clone(),
            source,
        })?;
        let args = ServerArgs {
            address: sites.bind_address(),
            port: 0,
            mode,
            events: Some(events.clone()),
            verbose: true,
            max_connections: max_connections(s),
            idle_timeout: s.idle_timeout,
        };
        let argv = args.to_args();
        let started = Instant::now();
        let mut proc = Proc::spawn(
            "the server",
            launcher
                .command(program, &argv, "server")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::from(log_for_stderr)),
        )?
        .on(launcher, "server");
        let stdout = proc.child.stdout.take().ok_or_else(|| RunError::Wait {
            what: "the server's output".into(),
            source: io::Error::other("stdout was not captured"),
        })?;
        let (tx, rx) = mpsc::channel();
        // Detached: it ends at EOF, when the server and everything sharing its stdout exited.
        let _reader = spawn_reader(stdout, log_file, tx);
        Ok(Self {
            proc,
            args,
            argv,
            rx,
            lines: Vec::new(),
            // On an SSH host the log is copied back at the end: no live count.
            received: LogTail::new(dir.join(results::SERVER_EVENTS)),
            log,
            started,
        })
    }

    /// Waits for the `Listening on` line and returns the port it names.
    fn wait_ready(&mut self, flag: &AtomicBool) -> Result<u16, RunError> {
        loop {
            check_interrupt(flag)?;
            match self.rx.recv_timeout(TICK) {
                Ok(line) => {
                    let port = console::parse_listening(&line).map(|a| a.port());
                    self.lines.push(line);
                    if let Some(port) = port {
                        return Ok(port);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    if let Some(status) = wait_briefly(&mut self.proc)? {
                        return Err(self.died_early(status));
                    }
                }
            }
            if let Some(status) = self.proc.poll()? {
                return Err(self.died_early(status));
            }
            if self.started.elapsed() > READY_TIMEOUT {
                return Err(RunError::NotReady {
                    log: self.log.clone(),
                });
            }
        }
    }

    fn died_early(&self, status: ExitStatus) -> RunError {
        RunError::ServerDiedEarly {
            status,
            tail: tail(&self.log),
            log: self.log.clone(),
        }
    }

    /// An error if the server exited while the clients run.
    fn check_alive(&mut self) -> Result<(), RunError> {
        match self.proc.poll()? {
            Some(status) => Err(RunError::ServerDied {
                status,
                tail: tail(&self.log),
                log: self.log.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Takes the console lines printed so far and shows the messages received.
    fn report_progress(&mut self, progress: &mut Progress) {
        self.lines.extend(self.rx.try_iter());
        progress.messages(self.received.poll(), self.started.elapsed());
    }

    /// SIGINT, then waits for the exit; kills the server if it does not exit in time.
    fn stop(&mut self, flag: &AtomicBool) -> Result<ExitStatus, RunError> {
        self.proc.signal(Signal::INT);
        let stop_started = Instant::now();
        loop {
            if let Some(status) = self.proc.poll()? {
                return Ok(status);
            }
            if stop_started.elapsed() > STOP_TIMEOUT {
                self.proc.kill();
                return Err(RunError::ServerHung {
                    log: self.log.clone(),
                });
            }
            check_interrupt(flag)?;
            thread::sleep(TICK);
        }
    }

    /// The rest of the console output, up to EOF (bounded, in case a stray process holds it).
    fn drain(&mut self) {
        let until = Instant::now() + Duration::from_secs(5);
        while let Ok(line) = self
            .rx
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            self.lines.push(line);
        }
    }
}

/// The client groups of a run: one process each, launched at its offset after the server
/// was ready.
#[derive(Debug)]
struct Clients<'a> {
    s: &'a Scenario,
    run: u32,
    sites: &'a Sites,
    port: u16,
    dir: &'a Path,
    program: &'a Path,
    /// Groups not launched yet, by launch offset.
    pending: std::iter::Peekable<std::vec::IntoIter<usize>>,
    /// Per group: its process and record, once launched.
    launched: Vec<Option<(Proc, ClientRun)>>,
    ready: Instant,
}

impl<'a> Clients<'a> {
    fn new(
        s: &'a Scenario,
        run: u32,
        (sites, port): (&'a Sites, u16),
        dir: &'a Path,
        program: &'a Path,
    ) -> Self {
        let mut order: Vec<usize> = (0..s.clients.len()).collect();
        order.sort_by_key(|&g| (s.clients[g].start_after_ms, g));
        Self {
            s,
            run,
            sites,
            port,
            dir,
            program,
            pending: order.into_iter().peekable(),
            launched: (0..s.clients.len()).map(|_| None).collect(),
            ready: Instant::now(),
        }
    }

    /// Launches the groups as they fall due and waits until every one exited; the server
    /// must stay up meanwhile. Returns what each group ran.
    fn run_to_end(
        mut self,
        server: &mut Server,
        progress: &mut Progress,
        flag: &AtomicBool,
        expected_ms: f64,
    ) -> Result<Vec<ClientRun>, RunError> {
        let deadline = Duration::from_secs_f64(30.0 + 3.0 * expected_ms / 1e3);
        loop {
            check_interrupt(flag)?;
            self.launch_due(progress)?;
            let running = self.poll(progress)?;
            server.check_alive()?;
            server.report_progress(progress);
            if !running {
                return Ok(self
                    .launched
                    .into_iter()
                    .flatten()
                    .map(|(_, c)| c)
                    .collect());
            }
            if self.ready.elapsed() > deadline {
                return Err(self.timed_out(deadline, expected_ms));
            }
            thread::sleep(TICK);
        }
    }

    /// Launches every group whose offset has passed.
    fn launch_due(&mut self, progress: &Progress) -> Result<(), RunError> {
        while let Some(&g) = self.pending.peek() {
            let group = &self.s.clients[g];
            if self.ready.elapsed() < Duration::from_millis(group.start_after_ms) {
                break;
            }
            self.pending.next();
            let launched = self.launch(g, group)?;
            let connecting = group.connect.map_or_else(String::new, |c| {
                format!(", connecting at intervals {}", c.describe())
            });
            progress.note(&format!(
                "client group `{}` started: {} workers × {} intervals, {}{connecting}",
                group.label,
                group.workers,
                group.intervals,
                group.dist.describe()
            ));
            self.launched[g] = Some(launched);
        }
        Ok(())
    }

    fn launch(&self, g: usize, group: &ClientGroup) -> Result<(Proc, ClientRun), RunError> {
        let log_path = self.dir.join(results::client_log(&group.label));
        let create_error = |source| RunError::CreateLog {
            path: log_path.clone(),
            source,
        };
        let out = File::create(&log_path).map_err(create_error)?;
        let err = out.try_clone().map_err(create_error)?;
        let launcher = &self.sites.clients[g].launcher;
        let events = launcher.file(self.dir, &results::client_events_part(&group.label));
        let server = self.sites.connect_address();
        let args = client_args(self.s, self.run, g, group, (&server, self.port), &events);
        let argv = args.to_args();
        let tag = format!("client-{}", group.label);
        let proc = Proc::spawn(
            &format!("client group `{}`", group.label),
            launcher
                .command(self.program, &argv, &tag)
                .stdin(Stdio::null())
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(err)),
        )?
        .on(launcher, &tag);
        let info = ClientRun {
            label: group.label.clone(),
            seed: self.s.group_seed(self.run, g),
            args: argv_text(&argv),
            client: Some(args),
            launched_ms: self.ready.elapsed().as_secs_f64() * 1e3,
            exited_ms: 0.0,
        };
        Ok((proc, info))
    }

    /// Notes the groups that exited; an error if one failed. True while a group is still
    /// running or waits for its offset.
    fn poll(&mut self, progress: &Progress) -> Result<bool, RunError> {
        let mut running = self.pending.peek().is_some();
        for slot in &mut self.launched {
            let Some((proc, info)) = slot else { continue };
            if proc.status.is_some() {
                continue;
            }
            let Some(status) = proc.poll()? else {
                running = true;
                continue;
            };
            info.exited_ms = self.ready.elapsed().as_secs_f64() * 1e3;
            let log = self.dir.join(results::client_log(&info.label));
            if !status.success() {
                return Err(RunError::ClientFailed {
                    label: info.label.clone(),
                    status,
                    tail: tail(&log),
                    log,
                });
            }
            progress.note(&format!(
                "client group `{}` finished after {:.1} s",
                info.label,
                info.exited_ms / 1e3
            ));
        }
        Ok(running)
    }

    /// The error for a group still running at the deadline (its processes are killed on
    /// drop).
    fn timed_out(&self, deadline: Duration, expected_ms: f64) -> RunError {
        let late = self
            .launched
            .iter()
            .flatten()
            .find(|(p, _)| p.status.is_none())
            .map_or_else(String::new, |(_, i)| i.label.clone());
        RunError::ClientTimeout {
            log: self.dir.join(results::client_log(&late)),
            label: late,
            secs: deadline.as_secs_f64(),
            expected: expected_ms / 1e3,
        }
    }
}

/// What a finished run did, besides its files.
#[derive(Debug)]
struct Recorded {
    mode: Mode,
    run: u32,
    port: u16,
    clients: Vec<ClientRun>,
    duration: Duration,
    /// Where the processes ran and the hosts' clocks (`None`: all local).
    hosts: Option<HostsRecord>,
}

/// Merges the client logs, reads the run into its [`Dataset`], cross-checks it and, when
/// it adds up, writes `run.json`.
fn record(
    s: &Scenario,
    ctx: &RunContext<'_>,
    dir: PathBuf,
    server: Server,
    r: Recorded,
) -> Result<RunSummary, RunError> {
    let labels: Vec<String> = s.clients.iter().map(|g| g.label.clone()).collect();
    results::merge_client_events(&dir, &labels)?;
    let printed: Vec<String> = server
        .lines
        .iter()
        .filter(|l| console::is_average(l))
        .cloned()
        .collect();
    let info = RunInfo {
        server_args: argv_text(&server.argv),
        server: Some(server.args),
        server_port: r.port,
        clients: r.clients,
        duration_ms: (r.duration.as_secs_f64() * 1e3 * 10.0).round() / 10.0,
        server_printed: printed,
        hosts: r.hosts,
        ..provenance(s, r.mode, r.run, ctx)
    };
    let d = results::load_logs(&dir, info)?;
    let problems = cross_check(&d, &server.lines);
    if !problems.is_empty() {
        return Err(RunError::CrossCheck { dir, problems });
    }
    results::write_run_info(&dir, &d.info)?;
    Ok(RunSummary {
        mode: r.mode,
        run: r.run,
        connections: d.connections.len() as u64,
        messages: d.messages.len() as u64,
        printed: d.info.server_printed.clone(),
        duration: r.duration,
    })
}

/// What every `run.json` of run `run` of `s` in `mode` records about the scenario and the
/// host, with nothing of the run itself yet.
fn provenance(s: &Scenario, mode: Mode, run: u32, ctx: &RunContext<'_>) -> RunInfo {
    RunInfo {
        scenario: s.name.clone(),
        scenario_file: ctx.scenario_file.clone(),
        scenario_text: s.text.clone(),
        seed: s.seed,
        mode,
        sweep: s.sweep,
        run,
        step: s.step,
        date: runinfo::utc_now(),
        git_commit: ctx.host.git_commit.clone(),
        git_dirty: ctx.host.git_dirty,
        rustc: ctx.host.rustc.clone(),
        host_cores: ctx.host.host_cores,
        binaries: ctx.host.binaries.clone(),
        server_args: Vec::new(),
        server: None,
        server_port: 0,
        clients: Vec::new(),
        duration_ms: 0.0,
        server_printed: Vec::new(),
        open_file_limit: Some(arrivals::limits::open_file_limit()),
        failed: None,
        hosts: None,
    }
}

/// Marks run `run` of `s` in `mode` failed: a `run.json` that says why, next to whatever
/// partial logs the run left. Returns the run's folder.
pub fn record_failure(
    s: &Scenario,
    mode: Mode,
    run: u32,
    ctx: &RunContext<'_>,
    reason: &str,
) -> Result<PathBuf, RunError> {
    let (layout, name) = ctx.layout.at(s);
    let dir = layout.run_results(&name, mode, s.sweep, (s.repeat > 1).then_some(run));
    results::create_dir(&dir)?;
    let info = RunInfo {
        failed: Some(reason.to_owned()),
        ..provenance(s, mode, run, ctx)
    };
    results::write_run_info(&dir, &info)?;
    Ok(dir)
}

/// After the reader saw EOF, gives the server a moment to exit and returns its status.
fn wait_briefly(server: &mut Proc) -> Result<Option<ExitStatus>, RunError> {
    for _ in 0..40 {
        if let Some(s) = server.poll()? {
            return Ok(Some(s));
        }
        thread::sleep(TICK);
    }
    Ok(None)
}

/// Compares what the server printed, what it logged and what the clients sent, all read
/// once into `d`. Returns one line per discrepancy.
fn cross_check(d: &Dataset, printed: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let conn_gaps = d.connection_gaps(None);
    let data_gaps = d.data_gaps(None);
    check_printed(printed, &conn_gaps, &data_gaps, &mut problems);
    check_stopped(d, &conn_gaps, &data_gaps, &mut problems);
    check_counts(d, &mut problems);
    problems
}

/// The closing lines against the logged gaps.
fn check_printed(
    printed: &[String],
    conn_gaps: &[f64],
    data_gaps: &[f64],
    problems: &mut Vec<String>,
) {
    if !printed.iter().any(|l| console::is_terminating(l)) {
        problems.push(format!(
            "the server did not print `{}`",
            console::TERMINATING
        ));
    }
    for (which, gaps, what) in [
        (Averaged::Connection, conn_gaps, "connection gaps"),
        (Averaged::Data, data_gaps, "data gaps"),
    ] {
        let Some(p) = console::parse_average(printed, which) else {
            problems.push(format!(
                "the server did not print `{} X ms (n = N)`",
                which.prefix()
            ));
            continue;
        };
        if p.n != gaps.len() as u64 {
            problems.push(format!(
                "the server printed n = {} {what}, its event log has {}",
                p.n,
                gaps.len()
            ));
        }
        let computed = arrivals::stats::mean(gaps);
        let agree = match (p.avg_ms, computed) {
            (None, None) => true,
            // Equal to the printed two decimals.
            (Some(a), Some(b)) => (a - b).abs() <= 0.005 + 1e-9,
            _ => false,
        };
        if !agree {
            problems.push(format!(
                "the server printed an average of {} for {what}, its event log gives {}",
                arrivals::stats::format_avg_ms(p.avg_ms),
                arrivals::stats::format_avg_ms(computed)
            ));
        }
    }
}

/// The final `server_stopped` event against the rest of the log.
fn check_stopped(d: &Dataset, conn_gaps: &[f64], data_gaps: &[f64], problems: &mut Vec<String>) {
    let Some(st) = d.stopped else {
        problems.push("the server's event log has no server_stopped event".to_owned());
        return;
    };
    let (connections, messages) = (d.connections.len() as u64, d.messages.len() as u64);
    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * a.abs().max(1.0),
        _ => false,
    };
    if st.connections != connections || st.messages != messages {
        problems.push(format!(
            "server_stopped reports {} connections and {} messages, the log has {connections} and {messages}",
            st.connections, st.messages
        ));
    }
    if st.connection_gaps != conn_gaps.len() as u64 || st.data_gaps != data_gaps.len() as u64 {
        problems.push(format!(
            "server_stopped reports {} connection gaps and {} data gaps, the log has {} and {}",
            st.connection_gaps,
            st.data_gaps,
            conn_gaps.len(),
            data_gaps.len()
        ));
    }
    if !close(st.avg_connection_gap_ms, arrivals::stats::mean(conn_gaps))
        || !close(st.avg_data_gap_ms, arrivals::stats::mean(data_gaps))
    {
        problems
            .push("server_stopped's averages differ from the means of the logged gaps".to_owned());
    }
}

/// What the server saw against what the scenario and each client group say was sent.
fn check_counts(d: &Dataset, problems: &mut Vec<String>) {
    let s = &d.scenario;
    let (connections, messages) = (d.connections.len() as u64, d.messages.len() as u64);
    if connections != s.expected_connections() {
        problems.push(format!(
            "the server accepted {connections} connections, the client groups opened {} (one per worker)",
            s.expected_connections()
        ));
    }
    if messages != s.expected_messages() {
        problems.push(format!(
            "the server received {messages} messages, the client groups send {} (workers × intervals)",
            s.expected_messages()
        ));
    }
    for (g, group) in s.clients.iter().enumerate() {
        for e in d.worker_errors.iter().filter(|e| e.group == Some(g)) {
            problems.push(format!(
                "client group `{}` worker {} failed: {}",
                group.label, e.worker, e.error
            ));
        }
        if d.sent[g] != group.messages() {
            problems.push(format!(
                "client group `{}` logged {} messages sent, expected {}",
                group.label,
                d.sent[g],
                group.messages()
            ));
        }
        let matched = d.connections.iter().filter(|c| c.group == Some(g)).count();
        if matched != group.workers as usize {
            problems.push(format!(
                "{matched} of client group `{}`'s {} worker connections appear in the server's log",
                group.label, group.workers
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_process_is_passed_to_the_client() {
        let text = r#"description = "d"
seed = 5
repeat = 2
[server]
mode = "thr"
[[clients]]
label = "a"
workers = 3
intervals = 2
dist = "e"
param = 10.0
connect_dist = "e"
connect_param = 4.0
"#;
        let s = Scenario::from_toml_str("t", text, Path::new("t.toml")).expect("valid");
        let args = client_args(
            &s,
            2,
            0,
            &s.clients[0],
            ("127.0.0.1", 9),
            Path::new("e.jsonl"),
        );
        assert_eq!(args.connect, Some((arrivals::DistKind::Exponential, 4.0)));
        assert_eq!(args.seed, Some(s.group_seed(2, 0)));
    }
}
