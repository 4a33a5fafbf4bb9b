//! The timestamp client: `workers` OS threads, each with its own connection, sending one
//! `Worker i, Event j, Timestamp ms` line per drawn interval at absolute deadlines.

mod output;
mod schedule;
mod worker;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use arrivals::events::ClientEvent;
use arrivals::{DistKind, Distribution};
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
    pub spin: std::time::Duration,
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
            spin: std::time::Duration::from_micros(cli.spin_us),
        })
    }
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
