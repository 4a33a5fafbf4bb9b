//! The JSON Lines event schema of server and client logs (documented in `docs/events.md`),
//! and the buffered file that appends complete lines (written by one thread per process,
//! see [`crate::writer`]).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::clock::{MonoNs, ProcessClock};
use crate::protocol::parse_message;
use serde::{Deserialize, Serialize};
use serde_json::ser::{CompactFormatter, Formatter};

/// One line of an event log: when it happened on both clocks, and what happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record<E> {
    /// Monotonic milliseconds since the writing process started.
    pub t_ms: f64,
    /// Wall-clock milliseconds since the Unix epoch.
    pub unix_ms: f64,
    #[serde(flatten)]
    pub event: E,
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The peer closed its side (end of stream).
    PeerClosed,
    /// The server was stopping and closed the connection.
    ServerShutdown,
    /// A read error, an over-long line or a lost worker process ended it.
    Error,
}

/// Events of the server log (`server --events FILE`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ServerEvent {
    ServerStarted {
        /// `iter`, `thr`, `proc` or `async`.
        mode: String,
        address: String,
        /// The real bound port (never 0).
        port: u16,
        pid: u32,
        max_connections: usize,
        max_line_bytes: usize,
    },
    ConnectionAccepted {
        /// Connection id, counting from 1 in accept order.
        conn: u64,
        /// Peer `IP:PORT`.
        peer: String,
        /// Process and OS thread that serve the connection.
        pid: u32,
        tid: u64,
        /// Time since the previous accept; absent for the first connection.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gap_ms: Option<f64>,
    },
    MessageReceived {
        conn: u64,
        /// Message number on this connection, from 1.
        seq: u64,
        /// Bytes of the message without its line terminator.
        bytes: usize,
        /// The decoded text (lossy UTF-8).
        text: String,
        /// True when bytes that are not UTF-8 were replaced.
        lossy: bool,
        /// Time since the previous message on the connection, or since its accept.
        gap_ms: f64,
        /// Fields of a message in the client's format, when it parses.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker_event: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sent_unix_ms: Option<u64>,
        /// Receive wall-clock time minus `sent_unix_ms` (same-host clocks).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        latency_ms: Option<f64>,
        /// When the kernel received the data of the read that returned the message (wall
        /// clock); absent where the platform gives no receive timestamp.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kernel_unix_ms: Option<f64>,
        /// The data gap on the kernel's clock: time since the previous message's
        /// `kernel_unix_ms` on the connection (absent for the first message).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kernel_gap_ms: Option<f64>,
        /// The instant the server read the message (`unix_ms`) minus `kernel_unix_ms`: the
        /// delay the server's concurrency model added.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server_delay_ms: Option<f64>,
    },
    ConnectionClosed {
        conn: u64,
        /// Messages received on the connection.
        messages: u64,
        reason: CloseReason,
    },
    ConnectionError {
        conn: u64,
        error: String,
    },
    ServerStopped {
        connections: u64,
        messages: u64,
        /// Number and mean of connection gaps (`null` mean when there are none).
        connection_gaps: u64,
        avg_connection_gap_ms: Option<f64>,
        /// Number and mean of data gaps.
        data_gaps: u64,
        avg_data_gap_ms: Option<f64>,
    },
}

/// Events of the client log (`client --events FILE`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ClientEvent {
    ClientStarted {
        workers: u32,
        intervals: u32,
        /// Distribution name and parameters as `Distribution::describe` gives them.
        dist: String,
        param: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shape: Option<f64>,
        /// The connection process (`--connect-dist/--connect-param`) in words; absent when
        /// all workers connect at once.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connect: Option<String>,
        seed: u64,
        server: String,
        port: u16,
    },
    WorkerConnected {
        worker: u32,
        /// Local and remote `IP:PORT` of the worker's connection.
        local: String,
        peer: String,
        /// Wall-clock instant at which `connect` was called: the client side of a
        /// connection arrival (the server's accept may come much later, e.g. in `iter` mode).
        connect_unix_ms: f64,
        /// Time the connect call took.
        connect_ms: f64,
    },
    MessageSent {
        worker: u32,
        /// Event number, from 1.
        seq: u32,
        /// The interval drawn from the distribution for this event.
        interval_ms: f64,
        /// Scheduled and actual send instants, process `t_ms` clock.
        scheduled_ms: f64,
        actual_ms: f64,
        /// `actual_ms - scheduled_ms`.
        lateness_ms: f64,
        /// The timestamp written into the message.
        sent_unix_ms: u64,
    },
    WorkerFinished {
        worker: u32,
        messages: u32,
    },
    WorkerError {
        worker: u32,
        /// Messages sent before the error.
        messages: u32,
        error: String,
    },
    ClientFinished {
        workers_ok: u32,
        workers_failed: u32,
    },
}

