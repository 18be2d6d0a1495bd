//! Fork events from the kernel's process connector (netlink), so that the guard knows of a
//! child from the moment it is forked: the kernel queues the event before the child first runs,
//! so even a child forked just before runwasm died is in the queue the guard reads then.
//! Subscribing needs CAP_NET_ADMIN; without it the guard relies on its children look alone.

use std::os::fd::{FromRawFd, OwnedFd};

/// The connector's process events: `CN_IDX_PROC`, `CN_VAL_PROC` of <linux/connector.h>.
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
/// `PROC_CN_MCAST_LISTEN`, `PROC_CN_MCAST_IGNORE` and `PROC_EVENT_FORK` of <linux/cn_proc.h>.
const MCAST_LISTEN: u32 = 1;
const MCAST_IGNORE: u32 = 2;
const EVENT_FORK: u32 = 1;

/// Sizes of the headers before a proc_event: `nlmsghdr`, then `cn_msg`.
const NLMSG_HEADER: usize = 16;
const CN_HEADER: usize = 20;
/// Offsets in a datagram: proc_event.what, then the fork event's parent tgid, child pid and
/// child tgid (after what, cpu and an 8-byte timestamp).
const WHAT: usize = NLMSG_HEADER + CN_HEADER;
const PARENT_TGID: usize = WHAT + 16 + 4;
const CHILD_PID: usize = WHAT + 16 + 8;
const CHILD_TGID: usize = WHAT + 16 + 12;

/// The most events one drain reads.
const DRAIN_AT_MOST: usize = 512;

#[repr(C)]
struct ControlRequest {
    // nlmsghdr
    len: u32,
    kind: u16,
    flags: u16,
    seq: u32,
    port: u32,
    // cn_msg
    idx: u32,
    val: u32,
    cn_seq: u32,
    ack: u32,
    data_len: u16,
    cn_flags: u16,
    // the operation
    op: u32,
}

/// A netlink socket subscribed to the kernel's fork events, or `None` when this process may
/// not subscribe.
pub fn subscribe() -> Option<OwnedFd> {
    // SAFETY: socket, bind and send on an fd made here, with structures that live across
    // each call
    unsafe {
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_CONNECTOR,
        );
        if fd < 0 {
            return None;
        }
        let socket = OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_nl = std::mem::zeroed();
        addr.nl_family = libc::AF_NETLINK as u16;
        addr.nl_groups = CN_IDX_PROC;
        let addr_len = std::mem::size_of::<libc::sockaddr_nl>() as u32;
        if libc::bind(fd, (&addr as *const libc::sockaddr_nl).cast(), addr_len) < 0 {
            return None;
        }
        // room for bursts: a missed event leaves only the slower look at the children
        let size: libc::c_int = 1 << 20;
        let size_len = std::mem::size_of::<libc::c_int>() as u32;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            size_len,
        );
        control(fd, MCAST_LISTEN).then_some(socket)
    }
}

/// Stops the kernel's fork events for this socket (it makes them only while someone listens).
pub fn unsubscribe(socket: i32) {
    control(socket, MCAST_IGNORE);
}

/// Sends the connector a listen or ignore request; whether it was sent whole.
fn control(socket: i32, op: u32) -> bool {
    let request = ControlRequest {
        len: std::mem::size_of::<ControlRequest>() as u32,
        kind: libc::NLMSG_DONE as u16,
        flags: 0,
        seq: 0,
        // SAFETY: a plain system call
        port: unsafe { libc::getpid() } as u32,
        idx: CN_IDX_PROC,
        val: CN_VAL_PROC,
        cn_seq: 0,
        ack: 0,
        data_len: 4,
        cn_flags: 0,
        op,
    };
    let len = std::mem::size_of::<ControlRequest>();
    // SAFETY: sends a live, fully initialised request of its own size
    let sent = unsafe { libc::send(socket, (&request as *const ControlRequest).cast(), len, 0) };
    sent == len as isize
}

/// Calls `found` with each process (not thread) that `parent` forked, among the queued
/// events; returns when none is left. Raw system calls on a stack buffer: safe in the guard.
pub fn drain(socket: i32, parent: i32, mut found: impl FnMut(i32)) {
    let mut buf = [0u8; 1024];
    // events of the whole host come in: a bound, so that a busy host cannot keep the guard
    // from its other work (what is left is read on its next wake)
    for _ in 0..DRAIN_AT_MOST {
        // SAFETY: a receive into a live stack buffer of its length
        let n = unsafe {
            libc::recv(
                socket,
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let overrun = std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOBUFS);
            if overrun {
                continue; // events were lost; the look at the children covers them
            }
            return;
        }
        if let Some(child) = forked_by(&buf[..n as usize], parent) {
            found(child);
        }
    }
}

/// The child of a fork event of `parent` that made a process.
fn forked_by(datagram: &[u8], parent: i32) -> Option<i32> {
    let field = |at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(
            datagram.get(at..at + 4)?.try_into().ok()?,
        ))
    };
    if field(WHAT)? != EVENT_FORK || field(PARENT_TGID)? as i32 != parent {
        return None;
    }
    let (pid, tgid) = (field(CHILD_PID)? as i32, field(CHILD_TGID)? as i32);
    (pid == tgid).then_some(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fork event as the kernel lays it out (offsets written out, not taken from the
    /// parser: nlmsghdr 16 bytes, cn_msg 20, then proc_event's what at 36, cpu, an 8-byte
    /// timestamp, and the fork's parent pid 52, parent tgid 56, child pid 60, child tgid 64).
    fn event(what: u32, parent_tgid: i32, child_pid: i32, child_tgid: i32) -> Vec<u8> {
        let mut datagram = vec![0u8; 68];
        datagram[36..40].copy_from_slice(&what.to_ne_bytes());
        datagram[56..60].copy_from_slice(&parent_tgid.to_ne_bytes());
        datagram[60..64].copy_from_slice(&child_pid.to_ne_bytes());
        datagram[64..68].copy_from_slice(&child_tgid.to_ne_bytes());
        datagram
    }

    #[test]
    fn only_processes_forked_by_the_parent() {
        assert_eq!(forked_by(&event(EVENT_FORK, 10, 11, 11), 10), Some(11));
        assert_eq!(
            forked_by(&event(EVENT_FORK, 9, 11, 11), 10),
            None,
            "another parent"
        );
        assert_eq!(
            forked_by(&event(EVENT_FORK, 10, 12, 10), 10),
            None,
            "a thread"
        );
        assert_eq!(forked_by(&event(2, 10, 11, 11), 10), None, "an exec event");
        assert_eq!(
            forked_by(&event(EVENT_FORK, 10, 11, 11)[..40], 10),
            None,
            "cut short"
        );
    }
}
