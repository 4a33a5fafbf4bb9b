//! The `server` of the arrivals harness: a TCP server that measures connection and data
//! inter-arrival times (SPEC §3) in four concurrency modes. `main.rs` only parses the
//! command line and calls [`run`]; each mode's `serve` takes a bound listener, the shared
//! [`Recorder`] and a [`Shutdown`] handle, so tests can run and stop a server in-process.

/// Prints one line on stderr; unlike `eprintln!` it never panics (a closed stderr must not
/// bring the server down).
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use note;

mod accept;
pub mod async_mode;
mod connection;
mod error;
pub mod iterative;
mod options;
mod output;
pub mod process;
mod process_child;
pub mod recorder;
pub mod shutdown;
mod slots;
pub mod threaded;
mod timestamps;

use std::io::{self, Write};
use std::net::{TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use arrivals::clock::ProcessClock;
use arrivals::events::EventLog;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

pub use error::ServerError;
pub use options::{DEFAULT_MAX_CONNECTIONS, Mode, Options};
pub use recorder::{Gaps, Meter, Recorder, Totals};
pub use shutdown::Shutdown;

/// How long a stopping server waits for its connection workers before giving up on (or, in
/// `proc` mode, killing) them.
pub(crate) const STOP_DEADLINE: Duration = Duration::from_secs(2);

/// Bounds that every mode applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once (not used by `iter`, which serves one).
    pub max_connections: usize,
    /// Longest message without a newline, in bytes.
    pub max_line_bytes: usize,
    /// A connection that sends nothing for this long is closed (`--idle-timeout`).
    pub idle_timeout: Option<Duration>,
}

/// Runs the server the command line describes until SIGINT or SIGTERM, then prints the
/// averages and returns. Also the entry point of `proc`-mode worker processes.
pub fn run(options: Options) -> anyhow::Result<()> {
    if let Some(parent_pid) = options.serve_connection {
        return process_child::run(
            parent_pid,
            options.max_line_bytes,
            options.idle_timeout(),
            options.counts_only,
        );
    }
    let clock = ProcessClock::start();
    let _ = writeln!(io::stdout(), "Parsed CLI arguments: {}", options.describe());

    let shutdown = Shutdown::new().map_err(ServerError::setup("the shutdown pipe"))?;
    // Installed before the server announces itself, so a signal sent as soon as the
    // `Listening on` line appears already stops it cleanly.
    let _signals = SignalThread::start(&shutdown)?;

    let listener = bind(&options.address, options.port)?;
    let local = listener
        .local_addr()
        .map_err(ServerError::setup("the listening socket"))?;
    // Set on the listener, receive timestamps are on for every connection from its first
    // byte, even one that arrives before the accept (each accepted socket sets them too).
    timestamps::enable(&listener);
    let log = match &options.events {
        Some(path) => Some(
            EventLog::create(path).map_err(|source| ServerError::EventLog {
                path: path.clone(),
                source,
            })?,
        ),
        None => None,
    };
    let mode = options.concurrency_mode;
    let limits = Limits {
        max_connections: options.max_connections,
        max_line_bytes: options.max_line_bytes,
        idle_timeout: options.idle_timeout(),
    };
    let recorder = Arc::new(
        Recorder::new(
            mode,
            options.verbose,
            clock,
            log,
            recorder::stdout_console(),
        )
        .map_err(ServerError::setup("the output thread"))?,
    );
    recorder.server_started(local, limits.max_connections, limits.max_line_bytes);

    let served = serve(mode, listener, Arc::clone(&recorder), shutdown, limits);
    let totals = recorder.finish();
    served?;
    if totals.log_failed
        && let Some(path) = &options.events
    {
        anyhow::bail!(
            "the event log {} is incomplete: a write failed (see the warning above)",
            path.display()
        );
    }
    Ok(())
}

/// Serves `listener` in `mode` until `shutdown` is triggered. `proc` mode starts workers
/// from the current executable, which must be the `server` binary.
pub fn serve(
    mode: Mode,
    listener: TcpListener,
    recorder: Arc<Recorder>,
    shutdown: Shutdown,
    limits: Limits,
) -> Result<(), ServerError> {
    match mode {
        Mode::Iter => iterative::serve(listener, recorder, shutdown, limits),
        Mode::Thr => threaded::serve(listener, recorder, shutdown, limits),
        Mode::Proc => {
            let exe = std::env::current_exe().map_err(ServerError::setup(
                "worker processes (no path to this program)",
            ))?;
            process::serve(listener, recorder, shutdown, limits, &exe)
        }
        Mode::Async => async_mode::serve(listener, recorder, shutdown, limits),
    }
}

/// Binds the first address `address` resolves to that accepts a bind.
pub fn bind(address: &str, port: u16) -> Result<TcpListener, ServerError> {
    let addrs = (address, port)
        .to_socket_addrs()
        .map_err(|source| ServerError::Resolve {
            address: address.to_owned(),
            source,
        })?;
    let mut last = ServerError::NoAddress {
        address: address.to_owned(),
    };
    for addr in addrs {
        match TcpListener::bind(addr) {
            Ok(listener) => {
                // std listens with a backlog of 128; a storm of connections (or peers
                // waiting for an iterative server) overflows that and each overflowing peer
                // waits a second for its SYN to be resent. Listening again raises it to what
                // the system allows (net.core.somaxconn caps it).
                let _ = rustix::net::listen(&listener, 65_535);
                return Ok(listener);
            }
            Err(source) => last = ServerError::Bind { addr, source },
        }
    }
    Err(last)
}

/// A thread that turns SIGINT and SIGTERM into [`Shutdown::trigger`]; dropping it
/// unregisters the handlers and joins the thread.
struct SignalThread {
    handle: signal_hook::iterator::Handle,
    thread: Option<thread::JoinHandle<()>>,
}

impl SignalThread {
    fn start(shutdown: &Shutdown) -> Result<Self, ServerError> {
        let mut signals = Signals::new([SIGINT, SIGTERM])
            .map_err(ServerError::setup("SIGINT and SIGTERM handling"))?;
        let handle = signals.handle();
        let shutdown = shutdown.clone();
        let thread = thread::Builder::new()
            .name("signals".to_owned())
            .spawn(move || {
                // `forever` ends when the handle is closed; every signal asks for a stop.
                for _ in signals.forever() {
                    shutdown.trigger();
                }
            })
            .map_err(ServerError::setup("the signal thread"))?;
        Ok(Self {
            handle,
            thread: Some(thread),
        })
    }
}

impl Drop for SignalThread {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
