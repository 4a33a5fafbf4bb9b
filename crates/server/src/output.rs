//! The server's writer thread (see [`arrivals::writer`]): it owns the console and the event
//! log, turns each connection's raw lines into `message_received` records and `-v` console
//! lines, and writes both off the threads that read the sockets.

use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;

use arrivals::clock::{MonoNs, ProcessClock, unix_ms_now};
use arrivals::events::{EventLog, FormattedRead, LineFields, ReadFields, ServerEvent};
use arrivals::protocol::escape_control;
use arrivals::writer::Sink;

use crate::recorder::ConnId;

/// What the recorder and the meters post to the writer.
#[derive(Debug)]
pub(crate) enum Post {
    /// Console text, printed as is.
    Print(String),
    /// An event that happened at `at`.
    Event { at: MonoNs, event: ServerEvent },
    /// The lines of one read.
    Lines(ReadLines),
}

/// The lines of one read on `conn` (see [`arrivals::Chunk`]): message `first_seq` has gap
/// `first_gap_ms`, the others 0.
#[derive(Debug)]
pub(crate) struct ReadLines {
    pub(crate) conn: ConnId,
    pub(crate) peer: SocketAddr,
    pub(crate) first_seq: u64,
    pub(crate) first_gap_ms: f64,
    pub(crate) at: MonoNs,
    /// The kernel's receive instant of the read (ns since the Unix epoch), and the gap from
    /// the previous read's on the connection.
    pub(crate) kernel_ns: Option<u64>,
    pub(crate) kernel_gap_ms: Option<f64>,
    pub(crate) bytes: Vec<u8>,
}

/// The console and the event log, owned by the writer thread.
pub(crate) struct Output {
    verbose: bool,
    clock: ProcessClock,
    console: BufWriter<Box<dyn Write + Send>>,
    log: Option<EventLog>,
    log_failed: bool,
    /// Connections accepted and not yet closed: lines of any other are not logged, so no
    /// `message_received` follows its connection's `connection_closed`.
    open: HashSet<ConnId>,
    stopped: bool,
    /// What the lines of the read being logged share, formatted once.
    formatted: FormattedRead,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("verbose", &self.verbose)
            .field("log", &self.log.is_some())
            .field("log_failed", &self.log_failed)
            .finish_non_exhaustive()
    }
}

impl Output {
    pub(crate) fn new(
        verbose: bool,
        clock: ProcessClock,
        log: Option<EventLog>,
        console: Box<dyn Write + Send>,
    ) -> Self {
        Self {
            verbose,
            clock,
            console: BufWriter::with_capacity(64 * 1024, console),
            log,
            log_failed: false,
            open: HashSet::new(),
            stopped: false,
            formatted: FormattedRead::default(),
        }
    }

    /// True when the event log lost records (a write failed).
    pub(crate) fn log_failed(&self) -> bool {
        self.log_failed
    }

    fn print(&mut self, text: &str) {
        // A closed stdout must not stop the server.
        let _ = self.console.write_all(text.as_bytes());
    }

    fn log(&mut self, at: MonoNs, unix_ms: f64, event: ServerEvent) {
        let Some(log) = self.log.as_mut() else {
            return;
        };
        if let Err(e) = log.append_event(&self.clock, at, unix_ms, event) {
            self.lost(&e);
        }
    }

    fn lost(&mut self, e: &std::io::Error) {
        if !self.log_failed {
            self.log_failed = true;
            crate::note!("warning: cannot write the event log: {e}");
        }
    }

    fn event(&mut self, at: MonoNs, event: ServerEvent) {
        match &event {
            ServerEvent::ConnectionAccepted { conn, .. } => {
                self.open.insert(*conn);
            }
            ServerEvent::ConnectionClosed { conn, .. } => {
                self.open.remove(conn);
            }
            ServerEvent::ServerStopped { .. } => self.stopped = true,
            _ => {}
        }
        self.log(at, unix_ms_at(at), event);
    }

    fn lines(&mut self, read: &ReadLines) {
        let ReadLines { conn, peer, at, .. } = *read;
        if !self.open.contains(&conn) {
            return;
        }
        let logging = self.log.is_some();
        if logging {
            let unix_ms = unix_ms_at(at);
            self.formatted.set(&ReadFields {
                t_ms: self.clock.t_ms(at),
                unix_ms,
                conn,
                first_seq: read.first_seq,
                first_gap_ms: read.first_gap_ms,
                kernel_unix_ms: read.kernel_ns.map(|ns| ns as f64 / 1e6),
                first_kernel_gap_ms: read.kernel_gap_ms,
            });
        }
        let bytes = &read.bytes[..];
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        // One check of the whole read: the lines of a valid UTF-8 read (every client-format
        // read is one) are valid themselves, and are borrowed, not checked or copied again.
        let whole = std::str::from_utf8(body).ok();
        let mut start = 0;
        let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
        for (k, end) in ends.enumerate() {
            let raw = &body[start..end];
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let range = start..start + raw.len();
            start = end + 1;
            let lossy_text;
            let (text, lossy) = match whole.map(|all| &all[range]) {
                Some(text) => (text, false),
                None => match std::str::from_utf8(raw) {
                    Ok(text) => (text, false),
                    Err(_) => {
                        lossy_text = String::from_utf8_lossy(raw).into_owned();
                        (lossy_text.as_str(), true)
                    }
                },
            };
            if self.verbose {
                let shown = format!(
                    "Sentence \"{}\" received from {peer}\n",
                    escape_control(text)
                );
                self.print(&shown);
            }
            if !logging {
                continue;
            }
            let fields = LineFields {
                bytes: raw.len(),
                text,
                lossy,
            };
            if let Some(log) = self.log.as_mut()
                && let Err(e) = log.append_read_line(&self.formatted, k, &fields)
            {
                self.lost(&e);
            }
        }
    }
}

impl Sink for Output {
    type Post = Post;

    fn handle(&mut self, post: Post) {
        if self.stopped {
            return;
        }
        match post {
            Post::Print(text) => self.print(&text),
            Post::Event { at, event } => self.event(at, event),
            Post::Lines(read) => self.lines(&read),
        }
    }

    fn weight(post: &Post) -> usize {
        match post {
            Post::Print(text) => text.len(),
            Post::Event { .. } => 0,
            Post::Lines(read) => read.bytes.len(),
        }
    }

    fn idle(&mut self) {
        let _ = self.console.flush();
    }

    fn flush(&mut self) {
        if let Some(log) = self.log.as_mut()
            && let Err(e) = log.flush()
        {
            self.lost(&e);
        }
    }
}

/// The wall-clock time of the monotonic instant `at` (in the past or now).
fn unix_ms_at(at: MonoNs) -> f64 {
    unix_ms_now() - MonoNs::now().ms_since(at)
}
