//! Serving one connection with blocking reads, as the iterative and thread modes do: every
//! read waits in `poll` next to the shutdown pipe, so a stopping server ends the connection at
//! once (reason `server_shutdown`), after recording the messages that had already arrived.

use std::io;
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::time::Duration;

use arrivals::events::CloseReason;
use arrivals::protocol::{LineReader, TimedRead};

use crate::recorder::{Meter, Recorder};
use crate::shutdown::{Ready, Shutdown, StopDrain, poll_readable};
use crate::{Limits, timestamps};

/// Reads `stream` until it ends, measuring every message with `meter`, then records the
/// close.
pub(crate) fn serve(
    mut meter: Meter,
    stream: &TcpStream,
    recorder: &Recorder,
    shutdown: &Shutdown,
    limits: Limits,
) {
    let conn = meter.conn();
    let reader = StopAware {
        stream,
        shutdown,
        drain: StopDrain::default(),
        idle: limits.idle_timeout,
    };
    let mut lines = LineReader::new(reader, limits.max_line_bytes);
    let reason = loop {
        match lines.next_chunk() {
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

/// A socket whose reads end once the server is stopping, after the bytes that had already
/// arrived by then.
struct StopAware<'a> {
    stream: &'a TcpStream,
    shutdown: &'a Shutdown,
    drain: StopDrain,
    /// `--idle-timeout`.
    idle: Option<Duration>,
}

impl TimedRead for StopAware<'_> {
    fn read_timed(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
        if !self.drain.started() {
            match poll_readable(&[self.stream.as_fd()], self.shutdown, self.idle)? {
                Ready::Shutdown => {}
                Ready::TimedOut => return Err(idle_error(self.idle)),
                Ready::Fd(_) => return timestamps::recv(self.stream, buf, false),
            }
        }
        let n = self.drain.allowance(&self.stream, buf.len());
        if n == 0 {
            return Ok((0, None));
        }
        let read = timestamps::recv(self.stream, &mut buf[..n], false)?;
        self.drain.consumed(read.0);
        Ok(read)
    }
}

/// The error that ends a connection idle for `--idle-timeout`.
pub(crate) fn idle_error(idle: Option<Duration>) -> io::Error {
    let secs = idle.map_or(0.0, |d| d.as_secs_f64());
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("nothing received for {secs} s (--idle-timeout)"),
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn a_stop_reads_what_had_arrived_and_nothing_after() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut peer = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (stream, _) = listener.accept().expect("accept");
        peer.write_all(b"one\ntwo\nthr").expect("write");
        // Wait until the three lines' bytes are in the server socket's receive queue.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while crate::shutdown::tests_support::unread(&stream) < 11 {
            assert!(std::time::Instant::now() < deadline, "bytes never arrived");
            std::thread::yield_now();
        }
        let shutdown = Shutdown::new().expect("shutdown");
        shutdown.trigger();
        let reader = StopAware {
            stream: &stream,
            shutdown: &shutdown,
            drain: StopDrain::default(),
            idle: None,
        };
        let mut lines = LineReader::new(reader, 1024);
        let mut got = Vec::new();
        while let Some(chunk) = lines.next_chunk().expect("read") {
            got.extend(
                chunk
                    .lines()
                    .map(|l| String::from_utf8(l.to_vec()).expect("utf8")),
            );
            // Bytes sent after the stop are not read: the peer cannot hold the stop up.
            peer.write_all(b"late\n").expect("write");
        }
        assert_eq!(got, ["one", "two", "thr"]);
    }
}
