//! Serving a component that exports `wasi:http/incoming-handler` (the `wasi:http/proxy`
//! world): the container's init process listens in the container's network namespace and
//! gives every request a fresh instance, as the world intends.
//!
//! Instances are cheap because everything that can be done once is: the component is
//! compiled once (the compile cache) and linked once (`ProxyPre`); instances come from the
//! pooling allocator, whose linear memories start as copy-on-write mappings of the
//! compiled image.

mod access_log;
mod response;
mod server;
pub mod settings;

use std::future::Future;

use wasmtime::component::ResourceTable;
use wasmtime::{InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

pub use server::serve;
pub use settings::{Outgoing, ServeSettings, SettingError};

/// Core instances, memories and tables a typical component needs per instance of itself
/// (its module, the WASI adapter's, shims): the pool holds this many per request slot.
const CORE_INSTANCES_PER_REQUEST: u32 = 16;
const MEMORIES_PER_REQUEST: u32 = 2;
const TABLES_PER_REQUEST: u32 = 4;
/// An instance's linear memory may grow to the container's limit, or to this without one.
const DEFAULT_MEMORY_MAX: u64 = 4 << 30;
/// Linear memory and table bytes reset in place when an instance ends, rather than dropped
/// with `madvise`: a handler dirties a few pages, and faulting them in again for the next
/// request (and flushing the other workers' TLBs) costs more. With `PAGEMAP_SCAN` (Linux
/// 6.7) only the dirty pages of the range are reset; without it the whole range is cleared,
/// so it stays small.
const KEEP_RESIDENT_SCANNED: usize = 2 << 20;
const KEEP_RESIDENT_CLEARED: usize = 64 << 10;

/// The instance allocation of a serving engine: one slot per request that may be in flight.
/// Called in the process that serves: it opens that process's page map.
pub fn allocation(settings: &ServeSettings) -> InstanceAllocationStrategy {
    let slots = settings.max_concurrency;
    let memory_max = settings
        .memory_limit
        .unwrap_or(DEFAULT_MEMORY_MAX)
        .min(DEFAULT_MEMORY_MAX);
    let keep_resident = if PoolingAllocationConfig::is_pagemap_scan_available() {
        KEEP_RESIDENT_SCANNED
    } else {
        KEEP_RESIDENT_CLEARED
    };
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots)
        .total_core_instances(slots * CORE_INSTANCES_PER_REQUEST)
        .total_memories(slots * MEMORIES_PER_REQUEST)
        .total_tables(slots * TABLES_PER_REQUEST)
        .total_stacks(slots)
        .total_gc_heaps(slots)
        .max_memory_size(memory_max as usize)
        .linear_memory_keep_resident(keep_resident)
        .table_keep_resident(keep_resident)
        .pagemap_scan(wasmtime::Enabled::Auto);
    InstanceAllocationStrategy::Pooling(pool)
}

/// The descriptors of this process's page map that wasmtime holds open (see
/// [`crate::PreparedWasm::prepare_in_container`]).
pub fn pagemap_fds() -> Vec<std::os::fd::RawFd> {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            target
                .ends_with("pagemap")
                .then(|| entry.file_name().to_str()?.parse().ok())?
        })
        .collect()
}

/// Whether the component imports `wasi:filesystem/preopens`, its only way to its preopens.
fn imports_preopens(pre: &ProxyPre<ProxyState>) -> bool {
    let component = pre.instance_pre().component();
    component
        .component_type()
        .imports(component.engine())
        .any(|(name, _)| name.starts_with("wasi:filesystem/preopens@"))
}

/// Store data of one request's instance.
pub struct ProxyState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    outgoing: OutgoingPolicy,
}

impl ProxyState {
    fn new(wasi: WasiCtx, outgoing: Outgoing) -> Self {
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            outgoing: OutgoingPolicy(outgoing),
        }
    }
}

impl WasiView for ProxyState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ProxyState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outgoing,
        }
    }
}

/// Sends outgoing requests from the container's network namespace, or refuses them all.
struct OutgoingPolicy(Outgoing);

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutgoingPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _response_errors: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        let outgoing = self.0;
        Box::new(async move {
            use http_body_util::BodyExt;
            if outgoing == Outgoing::Denied {
                return Err(wasmtime_wasi_http::Error::HttpRequestDenied);
            }
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
