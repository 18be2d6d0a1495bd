//! OOM notifications for TaskOOM events. cgroup v1: memory.oom_control, armed with an eventfd
//! through cgroup.event_control. cgroup v2: memory.events, watched with inotify; each rise
//! of its `oom_kill` count is one event.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use super::TaskCgroup;

/// Calls `on_oom` each time the kernel's OOM killer acts in the memory cgroup of `pid`,
/// until the cgroup is removed. Returns false when the host offers no notification.
pub fn watch(pid: i32, on_oom: impl Fn() + Send + 'static) -> bool {
    match TaskCgroup::of_pid(pid) {
        Some(TaskCgroup::V1 { memory }) => watch_v1(memory, on_oom),
        Some(TaskCgroup::V2 { dir }) => watch_v2(&dir, on_oom),
        None => false,
    }
}

fn watch_v1(dir: PathBuf, on_oom: impl Fn() + Send + 'static) -> bool {
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

/// The `oom_kill` count of a memory.events file.
fn oom_kills(events: &Path) -> Option<u64> {
    std::fs::read_to_string(events)
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("oom_kill ")?.trim().parse().ok())
}

fn watch_v2(dir: &Path, on_oom: impl Fn() + Send + 'static) -> bool {
    let events = dir.join("memory.events");
    let Ok(inotify) = Inotify::init(InitFlags::IN_CLOEXEC) else {
        return false;
    };
    // the kernel signals every change of memory.events as a modification; removing the
    // cgroup removes the file, which ends the watch (IN_IGNORED)
    if inotify
        .add_watch(&events, AddWatchFlags::IN_MODIFY)
        .is_err()
    {
        return false;
    }
    let mut seen = oom_kills(&events).unwrap_or(0);
    std::thread::spawn(move || loop {
        let Ok(batch) = inotify.read_events() else {
            return;
        };
        if batch
            .iter()
            .any(|e| e.mask.contains(AddWatchFlags::IN_IGNORED))
        {
            return;
        }
        if let Some(kills) = oom_kills(&events).filter(|&kills| kills > seen) {
            seen = kills;
            on_oom();
        }
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn events_text(oom_kill: u64) -> String {
        format!("low 0\nhigh 0\nmax 4\noom 1\noom_kill {oom_kill}\noom_group_kill 0\n")
    }

    #[test]
    fn v2_reports_each_rise_of_oom_kill_and_ends_with_the_cgroup() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("memory.events");
        std::fs::write(&events, events_text(0)).unwrap();
        let (tx, rx) = mpsc::channel();
        assert!(watch_v2(dir.path(), move || tx.send(()).unwrap()));

        // a change that is not an OOM kill (max rose) is no event
        std::fs::write(&events, events_text(0).replace("max 4", "max 5")).unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());

        std::fs::write(&events, events_text(1)).unwrap();
        rx.recv_timeout(Duration::from_secs(5))
            .expect("an OOM event for oom_kill 0 -> 1");

        // removing the file (the cgroup) ends the watch: the callback is dropped
        std::fs::remove_file(&events).unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
    }

    #[test]
    fn v2_without_memory_events_is_no_watch() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!watch_v2(dir.path(), || {}));
    }

    #[test]
    fn oom_kills_reads_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("memory.events");
        std::fs::write(&events, events_text(7)).unwrap();
        assert_eq!(oom_kills(&events), Some(7));
    }
}
