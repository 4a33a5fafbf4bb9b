//! One worker: connect, read the greeting, send one timestamp per scheduled deadline, close.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::num::NonZeroU64;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::Duration;

use arrivals::clock::unix_ms_now;
use arrivals::events::ClientEvent;
use arrivals::protocol::message_prefix;
use arrivals::{Distribution, MonoNs};

use crate::output::Output;
use crate::schedule::Schedule;

/// Everything one worker thread needs.
#[derive(Debug)]
pub(crate) struct Job {
    pub worker: u32,
    pub intervals: u32,
    pub dist: Distribution,
    pub seed: u64,
    /// Releases all workers at one common start instant.
    pub gate: Arc<StartGate>,
    /// Milliseconds after that start at which this worker connects.
    pub start_offset_ms: f64,
    pub addrs: Arc<Vec<SocketAddr>>,
    pub out: Arc<Output>,
    /// Busy-wait this long before each deadline (`--spin-us`).
    pub spin: Duration,
    /// `--connect-timeout`, `--io-timeout`.
    pub connect_timeout: Duration,
    pub io_timeout: Duration,
}

/// The common start of all workers, taken once every worker thread is running, so that
/// thread start-up does not delay the first connection relative to the others.
#[derive(Debug)]
pub(crate) struct StartGate {
    barrier: Barrier,
    start: OnceLock<MonoNs>,
}

impl StartGate {
    pub(crate) fn new(workers: u32) -> Self {
        Self {
            barrier: Barrier::new(workers as usize + 1),
            start: OnceLock::new(),
        }
    }

    /// Called by the main thread once every worker is spawned: fixes the start, releases them.
    pub(crate) fn open(&self) {
        self.start.get_or_init(MonoNs::now);
        self.barrier.wait();
    }

    /// Called by each worker: waits for the start and returns it.
    fn wait(&self) -> MonoNs {
        self.barrier.wait();
        // `open` sets the start before it joins the barrier, so it is set once we pass it.
        *self.start.get_or_init(MonoNs::now)
    }
}

/// Runs the worker to its end; returns false (after reporting why) if it failed.
pub(crate) fn run(job: Job) -> bool {
    let mut sent = 0;
    match serve(&job, &mut sent) {
        Ok(()) => {
            job.out.verbose(|| {
                format!(
                    "[Worker {}] Task completed and connection closed.",
                    job.worker
                )
            });
            job.out.event(ClientEvent::WorkerFinished {
                worker: job.worker,
                messages: sent,
            });
            true
        }
        Err(error) => {
            job.out.error(job.worker, &error);
            job.out.event(ClientEvent::WorkerError {
                worker: job.worker,
                messages: sent,
                error,
            });
            false
        }
    }
}

