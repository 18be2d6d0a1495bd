//! The exec notify sockets libcontainer leaves in a container's state dir.
//!
//! libcontainer (0.7) binds each exec's notify socket, `tenant-notify-*.sock`, in the
//! container's state dir and never removes it, whether the exec worked or not: a file per exec
//! for the container's life (an exec probe every 10 s leaves 8,640 a day). After an exec, those
//! no process has bound any more go; an exec running beside this one keeps its own (bound, so
//! listed in /proc/net/unix under the bare name libcontainer binds it with).

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a failed exec waits for its own socket to be closed.
const FAILED_EXEC_WAIT: Duration = Duration::from_millis(200);

/// A container's state dir, as one exec found it.
pub(crate) struct NotifySockets {
    dir: PathBuf,
    before: HashSet<String>,
}

impl NotifySockets {
    pub(crate) fn before_exec(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            before: socket_names(dir),
        }
    }

    /// A failed exec returns before its intermediate process, which still has this exec's
    /// socket, exited: a moment for it to go.
    pub(crate) fn wait_for_this_exec(&self) {
        let deadline = Instant::now() + FAILED_EXEC_WAIT;
        while Instant::now() < deadline {
            let bound = bound_unix_names();
            let pending = socket_names(&self.dir)
                .into_iter()
                .any(|name| !self.before.contains(&name) && bound.contains(&name));
            if !pending {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Removes the sockets no process has bound any more.
    pub(crate) fn remove_stale(&self) {
        let sockets = socket_names(&self.dir);
        if sockets.is_empty() {
            return;
        }
        let bound = bound_unix_names();
        for name in sockets.iter().filter(|name| !bound.contains(name)) {
            let _ = fs::remove_file(self.dir.join(name));
        }
    }
}

/// The names of the exec notify sockets in a container's state dir.
fn socket_names(dir: &Path) -> HashSet<String> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.starts_with("tenant-notify-") && name.ends_with(".sock"))
        .collect()
}

/// The file names of the unix sockets bound in this network namespace; when /proc/net/unix
/// cannot be read, every name counts as bound (nothing is removed).
fn bound_unix_names() -> BoundNames {
    let Ok(table) = fs::read_to_string("/proc/net/unix") else {
        return BoundNames::All;
    };
    // Num RefCount Protocol Flags Type St Inode Path
    BoundNames::These(
        table
            .lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().nth(7))
            .map(|path| path.rsplit('/').next().unwrap_or(path).to_string())
            .collect(),
    )
}

enum BoundNames {
    All,
    These(HashSet<String>),
}

impl BoundNames {
    fn contains(&self, name: &str) -> bool {
        match self {
            Self::All => true,
            Self::These(names) => names.contains(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exec_notify_socket_goes_once_nothing_has_it_bound() {
        let dir = tempfile::tempdir().unwrap();
        // what an exec that ended left (its listener closed)
        let stale = dir.path().join("tenant-notify-0badc0de.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        // an exec running beside it still listens on its own
        let live = dir.path().join("tenant-notify-5eed1e55.sock");
        let listener = std::os::unix::net::UnixListener::bind(&live).unwrap();
        std::fs::write(dir.path().join("state.json"), "{}").unwrap();
        let sockets = NotifySockets::before_exec(dir.path());
        sockets.remove_stale();
        assert!(!stale.exists(), "the stale socket is still there");
        assert!(live.exists(), "the bound socket was removed");
        assert!(dir.path().join("state.json").exists());
        drop(listener);
        sockets.remove_stale();
        assert!(!live.exists());
    }

    #[test]
    fn a_failed_exec_waits_only_for_a_socket_it_bound() {
        let dir = tempfile::tempdir().unwrap();
        // an exec running beside this one: bound before, so not waited for
        let other = dir.path().join("tenant-notify-0aaaaaaa.sock");
        let _other = std::os::unix::net::UnixListener::bind(&other).unwrap();
        let sockets = NotifySockets::before_exec(dir.path());
        let started = Instant::now();
        sockets.wait_for_this_exec();
        assert!(
            started.elapsed() < FAILED_EXEC_WAIT,
            "waited for another exec's socket"
        );
        // this exec's own, still bound: waited for, up to the bound
        let own = dir.path().join("tenant-notify-0bbbbbbb.sock");
        let _own = std::os::unix::net::UnixListener::bind(&own).unwrap();
        let started = Instant::now();
        sockets.wait_for_this_exec();
        assert!(started.elapsed() >= FAILED_EXEC_WAIT);
    }
}
