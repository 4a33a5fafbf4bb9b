//! Ingest: how many lines per second each mode reads from a flood of 4 connections, with and
//! without the event log, next to the ceiling of a minimal newline counter in this process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::servers::{Bins, Server};
use crate::table::Row;
use crate::{Sizes, Spread, group_rows, interleaved};

const GROUP: &str = "ingest";
const CHUNK: usize = 64 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const UNIT: &str = "Mlines/s";

/// The prebuilt text of each flood connection, in the client's message format.
#[derive(Debug)]
pub struct Flood {
    buffers: Vec<Arc<Vec<u8>>>,
    pub lines: u64,
}

impl Flood {
    pub fn new(connections: usize, lines_each: usize) -> Self {
        let unix_ms = arrivals::clock::unix_ms_now() as u64;
        let buffers = (1..=connections)
            .map(|w| {
                let mut buf = Vec::with_capacity(lines_each * 48);
                for j in 1..=lines_each {
                    let line = format!("Worker {w}, Event {j}, Timestamp {}\n", unix_ms + j as u64);
                    buf.extend_from_slice(line.as_bytes());
                }
                Arc::new(buf)
            })
            .collect();
        Self {
            buffers,
            lines: (connections * lines_each) as u64,
        }
    }

    /// Floods `addr` from one thread per connection; returns the span from the first
    /// connect to the last end of stream (when the peer has read everything).
    pub fn send(&self, addr: SocketAddr) -> anyhow::Result<(Instant, Instant)> {
        self.each_connection(move |buf| flood_one(addr, buf, None))
    }

    /// Like [`send`](Self::send), but each connection writes its lines at `per_sec` lines per
    /// second (what is due, every 200 µs) instead of as fast as it can.
    pub fn send_paced(&self, addr: SocketAddr, per_sec: f64) -> anyhow::Result<(Instant, Instant)> {
        self.each_connection(move |buf| flood_one(addr, buf, Some(per_sec)))
    }

    /// Runs `one` on each connection's text, a thread each, all released at once; the span
    /// from the earliest start to the latest end.
    fn each_connection<F>(&self, one: F) -> anyhow::Result<(Instant, Instant)>
    where
        F: Fn(&[u8]) -> anyhow::Result<(Instant, Instant)> + Copy + Send + 'static,
    {
        let barrier = Arc::new(Barrier::new(self.buffers.len()));
        let threads: Vec<_> = self
            .buffers
            .iter()
            .map(|buf| {
                let (buf, barrier) = (Arc::clone(buf), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    one(&buf)
                })
            })
            .collect();
        let mut span: Option<(Instant, Instant)> = None;
        for t in threads {
            let (a, b) = t
                .join()
                .map_err(|_| anyhow::anyhow!("a flood thread panicked"))??;
            span = Some(span.map_or((a, b), |(s, e)| (s.min(a), e.max(b))));
        }
        span.context("a flood needs at least one connection")
    }
}

