//! The client's two outputs: console lines (verbose ones only with `--verbose`) and the JSONL
//! event log. Workers only post to the process's writer thread (see [`arrivals::writer`]),
//! which formats and writes both, so a worker's sends are never held up by output.

use std::io::{BufWriter, Stdout, Write as _};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use anyhow::Context as _;
use arrivals::clock::unix_ms_now;
use arrivals::events::{ClientEvent, EventLog};
use arrivals::writer::{Poster, Sink, Writer};
use arrivals::{MonoNs, ProcessClock};

/// What workers post to the writer.
#[derive(Debug)]
pub(crate) enum Post {
    /// A console line, without its newline.
    Line(String),
    /// An event that happened at `at` (monotonic) / `unix_ms` (wall clock).
    Event {
        at: MonoNs,
        unix_ms: f64,
        event: ClientEvent,
    },
}

/// The console and the event log, owned by the writer thread.
#[derive(Debug)]
pub(crate) struct Files {
    clock: ProcessClock,
    stdout: BufWriter<Stdout>,
    log: Option<EventLog>,
    log_failed: bool,
}

impl Files {
    fn lost(&mut self, e: &std::io::Error) {
        let _ = writeln!(
            std::io::stderr(),
            "Error: cannot write the event log, no more events are recorded: {e}"
        );
        self.log = None;
        self.log_failed = true;
    }
}

impl Sink for Files {
    type Post = Post;

    fn handle(&mut self, post: Post) {
        match post {
            // A closed stdout (say, piped into `head`) must not stop the workers.
            Post::Line(text) => {
                let _ = writeln!(self.stdout, "{text}");
            }
            Post::Event { at, unix_ms, event } => {
                let Some(log) = self.log.as_mut() else {
                    return;
                };
                if let Err(e) = log.append_event(&self.clock, at, unix_ms, event) {
                    self.lost(&e);
                }
            }
        }
    }

    fn weight(post: &Post) -> usize {
        match post {
            Post::Line(text) => text.len(),
            Post::Event { .. } => 0,
        }
    }

    fn idle(&mut self) {
        let _ = self.stdout.flush();
    }

    fn flush(&mut self) {
        if let Some(log) = self.log.as_mut()
            && let Err(e) = log.flush()
        {
            self.lost(&e);
        }
    }
}

/// The handle workers share.
#[derive(Debug)]
pub(crate) struct Output {
    clock: ProcessClock,
    verbose: bool,
    post: Poster<Files>,
    writer: Mutex<Option<Writer<Files>>>,
}

impl Output {
    pub(crate) fn new(events: Option<&Path>, verbose: bool) -> anyhow::Result<Self> {
        let log = events
            .map(|path| {
                EventLog::create(path)
                    .with_context(|| format!("cannot create event log {}", path.display()))
            })
            .transpose()?;
        let clock = ProcessClock::start();
        let files = Files {
            clock,
            stdout: BufWriter::new(std::io::stdout()),
            log,
            log_failed: false,
        };
        let writer = Writer::spawn("output", files).context("cannot start the output thread")?;
        Ok(Self {
            clock,
            verbose,
            post: writer.poster(),
            writer: Mutex::new(Some(writer)),
        })
    }

    pub(crate) fn clock(&self) -> &ProcessClock {
        &self.clock
    }

    /// A line always printed.
    pub(crate) fn line(&self, text: String) {
        self.post.post(Post::Line(text));
    }

    /// A line printed only with `--verbose`; `text` is only called then.
    pub(crate) fn verbose(&self, text: impl FnOnce() -> String) {
        if self.verbose {
            self.line(text());
        }
    }

    /// A worker's error, always printed, on stderr.
    pub(crate) fn error(&self, worker: u32, text: &str) {
        let _ = writeln!(std::io::stderr(), "[Worker {worker}] Error: {text}");
    }

    /// Records `event` as happening now.
    pub(crate) fn event(&self, event: ClientEvent) {
        self.event_at(MonoNs::now(), unix_ms_now(), event);
    }

    /// Records `event` as happening at `at` (monotonic) / `unix_ms` (wall clock).
    pub(crate) fn event_at(&self, at: MonoNs, unix_ms: f64, event: ClientEvent) {
        self.post.post(Post::Event { at, unix_ms, event });
    }

    /// Writes out everything posted so far and stops the writer; true when the event log
    /// lost records. Later posts are dropped.
    pub(crate) fn finish(&self) -> bool {
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        writer.is_some_and(|w| w.finish().log_failed)
    }
}
