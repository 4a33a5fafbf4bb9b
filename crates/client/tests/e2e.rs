//! End to end: the real `server` in every mode against the real `client`, as the lab runs
//! them, checked on the console and on the server's event log.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use arrivals::events::{Record, ServerEvent, read_log};
use arrivals::stats::Summary;
use rustix::process::{Pid, Signal, kill_process};

const CLIENT: &str = env!("CARGO_BIN_EXE_client");
const MODES: [&str; 4] = ["iter", "thr", "proc", "async"];
const TIMEOUT: Duration = Duration::from_secs(30);

/// The `server` binary beside ours, built on demand when only this package was built.
fn server_bin() -> PathBuf {
    let path = Path::new(CLIENT).with_file_name("server");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "server", "--bin", "server"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cannot build the server binary");
    }
    path
}

/// A running server whose stdout lines arrive on a channel.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    console: Vec<String>,
    port: u16,
}

impl Server {
    fn start(mode: &str, events: &Path) -> Self {
        let mut child = Command::new(server_bin())
            .args(["-p", "0", "-m", mode, "--events"])
            .arg(events)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            child,
            lines,
            console: Vec::new(),
            port: 0,
        };
        let listening = server.wait_for("Listening on ");
        server.port = listening
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the Listening line");
        server
    }

    /// Waits (bounded) for a console line starting with `prefix`.
    fn wait_for(&mut self, prefix: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(TIMEOUT)
                .unwrap_or_else(|_| panic!("no `{prefix}` line; console: {:#?}", self.console));
            self.console.push(line.clone());
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    /// SIGINT, then the rest of the console until the pipe closes; asserts exit 0.
    fn stop(mut self) -> Vec<String> {
        kill_process(Pid::from_child(&self.child), Signal::INT).expect("SIGINT the server");
        while let Ok(line) = self.lines.recv_timeout(TIMEOUT) {
            self.console.push(line);
        }
        let status = self.child.wait().expect("wait server");
        assert!(
            status.success(),
            "server exit {status}; {:#?}",
            self.console
        );
        self.console
    }
}

