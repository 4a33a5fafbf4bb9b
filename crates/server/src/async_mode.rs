//! `async` mode: one tokio task per connection on a multi-thread runtime. The shutdown pipe
//! is registered with the runtime's reactor and turned into a `watch` channel that every
//! task selects on; `--max-connections` is a semaphore taken before accept.

use std::io;
use std::net::TcpListener as StdListener;
use std::sync::Arc;
use std::time::Duration;

use arrivals::Chunk;
use arrivals::clock::MonoNs;
use arrivals::events::CloseReason;
use arrivals::protocol::{LineBuffer, LineError, Next};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::accept::{AcceptError, classify, send_greeting};
use crate::connection::idle_error;
use crate::error::ServerError;
use crate::recorder::{ConnId, Recorder, Worker};
use crate::shutdown::{Shutdown, StopDrain, Unread};
use crate::timestamps;
use crate::{Limits, STOP_DEADLINE};

/// Serves each connection in a tokio task until `shutdown` is triggered, then waits (up to a
/// deadline) for the tasks, which end as soon as they see the shutdown.
pub fn serve(
    listener: StdListener,
    recorder: Arc<Recorder>,
    shutdown: Shutdown,
    limits: Limits,
) -> Result<(), ServerError> {
    listener
        .set_nonblocking(true)
        .map_err(ServerError::setup("a non-blocking listener"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .enable_time()
        .thread_name("async-worker")
        .build()
        .map_err(ServerError::setup("the tokio runtime"))?;
    let result = runtime.block_on(accept_loop(listener, recorder, shutdown, limits));
    runtime.shutdown_timeout(STOP_DEADLINE);
    result
}

async fn accept_loop(
    listener: StdListener,
    recorder: Arc<Recorder>,
    shutdown: Shutdown,
    limits: Limits,
) -> Result<(), ServerError> {
    let listener =
        TcpListener::from_std(listener).map_err(ServerError::setup("the async listener"))?;
    let stop = stop_channel(&shutdown)?;
    let limit = Arc::new(Semaphore::new(
        limits.max_connections.min(Semaphore::MAX_PERMITS),
    ));
    let mut tasks = JoinSet::new();
    let result = loop {
        let permit = tokio::select! {
            biased;
            () = stopped(stop.clone()) => break Ok(()),
            p = Arc::clone(&limit).acquire_owned() => match p {
                Ok(p) => p,
                // The semaphore is never closed.
                Err(_) => break Ok(()),
            },
        };
        let accepted = tokio::select! {
            biased;
            () = stopped(stop.clone()) => break Ok(()),
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => match classify(&e) {
                AcceptError::Retry => continue,
                AcceptError::BackOff => {
                    crate::note!("warning: accept failed, retrying: {e}");
                    tokio::select! {
                        () = stopped(stop.clone()) => break Ok(()),
                        () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    }
                }
                AcceptError::Fatal => {
                    break Err(ServerError::Accept {
                        addr: listener
                            .local_addr()
                            .map_or_else(|_| "the listener".to_owned(), |a| a.to_string()),
                        source: e,
                    });
                }
            },
        };
        let at = MonoNs::now();
        // Without kernel timestamps the connection is measured all the same.
        crate::timestamps::enable(&stream);
        let _ = send_greeting(&stream);
        let conn = recorder.accepted(at, peer);
        tasks.spawn(serve_connection(
            conn,
            stream,
            Arc::clone(&recorder),
            shutdown.clone(),
            stop.clone(),
            limits,
            permit,
        ));
        while tasks.try_join_next().is_some() {}
    };
    drop(listener);
    let drained = tokio::time::timeout(STOP_DEADLINE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        // The recorder closes what these tasks leave open when it finishes.
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        return result.and(Err(ServerError::StopDeadline {
            what: "some connection tasks",
            secs: STOP_DEADLINE.as_secs(),
        }));
    }
    result
}

/// A channel that turns true once `shutdown` is triggered.
fn stop_channel(shutdown: &Shutdown) -> Result<watch::Receiver<bool>, ServerError> {
    let (tx, rx) = watch::channel(shutdown.is_triggered());
    let fd = shutdown
        .try_clone_fd()
        .and_then(|fd| {
            // SAFETY: the AsyncFd owns `fd` (an OwnedFd), so the descriptor stays open and
            // refers to the same pipe for the AsyncFd's whole lifetime.
            unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
                .map_err(io::Error::from)
        })
        .map_err(ServerError::setup("the shutdown pipe in the async runtime"))?;
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        while !shutdown.is_triggered() {
            match fd.readable().await {
                Ok(mut guard) => guard.clear_ready(),
                Err(e) => {
                    // The reactor refused the pipe: wait for it on a blocking thread instead.
                    crate::note!("warning: waiting for shutdown on a thread: {e}");
                    let waiter = shutdown.clone();
                    let _ = tokio::task::spawn_blocking(move || waiter.wait()).await;
                }
            }
        }
        let _ = tx.send(true);
    });
    Ok(rx)
}

