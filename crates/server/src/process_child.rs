//! The worker process of `proc` mode: the server re-executes itself with a hidden flag for
//! each connection, hands the accepted socket over as stdin, and reads one JSON record per
//! line from the worker's stdout as things happen. Measurements (message instants on the
//! system-wide monotonic clock) are taken here and turned into gaps by the parent's recorder,
//! so nothing received is lost when the server stops.

use std::io::{self, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;

use anyhow::Context as _;
use arrivals::protocol::LineReader;
use serde::{Deserialize, Serialize};

use crate::recorder::{Received, Worker};

/// One line a worker process writes to its parent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub(crate) enum ChildRecord {
    /// First record: who serves the connection.
    Hello {
        worker: Worker,
    },
    Message {
        message: Received,
    },
    /// The connection failed (read error, over-long line); the worker exits next.
    Error {
        error: String,
    },
    /// The peer (or the parent, at shutdown) closed the connection.
    End,
}

/// Runs a worker for the server with PID `parent_pid`: serves the socket on stdin.
pub(crate) fn run(parent_pid: u32, max_line_bytes: usize) -> anyhow::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets this process's parent-death signal; the
    // unused arguments are zero as the man page asks.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        );
    }
    // The parent may have died before the prctl above took effect; then nobody would read
    // our records, and the signal would never come.
    if std::os::unix::process::parent_id() != parent_pid {
        return Ok(());
    }
    // Ctrl-C goes to the whole foreground process group: the parent handles it and decides
    // when connections end (it closes their sockets), so the worker must not die of it.
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler code.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    let socket = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(TcpStream::from)
        .context("worker process: no connection on stdin")?;
    let mut out = io::stdout().lock();
    // An error here means the parent stopped reading (it is gone): nothing left to do.
    let _ = serve(&socket, &mut out, max_line_bytes);
    Ok(())
}

/// Reads messages off `socket` and reports them on `out`, one flushed line per record.
fn serve(socket: &TcpStream, out: &mut impl Write, max_line_bytes: usize) -> io::Result<()> {
    emit(
        out,
        &ChildRecord::Hello {
            worker: Worker::current(),
        },
    )?;
    let mut lines = LineReader::new(socket, max_line_bytes);
    loop {
        match lines.next_line() {
            Ok(Some(line)) => emit(
                out,
                &ChildRecord::Message {
                    message: Received::from_line(&line),
                },
            )?,
            Ok(None) => return emit(out, &ChildRecord::End),
            Err(e) => {
                return emit(
                    out,
                    &ChildRecord::Error {
                        error: e.to_string(),
                    },
                );
            }
        }
    }
}

fn emit(out: &mut impl Write, record: &ChildRecord) -> io::Result<()> {
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn a_worker_reports_hello_messages_and_end() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server_side, _) = listener.accept().expect("accept");
        client.write_all(b"one\r\ntwo\xff\n").expect("send");
        drop(client);
        let mut out = Vec::new();
        serve(&server_side, &mut out, 100).expect("serve");
        let records: Vec<ChildRecord> = String::from_utf8(out)
            .expect("utf8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("record"))
            .collect();
        assert_eq!(records.len(), 4);
        assert!(
            matches!(&records[0], ChildRecord::Hello { worker } if worker.pid == std::process::id())
        );
        let ChildRecord::Message { message } = &records[2] else {
            panic!("not a message: {:?}", records[2]);
        };
        assert_eq!((message.bytes, message.lossy), (4, true));
        assert_eq!(records[3], ChildRecord::End);
    }
}
