//! What the machine allows a process, as the client, the server's scenarios and the
//! benchmark read it.

/// The soft limit on open files (`ulimit -n`) of this process, which its children inherit;
/// `u64::MAX` when unlimited.
pub fn open_file_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
}
