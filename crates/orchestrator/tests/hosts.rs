//! Processes on other hosts: a scenario in network namespaces the orchestrator creates, and
//! a server over SSH against an `sshd` this test starts in a namespace of its own with
//! throwaway keys. Both need root and `ip`; where they are missing the tests say so and
//! are skipped. Bad `host` values are refused before anything starts.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod common;
use common::ensure_bins;

/// Why namespaces cannot be made here, if they cannot: the test then says so and returns.
fn cannot_make_namespaces() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("not root".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("no `ip` (iproute2)".into()),
    }
}

macro_rules! skip_without_namespaces {
    ($test:expr) => {
        if let Some(why) = cannot_make_namespaces() {
            eprintln!(
                "SKIPPED {}: cannot create network namespaces ({why})",
                $test
            );
            return;
        }
    };
}

/// The namespaces on this machine whose name starts with `prefix`.
fn namespaces_with(prefix: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new(name: &str, text: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("experiments")).expect("experiments dir");
        std::fs::write(dir.path().join(format!("experiments/{name}.toml")), text).expect("write");
        Self { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn orchestrator(&self, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_orchestrator"));
        cmd.arg("--experiments")
            .arg(self.path("experiments"))
            .arg("--results")
            .arg(self.path("results"))
            .arg("--report")
            .arg(self.path("report"))
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("orchestrator runs")
    }

    fn run_json(&self, rel: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path(rel)).expect("run.json");
        serde_json::from_str(&text).expect("json")
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// |offset| ≤ uncertainty, for a clock record of `run.json`.
fn assert_same_clock(o: &serde_json::Value, what: &str) -> (f64, f64) {
    let offset = o["offset_ms"].as_f64().expect("offset");
    let u = o["uncertainty_ms"].as_f64().expect("uncertainty");
    assert!(
        offset.abs() <= u && u < 50.0,
        "{what}: offset {offset} ms beyond its uncertainty {u} ms"
    );
    (offset, u)
}

const NAMESPACES: &str = r#"description = "server and two groups in three namespaces, one link shaped"
seed = 4
settle_ms = 100
[server]
modes = ["thr", "async"]
host = "netns:srv"
[[hosts]]
name = "srv"
[[hosts]]
name = "a"
[[hosts]]
name = "b"
rate = "1mbit"
[[clients]]
label = "near"
host = "netns:a"
workers = 2
intervals = 5
dist = "d"
param = 0.02
[[clients]]
label = "far"
host = "netns:b"
workers = 2
intervals = 4
dist = "u"
param = 0.04
"#;

#[test]
fn a_namespace_scenario_runs_end_to_end_and_leaves_nothing() {
    skip_without_namespaces!("a_namespace_scenario_runs_end_to_end_and_leaves_nothing");
    ensure_bins();
    let lab = Lab::new("ns", NAMESPACES);
    let out = lab.orchestrator(&["run", "ns"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    for mode in ["thr", "async"] {
        let info = lab.run_json(&format!("results/ns/{mode}/run.json"));
        let hosts = &info["hosts"];
        let prefix = hosts["prefix"].as_str().expect("a prefix");
        assert!(prefix.starts_with("arr"), "{prefix}");
        assert_eq!(hosts["server"]["address"], "10.213.0.1");
        assert_eq!(info["server"]["address"], "10.213.0.1");
        for c in hosts["clients"].as_array().expect("clients") {
            // Namespaces of one host read one clock: the estimate must find ≈ 0.
            assert_same_clock(&c["to_server"], &format!("{mode} {}", c["label"]));
            assert_eq!(
                info["clients"]
                    .as_array()
                    .and_then(|a| a.iter().find(|r| r["label"] == c["label"]))
                    .and_then(|r| r["client"]["server"].as_str()),
                Some("10.213.0.1")
            );
        }
        assert_eq!(hosts["clients"][1]["link"], "veth, rate 1mbit");
        // Every one of its namespaces is gone.
        assert!(namespaces_with(prefix).is_empty(), "{prefix} left behind");
        let page = std::fs::read_to_string(lab.path(&format!("report/ns/{mode}/README.md")))
            .expect("page");
        assert!(page.contains("## Hosts and links"), "{page}");
        assert!(page.contains("| far | netns:b |"), "{page}");
        assert!(page.contains("it is (a check of the estimator)"), "{page}");
    }
    // The run's counts were cross-checked (else it fails); the report re-renders the same.
    let before = std::fs::read(lab.path("report/ns/thr/README.md")).expect("page");
    let out = lab.orchestrator(&["report"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read(lab.path("report/ns/thr/README.md")).expect("page"),
        before
    );
}

#[test]
fn bad_hosts_are_refused_before_anything_starts() {
    let cases = [
        (
            NAMESPACES.replace("host = \"netns:a\"", "host = \"ssh:\""),
            "ns.toml:16:8",
            "names no host",
        ),
        (
            NAMESPACES.replace("host = \"netns:a\"", "host = \"netns:elsewhere\""),
            "ns.toml:16:8",
            "no [[hosts]] is named \"elsewhere\"",
        ),
        (
            NAMESPACES.replace("rate = \"1mbit\"", "rate = \"1mbyte\""),
            "ns.toml:13:8",
            "key `rate` of [[hosts]] \"b\"",
        ),
        (
            NAMESPACES.replace("host = \"netns:a\"\n", ""),
            "ns.toml:6:8",
            "cannot reach a server in a namespace",
        ),
    ];
    for (scenario, at, why) in cases {
        let lab = Lab::new("ns", &scenario);
        let out = lab.orchestrator(&["run", "ns"], &[]);
        let msg = text(&out);
        assert!(!out.status.success(), "{msg}");
        assert!(msg.contains(at) && msg.contains(why), "{at} {why}: {msg}");
        assert!(!lab.path("results/ns").exists(), "{msg}");
    }
}

#[test]
fn a_delay_is_refused_where_the_kernel_has_no_netem() {
    skip_without_namespaces!("a_delay_is_refused_where_the_kernel_has_no_netem");
    let probe = &format!("arrtest{}-netem", std::process::id());
    let _ = Command::new("ip").args(["netns", "add", probe]).status();
    let has_netem = Command::new("tc")
        .args([
            "-n", probe, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms",
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let _ = Command::new("ip").args(["netns", "del", probe]).status();
    if has_netem {
        eprintln!(
            "SKIPPED a_delay_is_refused_where_the_kernel_has_no_netem: this kernel has netem"
        );
        return;
    }
    let lab = Lab::new(
        "ns",
        &NAMESPACES.replace("rate = \"1mbit\"", "rate = \"1mbit\"\ndelay = \"10ms\""),
    );
    let out = lab.orchestrator(&["run", "ns"], &[]);
    let msg = text(&out);
    assert!(!out.status.success(), "{msg}");
    assert!(
        msg.contains("ns.toml:14:9") && msg.contains("no netem"),
        "{msg}"
    );
    assert!(!lab.path("results/ns").exists(), "{msg}");
}

/// A namespace joined to this one by a veth pair, running `sshd` with throwaway keys:
/// everything is removed on drop.
struct SshHost {
    ns: String,
    addr: String,
    sshd: Child,
    config: PathBuf,
    _keys: tempfile::TempDir,
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().expect("runs");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl SshHost {
    fn start(sshd: &Path) -> Self {
        let id = std::process::id() % 250;
        let ns = format!("arrtest{}-ssh", std::process::id());
        let (outer, addr) = (
            format!("at{}", std::process::id()),
            format!("10.214.{id}.2"),
        );
        run("ip", &["netns", "add", &ns]);
        let host = Self::partial(&ns);
        run(
            "ip",
            &[
                "link", "add", "name", &outer, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ],
        );
        run(
            "ip",
            &["addr", "add", &format!("10.214.{id}.1/30"), "dev", &outer],
        );
        run("ip", &["link", "set", &outer, "up"]);
        run(
            "ip",
            &[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/30"),
                "dev",
                "eth0",
            ],
        );
        run("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
        run("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        let keys = tempfile::tempdir().expect("temp dir");
        let k = |f: &str| keys.path().join(f);
        for (file, comment) in [("host_key", "host"), ("id", "client")] {
            run(
                "ssh-keygen",
                &[
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    comment,
                    "-f",
                    k(file).to_str().expect("utf-8 path"),
                ],
            );
        }
        std::fs::copy(k("id.pub"), k("authorized_keys")).expect("authorized_keys");
        std::fs::write(
            k("sshd_config"),
            format!(
                "Port 2222\nListenAddress {addr}\nHostKey {}\nAuthorizedKeysFile {}\n\
                 PidFile {}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 PermitRootLogin prohibit-password\nLogLevel ERROR\n",
                k("host_key").display(),
                k("authorized_keys").display(),
                k("sshd.pid").display()
            ),
        )
        .expect("sshd_config");
        std::fs::write(
            k("ssh_config"),
            format!(
                "Host {addr}\n  User root\n  Port 2222\n  IdentityFile {}\n  IdentitiesOnly yes\n  \
                 StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n",
                k("id").display()
            ),
        )
        .expect("ssh_config");
        std::fs::create_dir_all("/run/sshd").expect("sshd's privilege separation folder");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(sshd)
            .args(["-D", "-e", "-o", "LogLevel=INFO", "-f"])
            .arg(k("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sshd starts");
        // Ready when it says it listens (bounded), not after a sleep.
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(l) if l.contains("Server listening") => break,
                Ok(l) => seen.push(l),
                Err(_) => panic!("sshd did not start listening within 10 s: {seen:?}"),
            }
        }
        let mut host = host;
        host.sshd = child;
        host.addr = addr;
        host.config = k("ssh_config");
        host._keys = keys;
        host
    }

    /// The guard from the moment the namespace exists, so a failing step still removes it.
    fn partial(ns: &str) -> Self {
        Self {
            ns: ns.to_owned(),
            addr: String::new(),
            sshd: Command::new("true").spawn().expect("true runs"),
            config: PathBuf::new(),
            _keys: tempfile::tempdir().expect("temp dir"),
        }
    }
}

impl Drop for SshHost {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        // Deleting the namespace deletes its veth end, and with it the pair.
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn find_sshd() -> Option<PathBuf> {
    ["/usr/sbin/sshd", "/usr/bin/sshd", "/sbin/sshd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

#[test]
fn an_ssh_server_runs_against_a_throwaway_sshd() {
    skip_without_namespaces!("an_ssh_server_runs_against_a_throwaway_sshd");
    let Some(sshd) = find_sshd() else {
        eprintln!(
            "SKIPPED an_ssh_server_runs_against_a_throwaway_sshd: no sshd (`.ci/run` installs openssh-server)"
        );
        return;
    };
    let bins = ensure_bins();
    let host = SshHost::start(&sshd);
    let scenario = format!(
        r#"description = "a threaded server over ssh, one local group and one over ssh"
seed = 9
settle_ms = 100
[server]
mode = "thr"
host = "ssh:root@{addr}:2222"
bin_dir = "{bins}"
[[clients]]
label = "here"
workers = 2
intervals = 4
dist = "d"
param = 0.02
[[clients]]
label = "there"
host = "ssh:root@{addr}:2222"
bin_dir = "{bins}"
workers = 2
intervals = 3
dist = "e"
param = 50.0
"#,
        addr = host.addr,
        bins = bins.display()
    );
    let lab = Lab::new("overssh", &scenario);
    let out = lab.orchestrator(
        &["run", "overssh"],
        &[("ARRIVALS_SSH_CONFIG", &host.config)],
    );
    assert!(out.status.success(), "{}", text(&out));
    let info = lab.run_json("results/overssh/run.json");
    let hosts = &info["hosts"];
    assert_eq!(
        hosts["server"]["host"],
        format!("ssh:root@{}:2222", host.addr)
    );
    assert_eq!(info["server"]["address"], "0.0.0.0");
    // The server's events came back over ssh and were cross-checked against its console.
    let events = std::fs::read_to_string(lab.path("results/overssh/server-events.jsonl"))
        .expect("the server's log was copied back");
    assert_eq!(
        events.matches("\"message_received\"").count(),
        2 * 4 + 2 * 3
    );
    // The local group's clock against the server's host, measured over ssh: one machine.
    let (offset, u) = assert_same_clock(&hosts["clients"][0]["to_server"], "here");
    eprintln!("ssh clock offset of the local group: {offset:+.3} ± {u:.3} ms");
    // The ssh group shares the server's host: the same clock, no estimate needed.
    assert_eq!(hosts["clients"][1]["to_server"]["uncertainty_ms"], 0.0);
    let prefix = hosts["prefix"].as_str().expect("prefix");
    assert!(prefix.is_empty(), "no namespaces were created: {prefix}");
    let leftovers: Vec<_> = std::fs::read_dir("/tmp")
        .expect("/tmp")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("arrivals-arr"))
        .map(|e| e.path())
        .collect();
    assert!(
        leftovers.is_empty(),
        "remote working folders left: {leftovers:?}"
    );
}
