//! Picks the executor of a container or exec process: classification and, for Wasm, the
//! module compiled (or loaded from the cache) and linked before any process is forked, so a
//! bad module fails `create`/`exec` with a clear error and the init process inherits the
//! ready program.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::Process;
use runwasm_wasm::cache::CompileCache;
use runwasm_wasm::{classify, ProcessView, WasmEngine, Workload};

use crate::error::ContainerError;
use crate::executor::WorkloadExecutor;

/// Chooses how `process` runs in a container whose root filesystem is at `root` (as this
/// process sees it) and whose annotations are `annotations`.
pub fn executor_for(
    process: &Process,
    annotations: Option<&HashMap<String, String>>,
    root: &Path,
) -> Result<WorkloadExecutor, ContainerError> {
    let empty = Vec::new();
    let view = ProcessView {
        args: process.args().as_deref().unwrap_or(&empty),
        env: process.env().as_deref().unwrap_or(&empty),
        cwd: process.cwd(),
        annotations,
    };
    match classify(&view, root)? {
        Workload::Linux => Ok(WorkloadExecutor::linux()),
        Workload::Wasm(entry) => {
            tracing::debug!(module = %entry.container_path.display(), "wasm workload");
            let engine = WasmEngine::new(Some(&CompileCache::base_dir_from_env()))?;
            let name = entry.container_path.display().to_string();
            let prepared = engine.prepare_file(&entry.host_path, &name)?;
            Ok(WorkloadExecutor::wasm(prepared))
        }
    }
}
