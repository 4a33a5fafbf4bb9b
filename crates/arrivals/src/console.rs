//! The server's console lines (SPEC §3): formatted here for the server and parsed here for
//! the orchestrator, so the two cannot drift apart. Each formatter returns whole lines,
//! newline included.

use std::net::SocketAddr;

use crate::mode::Mode;
use crate::stats::format_avg_ms;

/// Start of the line that gives the bound address.
const LISTENING: &str = "Listening on ";
/// The first of the closing lines.
pub const TERMINATING: &str = "The server is terminating";

/// The two averages the server prints when it stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Averaged {
    Connection,
    Data,
}

impl Averaged {
    /// The line's text before the value: `Average connection inter-arrival time:`.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Connection => "Average connection inter-arrival time:",
            Self::Data => "Average data inter-arrival time:",
        }
    }
}

/// One average line: `… time: 12.34 ms (n = 4)` or `… time: n/a (n = 0)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Average {
    pub avg_ms: Option<f64>,
    pub n: u64,
}

/// The ready and `Listening on` lines.
pub fn ready(mode: Mode, pid: u32, local: SocketAddr) -> String {
    let kind = if mode.is_iterative() {
        "iterative"
    } else {
        "concurrent"
    };
    format!("The {kind} TCP server is ready to receive (PID = {pid})\n{LISTENING}{local}\n")
}

/// The iterative server's line for an accepted connection.
pub fn new_connection(peer: SocketAddr) -> String {
    format!("[+] New connection from {peer}\n")
}

/// A concurrent server's lines for a connection handed to a worker.
pub fn worker_spawned(peer: SocketAddr, tid: u64, pid: u32, ppid: u32) -> String {
    format!(
        "[+] New server socket worker spawned for client {peer}\n\
         Thread ID: {tid} - PID: {pid} - PPID: {ppid}\n"
    )
}

/// The line for a closed connection.
pub fn connection_closed(peer: SocketAddr) -> String {
    format!("[x] Connection closed for {peer}\n")
}

/// The closing lines: `The server is terminating` and the two averages.
pub fn terminating(connection: Average, data: Average) -> String {
    format!(
        "{TERMINATING}\n{}{}",
        average_line(Averaged::Connection, connection),
        average_line(Averaged::Data, data)
    )
}

fn average_line(which: Averaged, a: Average) -> String {
    format!(
        "{} {} (n = {})\n",
        which.prefix(),
        format_avg_ms(a.avg_ms),
        a.n
    )
}

/// The address of a `Listening on ADDR` line.
pub fn parse_listening(line: &str) -> Option<SocketAddr> {
    line.strip_prefix(LISTENING)?.trim().parse().ok()
}

/// True for the `The server is terminating` line.
pub fn is_terminating(line: &str) -> bool {
    line.trim() == TERMINATING
}

/// True for either average line.
pub fn is_average(line: &str) -> bool {
    [Averaged::Connection, Averaged::Data]
        .iter()
        .any(|w| line.starts_with(w.prefix()))
}

/// The last `which` average among the console lines, if one parses.
pub fn parse_average(lines: &[String], which: Averaged) -> Option<Average> {
    let prefix = which.prefix();
    let line = lines.iter().rev().find(|l| l.starts_with(prefix))?;
    let (value, n) = line[prefix.len()..].trim().split_once("(n = ")?;
    let n = n.trim_end_matches(')').trim().parse().ok()?;
    let value = value.trim();
    let avg_ms = if value == "n/a" {
        None
    } else {
        Some(value.strip_suffix("ms")?.trim().parse().ok()?)
    };
    Some(Average { avg_ms, n })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn the_ready_lines_give_the_address_back() {
        let local: SocketAddr = "127.0.0.1:40123".parse().expect("address");
        let text = ready(Mode::Iter, 7, local);
        assert_eq!(
            text,
            "The iterative TCP server is ready to receive (PID = 7)\nListening on 127.0.0.1:40123\n"
        );
        assert!(ready(Mode::Async, 7, local).starts_with("The concurrent TCP server"));
        let back = lines(&text).iter().find_map(|l| parse_listening(l));
        assert_eq!(back, Some(local));
        let v6: SocketAddr = "[::1]:9".parse().expect("address");
        assert_eq!(parse_listening(&format!("Listening on {v6}")), Some(v6));
    }

    #[test]
    fn connection_lines_keep_the_seed_format() {
        let peer: SocketAddr = "127.0.0.1:5".parse().expect("address");
        assert_eq!(
            new_connection(peer),
            "[+] New connection from 127.0.0.1:5\n"
        );
        assert_eq!(
            worker_spawned(peer, 11, 12, 13),
            "[+] New server socket worker spawned for client 127.0.0.1:5\n\
             Thread ID: 11 - PID: 12 - PPID: 13\n"
        );
        assert_eq!(
            connection_closed(peer),
            "[x] Connection closed for 127.0.0.1:5\n"
        );
    }

    #[test]
    fn the_closing_lines_parse_back() {
        let connection = Average {
            avg_ms: Some(12.34),
            n: 4,
        };
        let data = Average { avg_ms: None, n: 0 };
        let text = terminating(connection, data);
        assert_eq!(
            text,
            "The server is terminating\n\
             Average connection inter-arrival time: 12.34 ms (n = 4)\n\
             Average data inter-arrival time: n/a (n = 0)\n"
        );
        let lines = lines(&text);
        assert!(is_terminating(&lines[0]));
        assert!(!is_average(&lines[0]) && is_average(&lines[1]) && is_average(&lines[2]));
        assert_eq!(
            parse_average(&lines, Averaged::Connection),
            Some(connection)
        );
        assert_eq!(parse_average(&lines, Averaged::Data), Some(data));
        assert_eq!(parse_average(&lines[..1], Averaged::Data), None);
    }
}