/// Completes once the server is stopping.
async fn stopped(mut stop: watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens after it sent `true`.
    let _ = stop.wait_for(|&s| s).await;
}

async fn serve_connection(
    conn: ConnId,
    stream: TcpStream,
    recorder: Arc<Recorder>,
    shutdown: Shutdown,
    stop: watch::Receiver<bool>,
    limits: Limits,
    _permit: OwnedSemaphorePermit,
) {
    // The OS thread of the runtime worker that starts serving the connection.
    let Some(mut meter) = recorder.worker_started(conn, Worker::current()) else {
        return;
    };
    let mut lines = AsyncLines::new(stream, limits.max_line_bytes);
    lines.idle = limits.idle_timeout;
    let reason = loop {
        match lines.next_chunk(&stop).await {
            Ok(Some(chunk)) => meter.lines(&chunk),
            Ok(None) if shutdown.is_triggered() => break CloseReason::ServerShutdown,
            Ok(None) => break CloseReason::PeerClosed,
            Err(e) => {
                recorder.error(conn, &e.to_string());
                break CloseReason::Error;
            }
        }
    };
    recorder.closed(conn, reason);
}

/// An async byte stream whose reads also tell when the kernel received the data.
trait AsyncTimedRead {
    /// One read, with the kernel's receive instant (ns since the Unix epoch) where known.
    async fn read_timed(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)>;
}

impl AsyncTimedRead for TcpStream {
    async fn read_timed(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
        let socket = &*self;
        socket
            .async_io(Interest::READABLE, || timestamps::recv(socket, buf, true))
            .await
    }
}

/// The async twin of `arrivals::protocol::LineReader`: the same `LineBuffer` rules, and a
/// stopping server ends the stream after the bytes that had already arrived.
struct AsyncLines<R> {
    inner: R,
    lines: LineBuffer,
    drain: StopDrain,
    /// `--idle-timeout`.
    idle: Option<Duration>,
}

impl<R: AsyncTimedRead + Unread> AsyncLines<R> {
    fn new(inner: R, max_line_bytes: usize) -> Self {
        Self {
            inner,
            lines: LineBuffer::new(max_line_bytes),
            drain: StopDrain::default(),
            idle: None,
        }
    }

    /// One read after the stop: at most what had arrived when it came.
    async fn drain_read(&mut self) -> io::Result<(usize, Option<u64>)> {
        let want = self.lines.spare().len();
        let n = self.drain.allowance(&self.inner, want);
        if n == 0 {
            return Ok((0, None));
        }
        let read = self.inner.read_timed(&mut self.lines.spare()[..n]).await?;
        self.drain.consumed(read.0);
        Ok(read)
    }

    async fn next_chunk(
        &mut self,
        stop: &watch::Receiver<bool>,
    ) -> Result<Option<Chunk<'_>>, LineError> {
        loop {
            match self.lines.next_buffered()? {
                Next::Lines(span) => return Ok(Some(self.lines.chunk(span))),
                Next::End => return Ok(None),
                Next::NeedInput => {
                    let read = if *stop.borrow() {
                        self.drain_read().await
                    } else {
                        let idle = self.idle;
                        tokio::select! {
                            biased;
                            // Seen next round, through `drain_read`.
                            () = stopped(stop.clone()) => continue,
                            r = self.inner.read_timed(self.lines.spare()) => r,
                            () = idle_for(idle) => Err(idle_error(idle)),
                        }
                    };
                    self.lines.commit_timed(read)?;
                }
            }
        }
    }
}

