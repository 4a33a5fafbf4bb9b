//! The one place where measurements are made and reported: connection and data gaps, the
//! console lines, and the event log. Every mode feeds it the same calls (accept, worker
//! start, message, error, close, finish); it serialises them under one lock so a two-line
//! console message is never interleaved with another.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use arrivals::clock::{MonoNs, ProcessClock, unix_ms_now};
use arrivals::events::{CloseReason, EventLog, Record, ServerEvent};
use arrivals::protocol::{Line, decode, escape_control, parse_message};
use arrivals::stats::{format_avg_ms, mean};
use serde::{Deserialize, Serialize};

use crate::options::Mode;

/// Connection id, counting from 1 in accept order.
pub type ConnId = u64;

/// The OS identity of whoever serves a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Worker {
    pub pid: u32,
    pub tid: u64,
    pub ppid: u32,
}

impl Worker {
    /// The calling thread.
    pub fn current() -> Self {
        Self {
            pid: std::process::id(),
            tid: gettid(),
            ppid: std::os::unix::process::parent_id(),
        }
    }
}

/// The kernel's id of the calling thread.
pub fn gettid() -> u64 {
    // SAFETY: gettid takes no arguments, cannot fail and touches no memory.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    u64::try_from(tid).unwrap_or(0)
}

/// One message as a worker read it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Received {
    /// When the read that completed the message returned.
    pub at: MonoNs,
    /// Bytes without the line terminator (`\n` or `\r\n`).
    pub bytes: usize,
    /// Lossily decoded text.
    pub text: String,
    /// True when bytes that are not UTF-8 were replaced.
    pub lossy: bool,
}

impl Received {
    /// Decodes a line from the line reader.
    pub fn from_line(line: &Line) -> Self {
        let (text, lossy) = decode(&line.bytes);
        let bytes = line.bytes.strip_suffix(b"\r").unwrap_or(&line.bytes).len();
        Self {
            at: line.at,
            bytes,
            text,
            lossy,
        }
    }
}

/// What the server measured, as printed at the end and written in `server_stopped`.
#[derive(Clone, Debug, PartialEq)]
pub struct Totals {
    pub connections: u64,
    pub messages: u64,
    pub connection_gaps: Vec<f64>,
    pub data_gaps: Vec<f64>,
}

#[derive(Debug)]
struct Conn {
    peer: SocketAddr,
    accepted_at: MonoNs,
    /// Time since the previous accept, `None` for the first connection.
    gap_ms: Option<f64>,
    /// Instant of the last message, or of the accept before any message.
    last_at: MonoNs,
    messages: u64,
    started: bool,
}

#[derive(Debug)]
struct State {
    console: Console,
    log: Option<EventLog>,
    log_failed: bool,
    finished: bool,
    next_conn: ConnId,
    last_accept: Option<MonoNs>,
    conns: HashMap<ConnId, Conn>,
    totals: Totals,
}

/// Records what every mode observes; shared between workers behind an `Arc`.
#[derive(Debug)]
pub struct Recorder {
    mode: Mode,
    verbose: bool,
    clock: ProcessClock,
    state: Mutex<State>,
}

