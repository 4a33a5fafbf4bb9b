//! One output thread per process. The threads that measure (a connection's reader, a
//! client's sender) never format, serialise or write: they post plain values to a channel and
//! go back to their socket. The writer thread owns the console and the event log, handles the
//! values in the order they were posted, pushes console text out whenever the channel runs
//! dry, and writes the log at least every [`FLUSH_INTERVAL`] and when it stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Longest time a posted record waits before it is written to the event log file.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Bytes of posts (by [`Sink::weight`]) the writer may fall behind before a poster waits:
/// a burst is absorbed without slowing the measuring threads, a sustained overload slows
/// them to the writer's pace, and memory stays bounded.
pub const QUEUE_BYTES: usize = 64 << 20;

/// Bookkeeping cost of one post, added to its weight.
const POST_OVERHEAD: usize = 64;

/// The queued count once the writer has stopped.
const STOPPED: usize = usize::MAX / 2;

/// How often, in handled posts, a busy writer checks whether a flush is due.
const CHECK_EVERY: u32 = 256;

/// What the writer thread does with the values posted to it.
pub trait Sink: Send + 'static {
    /// The values measuring threads post.
    type Post: Send + 'static;

    /// Handles one post, in posting order.
    fn handle(&mut self, post: Self::Post);

    /// Bytes `post` holds beyond its own size (a buffer it carries).
    fn weight(_post: &Self::Post) -> usize {
        0
    }

    /// The channel is empty for now: push console output out.
    fn idle(&mut self);

    /// Writes the event log out; called at least every [`FLUSH_INTERVAL`] and at the end.
    fn flush(&mut self);
}

enum Command<P> {
    Post(P, usize),
    Stop,
}

/// A cloneable handle that posts to a writer thread. Posting after the writer stopped does
/// nothing.
pub struct Poster<S: Sink> {
    tx: Sender<Command<S::Post>>,
    queued: Arc<AtomicUsize>,
}

impl<S: Sink> std::fmt::Debug for Poster<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poster")
            .field("queued", &self.queued.load(Ordering::Relaxed))
            .finish()
    }
}

impl<S: Sink> Clone for Poster<S> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            queued: Arc::clone(&self.queued),
        }
    }
}

impl<S: Sink> Poster<S> {
    /// Posts `value`; waits only while the writer is [`QUEUE_BYTES`] behind.
    pub fn post(&self, value: S::Post) {
        let weight = S::weight(&value) + POST_OVERHEAD;
        // The writer sets the count to `usize::MAX / 2` when it stops, which ends the wait.
        loop {
            let queued = self.queued.load(Ordering::Relaxed);
            if queued <= QUEUE_BYTES {
                break;
            }
            if queued >= STOPPED {
                return;
            }
            // Rare (sustained overload): wait for the writer to catch up a little.
            thread::sleep(Duration::from_micros(100));
        }
        self.queued.fetch_add(weight, Ordering::Relaxed);
        if self.tx.send(Command::Post(value, weight)).is_err() {
            self.queued.fetch_sub(weight, Ordering::Relaxed);
        }
    }
}

/// The writer thread; [`Writer::finish`] stops it after everything posted before.
#[derive(Debug)]
pub struct Writer<S: Sink> {
    poster: Poster<S>,
    thread: JoinHandle<S>,
}

impl<S: Sink> Writer<S> {
    /// Starts a writer thread named `name` that owns `sink`.
    pub fn spawn(name: &str, sink: S) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let thread = {
            let queued = Arc::clone(&queued);
            thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || {
                    let sink = run(sink, &rx, &queued);
                    queued.store(STOPPED, Ordering::Relaxed);
                    sink
                })?
        };
        Ok(Self {
            poster: Poster { tx, queued },
            thread,
        })
    }

    /// A handle for posting.
    pub fn poster(&self) -> Poster<S> {
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

/// Handles posts until a stop; returns the sink once everything is flushed.
fn run<S: Sink>(mut sink: S, rx: &Receiver<Command<S::Post>>, queued: &AtomicUsize) -> S {
    let handle = |sink: &mut S, post: S::Post, weight: usize| {
        sink.handle(post);
        queued.fetch_sub(weight, Ordering::Relaxed);
    };
    let mut next_flush = Instant::now() + FLUSH_INTERVAL;
    'outer: loop {
        let wait = next_flush.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(Command::Post(post, weight)) => {
                handle(&mut sink, post, weight);
                // Handle the backlog in one go, checking now and then whether a flush is due.
                let mut handled = 0u32;
                loop {
                    match rx.try_recv() {
                        Ok(Command::Post(post, weight)) => handle(&mut sink, post, weight),
                        Ok(Command::Stop) | Err(TryRecvError::Disconnected) => break 'outer,
                        Err(TryRecvError::Empty) => break,
                    }
                    handled += 1;
                    if handled.is_multiple_of(CHECK_EVERY) && Instant::now() >= next_flush {
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
