//! The `server` binary as a user runs it: started on port 0, driven by plain TCP clients,
//! stopped with SIGINT or SIGTERM, judged by its console and its event log.

mod common;

use std::thread;
use std::time::Duration;

use arrivals::events::{CloseReason, ServerEvent};
use common::{Client, Server, Stopped, children_of, closes, errors, process_exists, run_to_end};

const SPACING: Duration = Duration::from_millis(2);

common::in_every_mode!(
    three_connections_of_five_messages,
    connections_open_at_sigterm_are_counted,
    an_overlong_line_fails_only_its_connection,
    odd_content_is_counted_decoded_and_escaped,
    a_peer_that_leaves_at_once_is_counted,
    an_idle_peer_is_closed_after_the_idle_timeout,
);

/// Index in the log of the first event matching `pred`.
fn position(stopped: &Stopped, pred: impl Fn(&ServerEvent) -> bool) -> usize {
    stopped
        .events
        .iter()
        .position(|r| pred(&r.event))
        .expect("event in the log")
}

fn an_idle_peer_is_closed_after_the_idle_timeout(mode: &str) {
    let mut server = Server::start(mode, &["--idle-timeout", "1"]);
    // A peer that sends one message and then nothing (a slowloris, a stuck client).
    let mut stuck = Client::connect(server.port);
    stuck.send_raw(b"one\n");
    // In iter mode the next peer waits in the backlog until the stuck one is let go (its
    // own idle time counts from its accept); elsewhere it comes after the stuck one's end.
    let early = (mode == "iter").then(|| Client::connect_quiet(server.port));
    server.wait_closed(1);
    stuck.wait_eof();
    let mut next = early.unwrap_or_else(|| Client::connect_quiet(server.port));
    next.send_raw(b"two\n");
    let next = next.expect_greeting();
    next.close();
    server.wait_closed(2);
    let stopped = server.stop(libc::SIGINT);
    assert_eq!(stopped.assert_clean_stop(), (1, 2));
    let idle = errors(&stopped);
    assert_eq!(idle.len(), 1, "{idle:?}");
    assert_eq!(idle[0].0, 1);
    assert!(
        idle[0]
            .1
            .contains("nothing received for 1 s (--idle-timeout)"),
        "{idle:?}"
    );
    let mut closed = closes(&stopped);
    closed.sort_by_key(|c| c.0);
    assert_eq!(
        closed,
        [(1, 1, CloseReason::Error), (2, 1, CloseReason::PeerClosed)]
    );
}

