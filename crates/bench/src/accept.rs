//! Accept rate: connections per second each mode accepts and greets, from 2 threads that
//! connect, read the greeting and close, over and over.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::servers::{Bins, Server};
use crate::table::Row;
use crate::{Sizes, Spread, group_rows, interleaved};

const GROUP: &str = "accept";
const THREADS: usize = 2;
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects, reads up to the end of the greeting line and closes.
pub(crate) fn greeted(addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .with_context(|| format!("cannot connect to {addr}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    let mut buf = [0u8; 256];
    let mut got = 0;
    while !buf[..got].contains(&b'\n') {
        let n = s
            .read(&mut buf[got..])
            .with_context(|| format!("no greeting from {addr}"))?;
        if n == 0 || got + n == buf.len() {
            bail!("{addr} closed or sent no greeting line");
        }
        got += n;
    }
    Ok(s)
}

/// `THREADS` threads of `each` connect-greet-close loops; the span from start to last close.
fn connect_loops(addr: SocketAddr, each: usize) -> anyhow::Result<Duration> {
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || -> anyhow::Result<(Instant, Instant)> {
                barrier.wait();
                let start = Instant::now();
                for _ in 0..each {
                    drop(greeted(addr)?);
                }
                Ok((start, Instant::now()))
            })
        })
        .collect();
    let mut span: Option<(Instant, Instant)> = None;
    for t in threads {
        let (a, b) = t
            .join()
            .map_err(|_| anyhow::anyhow!("a connecting thread panicked"))??;
        span = Some(span.map_or((a, b), |(s, e)| (s.min(a), e.max(b))));
    }
    let (start, end) = span.context("no connecting thread")?;
    Ok(end.duration_since(start))
}

/// One round of `mode`: connections per second, and the connection gaps the server counted.
fn sample(bins: &Bins, mode: &str, each: usize) -> anyhow::Result<(f64, u64)> {
    let server = Server::start(bins, mode, &[])?;
    let took = connect_loops(([127, 0, 0, 1], server.port).into(), each)?;
    let stopped = server.stop()?;
    let rate = (THREADS * each) as f64 / took.as_secs_f64();
    Ok((rate, stopped.connection_gaps()?))
}

/// The accept rate of every mode: the median of interleaved rounds.
pub fn rows(bins: &Bins, sizes: &Sizes) -> Vec<Row> {
    let modes = ["iter", "thr", "proc", "async"];
    let each = sizes.accept_each;
    let conns = (THREADS * each) as u64;
    let samples = interleaved(&modes, sizes.rounds_accept, |mode| sample(bins, mode, each));
    modes
        .iter()
        .zip(samples)
        .flat_map(|(mode, samples)| {
            group_rows(GROUP, mode, || {
                let samples = samples?;
                let rates: Vec<f64> = samples.iter().map(|s| s.0).collect();
                let spread = Spread::of(&rates);
                let wrong: Vec<u64> = samples
                    .iter()
                    .map(|s| s.1)
                    .filter(|&g| g + 1 != conns)
                    .collect();
                let row = Row::new(GROUP, *mode, spread.median, "conn/s")
                    .note(format!(
                        "{spread}; {conns} connections; connection gaps n = {} each",
                        conns - 1
                    ))
                    .check(
                        wrong.is_empty(),
                        &format!("server counted {wrong:?} gaps, expected {}", conns - 1),
                    );
                Ok(vec![if *mode == "iter" { row } else { row.vs("iter") }])
            })
        })
        .collect()
}
