//! `proc` mode: one OS process per connection. The server re-executes its own binary (never
//! `fork` in this multi-threaded process) with the socket as the worker's stdin and one end of
//! a socket pair as its stdout; one relay thread per worker feeds the worker's frames to the
//! connection's meter, then reaps the worker. The socket itself stays only with the worker.
//! To stop, the parent shuts its end of every pair: each worker reads what had arrived on its
//! connection, reports it and exits, which closes the connection (with a reset if the peer
//! sent more). Workers that do not stop in time are killed: no worker outlives the server or
//! is left a zombie.

use std::collections::HashMap;
use std::io::{self, BufReader};
use std::net::{Shutdown as SocketShutdown, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use arrivals::Chunk;
use arrivals::events::CloseReason;
use rustix::io::Errno;
use rustix::process::{
    Pid, Signal, WaitId, WaitIdOptions, WaitOptions, kill_process, waitid, waitpid,
};

use crate::accept::{Acceptor, Admitted};
use crate::error::ServerError;
use crate::process_child::{Frame, read_frame};
use crate::recorder::{ConnId, Meter, Recorder, Worker};
use crate::shutdown::Shutdown;
use crate::slots::{Permit, Slots};
use crate::{Limits, STOP_DEADLINE};

/// Serves each connection in a worker process started from `exe` (the server binary itself)
/// until `shutdown` is triggered.
///
/// Must be called on a thread that outlives the workers (the binary's main thread): a worker's
/// parent-death signal fires when the thread that spawned it exits.
pub fn serve(
    listener: TcpListener,
    recorder: Arc<Recorder>,
    shutdown: Shutdown,
    limits: Limits,
    exe: &Path,
) -> Result<(), ServerError> {
    let acceptor = Acceptor::new(listener, shutdown.clone())?;
    let slots = Slots::new(limits.max_connections).map_err(ServerError::setup("a pipe"))?;
    let live = Arc::new(LiveWorkers::default());
    let server = Worker::current();
    let mut relays: Vec<JoinHandle<()>> = Vec::new();
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
        let counts_only = !recorder.reports_messages();
        let spawned = spawn_worker(exe, &acc.stream, server.pid, limits, counts_only);
        // The connection is the worker's alone from here on.
        drop(acc);
        let (child, control) = match spawned {
            Ok(spawned) => spawned,
            Err(e) => {
                recorder.worker_started(conn, server);
                recorder.error(conn, &format!("cannot start a worker process: {e}"));
                recorder.closed(conn, CloseReason::Error);
                continue;
            }
        };
        let pid = child.id();
        match control.try_clone() {
            Ok(stop) => live.insert(conn, pid, stop),
            Err(e) => {
                // A worker that could not be told to stop is not started.
                live.insert(conn, pid, control);
                live.kill_and_reap(conn, pid);
                recorder.worker_started(conn, server);
                recorder.error(conn, &format!("cannot start a worker process: {e}"));
                recorder.closed(conn, CloseReason::Error);
                continue;
            }
        }
        let relay = Relay {
            conn,
            recorder: Arc::clone(&recorder),
            live: Arc::clone(&live),
            shutdown: shutdown.clone(),
            server,
            _permit: permit,
        };
        match thread::Builder::new()
            .name(format!("relay-{conn}"))
            .spawn(move || relay.run(child, control))
        {
            Ok(handle) => relays.push(handle),
            Err(e) => {
                // The closure (and the Child in it) is gone: stop and reap the worker by pid.
                live.kill_and_reap(conn, pid);
                recorder.worker_started(conn, server);
                recorder.error(conn, &format!("cannot start a relay thread: {e}"));
                recorder.closed(conn, CloseReason::Error);
            }
        }
        reap_finished(&mut relays);
    };
    drop(acceptor);
    // Each worker reads what had arrived on its connection, reports it and exits.
    live.tell_all_to_stop();
    let mut idle = slots.wait_idle(Instant::now() + STOP_DEADLINE);
    let killed = !idle;
    if killed {
        crate::note!("warning: worker processes still running after shutdown; killing them");
        live.kill_all();
        idle = slots.wait_idle(Instant::now() + STOP_DEADLINE);
    }
    if idle {
        // Every relay has released its slot, its last act: joining cannot block for long.
        for handle in relays {
            let _ = handle.join();
        }
    } else {
        reap_finished(&mut relays);
    }
    if killed {
        return result.and(Err(ServerError::StopDeadline {
            what: "some worker processes (killed)",
            secs: STOP_DEADLINE.as_secs(),
        }));
    }
    result
}