fn run_client(port: u16, args: &[&str]) {
    let out = Command::new(CLIENT)
        .args(args)
        .args(["-s", "127.0.0.1", "-P", &port.to_string(), "--seed", "7"])
        .output()
        .expect("run client");
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `(average, n)` of a console line `Average ... time: 12.34 ms (n = 5)`.
fn printed_average(console: &[String], what: &str) -> (Option<f64>, usize) {
    let prefix = format!("Average {what} inter-arrival time: ");
    let line = console
        .iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line: {console:#?}"));
    let (value, n) = line.split_once(" (n = ").expect("a sample count");
    let n = n.trim_end_matches(')').parse().expect("count");
    let value = value
        .strip_suffix(" ms")
        .map(|v| v.parse().expect("number"));
    (value, n)
}

fn gaps(log: &[Record<ServerEvent>]) -> (Vec<f64>, Vec<f64>) {
    let mut conn = Vec::new();
    let mut data = Vec::new();
    for r in log {
        match r.event {
            ServerEvent::ConnectionAccepted {
                gap_ms: Some(g), ..
            } => conn.push(g),
            ServerEvent::MessageReceived { gap_ms, .. } => data.push(gap_ms),
            _ => {}
        }
    }
    (conn, data)
}

#[test]
fn every_mode_measures_three_workers_of_five_messages() {
    for mode in MODES {
        let dir = tempfile::tempdir().expect("tempdir");
        let events = dir.path().join("s.jsonl");
        let server = Server::start(mode, &events);
        run_client(
            server.port,
            &["-w", "3", "-n", "5", "-d", "u", "-p", "0.05"],
        );
        let console = server.stop();

        assert!(
            console.iter().any(|l| l == "The server is terminating"),
            "{mode}"
        );
        let (avg_conn, n_conn) = printed_average(&console, "connection");
        let (avg_data, n_data) = printed_average(&console, "data");
        assert_eq!((n_conn, n_data), (2, 15), "{mode}: {console:#?}");

        let log: Vec<Record<ServerEvent>> = read_log(&events).expect("every line is valid JSON");
        let count = |name: &str| log.iter().filter(|r| r.event.name() == name).count();
        assert_eq!(count("connection_accepted"), 3, "{mode}");
        assert_eq!(count("message_received"), 15, "{mode}");
        assert_eq!(count("connection_closed"), 3, "{mode}");
        let (conn, data) = gaps(&log);
        let round = |v: f64| (v * 100.0).round() / 100.0;
        let logged = |v: &[f64]| Summary::of(v).map(|s| round(s.mean));
        assert_eq!(logged(&conn), avg_conn, "{mode}");
        assert_eq!(logged(&data), avg_data, "{mode}");
        match &log.last().expect("non-empty").event {
            ServerEvent::ServerStopped {
                connection_gaps: 2,
                data_gaps: 15,
                avg_connection_gap_ms,
                avg_data_gap_ms,
                ..
            } => {
                assert_eq!(avg_connection_gap_ms.map(round), avg_conn, "{mode}");
                assert_eq!(avg_data_gap_ms.map(round), avg_data, "{mode}");
            }
            other => panic!("{mode}: the log ends with {other:?}"),
        }
    }
}

#[test]
fn the_iterative_server_accepts_the_next_connection_after_the_previous_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = dir.path().join("s.jsonl");
    let server = Server::start("iter", &events);
    run_client(server.port, &["-w", "2", "-n", "3", "-d", "d", "-p", "0.1"]);
    let console = server.stop();

    let log: Vec<Record<ServerEvent>> = read_log(&events).expect("log");
    let order: Vec<&str> = log
        .iter()
        .filter_map(|r| match r.event {
            ServerEvent::ConnectionAccepted { .. } => Some("accept"),
            ServerEvent::ConnectionClosed { .. } => Some("close"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["accept", "close", "accept", "close"]);
    // The second connection waited for the whole first one: 3 deterministic 100 ms intervals.
    let (avg_conn, n) = printed_average(&console, "connection");
    assert_eq!(n, 1);
    let avg_conn = avg_conn.expect("one gap");
    assert!(avg_conn >= 300.0, "connection gap {avg_conn} ms");
}

#[test]
fn the_threaded_server_sees_the_client_schedule() {
    // 4 workers × 200 deterministic 5 ms intervals: the mean data gap is the schedule's,
    // because each worker sleeps to absolute deadlines and the server reads as lines arrive.
    let dir = tempfile::tempdir().expect("tempdir");
    let events = dir.path().join("s.jsonl");
    let server = Server::start("thr", &events);
    run_client(
        server.port,
        &["-w", "4", "-n", "200", "-d", "d", "-p", "0.005"],
    );
    let console = server.stop();
    let (avg_data, n) = printed_average(&console, "data");
    assert_eq!(n, 800);
    let avg_data = avg_data.expect("samples");
    assert!(
        (avg_data - 5.0).abs() <= 0.1,
        "mean data gap {avg_data} ms, want 5 ms ± 2%"
    );
}

/// `python3`, if this machine has one: the interop checks use a peer nobody here wrote.
fn python() -> Option<&'static str> {
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("python3 not found: skipping the interop check with a Python peer");
    }
    found.then_some("python3")
}

#[test]
fn a_plain_python_client_is_served_in_every_mode() {
    let Some(python) = python() else { return };
    for mode in MODES {
        let dir = tempfile::tempdir().expect("tempdir");
        let events = dir.path().join("s.jsonl");
        let mut server = Server::start(mode, &events);
        let script = format!(
            "import socket\n\
             s = socket.create_connection(('127.0.0.1', {}))\n\
             greeting = b''\n\
             while not greeting.endswith(b'\\n'):\n\
             \x20   greeting += s.recv(64)\n\
             print(greeting.decode().strip())\n\
             s.sendall(b'hello from python\\n')\n\
             s.sendall(b'second\\r\\nfragment')\n\
             s.close()\n",
            server.port
        );
        let out = Command::new(python)
            .args(["-c", &script])
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "Hello! You are connected to the server."
        );
        server.wait_for("[x] Connection closed for ");
        server.stop();
        let texts: Vec<String> = read_log::<ServerEvent>(&events)
            .expect("log")
            .into_iter()
            .filter_map(|r| match r.event {
                ServerEvent::MessageReceived { text, .. } => Some(text),
                _ => None,
            })
            .collect();
        assert_eq!(texts, ["hello from python", "second", "fragment"], "{mode}");
    }
}

#[test]
fn our_client_works_against_a_plain_python_server() {
    let Some(python) = python() else { return };
    let script = "import socket, sys\n\
                  srv = socket.create_server(('127.0.0.1', 0))\n\
                  print(srv.getsockname()[1], flush=True)\n\
                  c, _ = srv.accept()\n\
                  c.sendall(b'Hello! You are connected to the server.\\n')\n\
                  data = b''\n\
                  while True:\n\
                  \x20   chunk = c.recv(4096)\n\
                  \x20   if not chunk:\n\
                  \x20       break\n\
                  \x20   data += chunk\n\
                  print(data.decode(), end='')\n";
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut port = String::new();
    stdout.read_line(&mut port).expect("port line");
    run_client(
        port.trim().parse().expect("a port"),
        &["-w", "1", "-n", "3", "-d", "d", "-p", "0.01"],
    );
    let received: Vec<String> = stdout.lines().map_while(Result::ok).collect();
    assert!(child.wait().expect("python exits").success());
    assert_eq!(received.len(), 3, "{received:?}");
    for (j, line) in received.iter().enumerate() {
        let m = arrivals::protocol::parse_message(line).expect("client format");
        assert_eq!((m.worker, m.event), (1, j as u32 + 1));
    }
}
