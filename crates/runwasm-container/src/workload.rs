//! Picks the executor of a container or exec process: classification and, for Wasm, the
//! module compiled (or loaded from the cache) and linked before any process is forked, so a
//! bad module fails `create`/`exec` with a clear error and the init process inherits the
//! ready program.

use std::os::fd::RawFd;
use std::path::Path;

use oci_spec::runtime::{Process, Spec};
use runwasm_wasm::cache::CompileCache;
use runwasm_wasm::{
    classify, classify_supplied, exports_http_handler, limits, CompileLimits, FileId, ProcessView,
    ServeSettings, WasmEngine, Workload,
};

use crate::artifact::ArtifactModule;
use crate::error::ContainerError;
use crate::executor::WorkloadExecutor;
use crate::lsm::HostLsms;
use crate::sandbox;

/// Chooses how `process` runs in a container whose root filesystem is at `root` (as this
/// process sees it), whose annotations and resources come from `spec`; `supplied` is an OCI
/// Wasm artifact's module (see [`crate::artifact`]); `preserve_fds` is the caller's
/// `--preserve-fds`.
pub fn executor_for(
    process: &Process,
    spec: &Spec,
    root: &Path,
    supplied: Option<ArtifactModule>,
    preserve_fds: i32,
) -> Result<WorkloadExecutor, ContainerError> {
    let empty = Vec::new();
    let view = ProcessView {
        args: process.args().as_deref().unwrap_or(&empty),
        env: process.env().as_deref().unwrap_or(&empty),
        cwd: process.cwd(),
        annotations: spec.annotations().as_ref(),
    };
    let (workload, precompiled) = match supplied {
        Some(a) => (classify_supplied(&view, a.module)?, a.precompiled),
        None => (classify(&view, root)?, None),
    };
    match workload {
        Workload::Linux => Ok(WorkloadExecutor::linux()),
        Workload::Wasm(entry) => {
            tracing::debug!(module = %entry.container_path.display(), "wasm workload");
            sandbox::check_devices(spec)?;
            sandbox::check_mounts(spec)?;
            sandbox::check_landlock()?;
            // from here on, and in every process forked from here, no other process of the
            // container may open our /proc/<pid>/{mem,fd,map_files}: the artifact's fd is
            // open from the prepare below to the end of the Wasm process
            make_non_dumpable()?;
            let mut engine = WasmEngine::new(Some(&CompileCache::base_dir_from_env()))?;
            if exports_http_handler(&entry.bytes) {
                engine.serve_with(ServeSettings::from_spec(spec)?);
            }
            engine.isolate_compiles(compile_limits(spec));
            if let Some(seed) = precompiled {
                engine.seed(seed);
            }
            let name = entry.container_path.display().to_string();
            let prepared = engine.prepare(&entry.bytes, &name)?;
            let artifact_fds = prepared.artifact().map(fds_of).unwrap_or_default();
            Ok(WorkloadExecutor::wasm(
                prepared,
                artifact_fds,
                preserve_fds,
                HostLsms::detect(),
            ))
        }
    }
}

fn make_non_dumpable() -> Result<(), ContainerError> {
    // SAFETY: prctl with constant arguments.
    if unsafe { nix::libc::prctl(nix::libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(ContainerError::Io {
            path: "prctl(PR_SET_DUMPABLE)".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// A compile gets the container's memory limit (or the runtime's default when it sets none)
/// and the runtime's timeout.
fn compile_limits(spec: &Spec) -> CompileLimits {
    let container_limit = limits::container_memory_limit(spec);
    CompileLimits {
        memory: container_limit.unwrap_or_else(limits::max_compile_memory),
        timeout: limits::compile_timeout(),
    }
}

/// This process's descriptors of the file `id`.
fn fds_of(id: FileId) -> Vec<RawFd> {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
        .filter(|fd| {
            nix::sys::stat::fstat(*fd).is_ok_and(|st| {
                id == FileId {
                    dev: st.st_dev,
                    ino: st.st_ino,
                }
            })
        })
        .collect()
}
