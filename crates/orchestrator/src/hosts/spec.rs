//! Where a scenario's processes run, as its file says: the `host` keys of `[server]` and
//! `[[clients]]`, the `[[hosts]]` namespaces it creates with their links, and the loopback
//! twin its report compares with. Pure validation: every refusal names file, line and key.

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::scenario::ScenarioError;

/// Longest `[[hosts]]` name: the namespace is `<run prefix>-<name>`.
const MAX_NAME: usize = 12;
/// At most this many `[[hosts]]`: one private /24 holds them with room to spare.
const MAX_HOSTS: usize = 200;

/// Where one process runs.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Host {
    /// On this machine, over loopback (no `host` key).
    #[default]
    Local,
    /// Inside the network namespace the scenario declares as `[[hosts]] name = NAME`.
    Netns(String),
    /// Over SSH, with the system `ssh` client in batch mode.
    Ssh(SshTarget),
}

/// `ssh:[USER@]HOST[:PORT]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl SshTarget {
    /// `[USER@]HOST`, what `ssh` takes as destination.
    pub fn destination(&self) -> String {
        match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => self.host.clone(),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Local => f.write_str("local"),
            Host::Netns(n) => write!(f, "netns:{n}"),
            Host::Ssh(t) => {
                write!(f, "ssh:{}", t.destination())?;
                if let Some(p) = t.port {
                    write!(f, ":{p}")?;
                }
                Ok(())
            }
        }
    }
}

/// A line and column of the scenario file (1-based; 0 when the key is absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// Where one process runs, and the binaries' folder there.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Placed {
    pub host: Host,
    /// `bin_dir`: where `server` and `client` are on an SSH host (else its `PATH`).
    pub bin_dir: Option<String>,
}

/// A per-link shaping: rate through `tbf`, delay and jitter through `netem`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Link {
    /// Bits per second, and the text the file gave.
    pub rate: Option<(u64, String)>,
    /// Microseconds.
    pub delay_us: Option<u64>,
    pub jitter_us: Option<u64>,
    /// Where `delay` is written, for the refusal when the kernel has no netem.
    pub delay_at: Pos,
}

impl Link {
    /// How the link is shaped, for pages and progress lines.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some((_, text)) = &self.rate {
            parts.push(format!("rate {text}"));
        }
        if let Some(d) = self.delay_us {
            parts.push(format!("delay {} ms", d as f64 / 1e3));
        }
        if let Some(j) = self.jitter_us {
            parts.push(format!("jitter {} ms", j as f64 / 1e3));
        }
        if parts.is_empty() {
            "unshaped veth".into()
        } else {
            format!("veth, {}", parts.join(", "))
        }
    }
}

/// One `[[hosts]]` entry: a namespace the orchestrator creates, joined to the others by a
/// veth link to one bridge.
#[derive(Clone, Debug, PartialEq)]
pub struct NetnsHost {
    pub name: String,
    pub link: Link,
    /// Where its `name` is written.
    pub at: Pos,
}

/// Where a scenario's processes run. The default is today's: everything local.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Placement {
    pub server: Placed,
    /// One per client group, in file order.
    pub clients: Vec<Placed>,
    pub hosts: Vec<NetnsHost>,
    /// `loopback_twin`: the scenario whose results are the same run over loopback.
    pub loopback_twin: Option<String>,
}

impl Placement {
    /// True when nothing leaves loopback (no `host`, no `[[hosts]]`).
    pub fn is_local(&self) -> bool {
        self.hosts.is_empty()
            && self.server.host == Host::Local
            && self.clients.iter().all(|c| c.host == Host::Local)
    }

    /// The `[[hosts]]` entry named `name`.
    pub fn netns(&self, name: &str) -> Option<&NetnsHost> {
        self.hosts.iter().find(|h| h.name == name)
    }
}

/// One `[[hosts]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    name: Spanned<String>,
    rate: Option<Spanned<String>>,
    delay: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
}

/// The `host` and `bin_dir` keys of one section.
#[derive(Debug, Clone, Default)]
pub struct RawPlace {
    pub host: Option<Spanned<String>>,
    pub bin_dir: Option<Spanned<String>>,
}

