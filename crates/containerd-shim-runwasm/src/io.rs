//! A process's stdio from containerd: fifo paths (or none), handed to the container directly,
//! or a pty whose master runwasm sends back over a console socket and the shim copies.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use crate::cli::ProcessIo;

#[derive(Debug, Clone, Default)]
pub struct StdioPaths {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

fn open_fifo(path: &str, read: bool) -> std::io::Result<Option<File>> {
    if path.is_empty() {
        return Ok(None);
    }
    let file = if read {
        // non-blocking so a missing writer does not stall create; then blocking again
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(path)?;
        fcntl(f.as_raw_fd(), FcntlArg::F_SETFL(OFlag::empty()))?;
        f
    } else {
        // read+write never blocks on a fifo, whether or not containerd's reader is open yet
        OpenOptions::new().read(true).write(true).open(path)?
    };
    Ok(Some(file))
}

impl StdioPaths {
    /// The fifos, opened for handing to the container process.
    pub fn open(&self) -> std::io::Result<ProcessIo> {
        Ok(ProcessIo {
            stdin: open_fifo(&self.stdin, true)?,
            stdout: open_fifo(&self.stdout, false)?,
            stderr: open_fifo(&self.stderr, false)?,
        })
    }
}

/// The socket runwasm sends the pty master to (`--console-socket`).
pub struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    /// A socket in the temporary directory: bundle paths can exceed a socket path's 108 bytes.
    pub fn new() -> std::io::Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "runwasm-console-{}-{}.sock",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        Ok(Self { path, listener })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for the pty master.
    pub fn receive_master(&self) -> std::io::Result<OwnedFd> {
        let (stream, _) = self.listener.accept()?;
        let mut buf = [0u8; 4096];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )?;
        for cmsg in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                if let Some(fd) = fds.first() {
                    // SAFETY: the fd was just received and is owned by nobody else
                    return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
                }
            }
        }
        Err(std::io::Error::other("no pty master on the console socket"))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Copies between the pty master and the fifos until the terminal closes.
pub fn copy_console(master: &OwnedFd, paths: &StdioPaths) -> std::io::Result<()> {
    let io = paths.open()?;
    if let Some(stdin) = io.stdin {
        pump(stdin, File::from(master.try_clone()?));
    }
    if let Some(stdout) = io.stdout {
        // the master reads EIO once the last slave fd closes: the process has exited
        pump(File::from(master.try_clone()?), stdout);
    }
    Ok(())
}

/// Copies `from` to `to` on a thread until either end closes.
fn pump(mut from: File, mut to: File) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
}

/// Sets the pty's window size.
pub fn resize(master: &OwnedFd, width: u32, height: u32) -> std::io::Result<()> {
    let size = nix::libc::winsize {
        ws_row: height as u16,
        ws_col: width as u16,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from the pointer, which lives for the call
    let rc = unsafe { nix::libc::ioctl(master.as_raw_fd(), nix::libc::TIOCSWINSZ, &size) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
