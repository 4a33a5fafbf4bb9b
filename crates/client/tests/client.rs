//! The client against a plain line-reading server written here (the interop check: our
//! client speaks plain lines), and the client's refusals and per-worker errors.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use arrivals::events::{ClientEvent, Record, read_log};
use arrivals::protocol::{GREETING, parse_message};

const CLIENT: &str = env!("CARGO_BIN_EXE_client");

/// What a plain server saw on one connection.
struct Seen {
    lines: Vec<String>,
}

/// A plain line server: greets each connection, collects its lines until EOF. At most
/// `max_lines` lines are read per connection before it hangs up (to simulate a lost server).
fn plain_server(max_lines: usize) -> (u16, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let tx = tx.clone();
            thread::spawn(move || {
                stream.write_all(GREETING.as_bytes()).ok();
                let mut lines = Vec::new();
                let reader = BufReader::new(stream.try_clone().expect("clone"));
                for line in reader.lines() {
                    let Ok(line) = line else { break };
                    lines.push(line);
                    if lines.len() == max_lines {
                        break;
                    }
                }
                drop(stream);
                tx.send(Seen { lines }).ok();
            });
        }
    });
    (port, rx)
}

fn client(args: &[&str]) -> Output {
    Command::new(CLIENT)
        .args(args)
        .output()
        .expect("run client")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sent_events(path: &std::path::Path) -> Vec<Record<ClientEvent>> {
    read_log(path).expect("client log parses")
}

#[test]
fn three_workers_send_their_timestamps_to_a_plain_server() {
    let (port, seen) = plain_server(usize::MAX);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("c.jsonl");
    let port_s = port.to_string();
    let out = client(&[
        "-w",
        "3",
        "-n",
        "5",
        "-d",
        "d",
        "-p",
        "0.01",
        "-s",
        "127.0.0.1",
        "-P",
        &port_s,
        "--seed",
        "9",
        "-v",
        "--events",
        log.to_str().expect("utf8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let console = stdout(&out);
    assert!(console.contains(&format!(
        "Starting 3 threads connecting to 127.0.0.1:{port}..."
    )));
    assert!(
        console
            .contains("[Worker 2] Connected. Server says: Hello! You are connected to the server.")
    );
    assert!(console.contains("[Worker 3] Sending: Worker 3, Event 5, Timestamp "));
    assert_eq!(
        console
            .matches("Task completed and connection closed.")
            .count(),
        3
    );
    assert!(console.trim_end().ends_with("All workers have finished."));

    let mut per_worker = Vec::new();
    for _ in 0..3 {
        let conn = seen
            .recv_timeout(Duration::from_secs(10))
            .expect("a connection ends");
        let parsed: Vec<_> = conn
            .lines
            .iter()
            .map(|l| parse_message(l).expect("client format"))
            .collect();
        assert_eq!(
            parsed.iter().map(|m| m.event).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        per_worker.push(parsed[0].worker);
    }
    per_worker.sort_unstable();
    assert_eq!(per_worker, vec![1, 2, 3]);

    let events = sent_events(&log);
    let sent: Vec<_> = events
        .iter()
        .filter_map(|r| match &r.event {
            ClientEvent::MessageSent {
                interval_ms,
                lateness_ms,
                scheduled_ms,
                actual_ms,
                ..
            } => Some((*interval_ms, *lateness_ms, *scheduled_ms, *actual_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 15);
    for (interval, lateness, scheduled, actual) in sent {
        assert_eq!(interval, 10.0);
        assert!(lateness >= 0.0);
        assert!((actual - scheduled - lateness).abs() < 1e-6);
    }
    assert!(matches!(
        events.last().map(|r| &r.event),
        Some(ClientEvent::ClientFinished {
            workers_ok: 3,
            workers_failed: 0
        })
    ));
}

#[test]
fn a_seed_reproduces_the_schedule_and_is_printed_when_not_given() {
    let (port, _seen) = plain_server(usize::MAX);
    let dir = tempfile::tempdir().expect("tempdir");
    let port_s = port.to_string();
    let intervals = |name: &str, seed: Option<&str>| {
        let log = dir.path().join(name);
        let mut args = vec![
            "-w",
            "2",
            "-n",
            "4",
            "-d",
            "e",
            "-p",
            "500",
            "-s",
            "127.0.0.1",
            "-P",
            &port_s,
            "--events",
            log.to_str().expect("utf8"),
        ];
        if let Some(seed) = seed {
            args.extend(["--seed", seed]);
        }
        let out = client(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let mut v: Vec<(u32, u32, f64)> = sent_events(&log)
            .into_iter()
            .filter_map(|r| match r.event {
                ClientEvent::MessageSent {
                    worker,
                    seq,
                    interval_ms,
                    ..
                } => Some((worker, seq, interval_ms)),
                _ => None,
            })
            .collect();
        v.sort_by_key(|a| (a.0, a.1));
        (v, stdout(&out))
    };
    let (a, _) = intervals("a.jsonl", Some("1234"));
    let (b, _) = intervals("b.jsonl", Some("1234"));
    assert_eq!(a.len(), 8);
    assert_eq!(a, b);
    let (c, console) = intervals("c.jsonl", None);
    assert_ne!(a, c);
    let seed_line = console
        .lines()
        .find(|l| l.starts_with("Seed: "))
        .expect("seed printed");
    let seed = seed_line["Seed: ".len()..].split(' ').next().expect("seed");
    let (d, _) = intervals("d.jsonl", Some(seed));
    assert_eq!(c, d, "the printed seed reproduces the schedule");
}

#[test]
fn invalid_parameters_are_refused_before_connecting() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    for (dist, param, why) in [
        ("e", "0", "rate must be greater than zero"),
        ("u", "-1", "must not be negative"),
        ("d", "nan", "finite"),
        ("x", "1", "unknown distribution 'x'"),
    ] {
        let out = client(&[
            "-w",
            "1",
            "-n",
            "1",
            "-d",
            dist,
            "-p",
            param,
            "-s",
            "127.0.0.1",
            "-P",
            &port,
        ]);
        assert!(!out.status.success(), "-d {dist} -p {param} accepted");
        let err = stderr(&out);
        assert!(err.contains(why), "-d {dist} -p {param}: {err}");
        assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    }
    listener.set_nonblocking(true).expect("nonblocking");
    assert!(
        listener.accept().is_err(),
        "a refused client must not connect"
    );
}

#[test]
fn an_unreachable_server_is_a_per_worker_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let out = client(&[
        "-w",
        "2",
        "-n",
        "3",
        "-d",
        "d",
        "-p",
        "0.01",
        "-s",
        "127.0.0.1",
        "-P",
        &port.to_string(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("[Worker 1] Error: cannot connect to 127.0.0.1:"),
        "{err}"
    );
    assert!(
        err.contains("[Worker 2] Error: cannot connect to 127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("Error: 2 of 2 workers failed"), "{err}");
    assert!(stdout(&out).contains("All workers have finished."));
}

#[test]
fn a_connection_lost_mid_run_fails_that_worker_only() {
    // The server hangs up after two lines: the worker must notice, say so, and fail.
    let (port, seen) = plain_server(2);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("c.jsonl");
    let out = client(&[
        "-w",
        "1",
        "-n",
        "40",
        "-d",
        "d",
        "-p",
        "0.01",
        "-s",
        "127.0.0.1",
        "-P",
        &port.to_string(),
        "--events",
        log.to_str().expect("utf8"),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("[Worker 1] Error: connection to 127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("lost after"), "{err}");
    assert_eq!(
        seen.recv_timeout(Duration::from_secs(10))
            .expect("conn")
            .lines
            .len(),
        2
    );
    let events = sent_events(&log);
    assert!(
        events
            .iter()
            .any(|r| matches!(r.event, ClientEvent::WorkerError { worker: 1, .. }))
    );
}

#[test]
fn a_connection_process_spaces_the_workers() {
    let (port, seen) = plain_server(usize::MAX);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("c.jsonl");
    let out = client(&[
        "-w",
        "3",
        "-n",
        "1",
        "-d",
        "d",
        "-p",
        "0",
        "--connect-dist",
        "d",
        "--connect-param",
        "0.05",
        "-s",
        "127.0.0.1",
        "-P",
        &port.to_string(),
        "--events",
        log.to_str().expect("utf8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for _ in 0..3 {
        seen.recv_timeout(Duration::from_secs(10)).expect("conn");
    }
    let events = sent_events(&log);
    let Some(ClientEvent::ClientStarted { connect, .. }) = events.first().map(|r| &r.event) else {
        panic!("the log starts with client_started: {events:?}");
    };
    assert_eq!(connect.as_deref(), Some("deterministic 50 ms"));
    let started_ms = events[0].t_ms;
    let mut connected: Vec<(u32, f64)> = events
        .iter()
        .filter_map(|r| match r.event {
            ClientEvent::WorkerConnected { worker, .. } => Some((worker, r.t_ms)),
            _ => None,
        })
        .collect();
    connected.sort_by_key(|c| c.0);
    assert_eq!(connected.len(), 3);
    // Worker k is scheduled 50 ms × (k − 1) after the common start, which comes after
    // `client_started`; a worker can connect late (a loaded machine) but never early.
    for (worker, t_ms) in connected {
        let earliest = started_ms + 50.0 * f64::from(worker - 1);
        assert!(
            t_ms >= earliest,
            "worker {worker} at {t_ms} ms, before {earliest} ms"
        );
    }
}

#[test]
fn a_lost_event_log_is_a_failed_run() {
    let (port, seen) = plain_server(usize::MAX);
    let port = port.to_string();
    // /dev/full opens, and every write to it fails.
    let out = client(&[
        "-w",
        "2",
        "-n",
        "3",
        "-d",
        "d",
        "-p",
        "0.001",
        "-s",
        "127.0.0.1",
        "-P",
        &port,
        "--events",
        "/dev/full",
    ]);
    assert!(!out.status.success(), "exit 0 with a lost log");
    assert!(
        stderr(&out).contains("cannot write the event log"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("event log is incomplete"),
        "{}",
        stderr(&out)
    );
    // The workers themselves were not stopped by it.
    for _ in 0..2 {
        let s = seen
            .recv_timeout(Duration::from_secs(10))
            .expect("a connection");
        assert_eq!(s.lines.len(), 3);
    }
}

#[test]
fn spin_is_bounded_and_sends_on_time() {
    let out = client(&[
        "-w",
        "1",
        "-n",
        "1",
        "-d",
        "d",
        "-p",
        "0.01",
        "-s",
        "127.0.0.1",
        "--spin-us",
        "2000000",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--spin-us must be at most 1000000"),
        "{}",
        stderr(&out)
    );
    let (port, seen) = plain_server(usize::MAX);
    let port = port.to_string();
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("c.jsonl");
    let out = client(&[
        "-w",
        "1",
        "-n",
        "20",
        "-d",
        "d",
        "-p",
        "0.002",
        "-s",
        "127.0.0.1",
        "-P",
        &port,
        "--spin-us",
        "500",
        "--events",
        log.to_str().expect("utf8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = seen
        .recv_timeout(Duration::from_secs(10))
        .expect("a connection");
    assert_eq!(s.lines.len(), 20);
    // Spinning never sends early.
    for r in sent_events(&log) {
        if let ClientEvent::MessageSent { lateness_ms, .. } = r.event {
            assert!(lateness_ms >= 0.0);
        }
    }
}

#[test]
fn a_schedule_beyond_the_clock_is_refused_before_connecting() {
    // Before, the deadline arithmetic wrapped and all three messages left at once (exit 0).
    let out = client(&[
        "-w",
        "1",
        "-n",
        "3",
        "-d",
        "d",
        "-p",
        "1e12",
        "-s",
        "127.0.0.1",
        "-P",
        "9",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("beyond the monotonic clock's range"),
        "{}",
        stderr(&out)
    );
    let out = client(&[
        "-w",
        "1000000000",
        "-n",
        "3",
        "-d",
        "d",
        "-p",
        "1",
        "-s",
        "127.0.0.1",
        "-P",
        "9",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("open-file limit"), "{}", stderr(&out));
}

#[test]
fn a_server_that_never_greets_is_a_timeout_naming_the_phase() {
    // The kernel completes the handshake; nobody ever accepts or greets.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let out = client(&[
        "-w",
        "2",
        "-n",
        "3",
        "-d",
        "d",
        "-p",
        "0.01",
        "-s",
        "127.0.0.1",
        "-P",
        &port,
        "--io-timeout",
        "0.3",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches("no greeting within 0.3 s (--io-timeout)")
            .count(),
        2,
        "{err}"
    );
    assert!(err.contains("2 of 2 workers failed"), "{err}");
    drop(listener);
    let out = client(&[
        "-w",
        "1",
        "-n",
        "1",
        "-d",
        "d",
        "-p",
        "1",
        "-s",
        "127.0.0.1",
        "--connect-timeout",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--connect-timeout must be between"),
        "{}",
        stderr(&out)
    );
}
