//! Where a scenario's processes run: locally (the default), in network namespaces the
//! orchestrator creates (`[[hosts]]`, `host = "netns:NAME"`), or over SSH
//! (`host = "ssh:USER@HOST[:PORT]"`). [`Sites`] sets a scenario's hosts up and tears them
//! down; [`Launcher`] starts, signals and collects from one process wherever it runs; the
//! clock offsets of the hosts to the server's are estimated before each run and recorded
//! in `run.json` ([`HostsRecord`]).

pub mod clock;
mod launcher;
mod netns;
pub mod spec;

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};

pub use clock::Offset;
pub use launcher::Launcher;
pub use spec::{Host, Placement, Pos, RawHost, RawPlace};

use crate::scenario::{Scenario, ScenarioError};
use launcher::Ssh;
use netns::Topology;

/// Why hosts could not be set up, reached or measured.
#[derive(Debug, thiserror::Error)]
pub enum HostsError {
    #[error("`{command}` failed: {why}")]
    Command { command: String, why: String },
    #[error("cannot estimate the clock offset of {host}: {why}")]
    Clock { host: String, why: String },
}

/// What `run.json` records of where a run's processes ran (absent when all were local).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostsRecord {
    /// The prefix of the namespaces the run created, removed after it.
    pub prefix: String,
    pub server: PlaceRecord,
    /// One per client group, in file order.
    pub clients: Vec<PlaceRecord>,
}

/// One process's host, the link it crossed, and its clock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlaceRecord {
    /// `server` or the client group's label.
    pub label: String,
    /// As the scenario wrote it: `local`, `netns:NAME`, `ssh:USER@HOST[:PORT]`.
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The address of the host on the run's network, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// How its link to the others is shaped (namespaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Its clock against the orchestrator's.
    pub clock: Offset,
    /// Its clock against the server's host (client groups): what the report corrects
    /// cross-host figures by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_server: Option<Offset>,
}

impl HostsRecord {
    /// Client group `label`'s clock offset to the server's host.
    pub fn offset_of(&self, label: &str) -> Option<Offset> {
        self.clients
            .iter()
            .find(|c| c.label == label)
            .and_then(|c| c.to_server)
    }
}

/// One process's host, set up.
#[derive(Debug)]
pub struct Site {
    pub host: Host,
    pub launcher: Launcher,
    namespace: Option<String>,
    address: Option<Ipv4Addr>,
    link: Option<String>,
}

/// The hosts of one scenario, from set-up to tear-down (on drop: namespaces deleted, SSH
/// working folders removed).
#[derive(Debug)]
pub struct Sites {
    prefix: String,
    pub server: Site,
    pub clients: Vec<Site>,
    local: bool,
    // Dropped last: the sites above only name what it created.
    topology: Option<Topology>,
}

/// Scenarios set up by this process so far: the second part of the prefix.
static SET_UPS: AtomicU32 = AtomicU32::new(0);

/// A prefix no other run on this machine uses at the same time: the orchestrator's pid
/// and a counter.
fn new_prefix() -> String {
    format!(
        "arr{}-{}",
        std::process::id(),
        SET_UPS.fetch_add(1, Ordering::SeqCst) + 1
    )
}

impl Sites {
    /// Sets up the hosts of `s`: nothing when everything is local; else the namespaces of
    /// its `[[hosts]]` and the launchers of every process.
    pub fn set_up(s: &Scenario) -> Result<Self, HostsError> {
        let p = &s.placement;
        let prefix = new_prefix();
        let topology = if p.hosts.is_empty() {
            None
        } else {
            Some(Topology::create(&prefix, &p.hosts)?)
        };
        let site = |placed: &spec::Placed| -> Site {
            match &placed.host {
                Host::Local => Site {
                    host: Host::Local,
                    launcher: Launcher::Local,
                    namespace: None,
                    address: None,
                    link: None,
                },
                Host::Netns(name) => {
                    // Validation made sure every `netns:` host is declared, so the topology
                    // has it; the fallback is never used.
                    let (ns, addr) = topology
                        .as_ref()
                        .and_then(|t| t.host(name))
                        .map_or((String::new(), Ipv4Addr::UNSPECIFIED), |(ns, a)| {
                            (ns.to_owned(), a)
                        });
                    Site {
                        host: placed.host.clone(),
                        launcher: Launcher::Netns(ns.clone()),
                        namespace: Some(ns),
                        address: Some(addr),
                        link: p.netns(name).map(|h| h.link.describe()),
                    }
                }
                Host::Ssh(target) => Site {
                    host: placed.host.clone(),
                    launcher: Launcher::Ssh(Ssh {
                        target: target.clone(),
                        bin_dir: placed.bin_dir.clone(),
                        workdir: format!("/tmp/arrivals-{prefix}"),
                    }),
                    namespace: None,
                    address: None,
                    link: None,
                },
            }
        };
        Ok(Self {
            server: site(&p.server),
            clients: p.clients.iter().map(site).collect(),
            local: p.is_local(),
            prefix,
            topology,
        })
    }

