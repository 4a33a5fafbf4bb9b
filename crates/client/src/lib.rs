//! The timestamp client: `workers` OS threads, each with its own connection, sending one
//! `Worker i, Event j, Timestamp ms` line per drawn interval at absolute deadlines.

mod output;
mod schedule;
mod worker;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use arrivals::events::ClientEvent;
use arrivals::{DistKind, Distribution, MonoNs};
use clap::Parser;

pub use schedule::Schedule;

use crate::output::Output;

/// Command-line flags, as the lab defines them (SPEC §4).
#[derive(Debug, Parser)]
#[command(
    name = "client",
    version,
    about = "Multithreaded timestamp client: each worker opens a connection and sends one \
             timestamp per inter-event interval drawn from a distribution"
)]
pub struct Cli {
    /// Worker threads; each opens its own connection
    #[arg(short, long)]
    pub workers: u32,
    /// Inter-event intervals (messages) per worker
    #[arg(short = 'n', long)]
    pub intervals: u32,
    /// Distribution: d (deterministic), u (uniform on [0, T]), e (exponential),
    /// p (pareto), l (lognormal)
    #[arg(short, long)]
    pub dist: String,
    /// d: fixed interval T in seconds; u: interval size T in seconds; e: mean event rate
    /// per second; p: minimum interval x_m in seconds; l: mean interval in seconds
    #[arg(short, long, allow_negative_numbers = true)]
    pub param: f64,
    /// Shape of p (Pareto α, default 2) or l (log-normal σ, default 1)
    #[arg(long, allow_negative_numbers = true)]
    pub shape: Option<f64>,
    /// Server IP address or hostname
    #[arg(short, long)]
    pub server: String,
    /// Server TCP port
    #[arg(short = 'P', long, default_value_t = 55000)]
    pub port: u16,
    /// Print each generated timestamp
    #[arg(short, long)]
    pub verbose: bool,
    /// Seed for reproducible schedules (each worker derives its own stream); random if absent
    #[arg(long)]
    pub seed: Option<u64>,
    /// Distribution of the instants at which workers connect (default: all at once)
    #[arg(long, requires = "connect_param")]
    pub connect_dist: Option<String>,
    /// Parameter of --connect-dist, with the same meanings as --param
    #[arg(long, requires = "connect_dist", allow_negative_numbers = true)]
    pub connect_param: Option<f64>,
    /// Write the JSONL event log of the client to FILE
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Busy-wait the last N microseconds before each send instead of sleeping them: sends
    /// leave within a few microseconds of their deadline, at the cost of N µs of one core's
    /// time per message per worker (0: sleep all the way)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub spin_us: u64,
    /// Seconds a worker waits for its connection to be established
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub connect_timeout: f64,
    /// Seconds a worker waits for the server's greeting (in `iter` mode: for the server to
    /// accept it) and for any one send to go through
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    pub io_timeout: f64,
}

/// Validated options: everything refused here is refused before any connection.
#[derive(Debug, Clone)]
pub struct Options {
    pub workers: u32,
    pub intervals: u32,
    pub dist: Distribution,
    pub connect_dist: Option<Distribution>,
    pub server: String,
    pub port: u16,
    pub verbose: bool,
    pub seed: u64,
    pub seed_given: bool,
    pub events: Option<PathBuf>,
    /// Busy-wait before each deadline (`--spin-us`).
    pub spin: Duration,
    /// `--connect-timeout`.
    pub connect_timeout: Duration,
    /// `--io-timeout`.
    pub io_timeout: Duration,
}

/// Upper bound of `--spin-us`: one second of spinning per message is never what is meant.
const MAX_SPIN_US: u64 = 1_000_000;

impl Options {
    /// Validates the flags: counts ≥ 1, a known distribution with a valid parameter.
    pub fn from_cli(cli: Cli) -> anyhow::Result<Self> {
        anyhow::ensure!(cli.workers >= 1, "--workers must be at least 1");
        anyhow::ensure!(cli.intervals >= 1, "--intervals must be at least 1");
        anyhow::ensure!(
            cli.spin_us <= MAX_SPIN_US,
            "--spin-us must be at most {MAX_SPIN_US} (1 s), got {}",
            cli.spin_us
        );
        check_workers(cli.workers, arrivals::limits::open_file_limit())?;
        let connect_timeout = timeout("--connect-timeout", cli.connect_timeout)?;
        let io_timeout = timeout("--io-timeout", cli.io_timeout)?;
        let kind: DistKind = cli.dist.parse().context("--dist")?;
        let dist = Distribution::new(kind, cli.param, cli.shape)?;
        let connect_dist = match (cli.connect_dist, cli.connect_param) {
            (Some(d), Some(p)) => {
                let kind: DistKind = d.parse().context("--connect-dist")?;
                Some(
                    Distribution::new(kind, p, None)
                        .map_err(|e| anyhow::anyhow!("--connect-param: {e}"))?,
                )
            }
            _ => None,
        };
        check_schedule_fits_the_clock(&dist, cli.intervals, "--param")?;
        if let Some(c) = &connect_dist {
            check_schedule_fits_the_clock(c, cli.workers, "--connect-param")?;
        }
        let seed_given = cli.seed.is_some();
        Ok(Self {
            workers: cli.workers,
            intervals: cli.intervals,
            dist,
            connect_dist,
            server: cli.server,
            port: cli.port,
            verbose: cli.verbose,
            seed: cli.seed.unwrap_or_else(rand::random),
            seed_given,
            events: cli.events,
            spin: Duration::from_micros(cli.spin_us),
            connect_timeout,
            io_timeout,
        })
    }
}

