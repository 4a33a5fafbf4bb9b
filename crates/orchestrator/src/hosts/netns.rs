//! The emulated topology of `[[hosts]]`: one network namespace per host, each joined by a
//! veth link to a bridge in a hub namespace of its own, addresses in one private /24, and
//! the links shaped with `tc`. Nothing is created in the namespace the orchestrator runs in;
//! every name carries the run's prefix, and [`Topology`]'s `Drop` deletes what was created
//! (deleting a namespace deletes the links inside it).

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::HostsError;
use super::spec::{Link, NetnsHost};

/// The private /24 of every topology: host `i` (from 0) gets `.i+1`. Each run has its own
/// hub, so parallel runs reuse it without meeting.
const SUBNET: [u8; 3] = [10, 213, 0];
/// The interface of a host namespace on its link.
pub const HOST_IF: &str = "eth0";
/// How long a bridge port may take to forward.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// tbf's queue: packets that would wait longer are dropped, as on a real bottleneck.
const TBF_LATENCY: &str = "500ms";

/// The namespaces of one run, removed on drop.
#[derive(Debug)]
pub struct Topology {
    prefix: String,
    /// Every namespace created so far, the hub first.
    created: Vec<String>,
    /// Per `[[hosts]]` entry, in file order: its namespace and address.
    pub hosts: Vec<(String, String, Ipv4Addr)>,
}

/// Runs `ip`/`tc` with `args`; an error quoting the command and what it printed.
fn sh(program: &str, args: &[&str]) -> Result<String, HostsError> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| HostsError::Command {
            command: format!("{program} {}", args.join(" ")),
            why: e.to_string(),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(HostsError::Command {
            command: format!("{program} {}", args.join(" ")),
            why: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

impl Topology {
    /// The namespace of host `name`.
    pub fn namespace(prefix: &str, name: &str) -> String {
        format!("{prefix}-{name}")
    }

    /// Creates the hub, one namespace per host with its link, and shapes the links.
    /// Whatever was created is removed again if a step fails.
    pub fn create(prefix: &str, hosts: &[NetnsHost]) -> Result<Self, HostsError> {
        let mut t = Self {
            prefix: prefix.to_owned(),
            created: Vec::new(),
            hosts: Vec::new(),
        };
        let hub = t.add_namespace("hub")?;
        sh("ip", &["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        sh("ip", &["-n", &hub, "link", "set", "br0", "up"])?;
        for (i, h) in hosts.iter().enumerate() {
            let ns = t.add_namespace(&h.name)?;
            let port = format!("h{i}");
            // Both ends are created directly in their namespaces: nothing appears, even
            // for a moment, in the orchestrator's own.
            sh(
                "ip",
                &[
                    "link", "add", "name", HOST_IF, "netns", &ns, "type", "veth", "peer", "name",
                    &port, "netns", &hub,
                ],
            )?;
            sh(
                "ip",
                &["-n", &hub, "link", "set", &port, "master", "br0", "up"],
            )?;
            let addr = Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], (i + 1) as u8);
            sh(
                "ip",
                &[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{addr}/24"),
                    "dev",
                    HOST_IF,
                ],
            )?;
            sh("ip", &["-n", &ns, "link", "set", HOST_IF, "up"])?;
            // Both directions: the host's uplink and the hub's port towards it.
            shape(&ns, HOST_IF, &h.link)?;
            shape(&hub, &port, &h.link)?;
            t.hosts.push((h.name.clone(), ns, addr));
        }
        for i in 0..hosts.len() {
            wait_forwarding(&hub, &format!("h{i}"))?;
        }
        Ok(t)
    }

    fn add_namespace(&mut self, name: &str) -> Result<String, HostsError> {
        let ns = Self::namespace(&self.prefix, name);
        sh("ip", &["netns", "add", &ns])?;
        self.created.push(ns.clone());
        sh("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace and address of host `name`.
    pub fn host(&self, name: &str) -> Option<(&str, Ipv4Addr)> {
        self.hosts
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, ns, a)| (ns.as_str(), *a))
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Hosts first, the hub last: each host's veth pair goes with its namespace.
        for ns in self.created.iter().rev() {
            if let Err(e) = sh("ip", &["netns", "del", ns]) {
                eprintln!("warning: cannot remove network namespace {ns}: {e}");
            }
        }
    }
}

/// Shapes the egress of `dev` in `ns`: `tbf` for a rate alone, `netem` (with its own rate)
/// when there is a delay.
fn shape(ns: &str, dev: &str, link: &Link) -> Result<(), HostsError> {
    let mut args: Vec<String> = ["-n", ns, "qdisc", "add", "dev", dev, "root"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    match (link.delay_us, &link.rate) {
        (None, None) => return Ok(()),
        (None, Some((bits, _))) => {
            args.extend([
                "tbf".into(),
                "rate".into(),
                format!("{bits}bit"),
                "burst".into(),
                format!("{}", burst_bytes(*bits)),
                "latency".into(),
                TBF_LATENCY.into(),
            ]);
        }
        (Some(delay), rate) => {
            args.extend(["netem".into(), "delay".into(), format!("{delay}us")]);
            if let Some(j) = link.jitter_us {
                args.push(format!("{j}us"));
            }
            if let Some((bits, _)) = rate {
                args.extend(["rate".into(), format!("{bits}bit")]);
            }
        }
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    sh("tc", &refs).map(|_| ())
}

/// tbf's bucket: 10 ms at the rate, and at least two full-size frames (it must hold one).
pub fn burst_bytes(bits_per_s: u64) -> u64 {
    (bits_per_s / 8 / 100).max(3028)
}

/// Waits until the bridge port forwards (with STP off it does at once; this makes sure).
fn wait_forwarding(hub: &str, port: &str) -> Result<(), HostsError> {
    let until = Instant::now() + FORWARD_TIMEOUT;
    loop {
        let out = sh("ip", &["-n", hub, "-d", "link", "show", port])?;
        if out.contains("state forwarding") {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(HostsError::Command {
                command: format!("ip -n {hub} -d link show {port}"),
                why: format!(
                    "the bridge port does not forward after {} s",
                    FORWARD_TIMEOUT.as_secs()
                ),
            });
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// True when the kernel has `netem`: a qdisc on the loopback of a scratch namespace.
pub fn netem_available(prefix: &str) -> Result<bool, HostsError> {
    let ns = format!("{prefix}-probe");
    sh("ip", &["netns", "add", &ns])?;
    let ok = sh(
        "tc",
        &[
            "-n", &ns, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms",
        ],
    )
    .is_ok();
    sh("ip", &["netns", "del", &ns])?;
    Ok(ok)
}

/// Why namespaces cannot be made here, or `None` when they can (root and `ip`).
pub fn unavailable() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("network namespaces need root (the orchestrator runs as a user)".into());
    }
    match Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => None,
        _ => Some("network namespaces need `ip` (iproute2), which is not installed".into()),
    }
}
