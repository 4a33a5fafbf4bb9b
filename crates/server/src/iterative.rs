//! `iter` mode: the accepting thread serves each connection to its end before it accepts the
//! next, so later peers wait in the backlog (the serialisation the lab observes).

use std::net::TcpListener;
use std::sync::Arc;

use crate::accept::{Acceptor, send_greeting};
use crate::error::ServerError;
use crate::recorder::{Recorder, Worker};
use crate::shutdown::Shutdown;
use crate::{Limits, connection};

/// Serves connections one at a time until `shutdown` is triggered.
pub fn serve(
    listener: TcpListener,
    recorder: Arc<Recorder>,
    shutdown: Shutdown,
    limits: Limits,
) -> Result<(), ServerError> {
    let acceptor = Acceptor::new(listener, shutdown.clone())?;
    let me = Worker::current();
    while let Some(acc) = acceptor.next()? {
        let _ = send_greeting(&acc.stream);
        let conn = recorder.accepted(acc.at, acc.peer);
        if let Some(meter) = recorder.worker_started(conn, me) {
            connection::serve(meter, &acc.stream, &recorder, &shutdown, limits);
        }
    }
    Ok(())
}
