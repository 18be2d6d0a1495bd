//! The wasmtime engine, module preparation (compile or cache hit, then link) and running.
//!
//! Preparation happens before the container's init process is forked (it needs the host's
//! cache directory and must fail `create` on a bad module); the prepared program is inherited
//! by the init process, which only instantiates and runs it.
//!
//! Exit status mapping (documented in docs/wasm.md):
//! - the command returns normally: 0;
//! - `proc_exit(N)` / `wasi:cli/exit`: N;
//! - a component's `run` returns an error: 1;
//! - a trap: 134 (as the wasmtime CLI, 128 + SIGABRT), with `runwasm: wasm trap: REASON`
//!   on stderr;
//! - any other runtime failure: 1, with `runwasm: REASON` on stderr.
//!
//! A component that exports `wasi:http/incoming-handler` is not run once but served
//! ([`crate::serve`]): its exit status is the server's.

use std::collections::hash_map::DefaultHasher;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::path::Path;

use wasmtime::component::{Component, ResourceTable};
use wasmtime::{Config, Engine, InstancePre, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

mod link;

use crate::cache::{CacheError, CacheKey, CompileCache};
use crate::classify::{exports_http_handler, WasmKind};
use crate::compile::{compile_in_child, precompile, CompileError, CompileLimits};
use crate::serve::{Outgoing, ProxyState, ServeSettings};
use crate::wasi::WasiPlan;
pub use link::ComponentState;
use link::{invalid, invalid_reason, kind_name, link_component, link_module, link_proxy, one_line};

pub const EXIT_TRAP: i32 = 134;
pub const EXIT_FAILURE: i32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot configure the wasmtime engine: {0}")]
    Config(String),
    #[error("compiling Wasm {kind} {path} {reason}")]
    CompileLimit {
        kind: &'static str,
        path: String,
        reason: String,
    },
    #[error("invalid Wasm {kind} {path}: {reason}")]
    Invalid {
        kind: &'static str,
        path: String,
        reason: String,
    },
    #[error("Wasm {kind} {path} cannot be linked: {reason}")]
    Link {
        kind: &'static str,
        path: String,
        reason: String,
    },
}

/// The engine and its compile cache: built once per process.
pub struct WasmEngine {
    engine: Engine,
    /// Names this engine's configuration: its cache directory, and the precompiled layers
    /// (`runwasm image build --precompile`) it can load.
    engine_hash: String,
    cache: Option<CompileCache>,
    /// An artifact compiled ahead of time for the next `prepare` (see [`Self::seed`]).
    seed: Option<PrecompiledSeed>,
    /// When set, modules are compiled in a child process under these limits.
    compile_limits: Option<CompileLimits>,
    /// How an HTTP component is served; the engine's instance pool is sized from it.
    serve: ServeSettings,
}

impl WasmEngine {
    /// Builds the engine; with `cache_base` compiled code is shared through that directory.
    /// A cache that cannot be opened is reported and skipped: it costs speed, not correctness.
    pub fn new(cache_base: Option<&Path>) -> Result<Self, EngineError> {
        Self::with_config(base_config(), cache_base, ServeSettings::default())
    }

    fn with_config(
        config: Config,
        cache_base: Option<&Path>,
        serve: ServeSettings,
    ) -> Result<Self, EngineError> {
        let engine = Engine::new(&config).map_err(|e| EngineError::Config(format!("{e:#}")))?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_hash = format!("{:016x}", hasher.finish());
        let cache = cache_base.and_then(|base| {
            CompileCache::open(base, &engine_hash, crate::limits::max_cache_bytes())
                .map_err(|e: CacheError| tracing::warn!("compile cache disabled: {e}"))
                .ok()
        });
        Ok(Self {
            engine,
            engine_hash,
            cache,
            seed: None,
            compile_limits: None,
            serve,
        })
    }

    /// The engine configuration's name, as precompiled layers record it.
    pub fn engine_hash(&self) -> &str {
        &self.engine_hash
    }

    /// The native artifact of `bytes` for this engine (`runwasm image build --precompile`).
    pub fn compile_artifact(&self, bytes: &[u8], name: &str) -> Result<Vec<u8>, EngineError> {
        self.compile(bytes, WasmKind::of(bytes), name)
    }