/// One connection: connect, write everything (as fast as it can, in 64 KiB chunks, or each
/// line when it is due at `per_sec` lines per second), shut down writing, read to end of
/// stream.
fn flood_one(
    addr: SocketAddr,
    buf: &[u8],
    per_sec: Option<f64>,
) -> anyhow::Result<(Instant, Instant)> {
    let start = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .with_context(|| format!("flood: cannot connect to {addr}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let writing = || format!("flood: writing to {addr}");
    match per_sec {
        None => {
            for chunk in buf.chunks(CHUNK) {
                s.write_all(chunk).with_context(writing)?;
            }
        }
        Some(per_sec) => {
            let ends: Vec<usize> = memchr::memchr_iter(b'\n', buf).map(|i| i + 1).collect();
            let (mut sent, mut offset) = (0usize, 0usize);
            while sent < ends.len() {
                let due = ((start.elapsed().as_secs_f64() * per_sec) as usize + 1).min(ends.len());
                if due > sent {
                    s.write_all(&buf[offset..ends[due - 1]])
                        .with_context(writing)?;
                    (sent, offset) = (due, ends[due - 1]);
                } else {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
    }
    s.shutdown(Shutdown::Write)?;
    let mut sink = [0u8; 4096];
    while s
        .read(&mut sink)
        .with_context(|| format!("flood: waiting for {addr} to close"))?
        > 0
    {}
    Ok((start, Instant::now()))
}

/// One flood against a server without its log, or against the ceiling.
#[derive(Clone, Copy, Debug)]
struct Sample {
    /// Lines per second, in millions.
    rate: f64,
    /// Lines the reader counted.
    n: u64,
    /// First connect → server exit (none for the ceiling).
    exit_ms: Option<f64>,
}

/// The ceiling: a listener here that counts newlines, a thread per connection.
fn ceiling(flood: &Flood) -> anyhow::Result<Sample> {
    let listener = TcpListener::bind("127.0.0.1:0").context("ceiling: cannot bind")?;
    let addr = listener.local_addr()?;
    let conns = flood.buffers.len();
    let acceptor = std::thread::spawn(move || -> std::io::Result<u64> {
        let readers: Vec<_> = (0..conns)
            .map(|_| {
                listener
                    .accept()
                    .map(|(s, _)| std::thread::spawn(move || count_lines(s)))
            })
            .collect::<Result<_, _>>()?;
        readers.into_iter().map(|r| r.join().unwrap_or(Ok(0))).sum()
    });
    let sent = flood.send(addr);
    if sent.is_err() {
        // Release an acceptor still waiting for connections that never came.
        for _ in 0..conns {
            let _ = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT);
        }
    }
    let (start, end) = sent?;
    let n = acceptor
        .join()
        .map_err(|_| anyhow::anyhow!("ceiling: acceptor panicked"))??;
    let rate = flood.lines as f64 / end.duration_since(start).as_secs_f64() / 1e6;
    Ok(Sample {
        rate,
        n,
        exit_ms: None,
    })
}

/// One flood against `server -m MODE` without the event log.
fn plain(bins: &Bins, flood: &Flood, mode: &str) -> anyhow::Result<Sample> {
    let server = Server::start(bins, mode, &[])?;
    let (start, end) = flood.send(([127, 0, 0, 1], server.port).into())?;
    let stopped = server.stop()?;
    Ok(Sample {
        rate: flood.lines as f64 / end.duration_since(start).as_secs_f64() / 1e6,
        n: stopped.data_gaps()?,
        exit_ms: Some(stopped.exited.duration_since(start).as_secs_f64() * 1e3),
    })
}

/// The row of the median of `samples`, checked: every sample counted every line.
fn median_row(name: &str, samples: &[Sample], lines: u64) -> Row {
    let rates: Vec<f64> = samples.iter().map(|s| s.rate).collect();
    let spread = Spread::of(&rates);
    let exits: Vec<f64> = samples.iter().filter_map(|s| s.exit_ms).collect();
    let mut note = format!("{spread}; n = {lines} each");
    if !exits.is_empty() {
        note.push_str(&format!(
            "; server exit {:.0} ms",
            Spread::of(&exits).median
        ));
    }
    let short: Vec<u64> = samples
        .iter()
        .map(|s| s.n)
        .filter(|&n| n != lines)
        .collect();
    Row::new(GROUP, name, spread.median, UNIT).note(note).check(
        short.is_empty(),
        &format!("counted {short:?}, sent {lines}"),
    )
}

fn count_lines(mut s: TcpStream) -> std::io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut n = 0u64;
    loop {
        let got = s.read(&mut buf)?;
        if got == 0 {
            return Ok(n);
        }
        n += memchr::memchr_iter(b'\n', &buf[..got]).count() as u64;
    }
}

/// One flood against a server with its event log.
#[derive(Clone, Copy, Debug)]
struct LoggedSample {
    /// Lines per second, in millions: until the server read everything, and until it exited
    /// after SIGINT with its log complete.
    read_rate: f64,
    exit_rate: f64,
    /// Lines per second, in millions, if writing the log's bytes were all there was to do:
    /// the same number of bytes written from memory to the same directory.
    bound_rate: f64,
    exit_ms: f64,
    bound_ms: f64,
    log_bytes: u64,
    /// Lines the server counted, and `message_received` lines in its log.
    n: u64,
    logged: u64,
}

/// One flood against `server -m MODE --events LOG`, then the log's bound.
fn logged(bins: &Bins, flood: &Flood, mode: &str, log: &Path) -> anyhow::Result<LoggedSample> {
    let extra = ["--events".to_owned(), log.display().to_string()];
    let server = Server::start(bins, mode, &extra)?;
    let (start, end) = flood.send(([127, 0, 0, 1], server.port).into())?;
    let stopped = server.stop()?;
    let to_exit = stopped.exited.duration_since(start).as_secs_f64();
    let n = stopped.data_gaps()?;
    let logged = count_received(log)?;
    let log_bytes = std::fs::metadata(log)
        .with_context(|| format!("cannot stat {}", log.display()))?
        .len();
    let mut head = vec![0u8; 1 << 20];
    let got = std::fs::File::open(log)
        .and_then(|mut f| f.read(&mut head))
        .with_context(|| format!("cannot read {}", log.display()))?;
    head.truncate(got);
    std::fs::remove_file(log).with_context(|| format!("cannot remove {}", log.display()))?;
    let bound = write_bound(&log.with_extension("bound"), &head, log_bytes)?;
    let lines = flood.lines as f64;
    Ok(LoggedSample {
        read_rate: lines / end.duration_since(start).as_secs_f64() / 1e6,
        exit_rate: lines / to_exit / 1e6,
        bound_rate: lines / bound / 1e6,
        exit_ms: to_exit * 1e3,
        bound_ms: bound * 1e3,
        log_bytes,
        n,
        logged,
    })
}

/// Seconds to write `bytes` bytes of `sample`, repeated, to a new file at `path` in 1 MiB
/// writes, as the log writer does but with nothing to format: a lower bound on the time any
/// writer of a log that size takes here (page cache and file system included).
fn write_bound(path: &Path, sample: &[u8], bytes: u64) -> anyhow::Result<f64> {
    anyhow::ensure!(!sample.is_empty(), "the event log is empty");
    let block: Vec<u8> = sample.iter().copied().cycle().take(1 << 20).collect();
    let mut file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let start = Instant::now();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])
            .with_context(|| format!("cannot write {}", path.display()))?;
        left -= n as u64;
    }
    drop(file);
    let secs = start.elapsed().as_secs_f64();
    std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
    Ok(secs)
}

