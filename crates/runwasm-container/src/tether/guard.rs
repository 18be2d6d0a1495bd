//! The guard process. It runs right after a fork from a process that may have other threads,
//! so it makes raw system calls on stack buffers and never allocates.

use std::ffi::CStr;

use super::{forks, RELEASED};

/// How often the guard looks at the children file: what it learns of forks when it cannot
/// subscribe to fork events, and a second chance when events were lost.
const LOOK_EVERY: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: 250_000,
};

/// The most processes one guard holds: the intermediate process, the init and the hooks
/// libcontainer runs.
const MOST: usize = 32;

/// What the guard watches.
pub struct Watch<'a> {
    /// The runwasm process.
    pub main: i32,
    /// `/proc/MAIN/task/TID/children` of the thread that calls libcontainer.
    pub children: &'a CStr,
    /// The tether's pipe: RELEASED, FAILED, or the end when runwasm is gone.
    pub messages: i32,
    /// Subscribed fork events, or -1.
    pub forks: i32,
}

/// The processes guarded so far, each with its pidfd.
struct Guarded {
    me: i32,
    pids: [(i32, i32); MOST],
    count: usize,
}

impl Guarded {
    /// Takes a pidfd of `pid` unless it is held already.
    fn add(&mut self, pid: i32) -> Option<i32> {
        if pid == self.me
            || self.count == MOST
            || self.pids[..self.count].iter().any(|p| p.0 == pid)
        {
            return None;
        }
        // SAFETY: a plain system call
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
        if fd < 0 {
            return None;
        }
        self.pids[self.count] = (pid, fd);
        self.count += 1;
        Some(fd)
    }

    /// Drops the last one added (its pidfd is not of the child it was taken for).
    fn forget_last(&mut self) {
        self.count -= 1;
        // SAFETY: closes a pidfd this process opened
        unsafe { libc::close(self.pids[self.count].1) };
    }

    fn kill_all(&self) {
        for (_, fd) in &self.pids[..self.count] {
            // SAFETY: a signal through a pidfd this process holds
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    *fd,
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
        }
    }
}

/// Guards the children of `watch.main` until it sends RELEASED (the guard exits) or FAILED,
/// or dies (the guard kills them all, then exits).
pub fn run(watch: &Watch) -> ! {
    let keep = [watch.messages, watch.forks];
    close_all_but(&keep);
    // SAFETY: plain system calls
    let (me, main_fd) = unsafe {
        (
            libc::getpid(),
            libc::syscall(libc::SYS_pidfd_open, watch.main, 0) as i32,
        )
    };
    let mut guarded = Guarded {
        me,
        pids: [(0, -1); MOST],
        count: 0,
    };
    let (mut list, mut recheck) = ([0u8; 4096], [0u8; 4096]);
    loop {
        if watch.forks >= 0 {
            forks::drain(watch.forks, watch.main, |pid| {
                guarded.add(pid);
            });
        }
        for pid in child_pids(read_children(watch.children, &mut list)) {
            // still listed once its pidfd is taken: the pidfd is of that child, not of a
            // process that got a reaped child's pid
            if guarded.add(pid).is_some()
                && !child_pids(read_children(watch.children, &mut recheck)).any(|p| p == pid)
            {
                guarded.forget_last();
            }
        }
        let mut fds = [
            poll_in(watch.messages),
            poll_in(main_fd),
            poll_in(watch.forks),
        ];
        // SAFETY: ppoll on a live array of pollfds (a negative fd is skipped)
        let ready = unsafe { libc::ppoll(fds.as_mut_ptr(), 3, &LOOK_EVERY, std::ptr::null()) };
        let main_gone = main_fd < 0 || (ready > 0 && fds[1].revents != 0);
        if !main_gone && (ready <= 0 || fds[0].revents == 0) {
            continue;
        }
        match read_message(watch.messages) {
            Some(RELEASED) => exit(),
            // FAILED, or the end of runwasm: first what it forked last
            _ => {
                if watch.forks >= 0 {
                    forks::drain(watch.forks, watch.main, |pid| {
                        guarded.add(pid);
                    });
                }
                guarded.kill_all();
                exit()
            }
        }
    }
}

fn poll_in(fd: i32) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// A message waiting on the pipe, if any.
fn read_message(messages: i32) -> Option<u8> {
    let mut pending = [poll_in(messages)];
    let mut message = 0u8;
    // SAFETY: poll and read on live stack values
    let got = unsafe {
        if libc::poll(pending.as_mut_ptr(), 1, 0) <= 0 {
            return None;
        }
        libc::read(messages, (&mut message as *mut u8).cast(), 1)
    };
    (got == 1).then_some(message)
}

/// Nothing of runwasm's stays open in the guard (its stdio may be an exec's fifos).
fn close_all_but(keep: &[i32; 2]) {
    let (low, high) = (keep[0].min(keep[1]), keep[0].max(keep[1]));
    let mut from = 0;
    for fd in [low, high] {
        if fd >= 0 {
            if fd > from {
                // SAFETY: closes fds of this process
                unsafe { libc::close_range(from as u32, (fd - 1) as u32, 0) };
            }
            from = fd + 1;
        }
    }
    // SAFETY: as above
    unsafe { libc::close_range(from as u32, u32::MAX, 0) };
}

fn exit() -> ! {
    // SAFETY: ends this process at once, as a forked child must
    unsafe { libc::_exit(0) }
}

/// The contents of a children file, in `buf` (empty when it cannot be read).
fn read_children<'a>(path: &CStr, buf: &'a mut [u8]) -> &'a [u8] {
    // SAFETY: open, read and close on a C string and a live buffer
    unsafe {
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
}

/// The pids of a children file: living and unreaped children of one thread.
fn child_pids(list: &[u8]) -> impl Iterator<Item = i32> + '_ {
    list.split(|b| b.is_ascii_whitespace())
        .filter_map(|pid| std::str::from_utf8(pid).ok()?.parse().ok())
}
