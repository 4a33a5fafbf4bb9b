//! `thr` mode: one OS thread per connection, at most `--max-connections` at once.

use std::net::TcpListener;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use arrivals::events::CloseReason;

use crate::accept::{Acceptor, Admitted};
use crate::error::ServerError;
use crate::recorder::{Recorder, Worker};
use crate::shutdown::Shutdown;
use crate::slots::Slots;
use crate::{Limits, STOP_DEADLINE, connection};

/// Serves each connection on its own thread until `shutdown` is triggered, then waits (up to
/// a deadline) for the connection threads, which end as soon as they see the shutdown.
pub fn serve(
    listener: TcpListener,
    recorder: Arc<Recorder>,
    shutdown: Shutdown,
    limits: Limits,
) -> Result<(), ServerError> {
    let acceptor = Acceptor::new(listener, shutdown.clone())?;
    let slots = Slots::new(limits.max_connections).map_err(ServerError::setup("a pipe"))?;
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    let result = loop {
        let Admitted {
            permit,
            conn,
            accepted: acc,
        } = match acceptor.admit(&slots, &recorder) {
            Ok(Some(admitted)) => admitted,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        let spawned = {
            let (recorder, shutdown) = (Arc::clone(&recorder), shutdown.clone());
            let stream = acc.stream;
            thread::Builder::new()
                .name(format!("conn-{conn}"))
                .spawn(move || {
                    let _permit = permit;
                    if let Some(meter) = recorder.worker_started(conn, Worker::current()) {
                        connection::serve(meter, &stream, &recorder, &shutdown, limits);
                    }
                })
        };
        match spawned {
            Ok(handle) => workers.push(handle),
            Err(e) => {
                recorder.error(conn, &format!("cannot start a connection thread: {e}"));
                recorder.closed(conn, CloseReason::Error);
            }
        }
        reap(&mut workers);
    };
    drop(acceptor);
    if slots.wait_idle(Instant::now() + STOP_DEADLINE) {
        // Every thread has released its slot, its last act: joining cannot block for long.
        for handle in workers {
            let _ = handle.join();
        }
    } else {
        reap(&mut workers);
        return result.and(Err(ServerError::StopDeadline {
            what: "some connection threads",
            secs: STOP_DEADLINE.as_secs(),
        }));
    }
    result
}

/// Joins the threads that have finished, keeping the others.
fn reap(workers: &mut Vec<JoinHandle<()>>) {
    let (done, running): (Vec<_>, Vec<_>) = workers.drain(..).partition(|h| h.is_finished());
    for handle in done {
        // A panicking connection thread already reported itself on stderr.
        let _ = handle.join();
    }
    *workers = running;
}