/// Starts the server binary as the worker of one connection; returns it with the parent's
/// end of its stdout (frames come in, a shutdown of it asks the worker to stop).
fn spawn_worker(
    exe: &Path,
    stream: &TcpStream,
    server_pid: u32,
    limits: Limits,
    counts_only: bool,
) -> io::Result<(Child, UnixStream)> {
    let socket = OwnedFd::from(stream.try_clone()?);
    let (ours, theirs) = UnixStream::pair()?;
    let mut command = Command::new(exe);
    if counts_only {
        // Nothing prints or logs the text: the lines need not cross the pipe.
        command.arg("--counts-only");
    }
    if let Some(idle) = limits.idle_timeout {
        command
            .arg("--idle-timeout")
            .arg(idle.as_secs_f64().to_string());
    }
    let child = command
        .arg("--serve-connection")
        .arg(server_pid.to_string())
        .arg("--max-line-bytes")
        .arg(limits.max_line_bytes.to_string())
        .stdin(Stdio::from(socket))
        .stdout(Stdio::from(OwnedFd::from(theirs)))
        .stderr(Stdio::inherit())
        .spawn()?;
    Ok((child, ours))
}

/// Joins the relay threads that have finished, keeping the others.
fn reap_finished(relays: &mut Vec<JoinHandle<()>>) {
    let (done, running): (Vec<_>, Vec<_>) = relays.drain(..).partition(|h| h.is_finished());
    for handle in done {
        let _ = handle.join();
    }
    *relays = running;
}

/// Workers not yet reaped, with the parent's end of their control channel. A pid stays here
/// until its process has exited and just before it is reaped, so a kill can never hit a
/// reused pid.
#[derive(Debug, Default)]
struct LiveWorkers {
    map: Mutex<HashMap<ConnId, (u32, UnixStream)>>,
}

impl LiveWorkers {
    fn lock(&self) -> MutexGuard<'_, HashMap<ConnId, (u32, UnixStream)>> {
        // Map updates are single inserts and removes: a poisoned map is still consistent.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, conn: ConnId, pid: u32, control: UnixStream) {
        self.lock().insert(conn, (pid, control));
    }

    fn remove(&self, conn: ConnId) {
        self.lock().remove(&conn);
    }

    /// Asks every worker to stop: the end of its control channel.
    fn tell_all_to_stop(&self) {
        for (_, control) in self.lock().values() {
            let _ = control.shutdown(SocketShutdown::Write);
        }
    }

    fn kill_all(&self) {
        for (pid, _) in self.lock().values() {
            kill(*pid);
        }
    }

    /// Kills and reaps a worker whose `Child` handle was lost.
    fn kill_and_reap(&self, conn: ConnId, pid: u32) {
        kill(pid);
        if let Some(pid) = as_pid(pid) {
            while let Err(Errno::INTR) = waitpid(Some(pid), WaitOptions::empty()) {}
        }
        self.remove(conn);
    }
}

fn as_pid(pid: u32) -> Option<Pid> {
    Pid::from_raw(i32::try_from(pid).ok()?)
}

fn kill(pid: u32) {
    if let Some(pid) = as_pid(pid) {
        // `pid` is an unreaped child of ours (see `LiveWorkers`): it cannot have been reused.
        let _ = kill_process(pid, Signal::KILL);
    }
}