fn three_connections_of_five_messages(mode: &str) {
    let mut server = Server::start(mode, &[]);
    let port = server.port;
    let clients: Vec<_> = (1..=3)
        .map(|worker| {
            thread::spawn(move || {
                let mut c = Client::connect(port);
                c.send_events(worker, 5, SPACING);
                c.close();
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client");
    }
    server.wait_closed(3);
    let pid = server.pid;
    let stopped = server.stop(libc::SIGINT);

    assert_eq!(stopped.assert_clean_stop(), (2, 15));
    assert!(stopped.lines[0].starts_with(&format!(
        "Parsed CLI arguments: {{'address': '127.0.0.1', 'port': 0, 'concurrency_mode': '{mode}', "
    )));
    let ready = if mode == "iter" {
        "iterative"
    } else {
        "concurrent"
    };
    assert_eq!(
        stopped.lines[1],
        format!("The {ready} TCP server is ready to receive (PID = {pid})")
    );
    assert!(stopped.lines[2].starts_with("Listening on 127.0.0.1:"));

    let count = |prefix: &str| {
        stopped
            .lines
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    };
    if mode == "iter" {
        assert_eq!(count("[+] New connection from 127.0.0.1:"), 3);
    } else {
        assert_eq!(
            count("[+] New server socket worker spawned for client 127.0.0.1:"),
            3
        );
        for line in stopped
            .lines
            .iter()
            .filter(|l| l.starts_with("Thread ID: "))
        {
            let ids: Vec<u32> = line
                .split(" - ")
                .map(|part| {
                    part.rsplit(' ')
                        .next()
                        .and_then(|n| n.parse().ok())
                        .expect("id")
                })
                .collect();
            assert_eq!(ids.len(), 3, "{line}");
            if mode == "proc" {
                assert_ne!(ids[1], pid, "a worker process: {line}");
                assert_eq!(ids[2], pid, "child of the server: {line}");
            } else {
                assert_eq!(ids[1], pid, "{line}");
            }
        }
        assert_eq!(count("Thread ID: "), 3);
    }
    assert_eq!(count("[x] Connection closed for 127.0.0.1:"), 3);

    assert_eq!(stopped.events_named("connection_accepted").len(), 3);
    let messages = stopped.events_named("message_received");
    assert_eq!(messages.len(), 15);
    for m in messages {
        let ServerEvent::MessageReceived {
            worker,
            worker_event,
            sent_unix_ms,
            latency_ms,
            lossy,
            gap_ms,
            ..
        } = m
        else {
            unreachable!()
        };
        assert!(worker.is_some() && worker_event.is_some() && sent_unix_ms.is_some());
        assert!(latency_ms.is_some_and(|l| l > -5.0 && l < 5_000.0), "{m:?}");
        assert!(!lossy && *gap_ms >= 0.0);
    }
    // The kernel had every message before the server read it: its receive instant is no
    // later than the read's, and the delay the mode added is not negative. (The kernel
    // turns host-wide receive stamping on asynchronously when the server first asks, so a
    // message may come unstamped; most carry the instant.)
    let mut stamped = 0;
    for r in &stopped.events {
        let ServerEvent::MessageReceived {
            seq,
            kernel_unix_ms,
            kernel_gap_ms,
            server_delay_ms,
            ..
        } = &r.event
        else {
            continue;
        };
        let Some(kernel) = *kernel_unix_ms else {
            assert!(
                server_delay_ms.is_none() && kernel_gap_ms.is_none(),
                "{mode}: {r:?}"
            );
            continue;
        };
        stamped += 1;
        let delay = server_delay_ms.expect("a server delay");
        assert!(
            kernel <= r.unix_ms,
            "{mode}: kernel {kernel} after the read {}",
            r.unix_ms
        );
        assert!(delay >= 0.0, "{mode}: negative delay {delay}");
        // Equal up to the float precision of Unix milliseconds (~0.25 µs).
        assert!((r.unix_ms - kernel - delay).abs() < 1e-3, "{mode}: {r:?}");
        assert!(*seq > 1 || kernel_gap_ms.is_none(), "{mode}: {r:?}");
        assert!(kernel_gap_ms.is_none_or(|g| g >= 0.0), "{mode}: {r:?}");
    }
    assert!(
        stamped > 0,
        "{mode}: no message carries a kernel receive instant"
    );
    for (_, messages, reason) in closes(&stopped) {
        assert_eq!((messages, reason), (5, CloseReason::PeerClosed));
    }
    assert!(errors(&stopped).is_empty(), "{:?}", errors(&stopped));
}

fn connections_open_at_sigterm_are_counted(mode: &str) {
    let mut server = Server::start(mode, &["-v"]);
    let mut a = Client::connect(server.port);
    a.send_events(1, 3, SPACING);
    // In iter mode `b` waits in the backlog and is never served; elsewhere it is served.
    let mut b = Client::connect_quiet(server.port);
    b.send_events(2, 3, SPACING);
    let served = if mode == "iter" { 3 } else { 6 };
    server.wait_lines(served, |l| l.starts_with("Sentence \"Worker "));
    let stopped = server.stop(libc::SIGTERM);

    let accepted = if mode == "iter" { 1 } else { 2 };
    assert_eq!(stopped.assert_clean_stop(), (accepted - 1, served as u64));
    let expected: Vec<_> = (1..=accepted)
        .map(|conn| (conn, 3, CloseReason::ServerShutdown))
        .collect();
    let mut closed = closes(&stopped);
    closed.sort_by_key(|c| c.0);
    assert_eq!(closed, expected);
    // The server closed the connections it served.
    a.wait_eof();
    if mode != "iter" {
        b.wait_eof();
    }
}

fn an_overlong_line_fails_only_its_connection(mode: &str) {
    let mut server = Server::start(mode, &[]);
    let mut long = Client::connect(server.port);
    let flood = thread::spawn(move || {
        // The server closes the connection part way: the write may then fail.
        let _ = std::io::Write::write_all(&mut long.stream, &vec![b'x'; 1 << 20]);
        long.wait_eof();
    });
    let mut other = Client::connect(server.port);
    other.send_events(2, 3, SPACING);
    other.close();
    flood.join().expect("flood client");
    server.wait_closed(2);
    let stopped = server.stop(libc::SIGINT);

    assert_eq!(stopped.assert_clean_stop(), (1, 3));
    let errs = errors(&stopped);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, 1);
    assert!(
        errs[0].1.contains("--max-line-bytes (65536 bytes)"),
        "{errs:?}"
    );
    let mut closed = closes(&stopped);
    closed.sort_by_key(|c| c.0);
    assert_eq!(
        closed,
        vec![(1, 0, CloseReason::Error), (2, 3, CloseReason::PeerClosed)]
    );
    assert!(
        stopped
            .stderr
            .contains("[!] Connection error for 127.0.0.1:")
    );
}

fn odd_content_is_counted_decoded_and_escaped(mode: &str) {
    let mut server = Server::start(mode, &["-v"]);
    let mut c = Client::connect(server.port);
    let peer = c.local();
    c.send_raw(b"caf\xc3\xa9 \xff\xfe\r\n");
    c.send_raw(b"\x1b[31mred\x1b[0m\n");
    c.send_raw(b"tail without newline");
    c.close();
    server.wait_closed(1);
    let stopped = server.stop(libc::SIGINT);

    assert_eq!(stopped.assert_clean_stop(), (0, 3));
    assert!(
        stopped.lines.contains(&format!(
            "Sentence \"\\u{{1b}}[31mred\\u{{1b}}[0m\" received from {peer}"
        )),
        "{:#?}",
        stopped.lines
    );
    assert!(stopped.lines.iter().all(|l| !l.contains('\x1b')));
    let got: Vec<(usize, String, bool)> = stopped
        .events_named("message_received")
        .into_iter()
        .map(|e| match e {
            ServerEvent::MessageReceived {
                bytes, text, lossy, ..
            } => (*bytes, text.clone(), *lossy),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (8, "café \u{FFFD}\u{FFFD}".to_owned(), true),
            (12, "\x1b[31mred\x1b[0m".to_owned(), false),
            (20, "tail without newline".to_owned(), false),
        ]
    );
}

fn a_peer_that_leaves_at_once_is_counted(mode: &str) {
    let mut server = Server::start(mode, &[]);
    drop(std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect"));
    let mut c = Client::connect(server.port);
    c.send_events(1, 2, SPACING);
    c.close();
    server.wait_closed(2);
    let stopped = server.stop(libc::SIGINT);

    assert_eq!(stopped.assert_clean_stop(), (1, 2));
    assert_eq!(stopped.events_named("connection_accepted").len(), 2);
    let closed = closes(&stopped);
    assert_eq!(closed.len(), 2);
    assert!(
        closed.contains(&(2, 2, CloseReason::PeerClosed)),
        "{closed:?}"
    );
}

#[test]
fn iterative_mode_serves_one_connection_at_a_time() {
    let mut server = Server::start("iter", &[]);
    let mut first = Client::connect(server.port);
    first.send_events(1, 2, SPACING);
    // Connects at once (the kernel's backlog) and sends, but is not served yet.
    let mut second = Client::connect_quiet(server.port);
    second.send_events(2, 2, SPACING);
    first.close();
    let second = second.expect_greeting();
    second.close();
    server.wait_closed(2);
    let stopped = server.stop(libc::SIGINT);

    assert_eq!(stopped.assert_clean_stop(), (1, 4));
    let first_closed = position(&stopped, |e| {
        matches!(e, ServerEvent::ConnectionClosed { conn: 1, .. })
    });
    let second_accepted = position(&stopped, |e| {
        matches!(e, ServerEvent::ConnectionAccepted { conn: 2, .. })
    });
    assert!(first_closed < second_accepted, "{:#?}", stopped.events);
}

#[test]
fn max_connections_keeps_extra_peers_in_the_backlog() {
    for mode in ["thr", "proc", "async"] {
        let mut server = Server::start(mode, &["--max-connections", "1"]);
        let mut a = Client::connect(server.port);
        a.send_events(1, 1, SPACING);
        let mut b = Client::connect_quiet(server.port);
        b.send_events(2, 1, SPACING);
        a.close();
        let b = b.expect_greeting();
        b.close();
        server.wait_closed(2);
        // A full server must still stop while a peer waits in the backlog.
        let _held = Client::connect(server.port);
        let _waiting = Client::connect_quiet(server.port);
        server.wait_lines(3, |l| l.starts_with("[+] New server socket worker"));
        let stopped = server.stop(libc::SIGINT);

        assert_eq!(stopped.assert_clean_stop(), (2, 2), "{mode}");
        assert_eq!(
            stopped.events_named("connection_accepted").len(),
            3,
            "{mode}"
        );
        let a_closed = position(&stopped, |e| {
            matches!(e, ServerEvent::ConnectionClosed { conn: 1, .. })
        });
        let b_accepted = position(&stopped, |e| {
            matches!(e, ServerEvent::ConnectionAccepted { conn: 2, .. })
        });
        assert!(a_closed < b_accepted, "{mode}: {:#?}", stopped.events);
    }
}

#[test]
fn a_killed_worker_process_is_logged_and_the_server_goes_on() {
    let mut server = Server::start("proc", &["-v"]);
    let mut a = Client::connect(server.port);
    let a_peer = a.local();
    a.send_events(1, 1, SPACING);
    server.wait_line(|l| l.starts_with("Sentence \"Worker 1, Event 1"));
    let thread_line = server.wait_line(|l| l.starts_with("Thread ID: "));
    let worker: u32 = thread_line
        .split(" - ")
        .nth(1)
        .and_then(|p| p.strip_prefix("PID: "))
        .and_then(|p| p.parse().ok())
        .expect("worker pid");
    assert_ne!(worker, server.pid);
    common::signal(worker, libc::SIGKILL);
    server.wait_line(|l| *l == format!("[x] Connection closed for {a_peer}"));
    a.wait_eof();

    let mut b = Client::connect(server.port);
    b.send_events(2, 2, SPACING);
    b.close();
    server.wait_closed(2);
    // Every worker has been reaped by now: none is left, not even as a zombie.
    assert_eq!(children_of(server.pid), Vec::<u32>::new());
    let stopped = server.stop(libc::SIGINT);

    assert_eq!(stopped.assert_clean_stop(), (1, 3));
    assert_eq!(
        errors(&stopped),
        vec![(
            1,
            format!("worker process {worker} was killed by signal 9 (SIGKILL)")
        )]
    );
    assert_eq!(
        closes(&stopped),
        vec![(1, 1, CloseReason::Error), (2, 2, CloseReason::PeerClosed)]
    );
    assert!(!process_exists(worker));
}

#[test]
fn a_port_in_use_is_one_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = run_to_end(&["-a", "127.0.0.1", "-p", &port]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("Error: cannot bind 127.0.0.1:{port}: Address already in use (os error 98)\n")
    );
}

#[test]
fn an_unwritable_event_file_is_one_clear_error() {
    let out = run_to_end(&["-p", "0", "--events", "/nonexistent-dir/e.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error: cannot create --events file /nonexistent-dir/e.jsonl: \
         No such file or directory (os error 2)\n"
    );
}

#[test]
fn a_lost_event_log_makes_the_stop_fail() {
    // /dev/full opens, and every write to it fails.
    let mut server = Server::start_with_log("thr", std::path::Path::new("/dev/full"), &[]);
    let mut c = Client::connect(server.port);
    c.send_events(1, 3, SPACING);
    c.close();
    server.wait_closed(1);
    let (status, stderr) = server.stop_status(libc::SIGINT);
    assert!(!status.success(), "a run with a lost event log exited 0");
    assert!(stderr.contains("cannot write the event log"), "{stderr}");
    assert!(stderr.contains("/dev/full is incomplete"), "{stderr}");
}

#[test]
fn bad_flag_values_are_refused_before_binding() {
    for args in [
        &["--max-connections", "0"][..],
        &["--max-line-bytes", "0"],
        &["-m", "fork"],
    ] {
        let out = run_to_end(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(args[0]), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn help_lists_the_spec_flags_and_hides_the_worker_flag() {
    let out = run_to_end(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--address",
        "--port",
        "--concurrency-mode",
        "--verbose",
        "--events",
        "--max-connections",
        "--max-line-bytes",
    ] {
        assert!(help.contains(flag), "{flag} in:\n{help}");
    }
    assert!(!help.contains("serve-connection"));
}
