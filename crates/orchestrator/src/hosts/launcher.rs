//! One way to start, signal and collect from a process wherever it runs: here, inside a
//! namespace through `ip netns exec`, or over SSH.
//!
//! - **local** and **netns**: the child is the program itself (`ip netns exec` enters the
//!   namespace and execs in place), so its pid takes SIGINT and its process group SIGKILL,
//!   and it writes its files straight into the results folder.
//! - **ssh**: the remote command is `cd WORKDIR && echo $$ > NAME.pid && exec PROGRAM ARGS`:
//!   the shell records its pid and becomes the program, so `ssh HOST kill -INT $(cat
//!   NAME.pid)` reaches exactly that process, whatever the SSH session does with signals.
//!   Its console comes back over the session's stdout; its event log is written in WORKDIR
//!   and copied back with `ssh HOST cat` when it exited; WORKDIR is removed at the end.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::HostsError;
use super::spec::SshTarget;

/// The environment variable naming an ssh config file (`ssh -F`), for a test's throwaway
/// keys; unset, `ssh` reads the user's own configuration.
pub const SSH_CONFIG_ENV: &str = "ARRIVALS_SSH_CONFIG";

/// Where a process runs, and how to reach it.
#[derive(Clone, Debug, PartialEq)]
pub enum Launcher {
    Local,
    /// The namespace's full (prefixed) name.
    Netns(String),
    Ssh(Ssh),
}

/// An SSH host with its binaries' folder and the run's working folder there.
#[derive(Clone, Debug, PartialEq)]
pub struct Ssh {
    pub target: SshTarget,
    pub bin_dir: Option<String>,
    pub workdir: String,
}

/// `text` quoted for a POSIX shell.
pub fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

impl Ssh {
    /// `ssh -o BatchMode=yes [-F CONFIG] [-p PORT] DEST -- SCRIPT`.
    fn command(&self, script: &str) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-T"]);
        if let Some(config) = std::env::var_os(SSH_CONFIG_ENV) {
            cmd.arg("-F").arg(config);
        }
        if let Some(p) = self.target.port {
            cmd.arg("-p").arg(p.to_string());
        }
        cmd.arg(self.target.destination()).arg("--").arg(script);
        cmd
    }

    /// Runs `script` to its end; an error with what it printed on stderr.
    fn run(&self, script: &str) -> Result<Vec<u8>, HostsError> {
        let out = self
            .command(script)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| HostsError::Command {
                command: format!("ssh {} {script}", self.target.destination()),
                why: e.to_string(),
            })?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(HostsError::Command {
                command: format!("ssh {} {script}", self.target.destination()),
                why: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })
        }
    }

    fn pidfile(&self, tag: &str) -> String {
        format!("{}/{tag}.pid", self.workdir)
    }
}

impl Launcher {
    /// The command that runs `program` (its local path; over SSH its name in `bin_dir` or
    /// on the remote `PATH`) with `args`; `tag` names its pid file on an SSH host.
    pub fn command(&self, program: &Path, args: &[OsString], tag: &str) -> Command {
        match self {
            Launcher::Local => {
                let mut cmd = Command::new(program);
                cmd.args(args);
                cmd
            }
            Launcher::Netns(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns]).arg(program).args(args);
                cmd
            }
            Launcher::Ssh(ssh) => {
                let name = program
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                let program = match &ssh.bin_dir {
                    Some(dir) => format!("{dir}/{name}"),
                    None => name,
                };
                let mut script = format!(
                    "cd {} && echo $$ > {} && exec {}",
                    shell_quote(&ssh.workdir),
                    shell_quote(&ssh.pidfile(tag)),
                    shell_quote(&program)
                );
                for a in args {
                    script.push(' ');
                    script.push_str(&shell_quote(&a.to_string_lossy()));
                }
                ssh.command(&script)
            }
        }
    }

    /// A command running the shell `script` on this host (the clock probe).
    pub fn shell(&self, script: &str) -> Command {
        match self {
            Launcher::Local => {
                let mut cmd = Command::new("sh");
                cmd.args(["-c", script]);
                cmd
            }
            Launcher::Netns(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns, "sh", "-c", script]);
                cmd
            }
            Launcher::Ssh(ssh) => ssh.command(script),
        }
    }

    /// Where a process on this host writes `file` of the run folder `dir`.
    pub fn file(&self, dir: &Path, file: &str) -> PathBuf {
        match self {
            Launcher::Ssh(ssh) => Path::new(&ssh.workdir).join(file),
            _ => dir.join(file),
        }
    }

    /// True when the process's files must be copied back ([`Launcher::fetch`]).
    pub fn is_remote(&self) -> bool {
        matches!(self, Launcher::Ssh(_))
    }

    /// Prepares the host for a run: the working folder on an SSH host.
    pub fn prepare(&self) -> Result<(), HostsError> {
        if let Launcher::Ssh(ssh) = self {
            ssh.run(&format!("mkdir -p {}", shell_quote(&ssh.workdir)))?;
        }
        Ok(())
    }

    /// Copies `file` of the working folder back to `local` (SSH hosts; else nothing).
    pub fn fetch(&self, file: &str, local: &Path) -> Result<(), HostsError> {
        let Launcher::Ssh(ssh) = self else {
            return Ok(());
        };
        let remote = format!("{}/{file}", ssh.workdir);
        let bytes = ssh.run(&format!("cat {}", shell_quote(&remote)))?;
        let mut f = File::create(local).map_err(|e| HostsError::Command {
            command: format!("write {}", local.display()),
            why: e.to_string(),
        })?;
        std::io::Write::write_all(&mut f, &bytes).map_err(|e| HostsError::Command {
            command: format!("write {}", local.display()),
            why: e.to_string(),
        })
    }

    /// Sends `signal` (`INT`, `KILL`) to the process `tag` on an SSH host; `false` when
    /// this host's processes are signalled locally.
    pub fn signal_remote(&self, tag: &str, signal: &str) -> bool {
        let Launcher::Ssh(ssh) = self else {
            return false;
        };
        let pidfile = shell_quote(&ssh.pidfile(tag));
        let script = format!("test -s {pidfile} && kill -{signal} \"$(cat {pidfile})\"");
        if let Err(e) = ssh.run(&script) {
            eprintln!("warning: {e}");
        }
        true
    }

    /// Removes the working folder of an SSH host.
    pub fn clean(&self) {
        if let Launcher::Ssh(ssh) = self
            && let Err(e) = ssh.run(&format!("rm -rf {}", shell_quote(&ssh.workdir)))
        {
            eprintln!("warning: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_the_shell() {
        assert_eq!(shell_quote("--port"), "--port");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn an_ssh_command_records_the_pid_and_execs() {
        let l = Launcher::Ssh(Ssh {
            target: SshTarget {
                user: Some("me".into()),
                host: "box".into(),
                port: Some(2222),
            },
            bin_dir: Some("/opt/arrivals".into()),
            workdir: "/tmp/arrivals-x".into(),
        });
        let cmd = l.command(
            Path::new("/build/server"),
            &["-p".into(), "0".into()],
            "server",
        );
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(&"BatchMode=yes".to_owned()), "{args:?}");
        assert_eq!(
            args.last().map(String::as_str),
            Some(
                "cd /tmp/arrivals-x && echo $$ > /tmp/arrivals-x/server.pid && exec /opt/arrivals/server -p 0"
            )
        );
    }
}
