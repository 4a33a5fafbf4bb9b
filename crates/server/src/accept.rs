//! Accepting connections in the blocking modes: a `poll` on the listener and the shutdown pipe,
//! so the wait ends at once on shutdown, and the accept instant is read right as accept
//! returns (never quantised by a timeout loop). Also the greeting every mode sends.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use arrivals::clock::MonoNs;
use arrivals::protocol::GREETING;
use rustix::net::SendFlags;

use crate::error::ServerError;
use crate::recorder::{ConnId, Recorder};
use crate::shutdown::{Ready, Shutdown, poll_readable};
use crate::slots::{Permit, Slots};

/// A connection just accepted.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    /// Read immediately after accept returned.
    pub(crate) at: MonoNs,
}

/// A connection admitted under `--max-connections`: greeted, registered with the recorder
/// (its connection gap measured), holding its slot until the permit is dropped.
#[derive(Debug)]
pub(crate) struct Admitted {
    pub(crate) permit: Permit,
    pub(crate) conn: ConnId,
    pub(crate) accepted: Accepted,
}

/// The listening socket of a blocking mode; dropping it stops accepting.
#[derive(Debug)]
pub(crate) struct Acceptor {
    listener: TcpListener,
    shutdown: Shutdown,
}

impl Acceptor {
    pub(crate) fn new(listener: TcpListener, shutdown: Shutdown) -> Result<Self, ServerError> {
        // Non-blocking so that a connection that vanished between poll and accept gives
        // WouldBlock instead of blocking past a shutdown.
        listener
            .set_nonblocking(true)
            .map_err(ServerError::setup("a non-blocking listener"))?;
        Ok(Self { listener, shutdown })
    }

    /// Waits for a free slot, then for the next connection; greets and registers it.
    /// `None` once the server is stopping.
    pub(crate) fn admit(
        &self,
        slots: &Arc<Slots>,
        recorder: &Recorder,
    ) -> Result<Option<Admitted>, ServerError> {
        let permit = match slots.acquire(&self.shutdown) {
            Ok(Some(permit)) => permit,
            Ok(None) => return Ok(None),
            Err(e) => return Err(ServerError::setup("the connection limit")(e)),
        };
        let Some(accepted) = self.next()? else {
            return Ok(None);
        };
        let _ = send_greeting(&accepted.stream);
        let conn = recorder.accepted(accepted.at, accepted.peer);
        Ok(Some(Admitted {
            permit,
            conn,
            accepted,
        }))
    }

    /// The next connection, or `None` once the server is stopping.
    pub(crate) fn next(&self) -> Result<Option<Accepted>, ServerError> {
        loop {
            match poll_readable(&[self.listener.as_fd()], &self.shutdown, None) {
                Ok(Ready::Shutdown) => return Ok(None),
                Ok(_) => {}
                Err(source) => return Err(self.error(source)),
            }
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    let at = MonoNs::now();
                    // Accepted sockets do not inherit O_NONBLOCK on Linux; make sure anyway,
                    // since workers rely on blocking reads.
                    if let Err(e) = stream.set_nonblocking(false) {
                        crate::note!("warning: dropping connection from {peer}: {e}");
                        continue;
                    }
                    // Without kernel timestamps the connection is measured all the same.
                    crate::timestamps::enable(&stream);
                    return Ok(Some(Accepted { stream, peer, at }));
                }
                Err(e) => match classify(&e) {
                    AcceptError::Retry => {}
                    AcceptError::BackOff => {
                        // Out of descriptors or memory: the listener stays readable, so wait a
                        // little (or for shutdown) instead of spinning on the same error.
                        crate::note!("warning: accept failed, retrying: {e}");
                        match poll_readable(&[], &self.shutdown, Some(Duration::from_millis(100))) {
                            Ok(Ready::Shutdown) => return Ok(None),
                            Ok(_) => {}
                            Err(source) => return Err(self.error(source)),
                        }
                    }
                    AcceptError::Fatal => return Err(self.error(e)),
                },
            }
        }
    }

    fn error(&self, source: io::Error) -> ServerError {
        ServerError::Accept {
            addr: self
                .listener
                .local_addr()
                .map_or_else(|_| "the listener".to_owned(), |a| a.to_string()),
            source,
        }
    }
}

/// How an accept error is handled (shared with the async mode).
pub(crate) enum AcceptError {
    /// The connection went away or the call was interrupted: try the next one.
    Retry,
    /// A resource shortage that may pass.
    BackOff,
    Fatal,
}

pub(crate) fn classify(e: &io::Error) -> AcceptError {
    if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return AcceptError::Retry;
    }
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => AcceptError::BackOff,
        // Network errors that accept(2) passes on for the pending connection (see its man
        // page, "Error handling"): that connection is lost, the listener is fine.
        Some(
            libc::EPROTO
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH
            | libc::ENETDOWN
            | libc::EPERM,
        ) => AcceptError::Retry,
        _ => AcceptError::Fatal,
    }
}

/// Sends the greeting without ever blocking or raising SIGPIPE. A peer that already left
/// makes it fail, which callers ignore: the connection is still served and counted.
pub(crate) fn send_greeting(socket: &impl AsFd) -> io::Result<()> {
    let bytes = GREETING.as_bytes();
    let n = rustix::net::send(socket, bytes, SendFlags::DONTWAIT | SendFlags::NOSIGNAL)?;
    // The send buffer of a fresh socket holds far more than the 40-byte greeting.
    if n != bytes.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "greeting only partly sent",
        ));
    }
    Ok(())
}