impl Recorder {
    /// A recorder printing to `console` and, when given, logging to `log`. `clock` is the
    /// process's time origin for the log's `t_ms`.
    pub fn new(
        mode: Mode,
        verbose: bool,
        clock: ProcessClock,
        log: Option<EventLog>,
        console: Box<dyn Write + Send>,
    ) -> Self {
        Self {
            mode,
            verbose,
            clock,
            state: Mutex::new(State {
                console: Console(console),
                log,
                log_failed: false,
                finished: false,
                next_conn: 0,
                last_accept: None,
                conns: HashMap::new(),
                totals: Totals {
                    connections: 0,
                    messages: 0,
                    connection_gaps: Vec::new(),
                    data_gaps: Vec::new(),
                },
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Each update below leaves the state consistent before it can panic (a panic could
        // only come from formatting), so a poisoned lock still holds usable data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Announces the bound server: the ready and `Listening on` lines and `server_started`.
    pub fn server_started(&self, local: SocketAddr, max_connections: usize, max_line_bytes: usize) {
        let pid = std::process::id();
        let kind = if self.mode.is_iterative() {
            "iterative"
        } else {
            "concurrent"
        };
        let mut st = self.lock();
        st.print(&format!(
            "The {kind} TCP server is ready to receive (PID = {pid})\nListening on {local}\n"
        ));
        let at = MonoNs::now();
        self.log(
            &mut st,
            at,
            ServerEvent::ServerStarted {
                mode: self.mode.name().to_owned(),
                address: local.ip().to_string(),
                port: local.port(),
                pid,
                max_connections,
                max_line_bytes,
            },
        );
    }

    /// Registers a connection accepted at `at` and measures its connection gap. Nothing is
    /// printed until [`worker_started`](Self::worker_started) says who serves it.
    pub fn accepted(&self, at: MonoNs, peer: SocketAddr) -> ConnId {
        let mut st = self.lock();
        st.next_conn += 1;
        let conn = st.next_conn;
        let gap_ms = st.last_accept.map(|prev| at.ms_since(prev));
        st.last_accept = Some(st.last_accept.map_or(at, |prev| prev.max(at)));
        if let Some(gap) = gap_ms {
            st.totals.connection_gaps.push(gap);
        }
        st.totals.connections += 1;
        st.conns.insert(
            conn,
            Conn {
                peer,
                accepted_at: at,
                gap_ms,
                last_at: at,
                messages: 0,
                started: false,
            },
        );
        conn
    }

    /// Says which process and thread serve `conn`: prints the connection's console line(s)
    /// and logs `connection_accepted` (timed at the accept).
    pub fn worker_started(&self, conn: ConnId, worker: Worker) {
        let mut st = self.lock();
        self.start(&mut st, conn, worker);
    }

    fn start(&self, st: &mut State, conn: ConnId, worker: Worker) {
        let Some(c) = st.conns.get_mut(&conn) else {
            return;
        };
        if c.started {
            return;
        }
        c.started = true;
        let (peer, at, gap_ms) = (c.peer, c.accepted_at, c.gap_ms);
        if self.mode.is_iterative() {
            st.print(&format!("[+] New connection from {peer}\n"));
        } else {
            st.print(&format!(
                "[+] New server socket worker spawned for client {peer}\n\
                 Thread ID: {} - PID: {} - PPID: {}\n",
                worker.tid, worker.pid, worker.ppid
            ));
        }
        self.log(
            st,
            at,
            ServerEvent::ConnectionAccepted {
                conn,
                peer: peer.to_string(),
                pid: worker.pid,
                tid: worker.tid,
                gap_ms,
            },
        );
    }

    /// Records a message on `conn` and its data gap.
    pub fn message(&self, conn: ConnId, msg: Received) {
        let mut st = self.lock();
        self.ensure_started(&mut st, conn);
        let Some(c) = st.conns.get_mut(&conn) else {
            return;
        };
        let gap_ms = msg.at.ms_since(c.last_at);
        c.last_at = c.last_at.max(msg.at);
        c.messages += 1;
        let (seq, peer) = (c.messages, c.peer);
        st.totals.data_gaps.push(gap_ms);
        st.totals.messages += 1;
        if self.verbose {
            st.print(&format!(
                "Sentence \"{}\" received from {peer}\n",
                escape_control(&msg.text)
            ));
        }
        let unix_at = unix_ms_at(msg.at);
        let parsed = parse_message(&msg.text);
        self.log(
            &mut st,
            msg.at,
            ServerEvent::MessageReceived {
                conn,
                seq,
                bytes: msg.bytes,
                lossy: msg.lossy,
                gap_ms,
                worker: parsed.map(|p| p.worker),
                worker_event: parsed.map(|p| p.event),
                sent_unix_ms: parsed.map(|p| p.sent_unix_ms),
                latency_ms: parsed.map(|p| unix_at - p.sent_unix_ms as f64),
                text: msg.text,
            },
        );
    }

    /// Records an error on `conn` (the close follows separately).
    pub fn error(&self, conn: ConnId, error: &str) {
        let mut st = self.lock();
        self.ensure_started(&mut st, conn);
        let Some(c) = st.conns.get(&conn) else {
            return;
        };
        // On stderr: stdout keeps the seed's line formats, which other programs parse.
        crate::note!("[!] Connection error for {}: {error}", c.peer);
        self.log(
            &mut st,
            MonoNs::now(),
            ServerEvent::ConnectionError {
                conn,
                error: error.to_owned(),
            },
        );
    }

    /// Records the end of `conn`; later calls for it are ignored.
    pub fn closed(&self, conn: ConnId, reason: CloseReason) {
        let mut st = self.lock();
        self.close(&mut st, conn, reason);
    }

    fn close(&self, st: &mut State, conn: ConnId, reason: CloseReason) {
        self.ensure_started(st, conn);
        let Some(c) = st.conns.remove(&conn) else {
            return;
        };
        st.print(&format!("[x] Connection closed for {}\n", c.peer));
        self.log(
            st,
            MonoNs::now(),
            ServerEvent::ConnectionClosed {
                conn,
                messages: c.messages,
                reason,
            },
        );
    }

    /// A connection closed or failed before any worker said who serves it is attributed to
    /// the calling thread, so the log still pairs every close with an accept.
    fn ensure_started(&self, st: &mut State, conn: ConnId) {
        if st.conns.get(&conn).is_some_and(|c| !c.started) {
            self.start(st, conn, Worker::current());
        }
    }

    /// Closes what is still open (reason `server_shutdown`), prints the closing lines and
    /// logs `server_stopped`. Later calls on the recorder are ignored.
    pub fn finish(&self) -> Totals {
        let mut st = self.lock();
        if st.finished {
            return st.totals.clone();
        }
        let mut open: Vec<ConnId> = st.conns.keys().copied().collect();
        open.sort_unstable();
        for conn in open {
            self.close(&mut st, conn, CloseReason::ServerShutdown);
        }
        let totals = st.totals.clone();
        let conn_avg = mean(&totals.connection_gaps);
        let data_avg = mean(&totals.data_gaps);
        st.print(&format!(
            "The server is terminating\n\
             Average connection inter-arrival time: {} (n = {})\n\
             Average data inter-arrival time: {} (n = {})\n",
            format_avg_ms(conn_avg),
            totals.connection_gaps.len(),
            format_avg_ms(data_avg),
            totals.data_gaps.len(),
        ));
        self.log(
            &mut st,
            MonoNs::now(),
            ServerEvent::ServerStopped {
                connections: totals.connections,
                messages: totals.messages,
                connection_gaps: totals.connection_gaps.len() as u64,
                avg_connection_gap_ms: conn_avg,
                data_gaps: totals.data_gaps.len() as u64,
                avg_data_gap_ms: data_avg,
            },
        );
        st.finished = true;
        st.log = None;
        totals
    }

    fn log(&self, st: &mut State, at: MonoNs, event: ServerEvent) {
        if st.finished {
            return;
        }
        let Some(log) = st.log.as_mut() else {
            return;
        };
        let record = Record {
            t_ms: self.clock.t_ms(at),
            unix_ms: unix_ms_at(at),
            event,
        };
        if let Err(e) = log.write(&record) {
            if !st.log_failed {
                st.log_failed = true;
                crate::note!("warning: cannot write the event log: {e}");
            }
        }
    }
}

impl State {
    /// Writes console text and flushes it; a closed stdout must not stop the server.
    fn print(&mut self, text: &str) {
        if self.finished {
            return;
        }
        let _ = self.console.0.write_all(text.as_bytes());
        let _ = self.console.0.flush();
    }
}

/// Where console lines go (stdout, or a buffer in tests).
struct Console(Box<dyn Write + Send>);

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Console")
    }
}

/// The wall-clock time of the monotonic instant `at` (in the past or now).
fn unix_ms_at(at: MonoNs) -> f64 {
    unix_ms_now() - MonoNs::now().ms_since(at)
}

/// A console that is the process's stdout, flushed by the recorder after each message.
pub fn stdout_console() -> Box<dyn Write + Send> {
    Box::new(io::stdout())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A console that keeps what was printed.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
        }
    }

    fn recorder(mode: Mode) -> (Recorder, Captured) {
        let out = Captured::default();
        let r = Recorder::new(
            mode,
            true,
            ProcessClock::start(),
            None,
            Box::new(out.clone()),
        );
        (r, out)
    }

    fn msg(at_ms: u64, text: &str) -> Received {
        Received {
            at: MonoNs(at_ms * 1_000_000),
            bytes: text.len(),
            text: text.to_owned(),
            lossy: false,
        }
    }

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn gaps_are_measured_from_the_previous_accept_and_message() {
        let (r, out) = recorder(Mode::Thr);
        let w = Worker {
            pid: 10,
            tid: 11,
            ppid: 1,
        };
        let a = r.accepted(MonoNs(1_000_000_000), peer(1));
        let b = r.accepted(MonoNs(1_250_000_000), peer(2));
        r.worker_started(b, w);
        r.worker_started(a, w);
        r.message(a, msg(1_100, "Worker 1, Event 1, Timestamp 5"));
        r.message(b, msg(1_300, "x"));
        r.message(a, msg(1_400, "\x1b[31m"));
        r.closed(a, CloseReason::PeerClosed);
        r.closed(a, CloseReason::Error);
        let totals = r.finish();
        assert_eq!(totals.connections, 2);
        assert_eq!(totals.connection_gaps, vec![250.0]);
        assert_eq!(totals.data_gaps, vec![100.0, 50.0, 300.0]);
        let text = out.text();
        assert!(text.contains(
            "[+] New server socket worker spawned for client 127.0.0.1:2\n\
             Thread ID: 11 - PID: 10 - PPID: 1\n"
        ));
        assert!(text.contains("Sentence \"\\u{1b}[31m\" received from 127.0.0.1:1\n"));
        assert_eq!(
            text.matches("[x] Connection closed for 127.0.0.1:1\n")
                .count(),
            1
        );
        assert!(text.ends_with(
            "[x] Connection closed for 127.0.0.1:2\n\
             The server is terminating\n\
             Average connection inter-arrival time: 250.00 ms (n = 1)\n\
             Average data inter-arrival time: 150.00 ms (n = 3)\n"
        ));
    }

    #[test]
    fn no_samples_print_na_and_iterative_lines_follow_the_seed() {
        let (r, out) = recorder(Mode::Iter);
        let a = r.accepted(MonoNs::now(), peer(7));
        r.closed(a, CloseReason::PeerClosed);
        r.finish();
        r.message(a, msg(1, "late"));
        assert_eq!(
            out.text(),
            "[+] New connection from 127.0.0.1:7\n\
             [x] Connection closed for 127.0.0.1:7\n\
             The server is terminating\n\
             Average connection inter-arrival time: n/a (n = 0)\n\
             Average data inter-arrival time: n/a (n = 0)\n"
        );
    }

    #[test]
    fn crlf_and_invalid_utf8_lines_are_measured_without_terminator() {
        let m = Received::from_line(&Line {
            bytes: b"ok \xff\r".to_vec(),
            at: MonoNs(5),
        });
        assert_eq!(m.bytes, 4);
        assert!(m.lossy);
        assert_eq!(m.text, "ok \u{FFFD}");
    }
}