fn serve(job: &Job, sent: &mut u32) -> Result<(), String> {
    let start = job.gate.wait();
    let connect_at = offset(start, job.start_offset_ms).ok_or_else(|| {
        format!(
            "its connect instant ({:.3e} ms after the start) lies beyond the clock's range",
            job.start_offset_ms
        )
    })?;
    wait_until(connect_at, Duration::ZERO);

    let connect_start = MonoNs::now();
    let connect_unix_ms = unix_ms_now();
    let target = job
        .addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let mut stream = connect(&job.addrs, job.connect_timeout)
        .map_err(|e| format!("cannot connect to {target}: {e}"))?;
    let connect_ms = MonoNs::now().ms_since(connect_start);
    // Each message must leave at once: Nagle's algorithm would hold a small write back until
    // the previous one is acknowledged.
    stream
        .set_nodelay(true)
        .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
    let local = stream
        .local_addr()
        .map_or_else(|_| "?".into(), |a| a.to_string());
    let peer = stream
        .peer_addr()
        .map_or_else(|_| target.clone(), |a| a.to_string());

    // Reads (the greeting) and writes (the messages) give up after --io-timeout.
    stream
        .set_read_timeout(Some(job.io_timeout))
        .and_then(|()| stream.set_write_timeout(Some(job.io_timeout)))
        .map_err(|e| format!("cannot set the socket timeouts: {e}"))?;
    let greeting = read_greeting(&mut stream).map_err(|e| {
        format!(
            "{peer}: {}",
            timed_out(&e, "no greeting within", job.io_timeout, "--io-timeout")
        )
    })?;
    job.out.verbose(|| {
        format!(
            "[Worker {}] Connected. Server says: {}",
            job.worker,
            arrivals::protocol::escape_control(&greeting)
        )
    });
    job.out.event(ClientEvent::WorkerConnected {
        worker: job.worker,
        local,
        peer: peer.clone(),
        connect_unix_ms,
        connect_ms,
    });

    // Timers fire when asked, not up to 50 µs later (the default slack); a refusal only
    // costs precision, so it is not an error.
    let _ = rustix::thread::set_current_timer_slack(NonZeroU64::new(1));
    let start = MonoNs::now();
    let mut line = Vec::with_capacity(64);
    for (seq, (interval_ms, deadline_ms)) in
        (1..=job.intervals).zip(Schedule::new(job.dist, job.seed))
    {
        let deadline = offset(start, deadline_ms).ok_or_else(|| {
            format!(
                "event {seq}: the drawn interval of {interval_ms:.3e} ms puts its deadline \
                 beyond the clock's range"
            )
        })?;
        // Everything but the timestamp is written before the deadline...
        message_prefix(&mut line, job.worker, seq);
        wait_until(deadline, job.spin);
        // ...and from the deadline to the write, only the clocks and the timestamp's digits.
        let actual = MonoNs::now();
        let unix_ms = unix_ms_now();
        let _ = writeln!(line, "{}", unix_ms as u64);
        stream.write_all(&line).map_err(|e| {
            format!(
                "connection to {peer} lost after {sent} messages: {}",
                timed_out(&e, "a send blocked for", job.io_timeout, "--io-timeout")
            )
        })?;
        *sent += 1;
        job.out.verbose(|| {
            format!(
                "[Worker {}] Sending: {}",
                job.worker,
                String::from_utf8_lossy(line.trim_ascii_end())
            )
        });
        let clock = job.out.clock();
        job.out.event_at(
            actual,
            unix_ms,
            ClientEvent::MessageSent {
                worker: job.worker,
                seq,
                interval_ms,
                scheduled_ms: clock.t_ms(deadline),
                actual_ms: clock.t_ms(actual),
                lateness_ms: actual.ms_since(deadline),
                sent_unix_ms: unix_ms as u64,
            },
        );
    }
    // Closing our side tells the server we are done; the socket is released on drop.
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

/// Reads the server's one-line greeting (at most 4 KiB), without its newline.
fn read_greeting(stream: &mut TcpStream) -> io::Result<String> {
    let mut buf = Vec::with_capacity(64);
    let mut chunk = [0u8; 256];
    while !buf.contains(&b'\n') {
        if buf.len() > 4096 {
            return Err(io::Error::other(
                "greeting longer than 4096 bytes without a newline",
            ));
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(io::Error::other(
                    "server closed the connection before its greeting",
                ));
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok(arrivals::protocol::decode(line).0)
}

/// Connects to the first of `addrs` that accepts within `timeout` each.
fn connect(addrs: &[SocketAddr], timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::other("no address to connect to");
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                last = io::Error::new(
                    e.kind(),
                    timed_out(&e, "no answer within", timeout, "--connect-timeout"),
                )
            }
        }
    }
    Err(last)
}

/// An error in words, naming the timeout flag when it is a timeout.
fn timed_out(e: &io::Error, what: &str, timeout: Duration, flag: &str) -> String {
    if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        format!("{what} {} s ({flag})", timeout.as_secs_f64())
    } else {
        e.to_string()
    }
}

/// `base` plus `ms` milliseconds; `None` when that lies beyond the clock's range (or `ms`
/// is not a finite, non-negative number).
fn offset(base: MonoNs, ms: f64) -> Option<MonoNs> {
    let ns = ms * 1e6;
    if !(ns.is_finite() && ns >= 0.0 && ns < u64::MAX as f64) {
        return None;
    }
    base.0.checked_add(ns as u64).map(MonoNs)
}

/// Waits until the monotonic clock reaches `deadline` (at once if it has): sleeps to
/// `deadline - spin`, then busy-waits the rest.
fn wait_until(deadline: MonoNs, spin: Duration) {
    let wake = MonoNs(deadline.0.saturating_sub(spin.as_nanos() as u64));
    loop {
        let now = MonoNs::now();
        if now >= wake {
            break;
        }
        std::thread::sleep(Duration::from_nanos(wake.0 - now.0));
    }
    while MonoNs::now() < deadline {
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_beyond_the_clock_are_refused_not_wrapped() {
        let base = MonoNs(1_000);
        assert_eq!(offset(base, 1.5), Some(MonoNs(1_501_000)));
        assert_eq!(offset(base, 0.0), Some(base));
        // 1e12 s, the overflow of the reliability report, and what lies past it.
        assert_eq!(offset(base, 1e15), None);
        assert_eq!(offset(MonoNs(u64::MAX - 10), 1.0), None);
        assert_eq!(offset(base, f64::INFINITY), None);
        assert_eq!(offset(base, f64::NAN), None);
        assert_eq!(offset(base, -1.0), None);
    }
}