/// Completes after `idle`; never without one.
async fn idle_for(idle: Option<Duration>) {
    match idle {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use arrivals::protocol::LineReader;
    use tokio::io::AsyncReadExt;

    use super::*;

    // Test streams that cannot tell what they hold (a stop ends them after the buffer)
    // nor when the kernel had the bytes.
    impl Unread for &[u8] {
        fn unread(&self) -> usize {
            0
        }
    }

    impl Unread for tokio::io::DuplexStream {
        fn unread(&self) -> usize {
            0
        }
    }

    impl AsyncTimedRead for &[u8] {
        async fn read_timed(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
            AsyncReadExt::read(self, buf).await.map(|n| (n, None))
        }
    }

    impl AsyncTimedRead for tokio::io::DuplexStream {
        async fn read_timed(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
            AsyncReadExt::read(self, buf).await.map(|n| (n, None))
        }
    }

    /// Messages (or the error) of `input`, as text, through either reader.
    fn sync_lines(input: &[u8], max: usize) -> Vec<Result<Vec<u8>, String>> {
        let mut r = LineReader::new(arrivals::protocol::Untimed(input), max);
        let mut out = Vec::new();
        loop {
            match r.next_chunk() {
                Ok(Some(c)) => out.extend(c.lines().map(|l| Ok(l.to_vec()))),
                Ok(None) => return out,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
            }
        }
    }

    fn async_lines(input: &[u8], max: usize) -> Vec<Result<Vec<u8>, String>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (_tx, stop) = watch::channel(false);
            let mut r = AsyncLines::new(input, max);
            let mut out = Vec::new();
            loop {
                match r.next_chunk(&stop).await {
                    Ok(Some(c)) => out.extend(c.lines().map(|l| Ok(l.to_vec()))),
                    Ok(None) => return out,
                    Err(e) => {
                        out.push(Err(e.to_string()));
                        return out;
                    }
                }
            }
        })
    }

    #[test]
    fn a_connection_task_is_small() {
        // What one idle connection costs the async server besides its socket: the task's
        // future (the reader state, the meter, the select). Grown past this, 10,000 idle
        // connections no longer fit the memory budget of the benchmark (32 MiB).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let size = rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let _peer = TcpStream::connect(addr).await.expect("connect");
            let (stream, _) = listener.accept().await.expect("accept");
            let recorder = Arc::new(
                Recorder::new(
                    crate::Mode::Async,
                    false,
                    arrivals::ProcessClock::start(),
                    None,
                    Box::new(std::io::sink()),
                )
                .expect("recorder"),
            );
            let shutdown = Shutdown::new().expect("shutdown");
            let (_tx, stop) = watch::channel(false);
            let permit = Arc::new(Semaphore::new(1))
                .acquire_owned()
                .await
                .expect("permit");
            let limits = Limits {
                max_connections: 1,
                max_line_bytes: 1024,
                idle_timeout: None,
            };
            let task = serve_connection(1, stream, recorder, shutdown, stop, limits, permit);
            std::mem::size_of_val(&task)
        });
        assert!(
            size <= 2048,
            "a connection task's future takes {size} bytes"
        );
    }

    #[test]
    fn splits_exactly_like_the_blocking_line_reader() {
        let long = vec![b'x'; 40_000];
        let mut at_bound = vec![b'y'; 1000];
        at_bound.push(b'\n');
        let cases: Vec<(&[u8], usize)> = vec![
            (b"a\r\nb\n\nlast", 100),
            (b"", 100),
            (b"\n", 100),
            (b"no newline", 100),
            (b"ok \xff\xfe\nnext\n", 100),
            (&long, 1000),
            (&long, 65_536),
            (&at_bound, 1000),
            (&at_bound, 999),
        ];
        for (input, max) in cases {
            assert_eq!(
                async_lines(input, max),
                sync_lines(input, max),
                "input of {} bytes, max {max}",
                input.len()
            );
        }
    }

    #[test]
    fn a_stopping_server_ends_the_stream_after_the_buffered_fragment() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (mut client, server) = tokio::io::duplex(64);
            tokio::io::AsyncWriteExt::write_all(&mut client, b"one\ntw")
                .await
                .expect("write");
            let (tx, stop) = watch::channel(false);
            let mut r = AsyncLines::new(server, 100);
            let first = r.next_chunk(&stop).await.expect("ok").expect("line");
            assert_eq!((first.bytes, first.lines), (&b"one\n"[..], 1));
            tx.send(true).expect("send");
            let frag = r.next_chunk(&stop).await.expect("ok").expect("fragment");
            assert_eq!((frag.bytes, frag.lines), (&b"tw"[..], 1));
            assert!(r.next_chunk(&stop).await.expect("ok").is_none());
            drop(client);
        });
    }

    #[test]
    fn a_stop_reads_what_had_arrived_on_the_socket_and_nothing_after() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let mut peer = TcpStream::connect(addr).await.expect("connect");
            let (server, _) = listener.accept().await.expect("accept");
            tokio::io::AsyncWriteExt::write_all(&mut peer, b"one\ntwo\n")
                .await
                .expect("write");
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while crate::shutdown::tests_support::unread(&server) < 8 {
                assert!(std::time::Instant::now() < deadline, "bytes never arrived");
                tokio::task::yield_now().await;
            }
            let (tx, stop) = watch::channel(false);
            tx.send(true).expect("send");
            let mut r = AsyncLines::new(server, 100);
            let mut got = Vec::new();
            while let Some(chunk) = r.next_chunk(&stop).await.expect("read") {
                got.extend(chunk.lines().map(<[u8]>::to_vec));
                tokio::io::AsyncWriteExt::write_all(&mut peer, b"late\n")
                    .await
                    .expect("write");
            }
            assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
        });
    }
}
