//! Floods: every mode, event log on, peers writing lines as fast as the socket takes them.
//! Nothing read may be lost between the read and the record: the lines sent, the count the
//! server prints, the `message_received` records and `server_stopped` agree exactly, and a
//! SIGINT in the middle of a flood keeps them in agreement (with what had arrived by then).

mod common;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::thread;

use arrivals::events::ServerEvent;
use arrivals::protocol::format_message;
use common::{Client, Server, Stopped, TIMEOUT};

/// Lines each peer sends in the complete flood.
const LINES: u32 = 40_000;
const PEERS: u32 = 3;

/// `LINES` messages of peer `worker`, newline-terminated, as one buffer.
fn flood_bytes(worker: u32, lines: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines as usize * 48);
    for event in 1..=lines {
        out.extend_from_slice(format_message(worker, event, 1_768_823_258_707).as_bytes());
        out.push(b'\n');
    }
    out
}

/// Message records per connection, in log order, as (seq, worker_event).
fn received(stopped: &Stopped) -> std::collections::BTreeMap<u64, Vec<(u64, Option<u32>)>> {
    let mut by_conn = std::collections::BTreeMap::<u64, Vec<(u64, Option<u32>)>>::new();
    for e in stopped.events_named("message_received") {
        let ServerEvent::MessageReceived {
            conn,
            seq,
            worker_event,
            ..
        } = e
        else {
            unreachable!()
        };
        by_conn
            .entry(*conn)
            .or_default()
            .push((*seq, *worker_event));
    }
    by_conn
}

/// The count on which the console and every record agree (see
/// [`Stopped::agreed_counts`]), after checking each message's number.
fn agreed_count(stopped: &Stopped, numbered: bool) -> u64 {
    let printed = stopped.agreed_counts().messages;
    // Every connection's records are its lines in order, none skipped or repeated (the
    // message numbers run on when the peer sent each line once). Only a connection's last
    // record may be a fragment: the part of a line that had arrived when the stop came.
    for (conn, records) in received(stopped) {
        for (k, &(seq, event)) in records.iter().enumerate() {
            assert_eq!(seq, k as u64 + 1, "conn {conn}");
            let last = k + 1 == records.len();
            match event {
                Some(event) if numbered => assert_eq!(u64::from(event), seq, "conn {conn}"),
                Some(_) => {}
                None => assert!(last && !numbered, "conn {conn}: message {seq} is not whole"),
            }
        }
    }
    printed
}

/// `PEERS` peers each send `LINES` lines, close, and wait until the server has closed too.
fn flood_to_the_end(port: u16) {
    let peers: Vec<_> = (1..=PEERS)
        .map(|w| {
            thread::spawn(move || {
                let mut c = Client::connect_quiet(port);
                c.send_raw(&flood_bytes(w, LINES));
                c.close();
            })
        })
        .collect();
    for p in peers {
        p.join().expect("peer");
    }
}

fn a_complete_flood_is_counted_exactly(mode: &str) {
    let server = Server::start(mode, &[]);
    flood_to_the_end(server.port);
    let stopped = server.stop(libc::SIGINT);
    assert_eq!(
        agreed_count(&stopped, true),
        u64::from(PEERS * LINES),
        "{mode}"
    );
}

fn a_sigint_mid_flood_loses_nothing_read(mode: &str) {
    let server = Server::start(mode, &[]);
    let port = server.port;
    let blocks: Vec<Vec<u8>> = (1..=PEERS).map(|w| flood_bytes(w, 10_000)).collect();
    // Peers that keep writing until the server closes their connection (then the write
    // fails): the stop always comes in the middle of their flood.
    let (done_tx, done) = mpsc::channel();
    for block in blocks {
        let done_tx = done_tx.clone();
        thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            while s.write_all(&block).is_ok() {}
            let _ = s.shutdown(Shutdown::Both);
            let _ = done_tx.send(());
        });
    }
    // The flood is being measured once the log holds a message (it is written within 100 ms).
    server.wait_for_log("\"message_received\"");
    let stopped = server.stop(libc::SIGINT);
    // A stopped server releases every peer: its writes fail at once, none waits for a
    // TCP timeout. (In iter mode the peers still in the backlog are reset when the
    // listening socket closes.)
    for k in 0..PEERS {
        done.recv_timeout(TIMEOUT).unwrap_or_else(|_| {
            panic!("{mode}: peer {k} still blocked {TIMEOUT:?} after the stop")
        });
    }
    assert!(agreed_count(&stopped, false) > 0, "{mode}");
}

/// Without an event log and without `-v` nothing prints or logs the messages' text: a
/// `proc` worker then reports counts and instants only. The counts stay exact.
fn a_flood_without_a_log_is_counted_exactly(mode: &str) {
    let server = Server::start_without_log(mode, &[]);
    flood_to_the_end(server.port);
    let stopped = server.stop_unlogged(libc::SIGINT);
    assert!(stopped.status.success(), "{mode}: {}", stopped.stderr);
    let (_, printed) = stopped.printed_average("Average data inter-arrival time:");
    assert_eq!(printed, u64::from(PEERS * LINES), "{mode}");
    let (_, gaps) = stopped.printed_average("Average connection inter-arrival time:");
    assert_eq!(gaps, u64::from(PEERS - 1), "{mode}");
}

common::in_every_mode!(
    a_complete_flood_is_counted_exactly,
    a_sigint_mid_flood_loses_nothing_read,
    a_flood_without_a_log_is_counted_exactly,
);
