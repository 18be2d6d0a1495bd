//! OOM notifications for TaskOOM events: cgroup v1's memory.oom_control, armed with an
//! eventfd through cgroup.event_control. (cgroup v2 hosts get no TaskOOM yet.)

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::PathBuf;

/// The v1 memory cgroup directory of `pid`.
fn memory_cgroup(pid: i32) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == "memory")
            .then_some(path)
    })?;
    let dir = PathBuf::from("/sys/fs/cgroup/memory").join(path.trim_start_matches('/'));
    dir.join("memory.oom_control").exists().then_some(dir)
}

/// Calls `on_oom` each time the kernel's OOM killer acts in the memory cgroup of `pid`,
/// until the cgroup is removed. Returns false when the host offers no v1 notification.
pub fn watch(pid: i32, on_oom: impl Fn() + Send + 'static) -> bool {
    let Some(dir) = memory_cgroup(pid) else {
        return false;
    };
    let Ok(control) = File::open(dir.join("memory.oom_control")) else {
        return false;
    };
    // SAFETY: eventfd has no memory-safety preconditions; the fd is owned by `events` below
    let efd = unsafe { nix::libc::eventfd(0, nix::libc::EFD_CLOEXEC) };
    if efd < 0 {
        return false;
    }
    // SAFETY: efd was just created and nothing else owns it
    let mut events = unsafe { File::from_raw_fd(efd) };
    let arm = format!("{} {}", events.as_raw_fd(), control.as_raw_fd());
    if std::fs::write(dir.join("cgroup.event_control"), arm).is_err() {
        return false;
    }
    std::thread::spawn(move || {
        let _control = control;
        let mut count = [0u8; 8];
        // the eventfd also fires when the cgroup is removed: then the watch ends
        while events.read_exact(&mut count).is_ok() && dir.exists() {
            on_oom();
        }
    });
    true
}
