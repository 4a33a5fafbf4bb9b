//! Errors that stop the server, each naming the flag, file or address at fault.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the server could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot resolve --address {address:?}")]
    Resolve {
        address: String,
        #[source]
        source: io::Error,
    },
    #[error("--address {address:?} resolves to no IP address")]
    NoAddress { address: String },
    #[error("cannot bind {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot create --events file {}", path.display())]
    EventLog {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot set up {what}")]
    Setup {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "{what} did not stop within {secs} s of the stop: what their connections received \
         after the last record is lost (the counts printed above are what was recorded)"
    )]
    StopDeadline { what: &'static str, secs: u64 },
    #[error("accepting connections on {addr} failed")]
    Accept {
        addr: String,
        #[source]
        source: io::Error,
    },
}

impl ServerError {
    /// A [`ServerError::Setup`] for `what` (a pipe, the runtime, ...).
    pub(crate) fn setup(what: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| Self::Setup { what, source }
    }
}
