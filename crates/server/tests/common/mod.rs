//! Test harness: starts the real `server` binary on port 0, follows its console, drives it
//! with plain `std::net` clients and stops it with a real signal. Every wait is on an event
//! (a console line, end of a pipe, end of a stream) bounded by a timeout.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use arrivals::events::{CloseReason, Record, ServerEvent, read_log};
use arrivals::protocol::{GREETING, format_message};
use rustix::process::{Pid, Signal, kill_process};

/// How long any awaited outcome may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs each case (a `fn(mode: &str)` of the test file) in every mode, as
/// `<mode>::<case>`; attributes written before a case (`#[ignore]`) apply in every mode.
#[allow(unused_macros)]
macro_rules! in_every_mode {
    ($($(#[$attr:meta])* $case:ident),* $(,)?) => {
        mod iter {
            $($(#[$attr])* #[test] fn $case() { super::$case("iter"); })*
        }
        mod thr {
            $($(#[$attr])* #[test] fn $case() { super::$case("thr"); })*
        }
        mod proc {
            $($(#[$attr])* #[test] fn $case() { super::$case("proc"); })*
        }
        mod asynchronous {
            $($(#[$attr])* #[test] fn $case() { super::$case("async"); })*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use in_every_mode;

/// True for the console line that announces an accepted connection, in any mode.
pub fn is_accept_line(line: &str) -> bool {
    line.starts_with("[+] New connection from ")
        || line.starts_with("[+] New server socket worker spawned for client ")
}

/// A running `server` process.
pub struct Server {
    child: Option<Child>,
    pub pid: u32,
    pub port: u16,
    pub mode: String,
    stdout: Receiver<String>,
    /// Every stdout line seen so far.
    pub lines: Vec<String>,
    stderr: Option<JoinHandle<String>>,
    pub events_path: PathBuf,
    _dir: tempfile::TempDir,
}

/// What a stopped server left behind.
#[derive(Debug)]
pub struct Stopped {
    pub status: ExitStatus,
    pub lines: Vec<String>,
    pub stderr: String,
    pub events: Vec<Record<ServerEvent>>,
}

fn server_command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_server"))
}

/// Runs `server` with `args` to its end (it is expected to exit by itself).
pub fn run_to_end(args: &[&str]) -> std::process::Output {
    let child = server_command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start server");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(TIMEOUT) {
        Ok(out) => out.expect("server output"),
        Err(_) => {
            signal(pid, libc::SIGKILL);
            panic!("server {args:?} did not exit within {TIMEOUT:?}");
        }
    }
}

/// Sends `sig` to process `pid`.
pub fn signal(pid: u32, sig: i32) {
    let signal = Signal::from_named_raw(sig).expect("a named signal");
    let pid_ = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .expect("a pid");
    kill_process(pid_, signal).unwrap_or_else(|e| panic!("kill({pid}, {sig}): {e}"));
}

/// True while a process `pid` exists (zombies included).
pub fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Pids of the processes whose parent is `ppid`.
pub fn children_of(ppid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the parenthesised command name: state, ppid, ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        if rest.split_whitespace().nth(1) == Some(&ppid.to_string()) {
            out.push(pid);
        }
    }
    out
}

impl Server {
    /// Starts `server -a 127.0.0.1 -p 0 -m MODE --events FILE EXTRA...` and waits for its
    /// `Listening on` line.
    pub fn start(mode: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let events_path = dir.path().join("server-events.jsonl");
        Self::start_in(mode, dir, events_path, extra)
    }

    /// Like [`start`](Self::start) without an event log (stop it with
    /// [`stop_unlogged`](Self::stop_unlogged)).
    pub fn start_without_log(mode: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(mode, dir, PathBuf::new(), extra)
    }

    /// Like [`start`](Self::start), with the event log at `events_path`.
    pub fn start_with_log(mode: &str, events_path: &Path, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(mode, dir, events_path.to_owned(), extra)
    }

    /// Starts the server with the event log at `events_path` (none when it is empty).
    fn start_in(mode: &str, dir: tempfile::TempDir, events_path: PathBuf, extra: &[&str]) -> Self {
        let mut command = server_command();
        command.args(["-a", "127.0.0.1", "-p", "0", "-m", mode]);
        if !events_path.as_os_str().is_empty() {
            command.arg("--events").arg(&events_path);
        }
        let mut child = command
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start server");
        let (tx, stdout) = mpsc::channel();
        let out = child.stdout.take().expect("stdout pipe");
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().expect("stderr pipe");
        let stderr = thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let mut server = Self {
            pid: child.id(),
            child: Some(child),
            port: 0,
            mode: mode.to_owned(),
            stdout,
            lines: Vec::new(),
            stderr: Some(stderr),
            events_path,
            _dir: dir,
        };
        let listening = server.wait_line(|l| l.starts_with("Listening on "));
        server.port = listening
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {listening:?}"));
        server
    }

    /// Waits until `n` stdout lines so far satisfy `pred`; returns them.
    pub fn wait_lines(&mut self, n: usize, pred: impl Fn(&str) -> bool) -> Vec<String> {
        self.wait_lines_within(TIMEOUT, n, pred)
    }

    /// [`wait_lines`](Self::wait_lines) with a longer bound, for the soak sizes.
    pub fn wait_lines_within(
        &mut self,
        timeout: Duration,
        n: usize,
        pred: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            // Counted first, copied once: the soak sizes wait for thousands of lines.
            if self.lines.iter().filter(|l| pred(l)).count() >= n {
                return self.lines.iter().filter(|l| pred(l)).cloned().collect();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => self.lines.push(line),
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: waited {timeout:?} for {n} matching lines; stdout so far:\n{}",
                    self.mode,
                    self.lines.join("\n")
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "{}: server stdout ended before {n} matching lines:\n{}",
                    self.mode,
                    self.lines.join("\n")
                ),
            }
        }
    }

    /// Waits for one stdout line satisfying `pred` (the first one, if several).
    pub fn wait_line(&mut self, pred: impl Fn(&str) -> bool) -> String {
        self.wait_lines(1, pred).remove(0)
    }

    /// Waits until the event log file holds `needle` (the log is written at least every
    /// 100 ms).
    pub fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while !std::fs::read_to_string(&self.events_path).is_ok_and(|t| t.contains(needle)) {
            assert!(
                Instant::now() < deadline,
                "{}: {needle:?} not in the event log within {TIMEOUT:?}",
                self.mode
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for `n` `[x] Connection closed` lines in total.
    pub fn wait_closed(&mut self, n: usize) {
        self.wait_lines(n, |l| l.starts_with("[x] Connection closed for "));
    }

    /// Sends `sig`, waits for the process to exit; returns its status and stderr (for a
    /// server whose event log cannot be read back).
    pub fn stop_status(mut self, sig: i32) -> (ExitStatus, String) {
        signal(self.pid, sig);
        let (tx, rx) = mpsc::channel();
        let mut child = self.child.take().expect("running");
        thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = rx
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|_| {
                signal(self.pid, libc::SIGKILL);
                panic!("{}: server did not stop within {TIMEOUT:?}", self.mode)
            })
            .expect("wait server");
        let stderr = self
            .stderr
            .take()
            .expect("stderr thread")
            .join()
            .expect("stderr thread");
        (status, stderr)
    }

    /// Sends `sig`, waits for the process to exit (stdout closes, then it is reaped) and
    /// reads its event log. In `proc` mode also checks that no worker process survived.
    pub fn stop(mut self, sig: i32) -> Stopped {
        let mut stopped = self.finish(sig);
        stopped.events = read_log::<ServerEvent>(&self.events_path).expect("event log");
        if self.mode == "proc" {
            for worker in worker_pids(&stopped.events) {
                assert_ne!(worker, self.pid, "proc workers are other processes");
                assert!(
                    !process_exists(worker),
                    "worker process {worker} outlived the server"
                );
            }
        }
        stopped
    }

    /// Like [`stop`](Self::stop) for a server whose event log cannot be read back
    /// (`/dev/full`): `events` is left empty.
    pub fn stop_unlogged(mut self, sig: i32) -> Stopped {
        self.finish(sig)
    }

    /// Sends `sig` and waits for the process to exit; `events` is left empty.
    fn finish(&mut self, sig: i32) -> Stopped {
        signal(self.pid, sig);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => self.lines.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    signal(self.pid, libc::SIGKILL);
                    panic!(
                        "{}: server did not stop within {TIMEOUT:?}:\n{}",
                        self.mode,
                        self.lines.join("\n")
                    );
                }
            }
        }
        let status = self
            .child
            .take()
            .expect("running")
            .wait()
            .expect("wait server");
        let stderr = self
            .stderr
            .take()
            .expect("stderr thread")
            .join()
            .expect("stderr thread");
        Stopped {
            status,
            lines: std::mem::take(&mut self.lines),
            stderr,
            events: Vec::new(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Pids recorded in `connection_accepted` events.
pub fn worker_pids(events: &[Record<ServerEvent>]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|r| match r.event {
            ServerEvent::ConnectionAccepted { pid, .. } => Some(pid),
            _ => None,
        })
        .collect()
}

/// `(conn, messages, reason)` of every `connection_closed`, in log order.
pub fn closes(stopped: &Stopped) -> Vec<(u64, u64, CloseReason)> {
    stopped
        .events
        .iter()
        .filter_map(|r| match r.event {
            ServerEvent::ConnectionClosed {
                conn,
                messages,
                reason,
            } => Some((conn, messages, reason)),
            _ => None,
        })
        .collect()
}

/// `(conn, error)` of every `connection_error`, in log order.
pub fn errors(stopped: &Stopped) -> Vec<(u64, String)> {
    stopped
        .events
        .iter()
        .filter_map(|r| match &r.event {
            ServerEvent::ConnectionError { conn, error } => Some((*conn, error.clone())),
            _ => None,
        })
        .collect()
}

/// Connections and messages of a run on which every record agrees (see
/// [`Stopped::agreed_counts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub connections: u64,
    pub messages: u64,
}

impl Stopped {
    /// Events with the given tag.
    pub fn events_named(&self, name: &str) -> Vec<&ServerEvent> {
        self.events
            .iter()
            .map(|r| &r.event)
            .filter(|e| e.name() == name)
            .collect()
    }

    /// The `(n = N)` count and the printed average of the line starting with `prefix`.
    pub fn printed_average(&self, prefix: &str) -> (String, u64) {
        let line = self
            .lines
            .iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{}", self.lines.join("\n")));
        let rest = line[prefix.len()..].trim();
        let (avg, n) = rest
            .rsplit_once(" (n = ")
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let n = n.trim_end_matches(')').parse().expect("count");
        (avg.to_owned(), n)
    }

    /// Checks a clean stop (see [`assert_clean_stop`](Self::assert_clean_stop)) on which
    /// every count agrees, and returns them. Messages: the printed `(n = N)` data count, the
    /// `message_received` records, `server_stopped.messages` and the sum of
    /// `connection_closed.messages`; each connection's records are numbered 1..=its
    /// `messages`. Connections: the printed connection-gap count plus one, the `[+]` and
    /// `[x]` console lines, the `connection_accepted` and `connection_closed` records and
    /// `server_stopped.connections`. And nothing panicked.
    pub fn agreed_counts(&self) -> Counts {
        let (gaps, printed) = self.assert_clean_stop();
        assert!(
            !self.stderr.contains("panicked"),
            "panic on stderr:\n{}",
            self.stderr
        );
        let Some(ServerEvent::ServerStopped {
            connections,
            messages,
            ..
        }) = self.events.last().map(|r| &r.event)
        else {
            panic!("no server_stopped last");
        };
        let closed = closes(self);
        let mut received = std::collections::BTreeMap::<u64, Vec<u64>>::new();
        for e in self.events_named("message_received") {
            if let ServerEvent::MessageReceived { conn, seq, .. } = e {
                received.entry(*conn).or_default().push(*seq);
            }
        }
        let logged: u64 = received.values().map(|v| v.len() as u64).sum();
        let closed_sum: u64 = closed.iter().map(|c| c.1).sum();
        assert_eq!(
            (logged, closed_sum, *messages),
            (printed, printed, printed),
            "{}: messages logged, closed, stopped against printed",
            self.mode()
        );
        for &(conn, n, _) in &closed {
            let seqs = received.remove(&conn).unwrap_or_default();
            assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "conn {conn}");
        }
        assert!(received.is_empty(), "messages of unclosed connections");
        let console =
            |pred: &dyn Fn(&str) -> bool| self.lines.iter().filter(|l| pred(l)).count() as u64;
        let accepted = self.events_named("connection_accepted").len() as u64;
        let counted = [
            accepted,
            closed.len() as u64,
            console(&is_accept_line),
            console(&|l| l.starts_with("[x] Connection closed for ")),
            if accepted == 0 { 0 } else { gaps + 1 },
        ];
        assert_eq!(
            counted,
            [*connections; 5],
            "{}: connections accepted, closed, [+] lines, [x] lines, gaps + 1 against stopped",
            self.mode()
        );
        Counts {
            connections: *connections,
            messages: printed,
        }
    }

    /// The mode in `server_started`.
    fn mode(&self) -> String {
        match self.events.first().map(|r| &r.event) {
            Some(ServerEvent::ServerStarted { mode, .. }) => mode.clone(),
            _ => "?".to_owned(),
        }
    }

    /// Checks the closing lines and that `server_stopped` carries the printed numbers;
    /// returns the connection-gap and data-gap counts.
    pub fn assert_clean_stop(&self) -> (u64, u64) {
        assert!(
            self.status.success(),
            "exit status {:?}; stderr:\n{}",
            self.status,
            self.stderr
        );
        let term = self
            .lines
            .iter()
            .position(|l| l == "The server is terminating")
            .expect("terminating line");
        assert!(self.lines[term + 1].starts_with("Average connection inter-arrival time: "));
        assert!(self.lines[term + 2].starts_with("Average data inter-arrival time: "));
        assert_eq!(self.lines.len(), term + 3, "nothing after the averages");
        let (conn_avg, conn_n) = self.printed_average("Average connection inter-arrival time:");
        let (data_avg, data_n) = self.printed_average("Average data inter-arrival time:");
        let last = &self.events.last().expect("events").event;
        let ServerEvent::ServerStopped {
            connection_gaps,
            avg_connection_gap_ms,
            data_gaps,
            avg_data_gap_ms,
            ..
        } = last
        else {
            panic!("last event is not server_stopped: {last:?}");
        };
        let fmt = |v: &Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2} ms"));
        assert_eq!(
            (fmt(avg_connection_gap_ms), *connection_gaps),
            (conn_avg, conn_n)
        );
        assert_eq!((fmt(avg_data_gap_ms), *data_gaps), (data_avg, data_n));
        assert!(matches!(
            self.events.first().map(|r| &r.event),
            Some(ServerEvent::ServerStarted { .. })
        ));
        (conn_n, data_n)
    }
}

/// A plain TCP client that reads the greeting like the lab's client.
pub struct Client {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    /// Connects and reads the greeting (which, in `iter` mode, waits for the accept).
    pub fn connect(port: u16) -> Self {
        let client = Self::connect_quiet(port);
        client.expect_greeting()
    }

    /// Connects without reading anything yet.
    pub fn connect_quiet(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Self { stream, reader }
    }

    /// Reads the greeting.
    pub fn expect_greeting(mut self) -> Self {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("greeting");
        assert_eq!(line, GREETING);
        self
    }

    /// `IP:PORT` of this end, as the server prints its peer.
    pub fn local(&self) -> String {
        self.stream.local_addr().expect("addr").to_string()
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Sends `n` messages in the client's format, `spacing` apart.
    pub fn send_events(&mut self, worker: u32, n: u32, spacing: Duration) {
        for event in 1..=n {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_millis() as u64;
            let line = format!("{}\n", format_message(worker, event, now));
            self.send_raw(line.as_bytes());
            thread::sleep(spacing);
        }
    }

    /// Closes the sending side and waits for the server to close the connection.
    pub fn close(mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        self.wait_eof();
    }

    /// Waits until the server closes the connection (end of stream or reset).
    pub fn wait_eof(&mut self) {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("waiting for the server to close: {e}"),
        }
    }
}
