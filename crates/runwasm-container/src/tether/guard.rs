//! The guard process. It runs right after a fork from a process that may have other threads,
//! so it makes raw system calls on stack buffers and never allocates.

use std::ffi::{CStr, CString};

use super::{forks, RELEASED};

/// How often the guard looks at the children file: what it learns of forks when it has no
/// fork events; with them, only a second chance for events that were lost.
const LOOK_EVERY: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: 250_000,
};
const LOOK_EVERY_WITH_EVENTS: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: 5_000_000,
};

/// The most processes one guard holds: the intermediate process, the init and the hooks
/// libcontainer runs.
const MOST: usize = 32;

/// What the guard watches.
pub struct Watch<'a> {
    /// The runwasm process, and a pidfd of it.
    pub main: i32,
    pub main_fd: i32,
    /// `/proc/MAIN/task/TID/children` of the thread that calls libcontainer.
    pub children: &'a CStr,
    /// The tether's pipe: RELEASED, FAILED, or the end when runwasm is gone.
    pub messages: i32,
    /// Subscribed fork events, or -1.
    pub forks: i32,
    /// Directories to remove once what was killed is dead.
    pub made_dirs: &'a [CString],
}

/// How long the guard waits for what it killed to die, and then for the directories to empty.
const DEATH_WAIT_MS: i64 = 2_000;
const RMDIR_TRIES: usize = 20;
const RMDIR_PAUSE: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: 5_000_000,
};

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

    /// Waits, up to `DEATH_WAIT_MS`, until every guarded process has exited.
    fn wait_all_dead(&self) {
        let mut fds = [poll_in(-1); MOST];
        for (slot, (_, fd)) in fds.iter_mut().zip(&self.pids[..self.count]) {
            slot.fd = *fd;
        }
        let deadline = now_ms() + DEATH_WAIT_MS;
        loop {
            let left = deadline - now_ms();
            if left <= 0 || fds.iter().all(|p| p.fd < 0) {
                return;
            }
            // SAFETY: poll on a live stack array (a negative fd is skipped); a pidfd is
            // readable once its process has exited
            if unsafe { libc::poll(fds.as_mut_ptr(), MOST as libc::nfds_t, left as i32) } < 0 {
                return;
            }
            for p in fds.iter_mut().filter(|p| p.revents != 0) {
                p.fd = -1;
                p.revents = 0;
            }
        }
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
    detach();
    close_all_but(&[watch.messages, watch.forks, watch.main_fd]);
    // SAFETY: a plain system call
    let me = unsafe { libc::getpid() };
    let mut guarded = Guarded {
        me,
        pids: [(0, -1); MOST],
        count: 0,
    };
    // the kernel queued this process's own fork before it ran: without that event, the
    // subscription was ignored (runwasm outside the initial pid namespace)
    let mut forks = -1;
    if watch.forks >= 0 {
        let mut subscribed = false;
        forks::drain(watch.forks, watch.main, |pid| {
            subscribed |= pid == me;
            guarded.add(pid);
        });
        if subscribed {
            forks = watch.forks;
        }
    }
    let look_every = if forks >= 0 {
        LOOK_EVERY_WITH_EVENTS
    } else {
        LOOK_EVERY
    };
    let (mut list, mut recheck) = ([0u8; 4096], [0u8; 4096]);
    // with fork events the poll wakes for every fork on the host: the children file, their
    // second chance, is read only when it timed out
    let mut look = true;
    loop {
        if forks >= 0 {
            forks::drain(forks, watch.main, |pid| {
                guarded.add(pid);
            });
        }
        let children = if look || forks < 0 {
            read_children(watch.children, &mut list)
        } else {
            &[]
        };
        for pid in child_pids(children) {
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
            poll_in(watch.main_fd),
            poll_in(forks),
        ];
        // SAFETY: ppoll on a live array of pollfds (a negative fd is skipped)
        let ready = unsafe { libc::ppoll(fds.as_mut_ptr(), 3, &look_every, std::ptr::null()) };
        look = ready == 0;
        let main_gone = ready > 0 && fds[1].revents != 0;
        if !main_gone && (ready <= 0 || fds[0].revents == 0) {
            continue;
        }
        if read_message(watch.messages) == Some(RELEASED) {
            exit(forks);
        }
        // FAILED, or runwasm died: what it forked dies. Killed first, so that none forks any
        // more (a process with SIGKILL pending cannot finish a fork), then what it forked last
        guarded.kill_all();
        if forks >= 0 {
            forks::drain(forks, watch.main, |pid| {
                guarded.add(pid);
            });
            guarded.kill_all();
        }
        guarded.wait_all_dead();
        remove_dirs(watch.made_dirs);
        exit(forks)
    }
}

/// Removes the directories that are there and empty; one that is busy (a process that still
/// dies in it) is tried again, briefly.
fn remove_dirs(dirs: &[CString]) {
    for dir in dirs {
        for _ in 0..RMDIR_TRIES {
            // SAFETY: rmdir of a C string; nanosleep of a constant
            unsafe {
                if libc::rmdir(dir.as_ptr()) == 0 || *libc::__errno_location() != libc::EBUSY {
                    break;
                }
                libc::nanosleep(&RMDIR_PAUSE, std::ptr::null_mut());
            }
        }
    }
}

/// The monotonic clock, in milliseconds.
fn now_ms() -> i64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes a live stack value
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec * 1_000 + now.tv_nsec / 1_000_000
}

/// Out of runwasm's process group, deaf to the signals a terminal or a caller sends a whole
/// group: a Ctrl-C or a group kill that ends runwasm must leave the guard to act. And first in
/// line for a CPU where the host allows it (real-time, lowest priority): when runwasm dies,
/// its caller's cleanup (the runc shim unmounts the rootfs at once) races the guard's kill,
/// and a half-made init still running then makes mount points in the unmounted rootfs dir.
fn detach() {
    // SAFETY: setpgid, scheduling and signal dispositions of this process
    unsafe {
        libc::setpgid(0, 0);
        // refused without CAP_SYS_NICE or in a cgroup with no real-time budget: then not
        libc::sched_setscheduler(
            0,
            libc::SCHED_FIFO,
            &libc::sched_param { sched_priority: 1 },
        );
        for signal in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGTSTP,
            libc::SIGTTIN,
            libc::SIGTTOU,
            libc::SIGPIPE,
        ] {
            libc::signal(signal, libc::SIG_IGN);
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
fn close_all_but(keep: &[i32; 3]) {
    let mut sorted = *keep;
    sorted.sort_unstable();
    let mut from = 0;
    for fd in sorted.into_iter().filter(|fd| *fd >= 0) {
        close_range(from, fd - 1);
        from = fd + 1;
    }
    close_range(from, i32::MAX);
}

/// Closes fds `low..=high`, one by one where close_range is refused (a seccomp filter, an
/// old kernel) up to a bound past any fd runwasm holds.
fn close_range(low: i32, high: i32) {
    if low > high {
        return;
    }
    // SAFETY: closes fds of this process
    if unsafe { libc::close_range(low as u32, high as u32, 0) } == 0 {
        return;
    }
    for fd in low..=high.min(4096) {
        // SAFETY: as above
        unsafe { libc::close(fd) };
    }
}

/// Ends the guard, its fork events unsubscribed first.
fn exit(forks: i32) -> ! {
    if forks >= 0 {
        forks::unsubscribe(forks);
    }
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