/// Builds the refusal for a span of the file.
pub type Invalid<'a> = &'a dyn Fn(Range<usize>, String) -> ScenarioError;

/// Validates the placement keys of a scenario. `clients` holds each group's label and keys.
pub fn placement(
    invalid: Invalid<'_>,
    line_of: &dyn Fn(usize) -> Pos,
    raw_hosts: Vec<Spanned<RawHost>>,
    server: RawPlace,
    clients: Vec<(String, RawPlace)>,
    twin: Option<Spanned<String>>,
    scenario: &str,
) -> Result<Placement, ScenarioError> {
    if raw_hosts.len() > MAX_HOSTS {
        return Err(invalid(
            raw_hosts[MAX_HOSTS].span(),
            format!("key `hosts`: at most {MAX_HOSTS} [[hosts]]"),
        ));
    }
    let mut hosts: Vec<NetnsHost> = Vec::new();
    for h in raw_hosts {
        let h = h.into_inner();
        let name = h.name.get_ref();
        let here = |key: &str, why: String| format!("key `{key}` of [[hosts]] \"{name}\": {why}");
        if !crate::scenario::is_safe_name(name) || name.len() > MAX_NAME {
            return Err(invalid(
                h.name.span(),
                format!(
                    "key `name` of [[hosts]]: \"{name}\" must be 1 to {MAX_NAME} letters, digits, '-' or '_' (it names a network namespace)"
                ),
            ));
        }
        if hosts.iter().any(|o| o.name == *name) {
            return Err(invalid(
                h.name.span(),
                format!("key `name` of [[hosts]]: \"{name}\" is declared twice"),
            ));
        }
        let rate = match &h.rate {
            Some(r) => Some((
                parse_rate(r.get_ref()).map_err(|why| invalid(r.span(), here("rate", why)))?,
                r.get_ref().trim().to_owned(),
            )),
            None => None,
        };
        let time = |key: &str, v: &Option<Spanned<String>>| -> Result<Option<u64>, ScenarioError> {
            v.as_ref()
                .map(|t| {
                    parse_time_us(t.get_ref()).map_err(|why| invalid(t.span(), here(key, why)))
                })
                .transpose()
        };
        let delay_us = time("delay", &h.delay)?;
        let jitter_us = time("jitter", &h.jitter)?;
        if let (Some(j), None) = (&h.jitter, delay_us) {
            return Err(invalid(
                j.span(),
                here("jitter", "needs `delay` too (netem varies a delay)".into()),
            ));
        }
        hosts.push(NetnsHost {
            at: line_of(h.name.span().start),
            name: name.clone(),
            link: Link {
                rate,
                delay_us,
                jitter_us,
                delay_at: h
                    .delay
                    .as_ref()
                    .map_or(Pos::default(), |d| line_of(d.span().start)),
            },
        });
    }
    let place = |section: &str, raw: &RawPlace| -> Result<Placed, ScenarioError> {
        let here = |key: &str, why: String| format!("key `{key}` of {section}: {why}");
        let host = match &raw.host {
            Some(h) => {
                parse_host(h.get_ref()).map_err(|why| invalid(h.span(), here("host", why)))?
            }
            None => Host::Local,
        };
        if let (Some(h), Host::Netns(name)) = (&raw.host, &host)
            && !hosts.iter().any(|d| d.name == *name)
        {
            return Err(invalid(
                h.span(),
                here(
                    "host",
                    format!(
                        "no [[hosts]] is named \"{name}\": a `netns:` host must be one the scenario creates (declare `[[hosts]] name = \"{name}\"`)"
                    ),
                ),
            ));
        }
        let bin_dir = match &raw.bin_dir {
            Some(b) if !matches!(host, Host::Ssh(_)) => {
                return Err(invalid(
                    b.span(),
                    here(
                        "bin_dir",
                        "applies to an `ssh:` host only (locally and in namespaces the orchestrator runs the binaries beside itself)".into(),
                    ),
                ));
            }
            Some(b) if !b.get_ref().starts_with('/') || b.get_ref().contains(['\n', '\0']) => {
                return Err(invalid(
                    b.span(),
                    here(
                        "bin_dir",
                        format!("\"{}\" must be an absolute path", b.get_ref()),
                    ),
                ));
            }
            Some(b) => Some(b.get_ref().trim_end_matches('/').to_owned()),
            None => None,
        };
        Ok(Placed { host, bin_dir })
    };
    let server_placed = place("[server]", &server)?;
    let mut placed_clients = Vec::new();
    for (label, raw) in &clients {
        let p = place(&format!("[[clients]] \"{label}\""), raw)?;
        reachable(&server_placed.host, &p.host).map_err(|why| {
            let span = raw
                .host
                .as_ref()
                .or(server.host.as_ref())
                .map_or(0..0, Spanned::span);
            invalid(
                span,
                format!("key `host` of [[clients]] \"{label}\": {why}"),
            )
        })?;
        placed_clients.push(p);
    }
    for h in &hosts {
        let used = std::iter::once(&server_placed)
            .chain(&placed_clients)
            .any(|p| p.host == Host::Netns(h.name.clone()));
        if !used {
            return Err(invalid(
                0..0,
                format!(
                    "key `hosts`: [[hosts]] \"{}\" is declared but no process runs there (`host = \"netns:{}\"`)",
                    h.name, h.name
                ),
            ));
        }
    }
    let loopback_twin = match twin {
        Some(t) if !crate::scenario::is_safe_name(t.get_ref()) || t.get_ref() == scenario => {
            return Err(invalid(
                t.span(),
                format!(
                    "key `loopback_twin`: \"{}\" must name another scenario (letters, digits, '-' and '_')",
                    t.get_ref()
                ),
            ));
        }
        Some(t) => Some(t.into_inner()),
        None => None,
    };
    Ok(Placement {
        server: server_placed,
        clients: placed_clients,
        hosts,
        loopback_twin,
    })
}

