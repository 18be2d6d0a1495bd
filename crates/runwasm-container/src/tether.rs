//! Ties the processes a create or exec forks to the runwasm process that forks them, until the
//! container is handed over.
//!
//! libcontainer forks an intermediate process and the container's init and gives neither a
//! parent-death signal. A runwasm SIGKILLed in the middle of a create or exec left them
//! running: an exec's init waited for ever for the start it would never get, holding the
//! caller's stdio fifos (so `ctr task exec` never returned); a create's intermediate made the
//! container's cgroup after the caller had cleaned up, and its init made mount points in a
//! rootfs the caller had already unmounted.
//!
//! A guard process, forked before libcontainer forks anything, kills them instead. It learns
//! of each child of this process from the kernel's fork events (and, as a fallback, from the
//! forking thread's children file; the init is a child too, libcontainer forks it with
//! CLONE_PARENT) and holds a pidfd of each, and one of this process. When this
//! process dies before it released the tether, the guard SIGKILLs them through their pidfds:
//! from outside their pid namespace, so an init that is pid 1 of its own namespace dies too (a
//! signal the kernel sends on its own behalf, such as an O_ASYNC one, would be ignored there).
//! Being a process of its own, the guard keeps watching while this one is stopped. Once they
//! are dead it removes the directories the create was making for them (the container's
//! cgroup): the caller's cleanup may have run while a killed process was still in them, or
//! just before its last mkdir.
//! See `guard` for the process and `forks` for the fork events.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::fcntl::OFlag;
use nix::sys::wait::waitpid;
use nix::unistd::{gettid, ForkResult, Pid};

/// What the tether tells its guard, one byte.
pub(crate) const RELEASED: u8 = b'r';
const FAILED: u8 = b'f';

/// The tether of one create or exec; [`Tether::release`] it once the container is handed over.
pub struct Tether {
    guard: Option<GuardHandle>,
}

struct GuardHandle {
    pid: Pid,
    messages: OwnedFd,
    /// The process that armed the tether: libcontainer forks without exec, so a copy of this
    /// value lives in its children too, and must not talk to the guard from there.
    owner: Pid,
}

impl Tether {
    /// Guards the children that the calling thread forks from now on, and `made_dirs`, the
    /// empty directories they may make, which go with them (rmdir: never one still in use).
    /// Without a guard (fork failed) the create goes on unguarded, with a warning.
    pub fn arm(made_dirs: &[PathBuf]) -> Tether {
        let guard = fork_guard(made_dirs)
            .map_err(|e| tracing::warn!("no guard for this create's processes: {e}"))
            .ok();
        Tether { guard }
    }

    /// The container is handed over: its processes outlive this one.
    pub fn release(mut self) {
        self.end(RELEASED);
    }

    /// Tells the guard how it ended and waits for it to exit.
    fn end(&mut self, how: u8) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        if nix::unistd::getpid() != guard.owner {
            std::mem::forget(guard.messages);
            return;
        }
        // a failed write means the guard is gone already
        let _ = nix::unistd::write(&guard.messages, &[how]);
        let _ = waitpid(guard.pid, None);
    }
}

impl Drop for Tether {
    /// Not released: the create or exec failed, and the guard kills what it forked.
    fn drop(&mut self) {
        self.end(FAILED);
    }
}

fn fork_guard(made_dirs: &[PathBuf]) -> nix::Result<GuardHandle> {
    let main = nix::unistd::getpid();
    // C strings made here: the guard cannot allocate
    let made_dirs: Vec<CString> = made_dirs
        .iter()
        .filter_map(|dir| CString::new(dir.as_os_str().as_bytes()).ok())
        .collect();
    let children = CString::new(format!("/proc/{main}/task/{}/children", gettid()))
        .expect("a path without NUL");
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    // a pidfd of this process, taken here: the guard without one would not know when to act
    // SAFETY: a plain system call; its result is checked before it is owned
    let main_fd = unsafe { libc::syscall(libc::SYS_pidfd_open, main.as_raw(), 0) } as i32;
    if main_fd < 0 {
        return Err(nix::Error::last());
    }
    // SAFETY: pidfd_open returned this fd, owned from here on
    let main_fd = unsafe { OwnedFd::from_raw_fd(main_fd) };
    // subscribed here, before anything is forked; only the guard keeps it
    let forks = forks::subscribe();
    // SAFETY: the child runs only the guard, which makes raw system calls and allocates
    // nothing: safe after a fork from a process that may have other threads.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => guard::run(&guard::Watch {
            main: main.as_raw(),
            main_fd: main_fd.as_raw_fd(),
            children: &children,
            messages: read.as_raw_fd(),
            forks: forks.as_ref().map_or(-1, |f| f.as_raw_fd()),
            made_dirs: &made_dirs,
        }),
        ForkResult::Parent { child } => Ok(GuardHandle {
            pid: child,
            messages: write,
            owner: main,
        }),
    }
}

mod forks;
mod guard;

#[cfg(test)]
mod tests;
