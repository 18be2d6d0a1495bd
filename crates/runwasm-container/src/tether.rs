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
//! A guard process, forked before libcontainer forks anything, kills them instead. It watches
//! the children of the forking thread (the init is one too: libcontainer forks it with
//! CLONE_PARENT) and holds a pidfd of each as it appears, and one of this process. When this
//! process dies before it released the tether, the guard SIGKILLs them through their pidfds:
//! from outside their pid namespace, so an init that is pid 1 of its own namespace dies too (a
//! signal the kernel sends on its own behalf, such as an O_ASYNC one, would be ignored there).
//! Being a process of its own, the guard keeps watching while this one is stopped.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::fcntl::OFlag;
use nix::sys::wait::waitpid;
use nix::unistd::{gettid, ForkResult, Pid};

/// How often the guard looks for new children: the longest a just-forked process runs
/// unguarded.
const POLL: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: 250_000,
};

/// The most processes one guard holds: the intermediate process, the init and the hooks
/// libcontainer runs.
const GUARDED: usize = 32;

/// What the tether tells its guard, one byte.
const RELEASED: u8 = b'r';
const FAILED: u8 = b'f';

/// The tether of one create or exec; [`Tether::release`] it once the container is handed over.
pub struct Tether {
    guard: Option<(Pid, OwnedFd)>,
}

impl Tether {
    /// Guards the children that the calling thread forks from now on. Without a guard (fork
    /// failed) the create goes on unguarded, with a warning.
    pub fn arm() -> Tether {
        let guard = fork_guard()
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
        if let Some((pid, messages)) = self.guard.take() {
            // a failed write means the guard is gone already
            let _ = nix::unistd::write(&messages, &[how]);
            let _ = waitpid(pid, None);
        }
    }
}

impl Drop for Tether {
    /// Not released: the create or exec failed, and the guard kills what it forked.
    fn drop(&mut self) {
        self.end(FAILED);
    }
}

fn fork_guard() -> nix::Result<(Pid, OwnedFd)> {
    let main = nix::unistd::getpid();
    let children = CString::new(format!("/proc/{main}/task/{}/children", gettid()))
        .expect("a path without NUL");
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    // SAFETY: the child runs only `guard`, which makes raw system calls and allocates
    // nothing: safe after a fork from a process that may have other threads.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => guard(main, &children, read.as_raw_fd()),
        ForkResult::Parent { child } => Ok((child, write)),
    }
}

/// The guard process: holds a pidfd of each child of `main`'s forking thread as it appears,
/// and SIGKILLs them all when `main` dies before it sends RELEASED (or when it sends FAILED).
/// Raw system calls only, no allocation.
fn guard(main: Pid, children: &CStr, messages: RawFd) -> ! {
    // SAFETY (whole function): system calls on fds this process holds and on stack buffers
    unsafe {
        // nothing of the caller's stays open here (its stdio may be an exec's fifos)
        if messages > 0 {
            libc::close_range(0, (messages - 1) as u32, 0);
        }
        libc::close_range((messages + 1) as u32, u32::MAX, 0);
        let me = libc::getpid();
        let main_fd = pidfd_open(main.as_raw());
        let mut guarded = [(0i32, -1i32); GUARDED];
        let mut count = 0;
        let (mut buf, mut recheck) = ([0u8; 4096], [0u8; 4096]);
        loop {
            // the children first: one forked just before main died is guarded too
            for pid in child_pids(read_children(children, &mut buf)) {
                if pid == me || count == GUARDED || guarded[..count].iter().any(|g| g.0 == pid) {
                    continue;
                }
                let fd = pidfd_open(pid);
                // still listed after the pidfd is taken: the pidfd is of that child, not of a
                // process that got a reaped child's pid
                let listed = child_pids(read_children(children, &mut recheck)).any(|p| p == pid);
                if fd >= 0 && listed {
                    guarded[count] = (pid, fd);
                    count += 1;
                } else if fd >= 0 {
                    libc::close(fd);
                }
            }
            let mut fds = [
                libc::pollfd {
                    fd: messages,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: main_fd,
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            if main_fd >= 0 && libc::ppoll(fds.as_mut_ptr(), 2, &POLL, std::ptr::null()) == 0 {
                continue;
            }
            // a message, main's end, or no pidfd of main (it is gone already)
            let mut message = 0u8;
            let mut pending = [fds[0]];
            let got = if libc::poll(pending.as_mut_ptr(), 1, 0) > 0 {
                libc::read(messages, (&mut message as *mut u8).cast(), 1)
            } else {
                0
            };
            if got == 1 && message == RELEASED {
                libc::_exit(0);
            }
            if got == 1 || fds[1].revents != 0 || main_fd < 0 {
                for (_, fd) in &guarded[..count] {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        *fd,
                        libc::SIGKILL,
                        std::ptr::null::<libc::siginfo_t>(),
                        0,
                    );
                }
                libc::_exit(0);
            }
        }
    }
}

/// The contents of a children file, in `buf` (empty when it cannot be read).
///
/// # Safety
/// Raw system calls; safe in the forked guard.
unsafe fn read_children<'a>(path: &CStr, buf: &'a mut [u8]) -> &'a [u8] {
    let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
    if fd < 0 {
        return &[];
    }
    let mut len = 0;
    while len < buf.len() {
        let n = libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len);
        if n <= 0 {
            break;
        }
        len += n as usize;
    }
    libc::close(fd);
    &buf[..len]
}

/// The pids of a children file: living and unreaped children of one thread.
fn child_pids(list: &[u8]) -> impl Iterator<Item = i32> + '_ {
    list.split(|b| b.is_ascii_whitespace())
        .filter_map(|pid| std::str::from_utf8(pid).ok()?.parse().ok())
}

/// A pidfd of `pid`, or -1.
///
/// # Safety
/// A plain system call; unsafe only as every libc call is.
unsafe fn pidfd_open(pid: i32) -> i32 {
    libc::syscall(libc::SYS_pidfd_open, pid, 0) as i32
}

#[cfg(test)]
mod tests;
