//! The one place where measurements are made and reported: connection and data gaps, the
//! console lines, and the event log. Connections are registered, started and closed under
//! one lock (a few times per connection); messages never take it: each connection's
//! [`Meter`] keeps its own gaps and counters, and what must be printed or logged goes to the
//! process's writer thread ([`output`](crate::output)), which formats and writes it.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arrivals::Chunk;
use arrivals::clock::{MonoNs, ProcessClock};
use arrivals::console::{self, Average};
use arrivals::events::{CloseReason, EventLog, ServerEvent};
use arrivals::writer::{Poster, Writer};
use serde::{Deserialize, Serialize};

use crate::options::Mode;
use crate::output::{Output, Post, ReadLines};

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
            tid: u64::from(
                rustix::thread::gettid()
                    .as_raw_nonzero()
                    .get()
                    .unsigned_abs(),
            ),
            ppid: std::os::unix::process::parent_id(),
        }
    }
}

/// A count and a sum of gaps, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Gaps {
    pub n: u64,
    pub sum_ms: f64,
}

impl Gaps {
    /// The mean gap; `None` without gaps.
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum_ms / self.n as f64)
    }

    fn add(&mut self, other: Gaps) {
        self.n += other.n;
        self.sum_ms += other.sum_ms;
    }
}

/// What the server measured, as printed at the end and written in `server_stopped`.
#[derive(Clone, Debug, PartialEq)]
pub struct Totals {
    pub connections: u64,
    pub messages: u64,
    pub connection_gaps: Gaps,
    pub data_gaps: Gaps,
    /// True when the event log could not be written completely.
    pub log_failed: bool,
}

/// A connection's counters as its meter last left them: written only by the meter's
/// thread, read when the connection closes or the server stops without it.
#[derive(Debug, Default)]
struct Tally {
    messages: AtomicU64,
    gap_sum_bits: AtomicU64,
}

impl Tally {
    fn gaps(&self) -> Gaps {
        Gaps {
            n: self.messages.load(Ordering::Acquire),
            sum_ms: f64::from_bits(self.gap_sum_bits.load(Ordering::Acquire)),
        }
    }
}

#[derive(Debug)]
struct Conn {
    peer: SocketAddr,
    accepted_at: MonoNs,
    /// Time since the previous accept, `None` for the first connection.
    gap_ms: Option<f64>,
    started: bool,
    tally: Arc<Tally>,
}

#[derive(Debug)]
struct State {
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
    /// True when messages must reach the writer (verbose console or event log).
    report_messages: bool,
    out: Poster<Output>,
    writer: Mutex<Option<Writer<Output>>>,
    state: Mutex<State>,
}

/// Measures the messages of one connection on the thread that reads it: the data gap of
/// every line, counted locally, with no lock.
#[derive(Debug)]
pub struct Meter {
    conn: ConnId,
    peer: SocketAddr,
    /// Instant of the last read with lines, or of the accept before any.
    last_at: MonoNs,
    /// The kernel's receive instant of that read, where known.
    last_kernel_ns: Option<u64>,
    gaps: Gaps,
    tally: Arc<Tally>,
    out: Option<Poster<Output>>,
}

impl Meter {
    /// The connection this meter measures.
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// Records the lines of one read. They were all observed when that read returned: the
    /// first line's gap is measured from the previous read with lines (or the accept), the
    /// others' are 0.
    pub fn lines(&mut self, chunk: &Chunk<'_>) {
        if chunk.lines == 0 {
            return;
        }
        let first_gap_ms = chunk.at.ms_since(self.last_at);
        self.last_at = self.last_at.max(chunk.at);
        let kernel_gap_ms = chunk
            .kernel_ns
            .zip(self.last_kernel_ns)
            .map(|(now, before)| now.saturating_sub(before) as f64 / 1e6);
        if chunk.kernel_ns.is_some() {
            self.last_kernel_ns = chunk.kernel_ns;
        }
        let first_seq = self.gaps.n + 1;
        self.gaps.n += chunk.lines;
        self.gaps.sum_ms += first_gap_ms;
        self.tally
            .gap_sum_bits
            .store(self.gaps.sum_ms.to_bits(), Ordering::Release);
        self.tally.messages.store(self.gaps.n, Ordering::Release);
        if let Some(out) = &self.out {
            out.post(Post::Lines(ReadLines {
                conn: self.conn,
                peer: self.peer,
                first_seq,
                first_gap_ms,
                at: chunk.at,
                kernel_ns: chunk.kernel_ns,
                kernel_gap_ms,
                bytes: chunk.bytes.to_vec(),
            }));
        }
    }
}