/// Whether a client on `client` can reach a server on `server`: loopback stays on this
/// machine, namespaces reach each other over their bridge only, an SSH server is reached at
/// its host name.
fn reachable(server: &Host, client: &Host) -> Result<(), String> {
    match (server, client) {
        (Host::Local, Host::Local)
        | (Host::Netns(_), Host::Netns(_))
        | (Host::Ssh(_), Host::Local | Host::Ssh(_)) => Ok(()),
        (Host::Local, other) => Err(format!(
            "\"{other}\" cannot reach a local server (it listens on 127.0.0.1); give [server] a `host` too"
        )),
        (Host::Netns(_), other) => Err(format!(
            "\"{other}\" cannot reach a server in a namespace: every client of a `netns:` server runs in a namespace of the scenario"
        )),
        (Host::Ssh(_), other) => Err(format!(
            "\"{other}\" cannot reach an `ssh:` server (namespaces have no route out)"
        )),
    }
}

/// `local`, `netns:NAME` or `ssh:[USER@]HOST[:PORT]`.
pub fn parse_host(text: &str) -> Result<Host, String> {
    let form = "use `netns:NAME` or `ssh:USER@HOST[:PORT]` (no key: local)";
    if text == "local" {
        return Ok(Host::Local);
    }
    if let Some(name) = text.strip_prefix("netns:") {
        if name.is_empty() {
            return Err(format!("\"{text}\" names no namespace; {form}"));
        }
        return Ok(Host::Netns(name.to_owned()));
    }
    let Some(rest) = text.strip_prefix("ssh:") else {
        return Err(format!("\"{text}\" is not a host; {form}"));
    };
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    if let Some(u) = user
        && (u.is_empty()
            || !u
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
    {
        return Err(format!("\"{text}\": the user \"{u}\" is not a user name"));
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => {
            let port = p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                format!("\"{text}\": the port \"{p}\" is not between 1 and 65535")
            })?;
            (h, Some(port))
        }
        None => (hostport, None),
    };
    if host.is_empty() {
        return Err(format!("\"{text}\" names no host; {form}"));
    }
    if host.starts_with('-')
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
    {
        return Err(format!(
            "\"{text}\": \"{host}\" is not a host name or IPv4 address"
        ));
    }
    Ok(Host::Ssh(SshTarget {
        user: user.map(str::to_owned),
        host: host.to_owned(),
        port,
    }))
}

