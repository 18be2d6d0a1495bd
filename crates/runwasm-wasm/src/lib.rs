//! The Wasm side of runwasm: decide whether a process is Wasm, compile it once (the compile
//! cache), give it a WASI view of its container, run it (or serve it, for a `wasi:http`
//! component) and map its exit status.
//!
//! Nothing here knows about containerd, the OCI runtime CLI or namespaces: the caller runs
//! [`PreparedWasm::run`] in whatever process it has set up.

pub mod cache;
pub mod classify;
pub mod compile;
pub mod engine;
pub mod kernelfs;
pub mod limits;
pub mod serve;
pub mod startup_code;
pub mod wasi;

pub use cache::CompileCache;
pub use classify::{
    classify, classify_supplied, exports_http_handler, ProcessView, WasmEntrypoint, WasmKind,
    Workload,
};
pub use compile::CompileLimits;
pub use engine::{EngineError, FileId, PrecompiledSeed, PreparedWasm, WasmEngine};
pub use serve::ServeSettings;
pub use wasi::WasiPlan;
