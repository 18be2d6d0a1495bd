//! Compiling a module the container chose, in a child process with the container's budget.
//!
//! A compile runs on the host (before the container's process exists), so a 1 GB module or a
//! compile bomb would spend the node's memory and CPU. The child gets `RLIMIT_DATA` (its
//! private memory, over what it inherited) of the container's memory limit and
//! `RLIMIT_CPU` of the timeout; the parent also stops it at the timeout by the wall clock.
//! The artifact comes back over a pipe.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe2, ForkResult, Pid};
use wasmtime::Engine;

use crate::classify::WasmKind;

/// What a compile may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    /// Bytes of memory the compiler may allocate.
    pub memory: u64,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The module itself is wrong: the compiler's message.
    #[error("{0}")]
    Invalid(String),
    #[error("exceeded its memory limit of {0} bytes")]
    Memory(u64),
    #[error("took longer than {0:?}")]
    Timeout(Duration),
    #[error("produced more than {0} bytes")]
    TooLarge(u64),
    #[error("failed: {0}")]
    Failed(String),
}

const OK: u8 = 0;
const INVALID: u8 = 1;

/// Compiles `bytes` into a serialized artifact, in this process.
pub fn precompile(engine: &Engine, bytes: &[u8], kind: WasmKind) -> wasmtime::Result<Vec<u8>> {
    match kind {
        WasmKind::Module => engine.precompile_module(bytes),
        WasmKind::Component => engine.precompile_component(bytes),
    }
}

/// Compiles `bytes` into a serialized artifact in a child process under `limits`.
pub fn compile_in_child(
    engine: &Engine,
    bytes: &[u8],
    kind: WasmKind,
    limits: &CompileLimits,
) -> Result<Vec<u8>, CompileError> {
    let failed = |what: &str, e: nix::Error| CompileError::Failed(format!("{what}: {e}"));
    let (reader, writer) =
        pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| failed("cannot create a pipe", e))?;
    let data_now = private_memory_in_use();
    // SAFETY: the caller is single-threaded here (runwasm before it creates the container),
    // and the child only compiles, writes to the pipe and exits.
    match unsafe { fork() }.map_err(|e| failed("cannot fork", e))? {
        ForkResult::Child => {
            drop(reader);
            let code = child(engine, bytes, kind, limits, data_now, writer);
            // SAFETY: leave without running the parent's exit handlers or destructors.
            unsafe { nix::libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(writer);
            let outcome = read_until(reader, Instant::now() + limits.timeout, limits);
            if outcome.is_err() {
                let _ = kill(child, Signal::SIGKILL);
            }
            let status = waitpid(child, None).map_err(|e| failed("cannot wait", e))?;
            interpret(outcome, status, child, limits)
        }
    }
}

fn child(
    engine: &Engine,
    bytes: &[u8],
    kind: WasmKind,
    limits: &CompileLimits,
    data_now: u64,
    writer: OwnedFd,
) -> i32 {
    // the parent reports why the child failed; the allocator's own last words are noise
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 2);
    }
    let data = data_now.saturating_add(limits.memory);
    let cpu = limits.timeout.as_secs().max(1);
    if setrlimit(Resource::RLIMIT_DATA, data, data).is_err()
        || setrlimit(Resource::RLIMIT_CPU, cpu, cpu + 1).is_err()
    {
        return 3;
    }
    let compiled = precompile(engine, bytes, kind);
    let mut out = std::fs::File::from(writer);
    let written = match compiled {
        Ok(artifact) => out.write_all(&[OK]).and_then(|()| out.write_all(&artifact)),
        Err(e) => out
            .write_all(&[INVALID])
            .and_then(|()| out.write_all(format!("{e:#}").replace('\n', " ").as_bytes())),
    };
    if written.is_ok() {
        0
    } else {
        4
    }
}

/// Reads the whole pipe, at most `limits.memory` bytes, or gives up at `deadline`.
fn read_until(
    reader: OwnedFd,
    deadline: Instant,
    limits: &CompileLimits,
) -> Result<Vec<u8>, CompileError> {
    let mut out = Vec::new();
    let mut file = std::fs::File::from(reader);
    let mut buf = vec![0u8; 1 << 16];
    let failed =
        |e: &dyn std::fmt::Display| CompileError::Failed(format!("reading the artifact: {e}"));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(CompileError::Timeout(limits.timeout));
        }
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(nix::Error::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(failed(&e)),
        }
        match file.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(failed(&e)),
        }
        if out.len() as u64 > limits.memory {
            return Err(CompileError::TooLarge(limits.memory));
        }
    }
}

fn interpret(
    outcome: Result<Vec<u8>, CompileError>,
    status: WaitStatus,
    child: Pid,
    limits: &CompileLimits,
) -> Result<Vec<u8>, CompileError> {
    let mut out = outcome?;
    match status {
        WaitStatus::Exited(_, 0) if out.first() == Some(&OK) => {
            out.remove(0);
            Ok(out)
        }
        WaitStatus::Exited(_, 0) if out.first() == Some(&INVALID) => Err(CompileError::Invalid(
            String::from_utf8_lossy(&out[1..]).into_owned(),
        )),
        WaitStatus::Signaled(_, Signal::SIGXCPU, _) => Err(CompileError::Timeout(limits.timeout)),
        // an allocation the limit refused: Rust's allocator aborts
        WaitStatus::Signaled(_, Signal::SIGABRT, _) => Err(CompileError::Memory(limits.memory)),
        other => Err(CompileError::Failed(format!(
            "the compiler process {child} ended with {other:?}"
        ))),
    }
}

/// This process's private writable memory (`VmData`), which the child inherits and which
/// `RLIMIT_DATA` counts; 0 if unknown.
fn private_memory_in_use() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmData:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
