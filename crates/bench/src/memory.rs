//! Memory: the resident size of a server holding many idle connections (greeted, left open),
//! above its idle baseline.

use std::time::Duration;

use anyhow::Context;

use crate::accept::greeted;
use crate::servers::{Bins, Server, rss_kib};
use crate::table::Row;
use crate::{Sizes, group_rows};

const GROUP: &str = "memory";
const SETTLE: Duration = Duration::from_millis(300);

fn mode_rows(bins: &Bins, mode: &str, conns: usize) -> anyhow::Result<Vec<Row>> {
    let server = Server::start(bins, mode, &["--max-connections".into(), "20000".into()])?;
    std::thread::sleep(SETTLE);
    let idle = rss_kib(server.pid())?;
    let addr = ([127, 0, 0, 1], server.port).into();
    let held: Vec<_> = (0..conns)
        .map(|i| greeted(addr).with_context(|| format!("connection {} of {conns}", i + 1)))
        .collect::<anyhow::Result<_>>()?;
    // The server prints a line per accepted connection: wait for them, then let it settle.
    server.stdout.wait_lines(conns + 1, Duration::from_secs(30));
    std::thread::sleep(SETTLE);
    let busy = rss_kib(server.pid())?;
    let stopped = server.stop()?;
    drop(held);
    let gaps = stopped.connection_gaps()?;
    let per_conn = (busy - idle) / conns as f64;
    let name = format!("{mode} {conns} idle conns");
    Ok(vec![
        Row::new(GROUP, format!("{mode} baseline"), idle / 1024.0, "MiB"),
        Row::new(GROUP, &name, busy / 1024.0, "MiB")
            .vs(format!("{mode} baseline"))
            .note(format!("VmRSS; connection gaps n = {gaps}"))
            .check(
                gaps + 1 == conns as u64,
                &format!("server counted {gaps} gaps, expected {}", conns - 1),
            ),
        Row::new(GROUP, format!("{mode} per conn"), per_conn, "KiB/conn"),
    ])
}

/// Memory of `async` with many connections and of `thr` with fewer (a thread each).
pub fn rows(bins: &Bins, sizes: &Sizes) -> Vec<Row> {
    let mut out = group_rows(GROUP, "async", || {
        mode_rows(bins, "async", sizes.memory_async)
    });
    out.extend(group_rows(GROUP, "thr", || {
        mode_rows(bins, "thr", sizes.memory_thr)
    }));
    if let Some(row) = out.iter_mut().find(|r| r.name == "thr per conn") {
        row.compared_with = Some("async per conn".into());
    }
    out
}