/// The three rows of one mode with the event log, medians of `samples`, each checked: every
/// sample's server and log counted every line sent.
fn logged_rows(mode: &str, samples: &[LoggedSample], lines: u64) -> Vec<Row> {
    let spread =
        |f: fn(&LoggedSample) -> f64| Spread::of(&samples.iter().map(f).collect::<Vec<_>>());
    let short: Vec<(u64, u64)> = samples
        .iter()
        .map(|s| (s.n, s.logged))
        .filter(|&(n, logged)| n != lines || logged != lines)
        .collect();
    let read = spread(|s| s.read_rate);
    let exit = spread(|s| s.exit_rate);
    let bound = spread(|s| s.bound_rate);
    let mb = spread(|s| s.log_bytes as f64 / 1e6).median;
    vec![
        Row::new(GROUP, format!("{mode} +events"), read.median, UNIT)
            .vs(mode)
            .note(format!(
                "{read}; n = {lines}, log {lines} message_received each"
            ))
            .check(
                short.is_empty(),
                &format!("(server n, log lines) {short:?}, sent {lines}"),
            ),
        Row::new(
            GROUP,
            format!("{mode} +events incl. log written"),
            exit.median,
            UNIT,
        )
        .vs(mode)
        .note(format!(
            "{exit}; first connect → server exit {:.0} ms",
            spread(|s| s.exit_ms).median
        )),
        Row::new(GROUP, format!("{mode} +events bound"), bound.max, UNIT)
            .vs(mode)
            .note(format!(
                "fastest of {} ({}–{}); the log's {mb:.0} MB written from memory in {:.0} ms",
                bound.n,
                crate::table::format_value(bound.min),
                crate::table::format_value(bound.max),
                spread(|s| s.bound_ms).min
            )),
    ]
}

/// Lines per second each paced flood connection offers (4 connections: 1 M lines/s).
const PACED_PER_CONN: f64 = 250_000.0;

