//! Serving one connection with blocking reads, as the iterative and thread modes do: every
//! read waits in `poll` next to the shutdown pipe, so a stopping server ends the connection at
//! once (reason `server_shutdown`) with every message read so far recorded.

use std::io::{self, Read};
use std::net::TcpStream;
use std::os::fd::AsFd;

use arrivals::events::CloseReason;
use arrivals::protocol::LineReader;

use crate::recorder::{ConnId, Received, Recorder};
use crate::shutdown::{Ready, Shutdown, poll_readable};

/// Reads `stream` until it ends, recording every message, then records the close.
pub(crate) fn serve(
    conn: ConnId,
    stream: &TcpStream,
    recorder: &Recorder,
    shutdown: &Shutdown,
    max_line_bytes: usize,
) {
    let mut lines = LineReader::new(StopAware { stream, shutdown }, max_line_bytes);
    let reason = loop {
        match lines.next_line() {
            Ok(Some(line)) => recorder.message(conn, Received::from_line(&line)),
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

/// A socket whose reads return end-of-stream once the server is stopping.
struct StopAware<'a> {
    stream: &'a TcpStream,
    shutdown: &'a Shutdown,
}

impl Read for StopAware<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match poll_readable(&[self.stream.as_fd()], self.shutdown, None)? {
            Ready::Shutdown => Ok(0),
            _ => (&*self.stream).read(buf),
        }
    }
}
