//! Command-line options of the server (SPEC §3) and the console echo of them in the seed's
//! Python-dict style.

use std::fmt::Write as _;
use std::path::PathBuf;

pub use arrivals::Mode;
use arrivals::protocol::DEFAULT_MAX_LINE_BYTES;
use clap::Parser;

/// Default of `--max-connections`.
pub use arrivals::args::DEFAULT_MAX_CONNECTIONS;

/// The server's command line.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "server",
    version,
    about = "TCP server that measures connection and data inter-arrival times",
    long_about = "TCP server that measures connection and data inter-arrival times.\n\n\
                  Stop it with Ctrl-C (SIGINT) or SIGTERM: it then prints the average \
                  connection and data inter-arrival times."
)]
pub struct Options {
    /// IP address or hostname to bind.
    #[arg(short, long, value_name = "HOST", default_value = "127.0.0.1")]
    pub address: String,

    /// TCP port; 0 picks a free one.
    #[arg(short, long, default_value_t = 55000)]
    pub port: u16,

    /// Concurrency mode.
    #[arg(
        short = 'm',
        long,
        value_name = "MODE",
        value_enum,
        default_value = "thr"
    )]
    pub concurrency_mode: Mode,

    /// Print every message received.
    #[arg(short, long)]
    pub verbose: bool,

    /// Write the JSON Lines event log to FILE.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,

    /// Cap on connections served at once (thr, proc, async); the rest wait in the backlog.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = at_least_one)]
    pub max_connections: usize,

    /// Bound on one message, in bytes.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_LINE_BYTES, value_parser = at_least_one)]
    pub max_line_bytes: usize,

    /// Close a connection that sends nothing for SECS seconds (off by default; in `iter`
    /// mode this is how a stuck peer releases the server).
    #[arg(long, value_name = "SECS", value_parser = positive_secs)]
    pub idle_timeout: Option<f64>,

    /// Internal: serve the connection on stdin as a `proc`-mode worker of the server with
    /// this PID, streaming records on stdout.
    #[arg(long, value_name = "PARENT_PID", hide = true)]
    pub serve_connection: Option<u32>,

    /// Internal: as a `proc`-mode worker, report how many lines each read delivered and
    /// when, without their text (the server neither prints nor logs messages).
    #[arg(long, hide = true, requires = "serve_connection")]
    pub counts_only: bool,
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// Positive seconds, at most a day.
fn positive_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        Ok(_) => Err("must be between 0 and 86400 seconds".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

impl Options {
    /// `--idle-timeout` as a duration.
    pub fn idle_timeout(&self) -> Option<std::time::Duration> {
        self.idle_timeout.map(std::time::Duration::from_secs_f64)
    }

    /// The options as the seed run printed them: a Python dict literal.
    pub fn describe(&self) -> String {
        let mut out = String::from("{");
        // Writing into a String cannot fail.
        let _ = write!(
            out,
            "'address': {}, 'port': {}, 'concurrency_mode': {}, 'verbose': {}, 'events': {}, \
             'max_connections': {}, 'max_line_bytes': {}, 'idle_timeout': {}",
            py_str(&self.address),
            self.port,
            py_str(self.concurrency_mode.name()),
            if self.verbose { "True" } else { "False" },
            self.events
                .as_ref()
                .map_or_else(|| "None".to_owned(), |p| py_str(&p.display().to_string())),
            self.max_connections,
            self.max_line_bytes,
            self.idle_timeout
                .map_or_else(|| "None".to_owned(), |s| format!("{s:?}")),
        );
        out.push('}');
        out
    }
}

/// A string literal the way Python's `repr` writes it (single quotes unless the text holds a
/// single quote and no double quote).
fn py_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, clap::Error> {
        Options::try_parse_from(std::iter::once("server").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_follow_the_spec_and_print_like_the_seed() {
        let o = parse(&["-p", "0"]).expect("parses");
        assert_eq!(o.concurrency_mode, Mode::Thr);
        assert_eq!(
            o.describe(),
            "{'address': '127.0.0.1', 'port': 0, 'concurrency_mode': 'thr', 'verbose': False, \
             'events': None, 'max_connections': 1024, 'max_line_bytes': 65536, \
             'idle_timeout': None}"
        );
    }

    #[test]
    fn long_mode_names_are_accepted_and_printed_short() {
        for (given, mode) in [
            ("iterative", Mode::Iter),
            ("iter", Mode::Iter),
            ("thread", Mode::Thr),
            ("process", Mode::Proc),
            ("proc", Mode::Proc),
            ("async", Mode::Async),
        ] {
            let o = parse(&["-m", given]).expect("parses");
            assert_eq!(o.concurrency_mode, mode, "{given}");
        }
        let o = parse(&[
            "--concurrency-mode",
            "process",
            "-v",
            "--events",
            "e's.jsonl",
        ])
        .expect("parses");
        assert!(
            o.describe()
                .contains("'concurrency_mode': 'proc', 'verbose': True")
        );
        assert!(o.describe().contains(r#"'events': "e's.jsonl""#));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["-m", "fork"]).is_err());
        assert!(parse(&["--max-connections", "0"]).is_err());
        assert!(parse(&["--max-line-bytes", "0"]).is_err());
        assert!(parse(&["-p", "70000"]).is_err());
        assert!(parse(&["--idle-timeout", "0"]).is_err());
        assert!(parse(&["--idle-timeout", "-1"]).is_err());
        assert_eq!(
            parse(&["--idle-timeout", "2.5"])
                .expect("parses")
                .idle_timeout(),
            Some(std::time::Duration::from_millis(2500))
        );
    }

    #[test]
    fn python_repr_escapes_quotes_and_controls() {
        assert_eq!(py_str("a'b\"c"), r#"'a\'b"c'"#);
        assert_eq!(py_str("x\ty\x1b"), r"'x\ty\x1b'");
    }
}