    /// Offers an artifact compiled ahead of time (an image's precompiled layer, trusted by
    /// the operator) for the next `prepare`: on a cache miss it is stored in the cache
    /// instead of compiling. One of another engine configuration is ignored; one wasmtime
    /// rejects is evicted and the module compiled.
    pub fn seed(&mut self, seed: PrecompiledSeed) {
        if seed.engine == self.engine_hash {
            self.seed = Some(seed);
        } else {
            tracing::info!(
                layer = %seed.engine,
                ours = %self.engine_hash,
                "precompiled layer is for another engine configuration; compiling"
            );
        }
    }

    /// How a `wasi:http` component ([`exports_http_handler`]) prepared by this engine will
    /// be served.
    pub fn serve_with(&mut self, settings: ServeSettings) {
        self.serve = settings;
    }

    /// Compiles in a child process bounded by `limits`, so that a huge module or a compile
    /// bomb fails this one preparation, not the host.
    pub fn isolate_compiles(&mut self, limits: CompileLimits) {
        self.compile_limits = Some(limits);
    }

    pub fn cache(&self) -> Option<&CompileCache> {
        self.cache.as_ref()
    }

    /// Compiles (or loads from the cache) and links `bytes`; `name` appears in errors.
    pub fn prepare(&self, bytes: &[u8], name: &str) -> Result<PreparedWasm, EngineError> {
        let kind = WasmKind::of(bytes);
        let (program, artifact) = match kind {
            WasmKind::Module => {
                let (module, artifact): (Module, _) = self.load(bytes, kind, name)?;
                let pre = link_module(&self.engine, &module, name)?;
                (Program::Module(pre), artifact)
            }
            WasmKind::Component if exports_http_handler(bytes) => {
                let (component, artifact): (Component, _) = self.load(bytes, kind, name)?;
                let pre = link_proxy(&self.engine, &component, name)?;
                (Program::Proxy(pre, self.serve.clone()), artifact)
            }
            WasmKind::Component => {
                let (component, artifact): (Component, _) = self.load(bytes, kind, name)?;
                let pre = link_component(&self.engine, &component, name)?;
                (Program::Component(pre), artifact)
            }
        };
        Ok(PreparedWasm {
            engine: self.engine.clone(),
            program,
            artifact: artifact.as_ref().and_then(FileId::of),
        })
    }

    /// A cache hit is memory-mapped; a miss compiles and stores the artifact. Compilation
    /// errors are reported as an invalid module and never cached. Returns the program and
    /// the artifact file it maps, if any.
    fn load<T: Precompile>(
        &self,
        bytes: &[u8],
        kind: WasmKind,
        name: &str,
    ) -> Result<(T, Option<File>), EngineError> {
        let key = CacheKey::new(bytes, kind);
        if let Some(cache) = &self.cache {
            // maps a stored artifact; one wasmtime rejects is evicted and the module compiled
            let map = |file: File, what: &str| match T::deserialize_verified(&self.engine, &file) {
                Ok(loaded) => {
                    tracing::debug!("{what} mapped");
                    Some((loaded, Some(file)))
                }
                Err(e) => {
                    tracing::warn!("{what} rejected: {e:#}; compiling");
                    cache.evict(&key);
                    None
                }
            };
            if let Some(hit) = cache.lookup(&key).and_then(|f| map(f, "cache entry")) {
                return Ok(hit);
            }
            // on a miss, a trusted precompiled layer is stored in place of a compile
            let seeded = self
                .seed
                .as_ref()
                .and_then(|seed| cache.store(&key, &seed.artifact).ok());
            if let Some(loaded) = seeded.and_then(|f| map(f, "precompiled layer")) {
                return Ok(loaded);
            }
        }
        let artifact = self.compile(bytes, kind, name)?;
        // map the stored copy so every container shares the same page-cache pages
        if let Some(stored) = self.store(&key, &artifact) {
            match T::deserialize_verified(&self.engine, &stored) {
                Ok(mapped) => return Ok((mapped, Some(stored))),
                Err(e) => tracing::warn!("cannot map new artifact: {e:#}"),
            }
        }
        // SAFETY: the artifact was just produced by this engine's compiler.
        let compiled = unsafe { T::deserialize_bytes(&self.engine, &artifact) }
            .map_err(|e| invalid(kind, name, bytes, e))?;
        Ok((compiled, None))
    }

