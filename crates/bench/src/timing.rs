//! Timing: how exactly the client sends on schedule and what gaps a `thr` server measures,
//! from both event logs. Each schedule runs plain and, when the client has it, again with
//! `--spin-us 200` (n/a rows for older clients), each spinning row next to its plain one.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use arrivals::stats::quantile_sorted;
use arrivals::{DistKind, Distribution, gof};
use serde::Deserialize;

use crate::servers::{Bins, Server, run_client};
use crate::table::Row;
use crate::{Sizes, group_rows};

const GROUP: &str = "timing";
const SPIN_US: u32 = 200;

/// The fields the timing rows read from either log; the rest of a line is skipped.
#[derive(Debug, Deserialize)]
struct Line {
    event: String,
    seq: Option<u64>,
    gap_ms: Option<f64>,
    worker: Option<u32>,
    actual_ms: Option<f64>,
    lateness_ms: Option<f64>,
}

fn read_lines(path: &Path) -> anyhow::Result<Vec<Line>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not an event", path.display(), i + 1))
        })
        .collect()
}

/// What one client run against one server gave.
#[derive(Debug, Default)]
struct Logs {
    /// The server's data gaps with seq ≥ 2, ms.
    server_gaps: Vec<f64>,
    /// The client's `lateness_ms` of every send.
    lateness: Vec<f64>,
    /// The client's send gaps: consecutive `actual_ms` of each worker.
    send_gaps: Vec<f64>,
}

impl Logs {
    fn read(server_log: &Path, client_log: &Path) -> anyhow::Result<Self> {
        let mut logs = Self::default();
        for l in read_lines(server_log)? {
            if let ("message_received", Some(2..), Some(gap)) = (l.event.as_str(), l.seq, l.gap_ms)
            {
                logs.server_gaps.push(gap);
            }
        }
        let mut sends: Vec<(u32, u64, f64)> = Vec::new();
        for l in read_lines(client_log)?
            .into_iter()
            .filter(|l| l.event == "message_sent")
        {
            let (Some(w), Some(seq), Some(at), Some(late)) =
                (l.worker, l.seq, l.actual_ms, l.lateness_ms)
            else {
                anyhow::bail!(
                    "{}: a message_sent without worker, seq, actual_ms or lateness_ms",
                    client_log.display()
                );
            };
            logs.lateness.push(late);
            sends.push((w, seq, at));
        }
        sends.sort_by_key(|&(w, seq, _)| (w, seq));
        logs.send_gaps = sends
            .windows(2)
            .filter(|p| p[0].0 == p[1].0)
            .map(|p| p[1].2 - p[0].2)
            .collect();
        Ok(logs)
    }
}

/// One client schedule: `-w W -n N -d D -p P --seed 1`.
#[derive(Clone, Copy, Debug)]
struct Schedule {
    label: &'static str,
    workers: u32,
    n: usize,
    dist: &'static str,
    param: &'static str,
}

/// Starts a `thr` server with an event log, runs the client against it, reads both logs.
fn run(bins: &Bins, s: &Schedule, spin: Option<u32>, dir: &Path) -> anyhow::Result<Logs> {
    let (slog, clog) = (dir.join("s.jsonl"), dir.join("c.jsonl"));
    let server = Server::start(
        bins,
        "thr",
        &["--events".into(), slog.display().to_string()],
    )?;
    let mut args: Vec<String> = [
        "-w",
        &s.workers.to_string(),
        "-n",
        &s.n.to_string(),
        "-d",
        s.dist,
        "-p",
        s.param,
    ]
    .map(String::from)
    .to_vec();
    let port = server.port.to_string();
    args.extend(["-s", "127.0.0.1", "-P", &port, "--seed", "1", "--events"].map(String::from));
    args.push(clog.display().to_string());
    if let Some(us) = spin {
        args.extend(["--spin-us".into(), us.to_string()]);
    }
    // The schedule lasts n × 5 ms at most here (rate 200/s or T = 5 ms).
    let timeout = Duration::from_millis(s.n as u64 * 5) * 2 + Duration::from_secs(30);
    run_client(bins, &args, timeout)?;
    server.stop()?;
    let logs = Logs::read(&slog, &clog)?;
    let (sent, seen) = (s.workers as usize * s.n, s.workers as usize * (s.n - 1));
    if logs.lateness.len() != sent || logs.server_gaps.len() != seen {
        anyhow::bail!(
            "{}: client logged {} sends (expected {sent}), server {} gaps with seq ≥ 2 (expected {seen})",
            s.label,
            logs.lateness.len(),
            logs.server_gaps.len()
        );
    }
    Ok(logs)
}

/// p50 and p99 of `values` (ms) in µs.
fn p50_p99_us(values: &[f64]) -> (f64, f64) {
    let sorted = gof::sorted(values);
    if sorted.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    (
        quantile_sorted(&sorted, 0.5) * 1e3,
        quantile_sorted(&sorted, 0.99) * 1e3,
    )
}

