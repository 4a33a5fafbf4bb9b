//! The stop signal handed to every serving mode: a cloneable handle over a self-pipe, so a
//! thread blocked in `poll` on a socket wakes up the moment the server is told to stop, with no
//! timeout-based polling. Signals (SIGINT, SIGTERM) only call [`Shutdown::trigger`]; tests do
//! the same without signals.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;

/// A self-pipe: `notify` makes its read end readable until `drain` empties it.
#[derive(Debug)]
pub(crate) struct Wakeup {
    read: UnixStream,
    write: UnixStream,
}

impl Wakeup {
    pub(crate) fn new() -> io::Result<Self> {
        let (read, write) = UnixStream::pair()?;
        // Non-blocking both ways: `notify` must never block (the pipe may be full of earlier
        // notifications, which is as good as one more) and `drain` stops when it is empty.
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        Ok(Self { read, write })
    }

    /// Makes the read end readable.
    pub(crate) fn notify(&self) {
        // A full pipe (WouldBlock) is already readable, so every error is harmless here.
        let _ = (&self.write).write(&[1]);
    }

    /// Empties the pipe so that the next `poll` waits for a new notification.
    pub(crate) fn drain(&self) {
        let mut buf = [0u8; 64];
        while let Ok(n) = (&self.read).read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

#[derive(Debug)]
struct Inner {
    triggered: AtomicBool,
    /// Never drained: once triggered, its fd stays readable for every waiter.
    wakeup: Wakeup,
}

/// A cloneable stop signal shared by the acceptor, the connection workers and whoever stops
/// the server (a signal thread, a test).
#[derive(Clone, Debug)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

impl Shutdown {
    /// A handle that has not been triggered.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            inner: Arc::new(Inner {
                triggered: AtomicBool::new(false),
                wakeup: Wakeup::new()?,
            }),
        })
    }

    /// Asks the server to stop; idempotent, never blocks.
    pub fn trigger(&self) {
        self.inner.triggered.store(true, Ordering::SeqCst);
        self.inner.wakeup.notify();
    }

    /// True once [`trigger`](Self::trigger) has been called on any clone.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// A duplicate of [`fd`](Self::fd), for registering with an event loop (tokio's `AsyncFd`).
    pub fn try_clone_fd(&self) -> io::Result<OwnedFd> {
        self.inner.wakeup.fd().try_clone_to_owned()
    }

    /// Blocks until the handle is triggered.
    pub fn wait(&self) -> io::Result<()> {
        while !self.is_triggered() {
            poll_readable(&[], self, None)?;
        }
        Ok(())
    }
}

/// What a stopping server still reads on a connection: the bytes that had arrived when the
/// stop came and nothing after them, so no message already received is lost and a peer that
/// keeps sending cannot hold the stop up.
#[derive(Debug, Default)]
pub(crate) struct StopDrain {
    /// Bytes still to read; measured at the first call after the stop.
    left: Option<usize>,
}

impl StopDrain {
    /// True once the stop was seen on this connection.
    pub(crate) fn started(&self) -> bool {
        self.left.is_some()
    }

    /// How many bytes the next read may take (at most `want`); 0 means the connection is
    /// done. The first call measures what `fd` has received and not yet been read.
    pub(crate) fn allowance(&mut self, socket: &impl Unread, want: usize) -> usize {
        (*self.left.get_or_insert_with(|| socket.unread())).min(want)
    }

    /// Counts `n` bytes read under the allowance.
    pub(crate) fn consumed(&mut self, n: usize) {
        if let Some(left) = &mut self.left {
            *left = left.saturating_sub(n);
        }
    }
}

/// A byte stream that can tell how much it has received and not yet been read.
pub(crate) trait Unread {
    /// Bytes waiting to be read; 0 if it cannot be told.
    fn unread(&self) -> usize;
}

/// Bytes received on `socket` and not yet read (`FIONREAD`); 0 if it cannot be told.
fn unread_bytes(socket: impl AsFd) -> usize {
    rustix::io::ioctl_fionread(socket).map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

impl Unread for std::net::TcpStream {
    fn unread(&self) -> usize {
        unread_bytes(self)
    }
}

impl Unread for &std::net::TcpStream {
    fn unread(&self) -> usize {
        unread_bytes(self)
    }
}

impl Unread for tokio::net::TcpStream {
    fn unread(&self) -> usize {
        unread_bytes(self)
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    /// Bytes received on `socket` and not yet read.
    pub(crate) fn unread(socket: &impl std::os::fd::AsFd) -> usize {
        super::unread_bytes(socket)
    }
}

/// What ended a [`poll_readable`] wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ready {
    /// The descriptor at this index of `fds` is readable (or hung up / in error).
    Fd(usize),
    /// The server is stopping (takes precedence over readable descriptors).
    Shutdown,
    /// The timeout passed.
    TimedOut,
}

/// Waits until one of `fds` is readable, `shutdown` is triggered, or `timeout` passes
/// (`None`: no timeout). Retries on EINTR.
pub(crate) fn poll_readable(
    fds: &[BorrowedFd<'_>],
    shutdown: &Shutdown,
    timeout: Option<Duration>,
) -> io::Result<Ready> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let wakeup = shutdown.inner.wakeup.fd();
    let mut pollfds: Vec<PollFd<'_>> = fds
        .iter()
        .chain(std::iter::once(&wakeup))
        .map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN))
        .collect();
    loop {
        if shutdown.is_triggered() {
            return Ok(Ready::Shutdown);
        }
        let left = deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            // Round up so that a sub-millisecond remainder does not spin with timeout 0.
            let ms = left.as_nanos().div_ceil(1_000_000);
            let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
            Timespec {
                tv_sec: secs,
                tv_nsec: ((ms % 1000) * 1_000_000) as i64,
            }
        });
        let ready = match poll(&mut pollfds, left.as_ref()) {
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        if shutdown.is_triggered() {
            return Ok(Ready::Shutdown);
        }
        if let Some(i) = pollfds[..fds.len()]
            .iter()
            .position(|p| !p.revents().is_empty())
        {
            return Ok(Ready::Fd(i));
        }
        if ready == 0 && deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Ready::TimedOut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_wakes_a_waiting_thread_and_stays_triggered() {
        let s = Shutdown::new().expect("pipe");
        assert!(!s.is_triggered());
        let waiter = {
            let s = s.clone();
            std::thread::spawn(move || s.wait())
        };
        s.trigger();
        waiter.join().expect("no panic").expect("wait ok");
        assert!(s.is_triggered());
        s.trigger();
        assert_eq!(
            poll_readable(&[], &s, Some(Duration::from_secs(5))).expect("poll"),
            Ready::Shutdown
        );
    }

    #[test]
    fn poll_reports_readable_fds_and_timeouts() {
        let s = Shutdown::new().expect("pipe");
        let w = Wakeup::new().expect("pipe");
        assert_eq!(
            poll_readable(&[w.fd()], &s, Some(Duration::from_millis(1))).expect("poll"),
            Ready::TimedOut
        );
        w.notify();
        assert_eq!(
            poll_readable(&[w.fd()], &s, None).expect("poll"),
            Ready::Fd(0)
        );
        w.drain();
        assert_eq!(
            poll_readable(&[w.fd()], &s, Some(Duration::ZERO)).expect("poll"),
            Ready::TimedOut
        );
    }
}
