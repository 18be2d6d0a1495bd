//! The workload of a container's init (or exec'd) process, run by libcontainer once the
//! process is isolated: namespaces entered, cgroup joined, root pivoted, capabilities,
//! seccomp and user applied.

use std::io::Write;
use std::path::Path;

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use nix::sys::signal::{self, SigHandler, Signal};
use oci_spec::runtime::Spec;
use runwasm_wasm::{FileId, PreparedWasm, WasiPlan};

/// Runs a prepared Wasm program in-process, or hands a Linux process to `execve`.
#[derive(Clone)]
pub struct WorkloadExecutor {
    wasm: Option<PreparedWasm>,
}

impl WorkloadExecutor {
    pub fn linux() -> Self {
        Self { wasm: None }
    }

    pub fn wasm(prepared: PreparedWasm) -> Self {
        Self {
            wasm: Some(prepared),
        }
    }

    pub fn is_wasm(&self) -> bool {
        self.wasm.is_some()
    }
}

impl Executor for WorkloadExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let Some(wasm) = &self.wasm else {
            return DefaultExecutor {}.exec(spec);
        };
        exit_on_termination_signals()?;
        close_exec_fds(wasm.artifact());
        drop_capabilities_like_execve()?;
        // this process's `/` is the container's root: the module sees exactly that
        let code = wasm.run(&WasiPlan::from_spec(spec, Path::new("/")));
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        std::process::exit(code)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        match &self.wasm {
            // the module was read, compiled and linked before this process was created
            Some(_) => Ok(()),
            None => DefaultExecutor {}.validate(spec),
        }
    }
}

/// Does what `execve` would have done: closes every close-on-exec fd the runtime left (its
/// pipes and sockets, its log file). libcontainer's exec path waits for the exec-notify pipe
/// to close, and a module must hold no host file. The one exception is the precompiled
/// module's file (`keep`), which wasmtime maps copy-on-write for linear-memory images.
fn close_exec_fds(keep: Option<FileId>) {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        let cloexec = fcntl(fd, FcntlArg::F_GETFD)
            .map(|flags| FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC))
            .unwrap_or(false);
        let is_artifact = nix::sys::stat::fstat(fd)
            .map(|st| {
                keep == Some(FileId {
                    dev: st.st_dev,
                    ino: st.st_ino,
                })
            })
            .unwrap_or(false);
        if cloexec && !is_artifact {
            let _ = nix::unistd::close(fd);
        }
    }
}

/// libcontainer sets the spec's capabilities expecting `execve` to transform them: for a
/// non-root user, execve of a program without file capabilities keeps only the ambient set
/// in the permitted and effective sets. A module never calls execve, so do that here, or a
/// module running as uid 1000 would keep CAP_DAC_OVERRIDE and write root's files.
fn drop_capabilities_like_execve() -> Result<(), ExecutorError> {
    use caps::CapSet;
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let fail = |e: caps::errors::CapsError| ExecutorError::Other(format!("capabilities: {e}"));
    let ambient = caps::read(None, CapSet::Ambient).map_err(fail)?;
    caps::set(None, CapSet::Effective, &ambient).map_err(fail)?;
    caps::set(None, CapSet::Permitted, &ambient).map_err(fail)?;
    Ok(())
}

/// A Wasm module installs no signal handlers, and the init process of a PID namespace
/// ignores every signal it has no handler for. Exit with 128+N, as a shell would report a
/// process killed by signal N, so `kill`/`ctr task kill` stop a module as they stop runc's.
fn exit_on_termination_signals() -> Result<(), ExecutorError> {
    extern "C" fn exit_with_signal(sig: nix::libc::c_int) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { nix::libc::_exit(128 + sig) }
    }
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler only calls an async-signal-safe function.
        unsafe { signal::signal(sig, SigHandler::Handler(exit_with_signal)) }
            .map_err(|e| ExecutorError::Other(format!("cannot handle {sig}: {e}")))?;
    }
    Ok(())
}