/// Rows `{label} {what} p50` and `p99` of `values` (ms), in µs, each compared with the same
/// quantile of the row `{vs} pXX` when `vs` is given, and noted against `targets` (µs, p50
/// and p99, where given).
fn quantile_rows(
    label: &str,
    what: &str,
    values: &[f64],
    vs: Option<&str>,
    targets: [Option<f64>; 2],
) -> Vec<Row> {
    let (p50, p99) = p50_p99_us(values);
    [("p50", p50, targets[0]), ("p99", p99, targets[1])]
        .into_iter()
        .map(|(q, v, target)| {
            let n = values.len();
            let note = match target {
                Some(t) => {
                    let verdict = if v <= t { "met" } else { "missed" };
                    format!("n = {n}; target ≤ {t} µs: {verdict}")
                }
                None => format!("n = {n}"),
            };
            let row = Row::new(GROUP, format!("{label} {what} {q}"), v, "µs").note(note);
            match vs {
                Some(other) => row.vs(format!("{other} {q}")),
                None => row,
            }
        })
        .collect()
}

/// KS D of `values` against the exponential with rate 200/s.
fn ks_row(name: String, values: &[f64]) -> anyhow::Result<Row> {
    let dist = Distribution::new(DistKind::Exponential, 200.0, None)?;
    let ks = gof::ks_one_sample(values, |x| dist.cdf_ms(x)).context("no gaps to test")?;
    Ok(Row::new(GROUP, name, ks.statistic, "D").note(format!("p {:.3}, n = {}", ks.p_value, ks.n)))
}

fn schedules(sizes: &Sizes) -> [Schedule; 3] {
    let n = sizes.timing_n;
    [
        Schedule {
            label: "d5ms×4",
            workers: 4,
            n: n / 5,
            dist: "d",
            param: "0.005",
        },
        Schedule {
            label: "d5ms×1",
            workers: 1,
            n,
            dist: "d",
            param: "0.005",
        },
        Schedule {
            label: "e200×1",
            workers: 1,
            n,
            dist: "e",
            param: "200",
        },
    ]
}

/// The rows of one schedule, plain (`spin` None). Ratios: the server's gap error next to
/// the client's lateness, four workers' lateness next to one's, the server's KS distance
/// next to the client's. Spinning rows are renamed `… +spin200` and compared with the plain
/// row of the same name.
fn schedule_rows(bins: &Bins, s: &Schedule, spin: Option<u32>) -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir().context("no temporary directory")?;
    let logs = run(bins, s, spin, dir.path())?;
    let l = s.label;
    let rows = match s.dist {
        "e" => {
            let client = format!("{l} KS client send gaps");
            let server = ks_row(format!("{l} KS server data gaps"), &logs.server_gaps)?;
            vec![ks_row(client.clone(), &logs.send_gaps)?, server.vs(client)]
        }
        _ if s.workers > 1 => {
            let err: Vec<f64> = logs.server_gaps.iter().map(|g| (g - 5.0).abs()).collect();
            let lateness = format!("{l} lateness");
            let mut rows = quantile_rows(
                l,
                "lateness",
                &logs.lateness,
                Some("d5ms×1 lateness"),
                [None; 2],
            );
            rows.extend(quantile_rows(
                l,
                "server |gap−5ms|",
                &err,
                Some(&lateness),
                [None, Some(500.0)],
            ));
            rows
        }
        _ => quantile_rows(
            l,
            "lateness",
            &logs.lateness,
            None,
            [Some(10.0), Some(100.0)],
        ),
    };
    Ok(match spin {
        None => rows,
        Some(us) => rows.into_iter().map(|r| spinning(r, us)).collect(),
    })
}

/// The spinning twin of a plain row: renamed, compared with the plain row.
fn spinning(row: Row, us: u32) -> Row {
    let plain = row.name.clone();
    Row {
        name: format!("{plain} +spin{us}"),
        ..row
    }
    .vs(plain)
}

/// Every timing row, schedule by schedule, each plain then spinning.
pub fn rows(bins: &Bins, sizes: &Sizes) -> Vec<Row> {
    let spins = match bins.client_spins() {
        Ok(spins) => spins,
        Err(e) => return vec![Row::failure(GROUP, "setup", &format!("{e:#}"))],
    };
    let mut out = Vec::new();
    for s in schedules(sizes) {
        let plain = group_rows(GROUP, s.label, || schedule_rows(bins, &s, None));
        let spun = if spins {
            let label = format!("{} +spin{SPIN_US}", s.label);
            group_rows(GROUP, &label, || schedule_rows(bins, &s, Some(SPIN_US)))
        } else {
            let why = "client lacks --spin-us";
            let na = |r: &Row| Row::not_applicable(GROUP, &r.name, r.unit, why);
            plain.iter().map(|r| spinning(na(r), SPIN_US)).collect()
        };
        out.extend(plain.into_iter().chain(spun));
    }
    out
}
