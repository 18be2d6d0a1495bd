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

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::component::{Component, ResourceTable};
use wasmtime::{Config, Engine, InstancePre, Linker, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::cache::{CacheError, CacheKey, CompileCache};
use crate::classify::WasmKind;
use crate::wasi::WasiPlan;

pub const EXIT_TRAP: i32 = 134;
pub const EXIT_FAILURE: i32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot configure the wasmtime engine: {0}")]
    Config(String),
    #[error("cannot read Wasm module {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
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
    cache: Option<CompileCache>,
}

impl WasmEngine {
    /// Builds the engine; with `cache_base` compiled code is shared through that directory.
    /// A cache that cannot be opened is reported and skipped: it costs speed, not correctness.
    pub fn new(cache_base: Option<&Path>) -> Result<Self, EngineError> {
        let mut config = Config::new();
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&config).map_err(|e| EngineError::Config(format!("{e:#}")))?;
        let cache = cache_base.and_then(|base| {
            let mut hasher = DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut hasher);
            let engine_hash = format!("{:016x}", hasher.finish());
            CompileCache::open(base, &engine_hash)
                .map_err(|e: CacheError| tracing::warn!("compile cache disabled: {e}"))
                .ok()
        });
        Ok(Self { engine, cache })
    }

    pub fn cache(&self) -> Option<&CompileCache> {
        self.cache.as_ref()
    }

    /// Reads, compiles (or loads from the cache) and links the Wasm file at `path`; errors
    /// call it `name` (its path inside the container).
    pub fn prepare_file(&self, path: &Path, name: &str) -> Result<PreparedWasm, EngineError> {
        let bytes = std::fs::read(path).map_err(|source| EngineError::Read {
            path: name.into(),
            source,
        })?;
        self.prepare(&bytes, name)
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
            WasmKind::Component => {
                let (component, artifact): (Component, _) = self.load(bytes, kind, name)?;
                let pre = link_component(&self.engine, &component, name)?;
                (Program::Component(pre), artifact)
            }
        };
        Ok(PreparedWasm {
            engine: self.engine.clone(),
            program,
            artifact: artifact.and_then(|path| FileId::of(&path)),
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
    ) -> Result<(T, Option<PathBuf>), EngineError> {
        let Some(cache) = &self.cache else {
            let compiled = T::compile(&self.engine, bytes).map_err(|e| invalid(kind, name, e))?;
            return Ok((compiled, None));
        };
        let key = CacheKey::new(bytes, kind);
        if let Some(path) = cache.lookup(&key) {
            match T::deserialize_verified(&self.engine, &path) {
                Ok(loaded) => {
                    tracing::debug!(artifact = %path.display(), "compile cache hit");
                    return Ok((loaded, Some(path)));
                }
                Err(e) => {
                    tracing::warn!("stale cache entry {}: {e:#}; recompiling", path.display());
                    cache.evict(&key);
                }
            }
        }
        let compiled = T::compile(&self.engine, bytes).map_err(|e| invalid(kind, name, e))?;
        match compiled.serialize() {
            Ok(artifact) => match cache.store(&key, &artifact) {
                // map the stored copy so every container shares the same page-cache pages
                Ok(path) => match T::deserialize_verified(&self.engine, &path) {
                    Ok(mapped) => return Ok((mapped, Some(path))),
                    Err(e) => tracing::warn!("cannot map new artifact {}: {e:#}", path.display()),
                },
                Err(e) => tracing::warn!("cannot store compiled module: {e}"),
            },
            Err(e) => tracing::warn!("cannot serialize compiled module: {e:#}"),
        }
        Ok((compiled, None))
    }
}

/// What the cache needs from a compiled module or component.
trait Precompile: Sized {
    fn compile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self>;
    fn serialize(&self) -> wasmtime::Result<Vec<u8>>;
    /// Maps an artifact that [`CompileCache::lookup`] verified or that we just stored.
    fn deserialize_verified(engine: &Engine, path: &Path) -> wasmtime::Result<Self>;
}

impl Precompile for Module {
    fn compile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        Module::new(engine, bytes)
    }
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        Module::serialize(self)
    }
    fn deserialize_verified(engine: &Engine, path: &Path) -> wasmtime::Result<Self> {
        // SAFETY: the artifact comes from our own root-owned cache and its digest matched
        // the one written with it (or we wrote it a moment ago).
        unsafe { Module::deserialize_file(engine, path) }
    }
}

impl Precompile for Component {
    fn compile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        Component::new(engine, bytes)
    }
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        Component::serialize(self)
    }
    fn deserialize_verified(engine: &Engine, path: &Path) -> wasmtime::Result<Self> {
        // SAFETY: as for modules, a verified artifact of our own cache.
        unsafe { Component::deserialize_file(engine, path) }
    }
}

fn kind_name(kind: WasmKind) -> &'static str {
    match kind {
        WasmKind::Module => "module",
        WasmKind::Component => "component",
    }
}

fn invalid(kind: WasmKind, name: &str, err: wasmtime::Error) -> EngineError {
    EngineError::Invalid {
        kind: kind_name(kind),
        path: name.to_string(),
        reason: one_line(&err),
    }
}

fn link_error(kind: WasmKind, name: &str, reason: String) -> EngineError {
    EngineError::Link {
        kind: kind_name(kind),
        path: name.to_string(),
        reason,
    }
}

fn one_line(err: &wasmtime::Error) -> String {
    format!("{err:#}").replace('\n', " ")
}