/// A timeout flag's value: positive seconds, at most a day (a larger one is no timeout in
/// any experiment and a typo more likely than a wish).
fn timeout(flag: &str, secs: f64) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        secs.is_finite() && secs > 0.0 && secs <= 86_400.0,
        "{flag} must be between 0 and 86400 seconds, got {secs}"
    );
    Ok(Duration::from_secs_f64(secs))
}

/// Descriptors the process needs besides one socket per worker (stdio, the event log,
/// the writer's and the runtime's own).
const RESERVED_FDS: u64 = 16;

/// Each worker holds one socket: refuses more workers than the open-file limit allows,
/// before any thread or connection is made.
fn check_workers(workers: u32, fd_limit: u64) -> anyhow::Result<()> {
    let room = fd_limit.saturating_sub(RESERVED_FDS);
    anyhow::ensure!(
        u64::from(workers) <= room,
        "--workers {workers} needs {workers} open sockets, but the open-file limit is \
         {fd_limit} (`ulimit -n`): at most {room} workers fit"
    );
    Ok(())
}

/// Refuses a schedule whose typical last deadline lies beyond the range of the monotonic
/// clock the deadlines are kept on (u64 nanoseconds since boot: about 584 years).
fn check_schedule_fits_the_clock(
    dist: &Distribution,
    events: u32,
    flag: &str,
) -> anyhow::Result<()> {
    let typical_ms = dist.mean_ms().unwrap_or_else(|| dist.quantile_ms(0.5));
    let span_ms = typical_ms * f64::from(events);
    let room_ms = (u64::MAX - MonoNs::now().0) as f64 / 1e6;
    anyhow::ensure!(
        span_ms.is_finite() && span_ms < room_ms,
        "{flag} {}: {events} intervals of typically {:.3e} s reach beyond the monotonic \
         clock's range (about {:.0} years from now)",
        dist.param(),
        typical_ms / 1e3,
        room_ms / 1e3 / 86_400.0 / 365.25
    );
    Ok(())
}

/// How many workers finished their schedule and how many failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub ok: u32,
    pub failed: u32,
    /// True when the event log could not be written completely.
    pub log_failed: bool,
}

/// Runs every worker to its end and reports how many failed. Errors are only those that
/// stop the client as a whole (unresolvable host, unwritable event log).
pub fn run(opts: Options) -> anyhow::Result<Outcome> {
    let addrs: Vec<SocketAddr> = (opts.server.as_str(), opts.port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve server '{}'", opts.server))?
        .collect();
    anyhow::ensure!(
        !addrs.is_empty(),
        "server '{}' resolves to no address",
        opts.server
    );
    let out = Arc::new(Output::new(opts.events.as_deref(), opts.verbose)?);
    let hint = if opts.seed_given {
        String::new()
    } else {
        format!(" (pass --seed {} to reproduce)", opts.seed)
    };
    out.line(format!("Seed: {}{hint}", opts.seed));
    out.event(ClientEvent::ClientStarted {
        workers: opts.workers,
        intervals: opts.intervals,
        dist: opts.dist.describe(),
        param: opts.dist.param(),
        shape: opts.dist.shape(),
        connect: opts.connect_dist.map(|d| d.describe()),
        seed: opts.seed,
        server: opts.server.clone(),
        port: opts.port,
    });
    out.line(format!(
        "Starting {} threads connecting to {}:{}...",
        opts.workers, opts.server, opts.port
    ));

    let starts = schedule::connect_offsets_ms(&opts);
    let gate = Arc::new(worker::StartGate::new(opts.workers));
    let addrs = Arc::new(addrs);
    let handles: Vec<_> = (1..=opts.workers)
        .zip(starts)
        .map(|(i, start_offset_ms)| {
            let job = worker::Job {
                worker: i,
                intervals: opts.intervals,
                dist: opts.dist,
                seed: arrivals::seed::derive(opts.seed, u64::from(i)),
                gate: Arc::clone(&gate),
                start_offset_ms,
                addrs: Arc::clone(&addrs),
                out: Arc::clone(&out),
                spin: opts.spin,
                connect_timeout: opts.connect_timeout,
                io_timeout: opts.io_timeout,
            };
            std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || worker::run(job))
        })
        .collect::<Result<_, _>>()
        .context("cannot spawn a worker thread")?;
    gate.open();

    let mut outcome = Outcome {
        ok: 0,
        failed: 0,
        log_failed: false,
    };
    for handle in handles {
        // A worker that panicked counts as failed; its panic message is already on stderr.
        match handle.join() {
            Ok(true) => outcome.ok += 1,
            _ => outcome.failed += 1,
        }
    }
    out.event(ClientEvent::ClientFinished {
        workers_ok: outcome.ok,
        workers_failed: outcome.failed,
    });
    out.line("All workers have finished.".to_owned());
    outcome.log_failed = out.finish();
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_bounded_by_the_open_file_limit() {
        assert!(check_workers(1000, 1024).is_ok());
        let err = check_workers(1_000_000_000, 1024).expect_err("too many");
        assert!(
            err.to_string().contains("at most 1008 workers fit"),
            "{err}"
        );
    }

    #[test]
    fn schedules_must_fit_the_monotonic_clock() {
        let d = |p: f64| Distribution::new(DistKind::Deterministic, p, None).expect("valid");
        assert!(check_schedule_fits_the_clock(&d(1.0), 1_000_000, "--param").is_ok());
        let err = check_schedule_fits_the_clock(&d(1e12), 3, "--param").expect_err("too far");
        assert!(
            err.to_string()
                .contains("beyond the monotonic clock's range"),
            "{err}"
        );
        // A Pareto law whose median is astronomically far.
        let p = Distribution::new(DistKind::Pareto, 1e9, Some(0.01)).expect("valid");
        assert!(check_schedule_fits_the_clock(&p, 3, "--param").is_err());
    }
}
