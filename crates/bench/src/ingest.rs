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
use crate::{Sizes, group_rows};

const GROUP: &str = "ingest";
const CHUNK: usize = 64 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(120);
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
        let barrier = Arc::new(Barrier::new(self.buffers.len()));
        let threads: Vec<_> = self
            .buffers
            .iter()
            .map(|buf| {
                let (buf, barrier) = (Arc::clone(buf), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    flood_one(addr, &buf)
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

/// One connection: connect, write everything, shut down writing, read to end of stream.
fn flood_one(addr: SocketAddr, buf: &[u8]) -> anyhow::Result<(Instant, Instant)> {
    let start = Instant::now();
    let mut s =
        TcpStream::connect(addr).with_context(|| format!("flood: cannot connect to {addr}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    for chunk in buf.chunks(CHUNK) {
        s.write_all(chunk)
            .with_context(|| format!("flood: writing to {addr}"))?;
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

/// The ceiling: a listener here that counts newlines, a thread per connection.
fn ceiling(flood: &Flood) -> anyhow::Result<Row> {
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
            let _ = TcpStream::connect(addr);
        }
    }
    let (start, end) = sent?;
    let counted = acceptor
        .join()
        .map_err(|_| anyhow::anyhow!("ceiling: acceptor panicked"))??;
    let rate = flood.lines as f64 / end.duration_since(start).as_secs_f64() / 1e6;
    Ok(Row::new(GROUP, "ceiling", rate, UNIT)
        .note(format!("newline count in-process, n = {counted}"))
        .check(
            counted == flood.lines,
            &format!("counted {counted}, sent {}", flood.lines),
        ))
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

/// The ingest rows of one mode, with (`log` set) or without the event log.
fn mode_rows(
    bins: &Bins,
    flood: &Flood,
    mode: &str,
    log: Option<&Path>,
) -> anyhow::Result<Vec<Row>> {
    let extra: Vec<String> = log.map_or_else(Vec::new, |p| {
        vec!["--events".into(), p.display().to_string()]
    });
    let server = Server::start(bins, mode, &extra)?;
    let (start, end) = flood.send(([127, 0, 0, 1], server.port).into())?;
    let stopped = server.stop()?;
    let secs = end.duration_since(start).as_secs_f64();
    let to_exit = stopped.exited.duration_since(start).as_secs_f64();
    let n = stopped.data_gaps()?;
    let lines = flood.lines;
    let name = if log.is_some() {
        format!("{mode} +events")
    } else {
        mode.to_owned()
    };
    let mut row = Row::new(GROUP, &name, lines as f64 / secs / 1e6, UNIT)
        .note(format!("n = {n}; server exit {:.0} ms", to_exit * 1e3))
        .check(n == lines, &format!("server n = {n}, sent {lines}"));
    let Some(log) = log else {
        let mut rows = vec![row.vs("ceiling")];
        if mode == "proc" {
            rows.push(
                Row {
                    name: "proc vs thr".into(),
                    ..rows[0].clone()
                }
                .vs("thr"),
            );
        }
        return Ok(rows);
    };
    let logged = count_received(log)?;
    row = row.vs(mode).check(
        logged == lines,
        &format!("log has {logged} message_received, sent {lines}"),
    );
    let written = Row::new(
        GROUP,
        format!("{mode} +events incl. log written"),
        lines as f64 / to_exit / 1e6,
        UNIT,
    )
    .vs(mode)
    .note(format!(
        "first connect → server exit {:.0} ms; log {logged} lines",
        to_exit * 1e3
    ));
    std::fs::remove_file(log).with_context(|| format!("cannot remove {}", log.display()))?;
    Ok(vec![row, written])
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

/// Every ingest row: the ceiling, then each mode without and with the event log.
pub fn rows(bins: &Bins, sizes: &Sizes) -> Vec<Row> {
    let flood = Flood::new(4, sizes.flood_lines);
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            return vec![Row::failure(
                GROUP,
                "setup",
                &format!("no temporary directory: {e}"),
            )];
        }
    };
    // A first flood, not reported, warms the buffers and the loopback path for every row.
    let mut out = group_rows(GROUP, "warm-up", || ceiling(&flood).map(|_| Vec::new()));
    out.extend(group_rows(GROUP, "ceiling", || {
        ceiling(&flood).map(|r| vec![r])
    }));
    for mode in ["iter", "thr", "proc", "async"] {
        out.extend(group_rows(GROUP, mode, || {
            mode_rows(bins, &flood, mode, None)
        }));
    }
    for mode in ["iter", "thr", "proc", "async"] {
        let log = dir.path().join(format!("{mode}.jsonl"));
        out.extend(group_rows(GROUP, &format!("{mode} +events"), || {
            mode_rows(bins, &flood, mode, Some(&log))
        }));
    }
    out
}