impl ServerEvent {
    /// The `event` tag this variant serialises with.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ServerStarted { .. } => "server_started",
            Self::ConnectionAccepted { .. } => "connection_accepted",
            Self::MessageReceived { .. } => "message_received",
            Self::ConnectionClosed { .. } => "connection_closed",
            Self::ConnectionError { .. } => "connection_error",
            Self::ServerStopped { .. } => "server_stopped",
        }
    }
}

impl ClientEvent {
    /// The `event` tag this variant serialises with.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ClientStarted { .. } => "client_started",
            Self::WorkerConnected { .. } => "worker_connected",
            Self::MessageSent { .. } => "message_sent",
            Self::WorkerFinished { .. } => "worker_finished",
            Self::WorkerError { .. } => "worker_error",
            Self::ClientFinished { .. } => "client_finished",
        }
    }
}

/// An append-only JSONL file written in large buffered writes. Records are serialised into a
/// buffer that reaches the file whole, so the file only ever holds complete lines: when the
/// buffer passes [`EventLog::BUFFER_BYTES`], on [`flush`](Self::flush) (the owning writer
/// thread calls it at least every [`FLUSH_INTERVAL`](crate::writer::FLUSH_INTERVAL)) and
/// on [`close`](Self::close).
#[derive(Debug)]
pub struct EventLog {
    file: File,
    buf: Vec<u8>,
}

impl EventLog {
    /// Size at which the buffer is written out without waiting for a flush.
    pub const BUFFER_BYTES: usize = 1 << 20;

