//! One output thread per process. The threads that measure (a connection's reader, a
//! client's sender) never format, serialise or write: they post plain values to a channel and
//! go back to their socket. The writer thread owns the console and the event log, handles the
//! values in the order they were posted, pushes console text out whenever the channel runs
//! dry, and writes the log at least every [`FLUSH_INTERVAL`] and when it stops.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Longest time a posted record waits before it is written to the event log file.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Posts the writer can hold before a poster waits: measuring threads are slowed down only
/// when the writer falls this far behind, and memory stays bounded.
const CAPACITY: usize = 4096;

/// How often, in handled posts, a busy writer checks whether a flush is due.
const CHECK_EVERY: u32 = 256;

/// What the writer thread does with the values posted to it.
pub trait Sink: Send + 'static {
    /// The values measuring threads post.
    type Post: Send + 'static;

    /// Handles one post, in posting order.
    fn handle(&mut self, post: Self::Post);

    /// The channel is empty for now: push console output out.
    fn idle(&mut self);

    /// Writes the event log out; called at least every [`FLUSH_INTERVAL`] and at the end.
    fn flush(&mut self);
}

enum Command<P> {
    Post(P),
    Stop,
}

/// A cloneable handle that posts to a writer thread. Posting after the writer stopped does
/// nothing.
#[derive(Debug)]
pub struct Poster<P> {
    tx: SyncSender<Command<P>>,
}

impl<P> Clone for Poster<P> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<P: Send> Poster<P> {
    /// Posts `value`; waits only while the writer is [`CAPACITY`] posts behind.
    pub fn post(&self, value: P) {
        let _ = self.tx.send(Command::Post(value));
    }
}

/// The writer thread; [`Writer::finish`] stops it after everything posted before.
#[derive(Debug)]
pub struct Writer<S: Sink> {
    poster: Poster<S::Post>,
    thread: JoinHandle<S>,
}

impl<S: Sink> Writer<S> {
    /// Starts a writer thread named `name` that owns `sink`.
    pub fn spawn(name: &str, sink: S) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel(CAPACITY);
        let thread = thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || run(sink, &rx))?;
        Ok(Self {
            poster: Poster { tx },
            thread,
        })
    }

    /// A handle for posting.
    pub fn poster(&self) -> Poster<S::Post> {
        self.poster.clone()
    }

    /// Handles everything posted before this call, flushes, stops the thread and returns
    /// the sink (to read what it counted or what failed). Posts that come later are dropped.
    pub fn finish(self) -> S {
        let _ = self.poster.tx.send(Command::Stop);
        match self.thread.join() {
            Ok(sink) => sink,
            // The sink panicked: re-raise on the caller's thread rather than invent a sink.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

fn run<S: Sink>(mut sink: S, rx: &Receiver<Command<S::Post>>) -> S {
    let mut next_flush = Instant::now() + FLUSH_INTERVAL;
    'outer: loop {
        let wait = next_flush.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(Command::Post(post)) => {
                sink.handle(post);
                // Handle the backlog in one go, checking now and then whether a flush is due.
                let mut handled = 0u32;
                loop {
                    match rx.try_recv() {
                        Ok(Command::Post(post)) => sink.handle(post),
                        Ok(Command::Stop) | Err(TryRecvError::Disconnected) => break 'outer,
                        Err(TryRecvError::Empty) => break,
                    }
                    handled += 1;
                    if handled % CHECK_EVERY == 0 && Instant::now() >= next_flush {
                        sink.idle();
                        sink.flush();
                        next_flush = Instant::now() + FLUSH_INTERVAL;
                    }
                }
                sink.idle();
            }
            Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if Instant::now() >= next_flush {
            sink.flush();
            next_flush = Instant::now() + FLUSH_INTERVAL;
        }
    }
    sink.idle();
    sink.flush();
    sink
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Keeps what it handled; a flush moves the handled values to `flushed`.
    #[derive(Default)]
    struct Keep {
        pending: Vec<u32>,
        flushed: Arc<Mutex<Vec<u32>>>,
        idles: u32,
    }

    impl Sink for Keep {
        type Post = u32;
        fn handle(&mut self, post: u32) {
            self.pending.push(post);
        }
        fn idle(&mut self) {
            self.idles += 1;
        }
        fn flush(&mut self) {
            self.flushed.lock().expect("lock").append(&mut self.pending);
        }
    }

    #[test]
    fn finish_handles_everything_posted_before_in_order_and_flushes() {
        let writer = Writer::spawn("test-writer", Keep::default()).expect("spawn");
        let posters: Vec<_> = (0..4).map(|_| writer.poster()).collect();
        let threads: Vec<_> = posters
            .into_iter()
            .enumerate()
            .map(|(k, p)| {
                thread::spawn(move || {
                    for i in 0..10_000u32 {
                        p.post(k as u32 * 100_000 + i);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("poster");
        }
        let late = writer.poster();
        let sink = writer.finish();
        late.post(7);
        let flushed = sink.flushed.lock().expect("lock").clone();
        assert!(sink.pending.is_empty());
        assert_eq!(flushed.len(), 40_000);
        for k in 0..4u32 {
            let mine: Vec<u32> = flushed
                .iter()
                .copied()
                .filter(|v| v / 100_000 == k)
                .collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "poster {k} out of order"
            );
        }
        assert!(sink.idles >= 1);
    }

    #[test]
    fn an_idle_writer_flushes_within_the_interval() {
        let flushed = Arc::new(Mutex::new(Vec::new()));
        let writer = Writer::spawn(
            "test-writer",
            Keep {
                flushed: Arc::clone(&flushed),
                ..Keep::default()
            },
        )
        .expect("spawn");
        writer.poster().post(1);
        // Synchronise on the effect, with a generous bound: the flush is due within 100 ms.
        let deadline = Instant::now() + Duration::from_secs(10);
        while flushed.lock().expect("lock").is_empty() {
            assert!(Instant::now() < deadline, "never flushed");
            thread::sleep(Duration::from_millis(5));
        }
        let sink = writer.finish();
        assert_eq!(*flushed.lock().expect("lock"), [1]);
        assert!(sink.pending.is_empty());
    }
}