/// Everything a relay thread needs besides the worker's `Child`.
struct Relay {
    conn: ConnId,
    recorder: Arc<Recorder>,
    live: Arc<LiveWorkers>,
    shutdown: Shutdown,
    server: Worker,
    /// Released when the relay ends, which frees a `--max-connections` slot.
    _permit: Permit,
}

impl Relay {
    fn run(self, mut child: Child, frames: UnixStream) {
        let (conn, recorder) = (self.conn, &*self.recorder);
        let pid = child.id();
        let mut meter: Option<Meter> = None;
        let mut end = None;
        {
            let mut frames = BufReader::with_capacity(128 * 1024, frames);
            loop {
                let frame = match read_frame(&mut frames) {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(e) => {
                        recorder.error(
                            conn,
                            &format!("worker process {pid} sent an unreadable frame: {e}"),
                        );
                        break;
                    }
                };
                match frame {
                    Frame::Hello(worker) => meter = recorder.worker_started(conn, worker),
                    Frame::Lines {
                        at,
                        kernel_ns,
                        lines,
                        bytes,
                    } => {
                        if let Some(m) = meter.as_mut() {
                            m.lines(&Chunk {
                                bytes: &bytes,
                                lines,
                                at,
                                kernel_ns,
                            });
                        }
                    }
                    Frame::Error(error) => {
                        recorder.error(conn, &error);
                        end = Some(CloseReason::Error);
                    }
                    Frame::End => end = Some(self.eof_reason()),
                }
            }
        }
        if meter.is_none() {
            // The worker died before saying hello; its main thread would have served.
            recorder.worker_started(
                conn,
                Worker {
                    pid,
                    tid: u64::from(pid),
                    ppid: self.server.pid,
                },
            );
        }
        let status = self.reap(&mut child);
        let reason = end.unwrap_or_else(|| {
            recorder.error(conn, &describe_exit(pid, status));
            if self.shutdown.is_triggered() {
                CloseReason::ServerShutdown
            } else {
                CloseReason::Error
            }
        });
        recorder.closed(conn, reason);
    }

    fn eof_reason(&self) -> CloseReason {
        if self.shutdown.is_triggered() {
            CloseReason::ServerShutdown
        } else {
            CloseReason::PeerClosed
        }
    }

    /// Waits for the worker to exit, forgets it (closing the parent's socket copy), then
    /// reaps it: in this order a concurrent `kill_all` only ever targets an unreaped pid.
    fn reap(&self, child: &mut Child) -> Option<ExitStatus> {
        wait_exited(child.id());
        self.live.remove(self.conn);
        child.wait().ok()
    }
}

/// Blocks until process `pid` (our child) has exited, without reaping it.
fn wait_exited(pid: u32) {
    let Some(pid) = as_pid(pid) else { return };
    while let Err(Errno::INTR) = waitid(
        WaitId::Pid(pid),
        WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
    ) {}
}

/// Why a worker ended without reporting the end of its connection.
fn describe_exit(pid: u32, status: Option<ExitStatus>) -> String {
    match (status, status.and_then(|s| s.signal())) {
        (_, Some(sig)) => format!(
            "worker process {pid} was killed by signal {sig} ({})",
            signal_name(sig)
        ),
        (Some(s), None) => {
            format!("worker process {pid} exited ({s}) without reporting the end of its connection")
        }
        (None, None) => {
            format!("worker process {pid} ended without reporting the end of its connection")
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGABRT => "SIGABRT",
        libc::SIGPIPE => "SIGPIPE",
        _ => "other signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deaths_are_described_with_pid_and_signal() {
        let killed = ExitStatus::from_raw(libc::SIGKILL);
        assert_eq!(
            describe_exit(42, Some(killed)),
            "worker process 42 was killed by signal 9 (SIGKILL)"
        );
        let exited = ExitStatus::from_raw(3 << 8);
        assert!(
            describe_exit(7, Some(exited)).starts_with("worker process 7 exited (exit status: 3)")
        );
    }
}
