//! The binaries under test as child processes: a `server` whose console is read for its whole
//! life (so its pipe never fills), stopped with SIGINT, and `client` runs with a timeout.
//! Every child is killed and reaped when its guard drops, so no error path leaks one.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rustix::process::{Pid, Signal, kill_process};

/// How long a server may take to print `Listening on`, and to exit after SIGINT.
const START_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// The `server` and `client` binaries of one build.
#[derive(Clone, Debug)]
pub struct Bins {
    pub dir: PathBuf,
    pub server: PathBuf,
    pub client: PathBuf,
}

impl Bins {
    /// The binaries in `dir`; fails naming the one that is missing.
    pub fn locate(dir: &Path) -> anyhow::Result<Self> {
        let bins = Self {
            dir: dir.to_owned(),
            server: dir.join("server"),
            client: dir.join("client"),
        };
        for bin in [&bins.server, &bins.client] {
            if !bin.is_file() {
                bail!(
                    "no binary {} (build with `cargo build --release --bins`)",
                    bin.display()
                );
            }
        }
        Ok(bins)
    }

    /// What `BIN ARG` prints on stdout, trimmed (e.g. `--version`).
    pub fn ask(bin: &Path, arg: &str) -> anyhow::Result<String> {
        let out = Command::new(bin)
            .arg(arg)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {} {arg}", bin.display()))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// True when this client has `--spin-us` (newer builds).
    pub fn client_spins(&self) -> anyhow::Result<bool> {
        Ok(Self::ask(&self.client, "--help")?.contains("--spin-us"))
    }
}

/// A child that is killed and reaped on drop unless it already exited.
#[derive(Debug)]
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Guard {
    /// Waits for the child's exit until `deadline`, polling every millisecond.
    fn wait_until(&mut self, deadline: Instant) -> anyhow::Result<Option<ExitStatus>> {
        loop {
            if let Some(status) = self.0.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The lines of a child's stdout or stderr, collected by a thread until end of stream.
#[derive(Debug, Default)]
pub struct Console {
    state: Mutex<(Vec<String>, bool)>,
    changed: Condvar,
}

impl Console {
    /// Starts the thread that reads `pipe` to its end.
    fn follow(pipe: impl Read + Send + 'static) -> Arc<Self> {
        let console = Arc::new(Self::default());
        let c = Arc::clone(&console);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                c.lock().0.push(line);
                c.changed.notify_all();
            }
            c.lock().1 = true;
            c.changed.notify_all();
        });
        console
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Vec<String>, bool)> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `done(lines, ended)` holds or `timeout` passes; true when it held.
    fn wait(&self, timeout: Duration, done: impl Fn(&[String], bool) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        while !done(&st.0, st.1) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st = self
                .changed
                .wait_timeout(st, left)
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
        true
    }

    /// The first line starting with `prefix`, waiting up to `timeout` for it.
    pub fn wait_for(&self, prefix: &str, timeout: Duration) -> Option<String> {
        let find = |lines: &[String]| lines.iter().find(|l| l.starts_with(prefix)).cloned();
        self.wait(timeout, |lines, ended| ended || find(lines).is_some());
        find(&self.lock().0)
    }

    /// Waits up to `timeout` until at least `n` lines arrived; true when they did.
    pub fn wait_lines(&self, n: usize, timeout: Duration) -> bool {
        self.wait(timeout, |lines, _| lines.len() >= n)
    }

    /// Waits (bounded) for the end of the stream, then returns every line.
    fn finish(&self, timeout: Duration) -> Vec<String> {
        self.wait(timeout, |_, ended| ended);
        self.lock().0.clone()
    }

    /// The last `n` lines joined, for error messages.
    fn tail(&self, n: usize) -> String {
        let st = self.lock();
        st.0[st.0.len().saturating_sub(n)..].join(" | ")
    }
}

fn spawn(bin: &Path, args: &[String]) -> anyhow::Result<(Guard, Arc<Console>, Arc<Console>)> {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let stderr = child.stderr.take().context("no stderr pipe")?;
    Ok((
        Guard(child),
        Console::follow(stdout),
        Console::follow(stderr),
    ))
}

/// A running `server -p 0 -m MODE ...`.
#[derive(Debug)]
pub struct Server {
    child: Guard,
    pub stdout: Arc<Console>,
    stderr: Arc<Console>,
    pub mode: String,
    pub port: u16,
}

/// What a server printed once it exited after SIGINT, and when it exited.
#[derive(Debug)]
pub struct Stopped {
    pub exited: Instant,
    pub stdout: Vec<String>,
}

impl Server {
    /// Starts `server -p 0 -m MODE EXTRA..` and waits for its `Listening on` line.
    pub fn start(bins: &Bins, mode: &str, extra: &[String]) -> anyhow::Result<Self> {
        let mut args: Vec<String> = ["-p", "0", "-m", mode].map(String::from).to_vec();
        args.extend_from_slice(extra);
        let (child, stdout, stderr) = spawn(&bins.server, &args)?;
        let what = format!("server -m {mode}");
        let line = stdout
            .wait_for("Listening on ", START_TIMEOUT)
            .with_context(|| {
                format!("{what} printed no `Listening on` line ({})", stderr.tail(3))
            })?;
        let port = line
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .with_context(|| format!("{what}: no port in `{line}`"))?;
        Ok(Self {
            child,
            stdout,
            stderr,
            mode: mode.to_owned(),
            port,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// SIGINT, then waits (bounded) for a successful exit and the end of its console.
    pub fn stop(mut self) -> anyhow::Result<Stopped> {
        let what = format!("server -m {}", self.mode);
        kill_process(Pid::from_child(&self.child.0), Signal::INT)
            .with_context(|| format!("cannot send SIGINT to {what}"))?;
        let status = self
            .child
            .wait_until(Instant::now() + STOP_TIMEOUT)?
            .with_context(|| format!("{what} did not exit within {STOP_TIMEOUT:?} of SIGINT"))?;
        let exited = Instant::now();
        if !status.success() {
            bail!("{what} exited with {status} ({})", self.stderr.tail(3));
        }
        let stdout = self.stdout.finish(Duration::from_secs(5));
        Ok(Stopped { exited, stdout })
    }
}

impl Stopped {
    /// N of the line `{label}: ... (n = N)` the server prints when it stops.
    pub fn count(&self, label: &str) -> anyhow::Result<u64> {
        let line = self
            .stdout
            .iter()
            .find(|l| l.starts_with(label))
            .with_context(|| format!("the server printed no `{label}` line"))?;
        line.rsplit("(n = ")
            .next()
            .and_then(|s| s.trim_end_matches(')').parse().ok())
            .with_context(|| format!("no `(n = N)` in `{line}`"))
    }

    pub fn data_gaps(&self) -> anyhow::Result<u64> {
        self.count("Average data inter-arrival time:")
    }

    pub fn connection_gaps(&self) -> anyhow::Result<u64> {
        self.count("Average connection inter-arrival time:")
    }
}

/// Runs `client ARGS` to its end within `timeout`; fails naming the run and its stderr.
pub fn run_client(bins: &Bins, args: &[String], timeout: Duration) -> anyhow::Result<()> {
    let (mut child, _stdout, stderr) = spawn(&bins.client, args)?;
    let what = format!("client {}", args.join(" "));
    let status = child
        .wait_until(Instant::now() + timeout)?
        .with_context(|| format!("{what} did not finish within {timeout:?}"))?;
    if !status.success() {
        stderr.finish(Duration::from_secs(2));
        bail!("{what} exited with {status} ({})", stderr.tail(3));
    }
    Ok(())
}

/// VmRSS of process `pid` in KiB, from /proc/PID/status.
pub fn rss_kib(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmRSS in {path}"))
}
