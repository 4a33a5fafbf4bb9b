//! The client's two outputs: console lines (verbose ones only with `--verbose`) and the
//! JSONL event log, shared by all workers.

use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context as _;
use arrivals::clock::unix_ms_now;
use arrivals::events::{ClientEvent, EventLog, Record};
use arrivals::{MonoNs, ProcessClock};

#[derive(Debug)]
pub(crate) struct Output {
    clock: ProcessClock,
    verbose: bool,
    log: Mutex<Option<EventLog>>,
}

impl Output {
    pub(crate) fn new(events: Option<&Path>, verbose: bool) -> anyhow::Result<Self> {
        let log = events
            .map(|path| {
                EventLog::create(path)
                    .with_context(|| format!("cannot create event log {}", path.display()))
            })
            .transpose()?;
        Ok(Self {
            clock: ProcessClock::start(),
            verbose,
            log: Mutex::new(log),
        })
    }

    pub(crate) fn clock(&self) -> &ProcessClock {
        &self.clock
    }

    /// A line always printed. A closed stdout (say, piped into `head`) must not stop the
    /// workers, so write errors are ignored.
    pub(crate) fn line(&self, text: &str) {
        let _ = writeln!(std::io::stdout(), "{text}");
    }

    /// A line printed only with `--verbose`.
    pub(crate) fn verbose(&self, text: impl FnOnce() -> String) {
        if self.verbose {
            self.line(&text());
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
        // A poisoned lock only means another worker panicked mid-write; the log is still
        // line-consistent because every write is one whole line.
        let mut guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(log) = guard.as_mut() {
            let record = Record {
                t_ms: self.clock.t_ms(at),
                unix_ms,
                event,
            };
            if let Err(e) = log.write(&record) {
                let _ = writeln!(
                    std::io::stderr(),
                    "Error: cannot write the event log, no more events are recorded: {e}"
                );
                *guard = None;
            }
        }
    }
}
