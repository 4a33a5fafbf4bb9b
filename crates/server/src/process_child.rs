//! The worker process of `proc` mode: the server re-executes itself with a hidden flag for
//! each connection, hands the accepted socket over as stdin, and reads compact binary frames
//! from the worker's stdout. Measurements (the instant of each read on the system-wide
//! monotonic clock) are taken here and turned into gaps by the parent's meter, so nothing
//! received is lost when the server stops. Frames are batched: the worker writes them out when
//! 64 KiB have gathered, whenever its socket has nothing more to read for now, and at the end.

use std::io::{self, BufRead, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use anyhow::Context as _;
use arrivals::Chunk;
use arrivals::clock::MonoNs;
use arrivals::protocol::{LineBuffer, LineError, Next};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::net::{RecvFlags, recv};
use rustix::process::Signal;

use crate::connection::idle_error;
use crate::recorder::Worker;
use crate::shutdown::StopDrain;
use crate::timestamps;

/// Written out once this much is buffered, even while more data is waiting.
const BATCH_BYTES: usize = 64 * 1024;

/// One frame a worker writes to its parent. On the wire (integers little-endian):
/// `H pid:u32 tid:u64 ppid:u32`, `L at_ns:u64 kernel_ns:u64 lines:u64 len:u32 bytes` (a
/// `kernel_ns` of 0: none), `E len:u32 utf8`, `Z`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Frame {
    /// First frame: who serves the connection.
    Hello(Worker),
    /// The lines of one read (see [`Chunk`]).
    Lines {
        at: MonoNs,
        kernel_ns: Option<u64>,
        lines: u64,
        bytes: Vec<u8>,
    },
    /// The connection failed (read error, over-long line); the worker exits next.
    Error(String),
    /// The peer (or the parent, at shutdown) closed the connection.
    End,
}

fn put_hello(out: &mut Vec<u8>, w: Worker) {
    out.push(b'H');
    out.extend_from_slice(&w.pid.to_le_bytes());
    out.extend_from_slice(&w.tid.to_le_bytes());
    out.extend_from_slice(&w.ppid.to_le_bytes());
}

/// The lines of one read; with `counts_only`, their number and instants without the text.
fn put_lines(out: &mut Vec<u8>, chunk: &Chunk<'_>, counts_only: bool) {
    out.push(b'L');
    out.extend_from_slice(&chunk.at.0.to_le_bytes());
    out.extend_from_slice(&chunk.kernel_ns.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&chunk.lines.to_le_bytes());
    let bytes = if counts_only { &[][..] } else { chunk.bytes };
    // A chunk is at most --max-line-bytes plus one read, far below 4 GiB.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&bytes[..len as usize]);
}

fn put_error(out: &mut Vec<u8>, error: &str) {
    let bytes = &error.as_bytes()[..error.len().min(4096)];
    out.push(b'E');
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn take<const N: usize>(r: &mut impl Read) -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    r.read_exact(&mut b)?;
    Ok(b)
}

fn take_vec(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let len = u32::from_le_bytes(take(r)?) as usize;
    let mut bytes = vec![0u8; len];
    r.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// Reads the next frame; `Ok(None)` when the worker's output ended between frames.
pub(crate) fn read_frame(r: &mut impl BufRead) -> io::Result<Option<Frame>> {
    if r.fill_buf()?.is_empty() {
        return Ok(None);
    }
    let [tag] = take(r)?;
    let frame = match tag {
        b'H' => Frame::Hello(Worker {
            pid: u32::from_le_bytes(take(r)?),
            tid: u64::from_le_bytes(take(r)?),
            ppid: u32::from_le_bytes(take(r)?),
        }),
        b'L' => Frame::Lines {
            at: MonoNs(u64::from_le_bytes(take(r)?)),
            kernel_ns: Some(u64::from_le_bytes(take(r)?)).filter(|&ns| ns > 0),
            lines: u64::from_le_bytes(take(r)?),
            bytes: take_vec(r)?,
        },
        b'E' => Frame::Error(String::from_utf8_lossy(&take_vec(r)?).into_owned()),
        b'Z' => Frame::End,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown frame tag {other:#04x}"),
            ));
        }
    };
    Ok(Some(frame))
}