fn link_module(
    engine: &Engine,
    module: &Module,
    name: &str,
) -> Result<InstancePre<WasiP1Ctx>, EngineError> {
    if module.get_export("_start").is_none() {
        return Err(link_error(
            WasmKind::Module,
            name,
            "it exports no `_start` function, so it is not a WASI command".into(),
        ));
    }
    let mut linker: Linker<WasiP1Ctx> = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |ctx| ctx)
        .map_err(|e| EngineError::Config(one_line(&e)))?;
    linker
        .instantiate_pre(module)
        .map_err(|e| link_error(WasmKind::Module, name, one_line(&e)))
}

fn link_component(
    engine: &Engine,
    component: &Component,
    name: &str,
) -> Result<CommandPre<ComponentState>, EngineError> {
    let mut linker = wasmtime::component::Linker::<ComponentState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(|e| EngineError::Config(one_line(&e)))?;
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| link_error(WasmKind::Component, name, one_line(&e)))?;
    CommandPre::new(pre).map_err(|e| {
        link_error(
            WasmKind::Component,
            name,
            format!("it does not export wasi:cli/run: {}", one_line(&e)),
        )
    })
}

/// Store data of a preview 2 component.
pub struct ComponentState {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

enum Program {
    Module(InstancePre<WasiP1Ctx>),
    Component(CommandPre<ComponentState>),
}

/// A file by device and inode: what stays the same file after pivot_root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
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
            Program::Component(_) => WasmKind::Component,
        }
    }

    /// Instantiates the program with the WASI context of `plan`, runs it to completion and
    /// returns the process exit status (see the module docs for the mapping).
    ///
    /// WASI's host side is async: driving it from our own current-thread runtime keeps the
    /// container process at one thread (sync WASI starts a multi-thread tokio runtime with a
    /// worker per CPU).
    pub fn run(&self, plan: &WasiPlan) -> i32 {
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
        eprintln!("runwasm: wasm trap: {trap}");
        return EXIT_TRAP;
    }
    eprintln!("runwasm: {}", one_line(&err));
    EXIT_FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const EXIT_42: &str = r#"(module
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func (export "_start") (call $exit (i32.const 42))))"#;
    const RETURNS: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;
    const TRAPS: &str =
        r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#;
    const REACTOR: &str =
        r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0))"#;
    const UNKNOWN_IMPORT: &str = r#"(module (import "env" "magic" (func))
        (memory (export "memory") 1) (func (export "_start")))"#;

    fn plan() -> WasiPlan {
        WasiPlan {
            args: vec!["test.wasm".into()],
            env: vec![],
            preopens: vec![],
        }
    }

    fn engine_without_cache() -> WasmEngine {
        WasmEngine::new(None).unwrap()
    }

    #[test]
    fn exit_codes_follow_the_documented_mapping() {
        let engine = engine_without_cache();
        let run = |wat: &str| engine.prepare(wat.as_bytes(), "t").unwrap().run(&plan());
        assert_eq!(run(RETURNS), 0);
        assert_eq!(run(EXIT_42), 42);
        assert_eq!(run(TRAPS), EXIT_TRAP);
    }

    #[test]
    fn bad_modules_are_refused_before_running() {
        let engine = engine_without_cache();
        let err = engine
            .prepare(b"\0asm\x01\0\0\0\xff\xff", "/bad.wasm")
            .err()
            .unwrap();
        assert!(matches!(err, EngineError::Invalid { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("invalid Wasm module /bad.wasm:"),
            "{err}"
        );
        let err = engine.prepare(REACTOR.as_bytes(), "/r.wasm").err().unwrap();
        assert!(err.to_string().contains("not a WASI command"), "{err}");
        let err = engine
            .prepare(UNKNOWN_IMPORT.as_bytes(), "/i.wasm")
            .err()
            .unwrap();
        assert!(matches!(err, EngineError::Link { .. }), "{err}");
        assert!(err.to_string().contains("magic"), "{err}");
    }

    #[test]
    fn the_cache_is_filled_once_and_corrupt_entries_are_replaced() {
        let base = tempfile::tempdir().unwrap();
        std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let engine = WasmEngine::new(Some(base.path())).unwrap();
        let cache = engine.cache().expect("cache opens").clone();
        let key = CacheKey::new(EXIT_42.as_bytes(), WasmKind::Module);
        assert_eq!(
            engine
                .prepare(EXIT_42.as_bytes(), "t")
                .unwrap()
                .run(&plan()),
            42
        );
        let artifact = cache
            .lookup(&key)
            .expect("artifact stored after the first prepare");
        let stored = std::fs::metadata(&artifact).unwrap().modified().unwrap();
        // a hit maps the same file and does not rewrite it
        assert_eq!(
            engine
                .prepare(EXIT_42.as_bytes(), "t")
                .unwrap()
                .run(&plan()),
            42
        );
        assert_eq!(
            std::fs::metadata(&artifact).unwrap().modified().unwrap(),
            stored
        );
        // a corrupt entry is never trusted: it is compiled again and replaced
        std::fs::write(&artifact, b"garbage").unwrap();
        assert_eq!(
            engine
                .prepare(EXIT_42.as_bytes(), "t")
                .unwrap()
                .run(&plan()),
            42
        );
        assert!(
            cache.lookup(&key).is_some(),
            "entry rewritten after corruption"
        );
        assert_ne!(std::fs::read(&artifact).unwrap(), b"garbage");
    }
}