    /// Creates (truncates) the log at `path`.
    pub fn create(path: &Path) -> io::Result<Self> {
        Ok(Self {
            file: File::create(path)?,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// Appends one record (one line) to the buffer, writing the buffer out when it is full.
    pub fn append<E: Serialize>(&mut self, record: &Record<E>) -> io::Result<()> {
        serde_json::to_writer(&mut self.buf, record)?;
        self.buf.push(b'\n');
        if self.buf.len() >= Self::BUFFER_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes out what is buffered. On an error the buffered lines are dropped (a log that
    /// cannot be written is lost from there on; the caller reports it).
    pub fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let written = self.file.write_all(&self.buf);
        self.buf.clear();
        written
    }

    /// Appends `event` as a record timed at `at` on `clock` (its `t_ms`) and `unix_ms`.
    pub fn append_event<E: Serialize>(
        &mut self,
        clock: &ProcessClock,
        at: MonoNs,
        unix_ms: f64,
        event: E,
    ) -> io::Result<()> {
        self.append(&Record {
            t_ms: clock.t_ms(at),
            unix_ms,
            event,
        })
    }

    /// Appends the `message_received` record of line `k` (from 0) of the read that `read`
    /// was [set](FormattedRead::set) to, written straight from borrowed fields with what the
    /// read's lines share formatted once: the writer of a flood spends its time here. The
    /// line is byte for byte what [`append`](Self::append) writes for
    /// [`ReadFields::record`] (a test checks it).
    pub fn append_read_line(
        &mut self,
        read: &FormattedRead,
        k: usize,
        line: &LineFields<'_>,
    ) -> io::Result<()> {
        let b = &mut self.buf;
        b.extend_from_slice(&read.head);
        put_int(b, read.first_seq + k as u64);
        b.extend_from_slice(b",\"bytes\":");
        put_int(b, line.bytes as u64);
        b.extend_from_slice(b",\"text\":");
        serde_json::to_writer(&mut *b, line.text)?;
        b.extend_from_slice(if line.lossy {
            b",\"lossy\":true,\"gap_ms\":"
        } else {
            b",\"lossy\":false,\"gap_ms\":"
        });
        b.extend_from_slice(if k == 0 { &read.first_gap } else { b"0.0" });
        if let Some(p) = parse_message(line.text) {
            b.extend_from_slice(b",\"worker\":");
            put_int(b, u64::from(p.worker));
            b.extend_from_slice(b",\"worker_event\":");
            put_int(b, u64::from(p.event));
            b.extend_from_slice(b",\"sent_unix_ms\":");
            put_int(b, p.sent_unix_ms);
            b.extend_from_slice(b",\"latency_ms\":");
            put_f64(b, read.unix_ms - p.sent_unix_ms as f64);
        }
        b.extend_from_slice(if k == 0 {
            &read.kernel_first
        } else {
            &read.kernel_rest
        });
        b.extend_from_slice(&read.delay);
        b.extend_from_slice(b"}\n");
        if self.buf.len() >= Self::BUFFER_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Appends one record and writes it out at once.
    pub fn write<E: Serialize>(&mut self, record: &Record<E>) -> io::Result<()> {
        self.append(record)?;
        self.flush()
    }

    /// Writes out what is buffered and syncs nothing further: the file is closed on drop.
    pub fn close(mut self) -> io::Result<()> {
        self.flush()?;
        self.file.flush()
    }
}

/// What the `message_received` records of one read share: every line a read returns has
/// the read's instant, the gap of its first line is the data gap and the others' are 0 (see
/// [`crate::protocol::Chunk`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReadFields {
    /// The read's instant on both clocks.
    pub t_ms: f64,
    pub unix_ms: f64,
    pub conn: u64,
    /// `seq` of the read's first line.
    pub first_seq: u64,
    /// `gap_ms` of the read's first line.
    pub first_gap_ms: f64,
    /// The kernel's receive instant of the read, and the gap from the previous read's.
    pub kernel_unix_ms: Option<f64>,
    pub first_kernel_gap_ms: Option<f64>,
}

/// One line of a read, borrowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LineFields<'a> {
    /// Size without the line terminator.
    pub bytes: usize,
    /// The decoded text, and whether decoding replaced bytes that were not UTF-8.
    pub text: &'a str,
    pub lossy: bool,
}

impl ReadFields {
    /// The record of line `k` (from 0) of this read: what the log holds for it. The client's
    /// message format gives `worker`, `worker_event`, `sent_unix_ms` and `latency_ms`; the
    /// kernel's instant gives `kernel_*` and `server_delay_ms`.
    pub fn record(&self, k: usize, line: &LineFields<'_>) -> Record<ServerEvent> {
        let parsed = parse_message(line.text);
        let first = k == 0;
        Record {
            t_ms: self.t_ms,
            unix_ms: self.unix_ms,
            event: ServerEvent::MessageReceived {
                conn: self.conn,
                seq: self.first_seq + k as u64,
                bytes: line.bytes,
                text: line.text.to_owned(),
                lossy: line.lossy,
                gap_ms: if first { self.first_gap_ms } else { 0.0 },
                worker: parsed.map(|p| p.worker),
                worker_event: parsed.map(|p| p.event),
                sent_unix_ms: parsed.map(|p| p.sent_unix_ms),
                latency_ms: parsed.map(|p| self.unix_ms - p.sent_unix_ms as f64),
                kernel_unix_ms: self.kernel_unix_ms,
                kernel_gap_ms: if first {
                    self.first_kernel_gap_ms
                } else {
                    self.kernel_unix_ms.map(|_| 0.0)
                },
                server_delay_ms: self.kernel_unix_ms.map(|k| self.unix_ms - k),
            },
        }
    }
}

/// The parts of a read's `message_received` lines that all of them share, formatted once
/// per read (their floats are most of a line's formatting); reused from read to read.
#[derive(Clone, Debug, Default)]
pub struct FormattedRead {
    unix_ms: f64,
    first_seq: u64,
    /// `{"t_ms":…,"unix_ms":…,"event":"message_received","conn":…,"seq":`
    head: Vec<u8>,
    /// The first line's `gap_ms` value.
    first_gap: Vec<u8>,
    /// The kernel fields of the first line and of the others, and the server delay that
    /// closes every line (all empty without the kernel's instant).
    kernel_first: Vec<u8>,
    kernel_rest: Vec<u8>,
    delay: Vec<u8>,
}

impl FormattedRead {
    /// Formats what the lines of `read` share.
    pub fn set(&mut self, read: &ReadFields) {
        self.unix_ms = read.unix_ms;
        self.first_seq = read.first_seq;
        let b = &mut self.head;
        b.clear();
        b.extend_from_slice(b"{\"t_ms\":");
        put_f64(b, read.t_ms);
        b.extend_from_slice(b",\"unix_ms\":");
        put_f64(b, read.unix_ms);
        b.extend_from_slice(b",\"event\":\"message_received\",\"conn\":");
        put_int(b, read.conn);
        b.extend_from_slice(b",\"seq\":");
        self.first_gap.clear();
        put_f64(&mut self.first_gap, read.first_gap_ms);
        self.kernel_first.clear();
        self.kernel_rest.clear();
        self.delay.clear();
        if let Some(kernel) = read.kernel_unix_ms {
            self.delay.extend_from_slice(b",\"server_delay_ms\":");
            put_f64(&mut self.delay, read.unix_ms - kernel);
            for (b, gap) in [
                (&mut self.kernel_first, read.first_kernel_gap_ms),
                (&mut self.kernel_rest, Some(0.0)),
            ] {
                b.extend_from_slice(b",\"kernel_unix_ms\":");
                put_f64(b, kernel);
                if let Some(gap) = gap {
                    b.extend_from_slice(b",\"kernel_gap_ms\":");
                    put_f64(b, gap);
                }
            }
        }
    }
}

/// A float as serde_json writes it (its own formatter), `null` when not finite.
fn put_f64(b: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        // Writing into a Vec cannot fail.
        let _ = CompactFormatter.write_f64(b, v);
    } else {
        b.extend_from_slice(b"null");
    }
}

/// An integer as serde_json writes it.
fn put_int(b: &mut Vec<u8>, v: u64) {
    let _ = CompactFormatter.write_u64(b, v);
}

/// An error reading an event log, naming the file and line.
#[derive(Debug, thiserror::Error)]
pub enum ReadLogError {
    #[error("cannot read event log {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}:{line}: not a valid event: {source}")]
    Parse {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
}

/// Reads every record of a JSONL event log.
pub fn read_log<E: DeserializeOwned>(path: &Path) -> Result<Vec<Record<E>>, ReadLogError> {
    let io_err = |source| ReadLogError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io_err)?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line).map_err(|source| ReadLogError::Parse {
            path: path.to_owned(),
            line: i + 1,
            source,
        })?;
        out.push(record);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_flatten_the_event_tag_and_round_trip() {
        let rec = Record {
            t_ms: 1.5,
            unix_ms: 1000.25,
            event: ServerEvent::MessageReceived {
                conn: 1,
                seq: 2,
                bytes: 5,
                text: "hello".into(),
                lossy: false,
                gap_ms: 3.25,
                worker: None,
                worker_event: None,
                sent_unix_ms: None,
                latency_ms: None,
                kernel_unix_ms: None,
                kernel_gap_ms: None,
                server_delay_ms: None,
            },
        };
        let json = serde_json::to_string(&rec).expect("serialises");
        assert!(json.starts_with(r#"{"t_ms":1.5,"unix_ms":1000.25,"event":"message_received""#));
        assert!(!json.contains("worker"));
        let back: Record<ServerEvent> = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, rec);
        assert_eq!(back.event.name(), "message_received");
    }

    #[test]
    fn the_fast_read_lines_are_the_serde_lines() {
        let dir = tempfile_dir("fast");
        let texts = [
            "Worker 1, Event 2, Timestamp 1768823258707",
            "",
            "quote \" backslash \\ tab \t nul \u{0} esc \u{1b} del \u{7f}",
            "héllo \u{FFFD} 日本",
            " Worker 4294967295, Event 1, Timestamp 18446744073709551615 ",
        ];
        let floats = [
            0.0,
            1.5,
            1e-7,
            1e21,
            123.456_789,
            1_795_726_976_929.862,
            f64::NAN,
        ];
        let mut expected = Vec::new();
        let mut log = EventLog::create(&dir.join("fast.jsonl")).expect("create");
        let mut formatted = FormattedRead::default();
        for (r, &f) in floats.iter().enumerate() {
            for kernel in [false, true] {
                let read = ReadFields {
                    t_ms: f / 3.0,
                    unix_ms: 1_795_726_976_929.862 + r as f64,
                    conn: u64::MAX - r as u64,
                    first_seq: 1 + r as u64,
                    first_gap_ms: f,
                    kernel_unix_ms: kernel.then_some(f * 3.0),
                    first_kernel_gap_ms: (kernel && r % 2 == 0).then_some(f / 7.0),
                };
                formatted.set(&read);
                for (k, text) in texts.iter().enumerate() {
                    let line = LineFields {
                        bytes: text.len() + k,
                        text,
                        lossy: k % 2 == 1,
                    };
                    log.append_read_line(&formatted, k, &line).expect("fast");
                    serde_json::to_writer(&mut expected, &read.record(k, &line)).expect("serde");
                    expected.push(b'\n');
                }
            }
        }
        log.close().expect("close");
        let written = std::fs::read(dir.join("fast.jsonl")).expect("read");
        assert_eq!(
            String::from_utf8_lossy(&written),
            String::from_utf8_lossy(&expected)
        );
        assert!(
            String::from_utf8_lossy(&written)
                .contains(r#","kernel_gap_ms":0.0,"server_delay_ms":"#)
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("arrivals-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn the_log_writes_complete_lines_that_read_back() {
        let dir = std::env::temp_dir().join(format!("arrivals-events-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("c.jsonl");
        let mut log = EventLog::create(&path).expect("create");
        for worker in 1..=3 {
            log.write(&Record {
                t_ms: 0.0,
                unix_ms: 0.0,
                event: ClientEvent::WorkerFinished {
                    worker,
                    messages: 4,
                },
            })
            .expect("write");
        }
        let back: Vec<Record<ClientEvent>> = read_log(&path).expect("read");
        assert_eq!(back.len(), 3);
        std::fs::write(&path, "{\"t_ms\":0}\n").expect("overwrite");
        let err = read_log::<ClientEvent>(&path).expect_err("bad line");
        assert!(err.to_string().contains("c.jsonl:1:"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