/// Runs a worker for the server with PID `parent_pid`: serves the socket on stdin.
pub(crate) fn run(
    parent_pid: u32,
    max_line_bytes: usize,
    idle: Option<Duration>,
    counts_only: bool,
) -> anyhow::Result<()> {
    // If the parent dies, so do we.
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .context("worker process: cannot set the parent-death signal")?;
    // The parent may have died before that took effect; then nobody would read our frames,
    // and the signal would never come.
    if std::os::unix::process::parent_id() != parent_pid {
        return Ok(());
    }
    // Ctrl-C goes to the whole foreground process group: the parent handles it and decides
    // when connections end (it closes their sockets), so the worker must not die of it.
    ignore_sigint().context("worker process: cannot ignore SIGINT")?;
    let socket = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(TcpStream::from)
        .context("worker process: no connection on stdin")?;
    // Stdout is our end of a socket pair: frames go out on it, and its end of input is
    // the parent asking us to stop.
    let control = io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .context("worker process: no control channel on stdout")?;
    let mut out = io::stdout().lock();
    // An error here means the parent stopped reading (it is gone): nothing left to do.
    let limits = WorkerLimits {
        max_line_bytes,
        idle,
        counts_only,
    };
    let _ = serve(&socket, &mut out, Some(control.as_fd()), limits);
    Ok(())
}

/// SIGINT ignored, through signal-hook's safe registration of the `SIG_IGN` disposition.
fn ignore_sigint() -> io::Result<()> {
    // An empty action list on a flag that is never read: the signal is caught and dropped.
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, flag).map(|_| ())
}

/// Reads messages off `socket` and reports them on `out` in batched frames until the
/// connection ends or `control` (when given) ends: then the bytes that had arrived by that
/// moment are read and the worker reports the end.
fn serve(
    socket: &TcpStream,
    out: &mut impl Write,
    control: Option<BorrowedFd<'_>>,
    limits: WorkerLimits,
) -> io::Result<()> {
    let mut batch = Vec::with_capacity(BATCH_BYTES + 1024);
    put_hello(&mut batch, Worker::current());
    let mut lines = LineBuffer::new(limits.max_line_bytes);
    let mut stop = StopWatch {
        control,
        drain: StopDrain::default(),
        checked: MonoNs::now(),
        idle: limits.idle,
    };
    loop {
        match lines.next_buffered() {
            Ok(Next::Lines(span)) => {
                put_lines(&mut batch, &lines.chunk(span), limits.counts_only);
                if batch.len() >= BATCH_BYTES {
                    send(out, &mut batch)?;
                }
            }
            Ok(Next::End) => {
                batch.push(b'Z');
                return send(out, &mut batch);
            }
            Ok(Next::NeedInput) => {
                let read = stop.read_or_send(socket, lines.spare(), out, &mut batch)?;
                if let Err(e) = lines.commit_timed(read) {
                    put_error(&mut batch, &e.to_string());
                    return send(out, &mut batch);
                }
            }
            Err(e) => {
                put_error(&mut batch, &LineError::to_string(&e));
                return send(out, &mut batch);
            }
        }
    }
}

/// What a worker was told on its command line.
#[derive(Clone, Copy, Debug)]
struct WorkerLimits {
    max_line_bytes: usize,
    idle: Option<Duration>,
    /// Report line counts and instants without the text (`--counts-only`).
    counts_only: bool,
}

/// Watches the parent's control channel and, once it asked for the stop, limits reads to
/// what had arrived then.
struct StopWatch<'a> {
    control: Option<BorrowedFd<'a>>,
    drain: StopDrain,
    /// Last time the control channel was looked at while data kept coming.
    checked: MonoNs,
    /// `--idle-timeout`.
    idle: Option<Duration>,
}

/// How often a worker busy with a flood looks at its control channel.
const CHECK_NS: u64 = 1_000_000;

