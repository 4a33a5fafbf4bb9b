//! Accept rate: connections per second each mode accepts and greets, from 2 threads that
//! connect, read the greeting and close, over and over.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::servers::{Bins, Server};
use crate::table::Row;
use crate::{Sizes, group_rows};

const GROUP: &str = "accept";
const THREADS: usize = 2;
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects, reads up to the end of the greeting line and closes.
pub(crate) fn greeted(addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
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

fn mode_row(bins: &Bins, mode: &str, each: usize) -> anyhow::Result<Vec<Row>> {
    let server = Server::start(bins, mode, &[])?;
    let took = connect_loops(([127, 0, 0, 1], server.port).into(), each)?;
    let stopped = server.stop()?;
    let conns = (THREADS * each) as u64;
    let gaps = stopped.connection_gaps()?;
    let row = Row::new(GROUP, mode, conns as f64 / took.as_secs_f64(), "conn/s")
        .note(format!("{conns} connections; connection gaps n = {gaps}"))
        .check(
            gaps + 1 == conns,
            &format!("server counted {gaps} gaps, expected {}", conns - 1),
        );
    Ok(vec![if mode == "iter" { row } else { row.vs("iter") }])
}

/// The accept rate of every mode.
pub fn rows(bins: &Bins, sizes: &Sizes) -> Vec<Row> {
    ["iter", "thr", "proc", "async"]
        .iter()
        .flat_map(|mode| group_rows(GROUP, mode, || mode_row(bins, mode, sizes.accept_each)))
        .collect()
}
