//! What the machine allows a process, as the client, the server's scenarios and the
//! benchmark read it.

/// The soft limit on open files (`ulimit -n`) of this process, which its children inherit;
/// `u64::MAX` when unlimited.
pub fn open_file_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
}

/// Raises the soft limit on open files to the hard limit (what an unprivileged process may
/// do), for this process and the children it starts. Returns the soft limit in force after.
pub fn raise_open_file_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        // Refused (a hard limit above the kernel's `nr_open`): the old limit stays.
        let _ = setrlimit(Resource::Nofile, limit);
    }
    open_file_limit()
}
