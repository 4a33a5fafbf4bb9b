//! `docs/events.md` must document exactly the events and fields the serde types write.

use std::collections::BTreeSet;

use arrivals::events::{ClientEvent, CloseReason, Record, ServerEvent};
use serde::Serialize;

/// Every variant with every optional field present.
fn server_samples() -> Vec<ServerEvent> {
    vec![
        ServerEvent::ServerStarted {
            mode: "thr".into(),
            address: "127.0.0.1".into(),
            port: 1,
            pid: 1,
            max_connections: 1,
            max_line_bytes: 1,
        },
        ServerEvent::ConnectionAccepted {
            conn: 1,
            peer: "p".into(),
            pid: 1,
            tid: 1,
            gap_ms: Some(1.0),
        },
        ServerEvent::MessageReceived {
            conn: 1,
            seq: 1,
            bytes: 1,
            text: "t".into(),
            lossy: false,
            gap_ms: 1.0,
            worker: Some(1),
            worker_event: Some(1),
            sent_unix_ms: Some(1),
            latency_ms: Some(1.0),
            kernel_unix_ms: Some(1.0),
            kernel_gap_ms: Some(1.0),
            server_delay_ms: Some(1.0),
        },
        ServerEvent::ConnectionClosed {
            conn: 1,
            messages: 1,
            reason: CloseReason::PeerClosed,
        },
        ServerEvent::ConnectionError {
            conn: 1,
            error: "e".into(),
        },
        ServerEvent::ServerStopped {
            connections: 1,
            messages: 1,
            connection_gaps: 1,
            avg_connection_gap_ms: Some(1.0),
            data_gaps: 1,
            avg_data_gap_ms: Some(1.0),
        },
    ]
}

fn client_samples() -> Vec<ClientEvent> {
    vec![
        ClientEvent::ClientStarted {
            workers: 1,
            intervals: 1,
            dist: "d".into(),
            param: 1.0,
            shape: Some(1.0),
            connect: Some("c".into()),
            seed: 1,
            server: "s".into(),
            port: 1,
        },
        ClientEvent::WorkerConnected {
            worker: 1,
            local: "l".into(),
            peer: "p".into(),
            connect_unix_ms: 1.0,
            connect_ms: 1.0,
        },
        ClientEvent::MessageSent {
            worker: 1,
            seq: 1,
            interval_ms: 1.0,
            scheduled_ms: 1.0,
            actual_ms: 1.0,
            lateness_ms: 0.0,
            sent_unix_ms: 1,
        },
        ClientEvent::WorkerFinished {
            worker: 1,
            messages: 1,
        },
        ClientEvent::WorkerError {
            worker: 1,
            messages: 1,
            error: "e".into(),
        },
        ClientEvent::ClientFinished {
            workers_ok: 1,
            workers_failed: 0,
        },
    ]
}

/// `(event name, its field names)` as serde writes them, common fields removed.
fn fields<E: Serialize>(event: E) -> (String, BTreeSet<String>) {
    let record = Record {
        t_ms: 0.0,
        unix_ms: 0.0,
        event,
    };
    let value = serde_json::to_value(&record).expect("serialises");
    let object = value.as_object().expect("an object");
    let name = object["event"].as_str().expect("tag").to_owned();
    let keys = object
        .keys()
        .filter(|k| !["event", "t_ms", "unix_ms"].contains(&k.as_str()))
        .cloned()
        .collect();
    (name, keys)
}

/// The sections of the doc: `### \`name\`` heading to the `` `field` `` first cells of its table.
fn documented() -> Vec<(String, BTreeSet<String>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/events.md");
    let doc = std::fs::read_to_string(path).expect("docs/events.md exists");
    let mut out: Vec<(String, BTreeSet<String>)> = Vec::new();
    for line in doc.lines() {
        if let Some(name) = line.strip_prefix("### `").and_then(|l| l.strip_suffix('`')) {
            out.push((name.to_owned(), BTreeSet::new()));
        } else if let (Some(section), Some(cell)) = (out.last_mut(), line.strip_prefix("| `"))
            && let Some((field, _)) = cell.split_once('`')
        {
            section.1.insert(field.to_owned());
        }
    }
    out
}

#[test]
fn the_event_doc_matches_the_serde_types() {
    let mut actual: Vec<(String, BTreeSet<String>)> =
        server_samples().into_iter().map(fields).collect();
    actual.extend(client_samples().into_iter().map(fields));
    assert_eq!(documented(), actual);
}

#[test]
fn every_variant_has_a_sample() {
    let names: BTreeSet<&str> = server_samples().iter().map(ServerEvent::name).collect();
    assert_eq!(
        names.len(),
        6,
        "add the new server event to the samples and the doc"
    );
    let names: BTreeSet<&str> = client_samples().iter().map(ClientEvent::name).collect();
    assert_eq!(
        names.len(),
        6,
        "add the new client event to the samples and the doc"
    );
}
