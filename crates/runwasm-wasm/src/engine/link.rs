//! Linking a compiled module or component against WASI (and wasi:http), and the errors a
//! bad one gets: one line, naming the file and what is wrong with it.

use wasmtime::component::{Component, ResourceTable};
use wasmtime::{Engine, InstancePre, Linker, Module};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::EngineError;
use crate::classify::{is_wasm_binary, WasmKind};
use crate::serve::ProxyState;

pub(super) fn kind_name(kind: WasmKind) -> &'static str {
    match kind {
        WasmKind::Module => "module",
        WasmKind::Component => "component",
    }
}

pub(super) fn invalid(
    kind: WasmKind,
    name: &str,
    bytes: &[u8],
    err: wasmtime::Error,
) -> EngineError {
    invalid_reason(kind, name, bytes, one_line(&err))
}

/// The reason a module was refused. A text parse error quotes the offending line; when the
/// input is not a Wasm binary that line may be any file's content, so only the error's
/// first line and its position are kept.
pub(super) fn invalid_reason(
    kind: WasmKind,
    name: &str,
    bytes: &[u8],
    reason: String,
) -> EngineError {
    let reason = if is_wasm_binary(bytes) {
        reason
    } else {
        without_quoted_source(&reason)
    };
    EngineError::Invalid {
        kind: kind_name(kind),
        path: name.to_string(),
        reason,
    }
}

/// `expected `(` --> <anon>:1:1 | 1 | text | ^` becomes `expected `(` at <anon>:1:1 (not a
/// Wasm binary, and not valid WAT text)`.
fn without_quoted_source(reason: &str) -> String {
    let message = reason.split(" --> ").next().unwrap_or(reason).trim();
    let position = reason
        .split(" --> ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next());
    match position {
        Some(at) => format!("{message} at {at} (not a Wasm binary, and not valid WAT text)"),
        None => format!("{message} (not a Wasm binary, and not valid WAT text)"),
    }
}

fn link_error(kind: WasmKind, name: &str, reason: String) -> EngineError {
    EngineError::Link {
        kind: kind_name(kind),
        path: name.to_string(),
        reason,
    }
}

pub(super) fn one_line(err: &wasmtime::Error) -> String {
    format!("{err:#}").replace('\n', " ")
}

pub(super) fn link_module(
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

pub(super) fn link_component(
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

pub(super) fn link_proxy(
    engine: &Engine,
    component: &Component,
    name: &str,
) -> Result<ProxyPre<ProxyState>, EngineError> {
    let mut linker = wasmtime::component::Linker::<ProxyState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(|e| EngineError::Config(one_line(&e)))?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(|e| EngineError::Config(one_line(&e)))?;
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| link_error(WasmKind::Component, name, one_line(&e)))?;
    ProxyPre::new(pre).map_err(|e| {
        link_error(
            WasmKind::Component,
            name,
            format!(
                "its wasi:http/incoming-handler export is not the proxy world's: {}",
                one_line(&e)
            ),
        )
    })
}

/// Store data of a preview 2 component.
pub struct ComponentState {
    pub(super) ctx: WasiCtx,
    pub(super) table: ResourceTable,
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}