    /// The serialized artifact of `bytes`: compiled in a bounded child when limits were
    /// asked for, here otherwise. A compile error is reported as an invalid module.
    fn compile(&self, bytes: &[u8], kind: WasmKind, name: &str) -> Result<Vec<u8>, EngineError> {
        let Some(limits) = &self.compile_limits else {
            return precompile(&self.engine, bytes, kind)
                .map_err(|e| invalid(kind, name, bytes, e));
        };
        compile_in_child(&self.engine, bytes, kind, limits).map_err(|e| match e {
            CompileError::Invalid(reason) => invalid_reason(kind, name, bytes, reason),
            other => EngineError::CompileLimit {
                kind: kind_name(kind),
                path: name.to_string(),
                reason: other.to_string(),
            },
        })
    }

    /// Stores an artifact; a full disk or an unwritable cache only costs the next start.
    fn store(&self, key: &CacheKey, artifact: &[u8]) -> Option<File> {
        let cache = self.cache.as_ref()?;
        cache
            .store(key, artifact)
            .map_err(|e| tracing::warn!("cannot store compiled module, running uncached: {e}"))
            .ok()
    }
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    config
}

/// An artifact compiled ahead of time, and the engine configuration it names.
#[derive(Clone)]
pub struct PrecompiledSeed {
    pub engine: String,
    pub artifact: Vec<u8>,
}

/// What the cache needs from a compiled module or component.
trait Precompile: Sized {
    /// Maps an artifact file that [`CompileCache::lookup`] verified or that we just stored.
    fn deserialize_verified(engine: &Engine, file: &File) -> wasmtime::Result<Self>;
    /// Loads an artifact this engine's compiler just produced.
    unsafe fn deserialize_bytes(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Self>;
}

/// The open file as a path that reopens the same inode (never the name in the cache).
fn fd_path(file: &File) -> String {
    format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(file))
}

impl Precompile for Module {
    fn deserialize_verified(engine: &Engine, file: &File) -> wasmtime::Result<Self> {
        // SAFETY: the file is the one whose digest matched (or that we just wrote), in our
        // own cache that only we may write.
        unsafe { Module::deserialize_open_file(engine, file.try_clone()?) }
    }
    unsafe fn deserialize_bytes(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's contract.
        unsafe { Module::deserialize(engine, artifact) }
    }
}

impl Precompile for Component {
    fn deserialize_verified(engine: &Engine, file: &File) -> wasmtime::Result<Self> {
        // SAFETY: as for modules; components take a path, so the verified fd is reopened.
        unsafe { Component::deserialize_file(engine, fd_path(file)) }
    }
    unsafe fn deserialize_bytes(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's contract.
        unsafe { Component::deserialize(engine, artifact) }
    }
}

enum Program {
    Module(InstancePre<WasiP1Ctx>),
    Component(CommandPre<ComponentState>),
    Proxy(ProxyPre<ProxyState>, ServeSettings),
}

