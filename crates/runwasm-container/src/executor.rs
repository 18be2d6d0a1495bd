//! The workload of a container's init (or exec'd) process, run by libcontainer once the
//! process is isolated: namespaces entered, cgroup joined, root pivoted, capabilities,
//! seccomp and user applied.

use std::io::Write;
use std::os::fd::RawFd;
use std::path::Path;

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use nix::sys::signal::{self, SigHandler, Signal};
use oci_spec::runtime::Spec;
use runwasm_wasm::{PreparedWasm, WasiPlan};

use crate::lsm::HostLsms;

/// Runs a prepared Wasm program in-process, or hands a Linux process to `execve`.
#[derive(Clone)]
pub struct WorkloadExecutor {
    wasm: Option<WasmWorkload>,
}

#[derive(Clone)]
struct WasmWorkload {
    prepared: PreparedWasm,
    /// The descriptors of the precompiled artifact, which wasmtime maps copy-on-write for
    /// linear-memory images: the only ones above the preserved fds that stay open.
    artifact_fds: Vec<RawFd>,
    /// `--preserve-fds`: descriptors 3..3+N are the caller's, passed on as execve would.
    preserve_fds: i32,
    lsms: HostLsms,
}

impl WorkloadExecutor {
    pub fn linux() -> Self {
        Self { wasm: None }
    }

    /// `artifact_fds` are found in the runtime, before the container process is forked, and
    /// keep their numbers in it.
    pub fn wasm(
        prepared: PreparedWasm,
        artifact_fds: Vec<RawFd>,
        preserve_fds: i32,
        lsms: HostLsms,
    ) -> Self {
        Self {
            wasm: Some(WasmWorkload {
                prepared,
                artifact_fds,
                preserve_fds,
                lsms,
            }),
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
        // an HTTP server drains on SIGTERM/SIGINT; only SIGHUP ends it at once
        if wasm.prepared.serves_http() {
            exit_on_signals(&[Signal::SIGHUP])?;
        } else {
            exit_on_signals(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP])?;
        }
        reap_orphans()?;
        let mut prepared = wasm.prepared.clone();
        let mut keep_fds = wasm.artifact_fds.clone();
        keep_fds.extend(
            prepared
                .prepare_in_container()
                .map_err(|e| ExecutorError::Other(e.to_string()))?,
        );
        // while the runtime's log is still open, so a failure reaches the caller
        confine()?;
        close_runtime_fds(3 + wasm.preserve_fds.max(0), &keep_fds);
        drop_capabilities_like_execve()?;
        // this process's `/` is the container's root: the module sees exactly that
        let code = prepared.run(&WasiPlan::from_spec(spec, Path::new("/")));
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        std::process::exit(code)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        match &self.wasm {
            // the module was read, compiled and linked before this process was created
            Some(wasm) => lsm_without_exec(spec, wasm.lsms),
            None => DefaultExecutor {}.validate(spec),
        }
    }
}

/// What execve would have given the process for its security modules, done in place since
/// a module never execs: the AppArmor profile applies now rather than at an exec that never
/// comes. An SELinux label is only applied by execve, so it is refused rather than ignored.
fn lsm_without_exec(spec: &Spec, lsms: HostLsms) -> Result<(), ExecutorValidationError> {
    let refuse = |why: String| {
        tracing::error!("{why}");
        ExecutorValidationError::ArgValidationError(why)
    };
    let process = spec.process().as_ref();
    if let Some(profile) = process.and_then(|p| p.apparmor_profile().as_deref()) {
        if lsms.apparmor && !profile.is_empty() {
            crate::lsm::change_apparmor_profile(profile).map_err(|e| {
                refuse(format!(
                    "cannot apply AppArmor profile {profile:?} to the Wasm process: {e}"
                ))
            })?;
        }
    }
    if process.and_then(|p| p.selinux_label().as_deref()).is_some() && lsms.selinux {
        return Err(refuse(
            "SELinux process labels are applied by execve, which a Wasm process never calls: not supported".into(),
        ));
    }
    Ok(())
}

/// Keeps the module to its container's files (see [`crate::sandbox`]). Landlock needs
/// `no_new_privs` from a process without CAP_SYS_ADMIN; nothing is exec'd after it anyway.
fn confine() -> Result<(), ExecutorError> {
    // SAFETY: prctl with constant arguments.
    if unsafe { nix::libc::prctl(nix::libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        let err = std::io::Error::last_os_error();
        return Err(ExecutorError::Other(format!(
            "cannot set no_new_privs: {err}"
        )));
    }
    crate::sandbox::confine_to_container().map_err(|e| ExecutorError::Other(e.to_string()))
}

/// Does what `execve` would have done: closes the runtime's descriptors (its pipes and
/// sockets, its log file). libcontainer's exec path waits for the exec-notify pipe to close,
/// and a module must hold no host file. libcontainer has already made everything from
/// `first` up close-on-exec; this closes them all but the artifact's.
fn close_runtime_fds(first: RawFd, keep: &[RawFd]) {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|fd| *fd >= first).collect();
    keep.sort_unstable();
    let mut from = first as u32;
    let mut closed_all = true;
    for fd in keep.iter().map(|fd| *fd as u32).chain([u32::MAX]) {
        // SAFETY: closes descriptors this process no longer uses.
        if fd > from && unsafe { nix::libc::close_range(from, fd - 1, 0) } != 0 {
            closed_all = false;
        }
        from = fd.saturating_add(1);
    }
    if closed_all {
        return;
    }
    // close_range refused (an older seccomp profile): one at a time
    let open: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open
        .into_iter()
        .filter(|fd| *fd >= first && !keep.contains(fd))
    {
        let _ = nix::unistd::close(fd);
    }
}

/// A Wasm init is PID 1 of its namespace and never waits for anyone: with SIGCHLD ignored the
/// kernel reaps the orphans of exec'd processes that are reparented to it, as an init would.
fn reap_orphans() -> Result<(), ExecutorError> {
    // SAFETY: setting a disposition, no handler code.
    unsafe { signal::signal(Signal::SIGCHLD, SigHandler::SigIgn) }
        .map(|_| ())
        .map_err(|e| ExecutorError::Other(format!("cannot ignore SIGCHLD: {e}")))
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
fn exit_on_signals(signals: &[Signal]) -> Result<(), ExecutorError> {
    extern "C" fn exit_with_signal(sig: nix::libc::c_int) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { nix::libc::_exit(128 + sig) }
    }
    for &sig in signals {
        // SAFETY: the handler only calls an async-signal-safe function.
        unsafe { signal::signal(sig, SigHandler::Handler(exit_with_signal)) }
            .map_err(|e| ExecutorError::Other(format!("cannot handle {sig}: {e}")))?;
    }
    Ok(())
}