/// A paced flood against `server -m MODE`, with its log when `log` is given: lines per
/// second, in millions, from the first connect to the server's exit after SIGINT (with its log
/// complete); checked that the server and the log counted every line.
fn paced(bins: &Bins, flood: &Flood, mode: &str, log: Option<&Path>) -> anyhow::Result<f64> {
    let extra: Vec<String> = log
        .map(|l| vec!["--events".to_owned(), l.display().to_string()])
        .unwrap_or_default();
    let server = Server::start(bins, mode, &extra)?;
    let (start, _) = flood.send_paced(([127, 0, 0, 1], server.port).into(), PACED_PER_CONN)?;
    let stopped = server.stop()?;
    let n = stopped.data_gaps()?;
    anyhow::ensure!(n == flood.lines, "server n = {n}, sent {}", flood.lines);
    if let Some(log) = log {
        let logged = count_received(log)?;
        std::fs::remove_file(log).with_context(|| format!("cannot remove {}", log.display()))?;
        anyhow::ensure!(
            logged == flood.lines,
            "log has {logged}, sent {}",
            flood.lines
        );
    }
    let secs = stopped.exited.duration_since(start).as_secs_f64();
    Ok(flood.lines as f64 / secs / 1e6)
}

/// The paced rows of every mode: without the log, and with it compared with without.
fn paced_rows(bins: &Bins, sizes: &Sizes, dir: &Path) -> Vec<Row> {
    let flood = Flood::new(4, sizes.flood_lines / 2);
    let offered = 4.0 * PACED_PER_CONN / 1e6;
    let mut out = Vec::new();
    for mode in MODES {
        let plain = format!("{mode} paced");
        out.extend(group_rows(GROUP, &plain, || {
            let without = paced(bins, &flood, mode, None)?;
            let log = dir.join(format!("{mode}-paced.jsonl"));
            let with = paced(bins, &flood, mode, Some(&log))?;
            let note = format!(
                "offered {offered} M lines/s for {:.1} s; first connect → server exit",
                flood.lines as f64 / 1e6 / offered
            );
            Ok(vec![
                Row::new(GROUP, plain.clone(), without, UNIT).note(note.clone()),
                Row::new(GROUP, format!("{mode} paced +events"), with, UNIT)
                    .vs(plain.clone())
                    .note(format!("{note}, log complete")),
            ])
        }));
    }
    out
}

/// The number of `message_received` lines in an event log.
fn count_received(path: &Path) -> anyhow::Result<u64> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let finder = memchr::memmem::Finder::new(br#""event":"message_received""#);
    let (mut line, mut n) = (Vec::new(), 0u64);
    loop {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read {}", path.display()))?
            == 0
        {
            return Ok(n);
        }
        n += u64::from(finder.find(&line).is_some());
    }
}

const MODES: [&str; 4] = ["iter", "thr", "proc", "async"];

/// Every ingest row: the ceiling and each mode without the log, the median of rounds run
/// interleaved; then each mode with the log, once (seconds long, so steadier).
pub fn rows(bins: &Bins, sizes: &Sizes) -> Vec<Row> {
    let flood = Flood::new(4, sizes.flood_lines);
    // A first flood, not reported, warms the buffers and the loopback path for every row.
    let mut out = group_rows(GROUP, "warm-up", || ceiling(&flood).map(|_| Vec::new()));
    let names = ["ceiling", "iter", "thr", "proc", "async"];
    let samples = interleaved(&names, sizes.rounds_ingest, |name| match name {
        "ceiling" => ceiling(&flood),
        mode => plain(bins, &flood, mode),
    });
    for (name, samples) in names.iter().zip(samples) {
        out.extend(group_rows(GROUP, name, || {
            let row = median_row(name, &samples?, flood.lines);
            Ok(match *name {
                "ceiling" => {
                    let note = format!("in-process newline count; {}", row.note);
                    vec![row.note(note)]
                }
                "proc" => vec![
                    row.clone().vs("ceiling"),
                    Row {
                        name: "proc vs thr".into(),
                        ..row
                    }
                    .vs("thr"),
                ],
                _ => vec![row.vs("ceiling")],
            })
        }));
    }
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            return [
                out,
                vec![Row::failure(
                    GROUP,
                    "+events",
                    &format!("no temporary directory: {e}"),
                )],
            ]
            .concat();
        }
    };
    let samples = interleaved(&MODES, sizes.rounds_events, |mode| {
        logged(
            bins,
            &flood,
            mode,
            &dir.path().join(format!("{mode}.jsonl")),
        )
    });
    for (mode, samples) in MODES.iter().zip(samples) {
        out.extend(group_rows(GROUP, &format!("{mode} +events"), || {
            Ok(logged_rows(mode, &samples?, flood.lines))
        }));
    }
    out.extend(paced_rows(bins, sizes, dir.path()));
    out
}