/// A file by device and inode: what stays the same file after pivot_root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(file: &File) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata().ok()?;
        Some(Self {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

/// A compiled and linked Wasm program, ready to be instantiated.
#[derive(Clone)]
pub struct PreparedWasm {
    engine: Engine,
    program: Program,
    /// The cached artifact the program is mapped from: wasmtime keeps it open to map
    /// linear-memory images copy-on-write, so the container process must not close it.
    artifact: Option<FileId>,
}

impl Clone for Program {
    fn clone(&self) -> Self {
        match self {
            Self::Module(pre) => Self::Module(pre.clone()),
            Self::Component(pre) => Self::Component(pre.clone()),
            Self::Proxy(pre, settings) => Self::Proxy(pre.clone(), settings.clone()),
        }
    }
}

impl PreparedWasm {
    pub fn artifact(&self) -> Option<FileId> {
        self.artifact
    }

    pub fn kind(&self) -> WasmKind {
        match self.program {
            Program::Module(_) => WasmKind::Module,
            Program::Component(_) | Program::Proxy(..) => WasmKind::Component,
        }
    }

    /// Whether this program is an HTTP server, which handles SIGTERM itself (a drain).
    pub fn serves_http(&self) -> bool {
        matches!(self.program, Program::Proxy(..))
    }

    /// Finishes, in the process that will run the program, what only that process can do:
    /// a server's engine, whose instance pool resets memory by reading this process's own
    /// page map (`/proc/self/pagemap`, opened here, so before the process confines itself),
    /// and whether its network namespace has a network for outgoing requests.
    /// The component is moved to it from the engine that compiled and checked it. Returns
    /// the descriptors opened for it, which must stay open.
    pub fn prepare_in_container(&mut self) -> Result<Vec<std::os::fd::RawFd>, EngineError> {
        let Program::Proxy(pre, settings) = &self.program else {
            return Ok(Vec::new());
        };
        let mut config = base_config();
        config.allocation_strategy(crate::serve::allocation(settings));
        let engine = Engine::new(&config).map_err(|e| EngineError::Config(one_line(&e)))?;
        let name = "the wasi:http component";
        let artifact = pre
            .instance_pre()
            .component()
            .serialize()
            .map_err(|e| EngineError::Config(one_line(&e)))?;
        // SAFETY: the artifact was produced by this same wasmtime with the same compiler
        // settings, from a component that was just deserialized or compiled.
        let component = unsafe { Component::deserialize(&engine, &artifact) }
            .map_err(|e| invalid(WasmKind::Component, name, &artifact, e))?;
        let pre = link_proxy(&engine, &component, name)?;
        let settings = ServeSettings {
            outgoing: Outgoing::of_this_network(),
            ..settings.clone()
        };
        self.program = Program::Proxy(pre, settings);
        self.engine = engine;
        Ok(crate::serve::pagemap_fds())
    }

    /// Instantiates the program with the WASI context of `plan`, runs it to completion and
    /// returns the process exit status (see the module docs for the mapping).
    ///
    /// WASI's host side is async: driving it from our own current-thread runtime keeps the
    /// container process at one thread (sync WASI starts a multi-thread tokio runtime with a
    /// worker per CPU).
    pub fn run(&self, plan: &WasiPlan) -> i32 {
        if let Program::Proxy(pre, settings) = &self.program {
            return crate::serve::serve(pre.clone(), plan, settings);
        }
        let outcome = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(wasmtime::Error::from)
            .and_then(|runtime| runtime.block_on(self.run_async(plan)));
        exit_status(outcome)
    }

    async fn run_async(&self, plan: &WasiPlan) -> wasmtime::Result<()> {
        let mut builder = plan.builder()?;
        match &self.program {
            Program::Module(pre) => {
                let mut store = Store::new(&self.engine, builder.build_p1());
                let instance = pre.instantiate_async(&mut store).await?;
                let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
                start.call_async(&mut store, ()).await
            }
            Program::Component(pre) => {
                let state = ComponentState {
                    ctx: builder.build(),
                    table: ResourceTable::new(),
                };
                let mut store = Store::new(&self.engine, state);
                let command = pre.instantiate_async(&mut store).await?;
                command
                    .wasi_cli_run()
                    .call_run(&mut store)
                    .await?
                    .map_err(|()| wasmtime::Error::msg(ComponentFailed))
            }
            Program::Proxy(..) => unreachable!("served by run"),
        }
    }
}

/// A component whose `run` returned `Err`: the guest already said why.
#[derive(Debug)]
struct ComponentFailed;

impl std::fmt::Display for ComponentFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("wasi:cli/run returned an error")
    }
}

impl std::error::Error for ComponentFailed {}

/// Maps the outcome of a run to a process exit status, printing the reason of a failure.
pub fn exit_status(outcome: wasmtime::Result<()>) -> i32 {
    let err = match outcome {
        Ok(()) => return 0,
        Err(err) => err,
    };
    if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return exit.0;
    }
    if err.downcast_ref::<ComponentFailed>().is_some() {
        return EXIT_FAILURE;
    }
    if let Some(trap) = err.downcast_ref::<wasmtime::Trap>() {
        // its text starts with "wasm trap: "
        eprintln!("runwasm: {trap}");
        return EXIT_TRAP;
    }
    eprintln!("runwasm: {}", one_line(&err));
    EXIT_FAILURE
}

#[cfg(test)]
mod tests;
