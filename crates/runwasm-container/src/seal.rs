//! The runtime binary, sealed before it enters a container (the CVE-2019-5736 class).
//!
//! Every process that runwasm forks into a container is an image of the runwasm binary, and
//! a Wasm container's init stays one for its whole life. A process in the container that
//! reopens `/proc/<pid>/exe` for writing would overwrite the host's binary. So a command that
//! enters a container first re-executes itself from a read-only, detached bind mount of its
//! own binary (`open_tree` + `mount_setattr`): the kernel answers EROFS to any write through
//! that route, and nothing is copied. Where the kernel lacks the new mount API, the binary is
//! copied once into a sealed memfd instead, as runc and youki do.
//!
//! A long-lived caller (the shim) holds one such mount of the binary ([`SealedBinary`]) and
//! starts runwasm from it, so runwasm finds itself sealed and does not re-execute.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "cannot make a read-only copy of the runwasm binary: bind mount: {mount}; memfd: {memfd}"
    )]
    NoSealedCopy { mount: io::Error, memfd: io::Error },
    #[error("cannot re-execute the sealed runwasm binary: {0}")]
    Exec(#[source] io::Error),
}

/// Makes sure this process runs from a sealed copy of its binary: returns at once when it
/// already does, otherwise re-executes itself (same arguments and environment) and does not
/// return on success.
pub fn ensure_sealed() -> Result<(), SealError> {
    if is_sealed() {
        return Ok(());
    }
    let exe = match read_only_bind(c"/proc/self/exe") {
        Ok(fd) => fd,
        Err(mount) => {
            sealed_memfd_of_self().map_err(|memfd| SealError::NoSealedCopy { mount, memfd })?
        }
    };
    Err(SealError::Exec(reexec(&exe)))
}

/// The running binary cannot be written through `/proc/self/exe`: it is on a read-only
/// mount, or a memfd sealed against writes.
pub fn is_sealed() -> bool {
    let Ok(exe) = File::open("/proc/self/exe") else {
        return false;
    };
    // SAFETY: fcntl on an fd we own.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    if seals >= 0 && seals & libc::F_SEAL_WRITE != 0 {
        return true;
    }
    nix::sys::statvfs::fstatvfs(&exe)
        .is_ok_and(|st| st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

/// A binary held on a read-only, detached bind mount for as long as this value lives: a
/// process started from [`SealedBinary::path`] runs sealed without re-executing itself.
#[derive(Debug)]
pub struct SealedBinary(OwnedFd);

impl SealedBinary {
    pub fn of(binary: &std::path::Path) -> io::Result<Self> {
        let path = CString::new(binary.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path with a NUL byte"))?;
        read_only_bind(&path).map(Self)
    }

    /// A path that starts the binary from the read-only mount, in this process or a child.
    pub fn path(&self) -> std::path::PathBuf {
        format!("/proc/self/fd/{}", self.0.as_raw_fd()).into()
    }
}

/// A detached, read-only, nosuid, nodev bind mount of `path`.
fn read_only_bind(path: &std::ffi::CStr) -> io::Result<OwnedFd> {
    // SAFETY: plain syscalls on a valid C string; the returned fd is owned below.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: open_tree returned a new fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: attr outlives the call and its size is passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// A copy of the binary in a memfd sealed against every change.
fn sealed_memfd_of_self() -> io::Result<OwnedFd> {
    // SAFETY: a valid C string and flags; the fd is owned below.
    let fd = unsafe {
        libc::memfd_create(
            c"runwasm".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: memfd_create returned a new fd that nothing else owns.
    let mut memfd = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    io::copy(&mut File::open("/proc/self/exe")?, &mut memfd)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on an fd we own.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(memfd.into())
}

/// `execveat(exe, "", argv, envp)`; returns only on failure.
fn reexec(exe: &OwnedFd) -> io::Error {
    let to_c = |s: OsString| CString::new(s.into_vec()).ok();
    let args: Option<Vec<CString>> = std::env::args_os().map(to_c).collect();
    let env: Option<Vec<CString>> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            to_c(kv)
        })
        .collect();
    let (Some(args), Some(env)) = (args, env) else {
        return io::Error::new(io::ErrorKind::InvalidInput, "argument with a NUL byte");
    };
    let mut argv: Vec<*mut libc::c_char> = args.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv.push(std::ptr::null_mut());
    let mut envp: Vec<*mut libc::c_char> = env.iter().map(|e| e.as_ptr().cast_mut()).collect();
    envp.push(std::ptr::null_mut());
    // SAFETY: argv and envp are NUL-terminated arrays of valid C strings that outlive the call.
    unsafe {
        libc::execveat(
            exe.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}