    /// Where the server listens: loopback, its namespace's address, or every address of
    /// an SSH host.
    pub fn bind_address(&self) -> String {
        match (&self.server.host, self.server.address) {
            (Host::Local, _) => "127.0.0.1".into(),
            (Host::Netns(_), Some(a)) => a.to_string(),
            _ => "0.0.0.0".into(),
        }
    }

    /// Where the clients connect: loopback, the server's namespace address, or its SSH
    /// host's name.
    pub fn connect_address(&self) -> String {
        match (&self.server.host, self.server.address) {
            (Host::Netns(_), Some(a)) => a.to_string(),
            (Host::Ssh(t), _) => t.host.clone(),
            _ => "127.0.0.1".into(),
        }
    }

    fn all(&self) -> impl Iterator<Item = &Site> {
        std::iter::once(&self.server).chain(&self.clients)
    }

    /// Prepares every SSH host for a run (its working folder).
    pub fn prepare(&self) -> Result<(), HostsError> {
        let mut done: Vec<&Launcher> = Vec::new();
        for site in self.all() {
            if !done.contains(&&site.launcher) {
                site.launcher.prepare()?;
                done.push(&site.launcher);
            }
        }
        Ok(())
    }

    /// Estimates every host's clock and records where each process ran; `None` when all
    /// are local (their `run.json` stays as it always was). Hosts met twice are measured
    /// once.
    pub fn record(&self, labels: &[String]) -> Result<Option<HostsRecord>, HostsError> {
        if self.local {
            return Ok(None);
        }
        let mut measured: Vec<(Launcher, Offset)> = Vec::new();
        let mut clock_of = |site: &Site| -> Result<Offset, HostsError> {
            if let Some((_, o)) = measured.iter().find(|(l, _)| *l == site.launcher) {
                return Ok(*o);
            }
            let o = clock::estimate(&site.launcher, &site.host.to_string())?;
            measured.push((site.launcher.clone(), o));
            Ok(o)
        };
        let place =
            |label: &str, site: &Site, clock: Offset, to_server: Option<Offset>| PlaceRecord {
                label: label.to_owned(),
                host: site.host.to_string(),
                namespace: site.namespace.clone(),
                address: site.address.map(|a| a.to_string()),
                link: site.link.clone(),
                clock,
                to_server,
            };
        let server_clock = clock_of(&self.server)?;
        let mut clients = Vec::new();
        for (site, label) in self.clients.iter().zip(labels) {
            let c = clock_of(site)?;
            // The same host as the server's reads the same clock: no offset at all.
            let to_server = if site.launcher == self.server.launcher {
                Offset::SAME
            } else {
                c.relative_to(&server_clock)
            };
            clients.push(place(label, site, c, Some(to_server)));
        }
        Ok(Some(HostsRecord {
            prefix: if self.topology.is_some() {
                self.prefix.clone()
            } else {
                String::new()
            },
            server: place("server", &self.server, server_clock, None),
            clients,
        }))
    }
}

impl Drop for Sites {
    fn drop(&mut self) {
        let mut done: Vec<&Launcher> = Vec::new();
        for site in std::iter::once(&self.server).chain(&self.clients) {
            if site.launcher.is_remote() && !done.contains(&&site.launcher) {
                site.launcher.clean();
                done.push(&site.launcher);
            }
        }
    }
}

/// ` on HOST` for the progress line of a server not on this machine's loopback.
pub fn describe_server(sites: &Sites) -> String {
    match (&sites.server.host, &sites.server.namespace) {
        (Host::Local, _) => String::new(),
        (host, Some(ns)) => format!(" in {host} (namespace {ns})"),
        (host, None) => format!(" on {host}"),
    }
}

/// The checks of a scenario's hosts that need this machine, before anything starts:
/// namespaces need root and `ip`; `delay` and `jitter` need the kernel's netem. Refusals
/// name the file, line and key, as the parser's do.
pub fn preflight(s: &Scenario, path: &Path) -> Result<(), ScenarioError> {
    let p = &s.placement;
    let Some(first) = p.hosts.first() else {
        return Ok(());
    };
    let invalid = |at: Pos, message: String| ScenarioError::Invalid {
        path: path.to_owned(),
        line: at.line,
        column: at.column,
        message,
    };
    if let Some(why) = netns::unavailable() {
        return Err(invalid(
            first.at,
            format!("key `hosts`: cannot create the scenario's namespaces: {why}"),
        ));
    }
    if let Some(h) = p.hosts.iter().find(|h| h.link.delay_us.is_some()) {
        let available = netns::netem_available(&new_prefix())
            .map_err(|e| invalid(h.link.delay_at, format!("key `delay`: {e}")))?;
        if !available {
            return Err(invalid(
                h.link.delay_at,
                format!(
                    "key `delay` of [[hosts]] \"{}\": this kernel has no netem (`tc qdisc add ... netem` fails: sch_netem is not built or loaded), so delay and jitter cannot be emulated here; remove them or run where netem exists (`rate` alone uses tbf)",
                    h.name
                ),
            ));
        }
    }
    Ok(())
}