impl Recorder {
    /// A recorder printing to `console` and, when given, logging to `log`, through a writer
    /// thread of its own. `clock` is the process's time origin for the log's `t_ms`.
    pub fn new(
        mode: Mode,
        verbose: bool,
        clock: ProcessClock,
        log: Option<EventLog>,
        console: Box<dyn Write + Send>,
    ) -> io::Result<Self> {
        let report_messages = verbose || log.is_some();
        let writer = Writer::spawn("output", Output::new(verbose, clock, log, console))?;
        Ok(Self {
            mode,
            report_messages,
            out: writer.poster(),
            writer: Mutex::new(Some(writer)),
            state: Mutex::new(State {
                finished: false,
                next_conn: 0,
                last_accept: None,
                conns: HashMap::new(),
                totals: Totals {
                    connections: 0,
                    messages: 0,
                    connection_gaps: Gaps::default(),
                    data_gaps: Gaps::default(),
                    log_failed: false,
                },
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Each update below leaves the state consistent before it can panic, so a poisoned
        // lock still holds usable data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True when messages are printed or logged, so their text must reach the recorder.
    pub(crate) fn reports_messages(&self) -> bool {
        self.report_messages
    }

    fn print(&self, text: String) {
        self.out.post(Post::Print(text));
    }

    fn event(&self, at: MonoNs, event: ServerEvent) {
        self.out.post(Post::Event { at, event });
    }

    /// Announces the bound server: the ready and `Listening on` lines and `server_started`.
    pub fn server_started(&self, local: SocketAddr, max_connections: usize, max_line_bytes: usize) {
        let pid = std::process::id();
        self.print(console::ready(self.mode, pid, local));
        self.event(
            MonoNs::now(),
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
            st.totals.connection_gaps.add(Gaps { n: 1, sum_ms: gap });
        }
        st.totals.connections += 1;
        st.conns.insert(
            conn,
            Conn {
                peer,
                accepted_at: at,
                gap_ms,
                started: false,
                tally: Arc::default(),
            },
        );
        conn
    }

    /// Says which process and thread serve `conn`: prints the connection's console line(s)
    /// and logs `connection_accepted` (timed at the accept). Returns the connection's meter
    /// (`None` once the server has finished).
    pub fn worker_started(&self, conn: ConnId, worker: Worker) -> Option<Meter> {
        let mut st = self.lock();
        self.start(&mut st, conn, worker);
        let c = st.conns.get(&conn)?;
        Some(Meter {
            conn,
            peer: c.peer,
            last_at: c.accepted_at,
            last_kernel_ns: None,
            gaps: Gaps::default(),
            tally: Arc::clone(&c.tally),
            out: self.report_messages.then(|| self.out.clone()),
        })
    }

    fn start(&self, st: &mut State, conn: ConnId, worker: Worker) {
        if st.finished {
            return;
        }
        let Some(c) = st.conns.get_mut(&conn) else {
            return;
        };
        if c.started {
            return;
        }
        c.started = true;
        let (peer, at, gap_ms) = (c.peer, c.accepted_at, c.gap_ms);
        if self.mode.is_iterative() {
            self.print(console::new_connection(peer));
        } else {
            self.print(console::worker_spawned(
                peer,
                worker.tid,
                worker.pid,
                worker.ppid,
            ));
        }
        self.event(
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

    /// Records an error on `conn` (the close follows separately).
    pub fn error(&self, conn: ConnId, error: &str) {
        let mut st = self.lock();
        self.ensure_started(&mut st, conn);
        if st.finished {
            return;
        }
        let Some(c) = st.conns.get(&conn) else {
            return;
        };
        // On stderr: stdout keeps the seed's line formats, which other programs parse.
        crate::note!("[!] Connection error for {}: {error}", c.peer);
        self.event(
            MonoNs::now(),
            ServerEvent::ConnectionError {
                conn,
                error: error.to_owned(),
            },
        );
    }

    /// Records the end of `conn` (its meter has recorded its last lines); later calls for
    /// it are ignored.
    pub fn closed(&self, conn: ConnId, reason: CloseReason) {
        let mut st = self.lock();
        self.close(&mut st, conn, reason);
    }

    fn close(&self, st: &mut State, conn: ConnId, reason: CloseReason) {
        self.ensure_started(st, conn);
        if st.finished {
            return;
        }
        let Some(c) = st.conns.remove(&conn) else {
            return;
        };
        let gaps = c.tally.gaps();
        st.totals.messages += gaps.n;
        st.totals.data_gaps.add(gaps);
        self.print(console::connection_closed(c.peer));
        self.event(
            MonoNs::now(),
            ServerEvent::ConnectionClosed {
                conn,
                messages: gaps.n,
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

    /// Closes what is still open (reason `server_shutdown`), prints the closing lines, logs
    /// `server_stopped` and waits until the writer has written everything. Later calls on
    /// the recorder are ignored.
    pub fn finish(&self) -> Totals {
        let mut st = self.lock();
        if !st.finished {
            let mut open: Vec<ConnId> = st.conns.keys().copied().collect();
            open.sort_unstable();
            for conn in open {
                self.close(&mut st, conn, CloseReason::ServerShutdown);
            }
            let totals = &st.totals;
            let conn_avg = totals.connection_gaps.mean();
            let data_avg = totals.data_gaps.mean();
            self.print(console::terminating(
                Average {
                    avg_ms: conn_avg,
                    n: totals.connection_gaps.n,
                },
                Average {
                    avg_ms: data_avg,
                    n: totals.data_gaps.n,
                },
            ));
            self.event(
                MonoNs::now(),
                ServerEvent::ServerStopped {
                    connections: totals.connections,
                    messages: totals.messages,
                    connection_gaps: totals.connection_gaps.n,
                    avg_connection_gap_ms: conn_avg,
                    data_gaps: totals.data_gaps.n,
                    avg_data_gap_ms: data_avg,
                },
            );
            st.finished = true;
            let writer = self
                .writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(writer) = writer {
                st.totals.log_failed = writer.finish().log_failed();
            }
        }
        st.totals.clone()
    }
}

/// A console that is the process's stdout, flushed by the writer whenever it runs dry.
pub fn stdout_console() -> Box<dyn Write + Send> {
    Box::new(io::stdout())
}

#[cfg(test)]
mod tests {
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
        )
        .expect("recorder");
        (r, out)
    }

    fn chunk(at_ms: u64, bytes: &[u8]) -> Chunk<'_> {
        Chunk {
            bytes,
            lines: bytes.iter().filter(|&&b| b == b'\n').count().max(1) as u64,
            at: MonoNs(at_ms * 1_000_000),
            kernel_ns: None,
        }
    }

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn gaps_are_measured_from_the_previous_accept_and_read() {
        let (r, out) = recorder(Mode::Thr);
        let w = Worker {
            pid: 10,
            tid: 11,
            ppid: 1,
        };
        let a = r.accepted(MonoNs(1_000_000_000), peer(1));
        let b = r.accepted(MonoNs(1_250_000_000), peer(2));
        let mut mb = r.worker_started(b, w).expect("meter");
        let mut ma = r.worker_started(a, w).expect("meter");
        ma.lines(&chunk(1_100, b"Worker 1, Event 1, Timestamp 5\n"));
        mb.lines(&chunk(1_300, b"x\n"));
        // Two lines of one read: observed together, the second with a gap of 0.
        ma.lines(&chunk(1_400, b"\x1b[31m\ny\n"));
        r.closed(a, CloseReason::PeerClosed);
        r.closed(a, CloseReason::Error);
        let totals = r.finish();
        assert_eq!(totals.connections, 2);
        assert_eq!(totals.messages, 4);
        assert_eq!(
            totals.connection_gaps,
            Gaps {
                n: 1,
                sum_ms: 250.0
            }
        );
        assert_eq!(
            totals.data_gaps,
            Gaps {
                n: 4,
                sum_ms: 450.0
            }
        );
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
             Average data inter-arrival time: 112.50 ms (n = 4)\n"
        ));
    }

    #[test]
    fn no_samples_print_na_and_iterative_lines_follow_the_seed() {
        let (r, out) = recorder(Mode::Iter);
        let a = r.accepted(MonoNs::now(), peer(7));
        r.closed(a, CloseReason::PeerClosed);
        r.finish();
        assert!(r.worker_started(a, Worker::current()).is_none());
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
    fn a_connection_still_open_at_the_stop_keeps_what_its_meter_counted() {
        let (r, out) = recorder(Mode::Async);
        let a = r.accepted(MonoNs(1_000_000_000), peer(3));
        let mut m = r.worker_started(a, Worker::current()).expect("meter");
        m.lines(&chunk(1_010, b"one\ntwo\n"));
        let totals = r.finish();
        assert_eq!((totals.messages, totals.data_gaps.n), (2, 2));
        // After the stop, a meter's lines are neither counted nor printed.
        m.lines(&chunk(1_020, b"late\n"));
        assert_eq!(r.finish().messages, 2);
        assert!(!out.text().contains("late"));
    }
}