impl StopWatch<'_> {
    /// Reads what the socket has; when it has nothing for now, first sends the batch (so the
    /// parent hears of every message before the worker waits), then waits for data or for
    /// the stop. After the stop only the bytes that had arrived are read, then `Ok(0)`.
    fn read_or_send(
        &mut self,
        socket: &TcpStream,
        buf: &mut [u8],
        out: &mut impl Write,
        batch: &mut Vec<u8>,
    ) -> io::Result<io::Result<(usize, Option<u64>)>> {
        loop {
            let now = MonoNs::now();
            if self.drain.started()
                || (now.0.saturating_sub(self.checked.0) >= CHECK_NS && {
                    self.checked = now;
                    self.requested_for(socket)
                })
            {
                let n = self.drain.allowance(&socket, buf.len());
                if n == 0 {
                    return Ok(Ok((0, None)));
                }
                return Ok(match timestamps::recv(socket, &mut buf[..n], true) {
                    Ok(read) => {
                        self.drain.consumed(read.0);
                        Ok(read)
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok((0, None)),
                    Err(e) => Err(e),
                });
            }
            match timestamps::recv(socket, buf, true) {
                Ok(read) => return Ok(Ok(read)),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Ok(Err(e)),
            }
            send(out, batch)?;
            if !self.wait(socket) {
                return Ok(Err(idle_error(self.idle)));
            }
            // Look at the control channel on the next round whatever the time.
            self.checked = MonoNs(0);
        }
    }

    /// True once the parent asked for the stop (or is gone: its end of the channel ended);
    /// then measures what had arrived on `socket`, which is all that is read from now on.
    fn requested_for(&mut self, socket: &TcpStream) -> bool {
        if self.drain.started() {
            return true;
        }
        let Some(control) = self.control else {
            return false;
        };
        let mut byte = [0u8; 1];
        let asked = !matches!(
            recv(control, &mut byte[..], RecvFlags::DONTWAIT),
            Err(Errno::AGAIN | Errno::INTR)
        );
        if asked {
            // Measure what had arrived at this instant: only that is read from now on.
            let _ = self.drain.allowance(&socket, 0);
        }
        asked
    }

    /// Blocks until the socket or the control channel has something (true), or for
    /// `--idle-timeout` (false).
    fn wait(&self, socket: &TcpStream) -> bool {
        let mut fds = vec![PollFd::new(socket, PollFlags::IN)];
        if let Some(control) = &self.control {
            fds.push(PollFd::new(control, PollFlags::IN));
        }
        let timeout = self.idle.and_then(|d| Timespec::try_from(d).ok());
        loop {
            match poll(&mut fds, timeout.as_ref()) {
                Ok(0) => return false,
                Ok(_) => return true,
                Err(Errno::INTR) => {}
                // Not expected for these descriptors; the read that follows tells.
                Err(_) => return true,
            }
        }
    }
}

fn send(out: &mut impl Write, batch: &mut Vec<u8>) -> io::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    out.write_all(batch)?;
    batch.clear();
    out.flush()
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn a_worker_reports_hello_lines_and_end_in_frames() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server_side, _) = listener.accept().expect("accept");
        client.write_all(b"one\r\ntwo\xff\n").expect("send");
        drop(client);
        let mut out = Vec::new();
        let limits = WorkerLimits {
            max_line_bytes: 100,
            idle: None,
            counts_only: false,
        };
        serve(&server_side, &mut out, None, limits).expect("serve");
        let mut r = &out[..];
        let mut frames = Vec::new();
        while let Some(f) = read_frame(&mut r).expect("frame") {
            frames.push(f);
        }
        assert!(matches!(&frames[0], Frame::Hello(w) if w.pid == std::process::id()));
        let lines: Vec<u8> = frames
            .iter()
            .filter_map(|f| match f {
                Frame::Lines { bytes, .. } => Some(bytes.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(lines, b"one\r\ntwo\xff\n");
        let count: u64 = frames
            .iter()
            .map(|f| match f {
                Frame::Lines { lines, .. } => *lines,
                _ => 0,
            })
            .sum();
        assert_eq!(count, 2);
        assert_eq!(frames.last(), Some(&Frame::End));
    }

    #[test]
    fn frames_round_trip_and_garbage_is_an_error() {
        let mut buf = Vec::new();
        let w = Worker {
            pid: 1,
            tid: 2,
            ppid: 3,
        };
        put_hello(&mut buf, w);
        put_lines(
            &mut buf,
            &Chunk {
                bytes: b"a\nb\n",
                lines: 2,
                at: MonoNs(42),
                kernel_ns: Some(7),
            },
            false,
        );
        put_lines(
            &mut buf,
            &Chunk {
                bytes: b"c\n",
                lines: 1,
                at: MonoNs(43),
                kernel_ns: None,
            },
            true,
        );
        put_error(&mut buf, "boom");
        buf.push(b'Z');
        let mut r = &buf[..];
        assert_eq!(read_frame(&mut r).expect("h"), Some(Frame::Hello(w)));
        assert_eq!(
            read_frame(&mut r).expect("l"),
            Some(Frame::Lines {
                at: MonoNs(42),
                kernel_ns: Some(7),
                lines: 2,
                bytes: b"a\nb\n".to_vec()
            })
        );
        assert_eq!(
            read_frame(&mut r).expect("counts only"),
            Some(Frame::Lines {
                at: MonoNs(43),
                kernel_ns: None,
                lines: 1,
                bytes: Vec::new()
            })
        );
        assert_eq!(
            read_frame(&mut r).expect("e"),
            Some(Frame::Error("boom".into()))
        );
        assert_eq!(read_frame(&mut r).expect("z"), Some(Frame::End));
        assert_eq!(read_frame(&mut r).expect("eof"), None);
        assert!(read_frame(&mut &b"Q"[..]).is_err());
        assert!(read_frame(&mut &b"L\x01"[..]).is_err());
    }
}