/// A `tc` rate (`64kbit`, `1.5mbit`, `100kbps`, `2Mibit`, ...) in bits per second, with
/// tc's units: `bit`, `kbit`, `mbit`, `gbit`, `tbit` (and `bps` forms, bytes per second;
/// `k`/`m`/`g`/`t` are powers of 1000, `ki`/`mi`/`gi`/`ti` of 1024). A bare number is
/// refused: tc would read it as bytes per second, a classic slip.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| {
            format!("\"{text}\" has no unit; write e.g. \"64kbit\" or \"1mbit\" (tc's units)")
        })?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("\"{text}\" does not start with a number"))?;
    let unit = unit.to_ascii_lowercase();
    let (prefix, per_byte) = if let Some(p) = unit.strip_suffix("bit") {
        (p, 1.0)
    } else if let Some(p) = unit.strip_suffix("bps") {
        (p, 8.0)
    } else {
        return Err(format!(
            "\"{text}\": unknown unit \"{unit}\" (tc takes bit, kbit, mbit, gbit, tbit, or bps, kbps, ...)"
        ));
    };
    let scale = match prefix {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "ki" => 1024.0,
        "mi" => 1024.0 * 1024.0,
        "gi" => 1024.0 * 1024.0 * 1024.0,
        "ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "\"{text}\": unknown unit \"{unit}\" (tc takes bit, kbit, mbit, gbit, tbit, or bps, kbps, ...)"
            ));
        }
    };
    let bits = value * scale * per_byte;
    // tbf needs a bucket refilled at least once per kernel tick; below 8 kbit/s one
    // full-size packet takes over a second, which no scenario means.
    if !(8_000.0..=1e13).contains(&bits) {
        return Err(format!(
            "\"{text}\" is {bits} bit/s; a link rate must be between 8kbit and 10tbit"
        ));
    }
    Ok(bits.round() as u64)
}

/// A `tc` time (`10ms`, `1.5ms`, `200us`, `1s`) in microseconds, at most 10 s.
pub fn parse_time_us(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("\"{text}\" has no unit; write e.g. \"10ms\" or \"200us\""))?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("\"{text}\" does not start with a number"))?;
    let scale = match unit {
        "s" | "sec" => 1e6,
        "ms" | "msec" => 1e3,
        "us" | "usec" => 1.0,
        _ => return Err(format!("\"{text}\": unknown unit \"{unit}\" (s, ms or us)")),
    };
    let us = value * scale;
    if !(0.0..=1e7).contains(&us) {
        return Err(format!("\"{text}\" is not between 0 and 10 s"));
    }
    Ok(us.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse() {
        assert_eq!(parse_host("local"), Ok(Host::Local));
        assert_eq!(parse_host("netns:a"), Ok(Host::Netns("a".into())));
        let Ok(Host::Ssh(t)) = parse_host("ssh:me@10.0.0.2:2222") else {
            panic!("an ssh host")
        };
        assert_eq!(
            (t.destination(), t.port),
            ("me@10.0.0.2".to_owned(), Some(2222))
        );
        assert_eq!(
            parse_host("ssh:me@box").map(|h| h.to_string()),
            Ok("ssh:me@box".into())
        );
        for bad in [
            "ssh:",
            "ssh:me@",
            "ssh:me@:22",
            "ssh:me@box:0",
            "ssh:me@-oProxyCommand=x",
            "ssh:@box",
            "netns:",
            "tcp:box",
        ] {
            assert!(parse_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rates_and_times_follow_tc() {
        assert_eq!(parse_rate("64kbit"), Ok(64_000));
        assert_eq!(parse_rate("1.5mbit"), Ok(1_500_000));
        assert_eq!(parse_rate("100kbps"), Ok(800_000));
        assert_eq!(parse_rate("1Mibit"), Ok(1_048_576));
        for bad in ["64", "64kb", "fast", "0kbit", "1bit", "-1kbit", "1..2mbit"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_time_us("10ms"), Ok(10_000));
        assert_eq!(parse_time_us("200us"), Ok(200));
        assert!(parse_time_us("10").is_err());
        assert!(parse_time_us("1h").is_err());
    }
}
