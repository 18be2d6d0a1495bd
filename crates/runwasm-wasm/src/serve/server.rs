//! The HTTP server of a `wasi:http` container: listening, connections (HTTP/1.1 with
//! keep-alive, HTTP/2 cleartext), admission, one instance per request, graceful shutdown.
//!
//! Exit status: 0 after SIGTERM/SIGINT once every accepted request is answered; 1 when the
//! grace period ran out first or the address cannot be bound.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore, TryAcquireError};
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

use super::access_log::AccessLog;
use super::response::{
    futures_now, internal_error, overloaded, whole, InFlight, InFlightCount, Tracked,
};
use super::{ProxyState, ServeSettings};
use crate::wasi::WasiPlan;

const EXIT_DRAINED: i32 = 0;
const EXIT_FAILED: i32 = 1;
/// Pending connections the kernel holds for us while every worker is busy.
const LISTEN_BACKLOG: u32 = 1024;
/// After a failed accept (out of descriptors, say), wait before the next, rather than spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
/// Once no request is in flight at shutdown, how long connections get to write their last
/// bytes before the server exits.
const FLUSH_GRACE: Duration = Duration::from_millis(200);

/// Serves `pre` until SIGTERM or SIGINT, then drains; returns the process exit status.
pub fn serve(pre: ProxyPre<ProxyState>, plan: &WasiPlan, settings: &ServeSettings) -> i32 {
    // one per CPU this process may use (its cgroup's CPU quota counts)
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("wasi-http")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("runwasm: cannot start the HTTP server's runtime: {e}");
            return EXIT_FAILED;
        }
    };
    let plan = plan.for_each_request(super::imports_preopens(&pre));
    crate::startup_code::release();
    let server = Server {
        pre,
        plan,
        settings: settings.clone(),
        slots: Arc::new(Semaphore::new(settings.max_concurrency as usize)),
        in_flight: InFlightCount::default(),
        log: None,
    };
    runtime.block_on(server.run())
}

struct Server {
    pre: ProxyPre<ProxyState>,
    plan: WasiPlan,
    settings: ServeSettings,
    /// One permit per instance that may exist at once; held until the instance's store is gone.
    slots: Arc<Semaphore>,
    in_flight: InFlightCount,
    log: Option<AccessLog>,
}

impl Server {
    async fn run(mut self) -> i32 {
        // first, so that a SIGTERM from now on drains instead of being lost
        let (mut term, mut int) = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => (term, int),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("runwasm: cannot handle SIGTERM/SIGINT: {e}");
                return EXIT_FAILED;
            }
        };
        let listener = match listen(self.settings.address) {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("runwasm: cannot listen on {}: {e}", self.settings.address);
                return EXIT_FAILED;
            }
        };
        if self.settings.access_log {
            match AccessLog::start() {
                Ok(log) => self.log = Some(log),
                Err(e) => eprintln!("runwasm: access log disabled: {e}"),
            }
        }
        eprintln!(
            "runwasm: serving wasi:http on http://{}",
            self.settings.address
        );
        let server = Arc::new(self);
        let connections = GracefulShutdown::new();
        let http = auto::Builder::new(TokioExecutor::new());
        let stop = loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => {
                        // a streamed body goes out in several writes: Nagle would hold them back
                        let _ = stream.set_nodelay(true);
                        let handler = server.clone();
                        let service = hyper::service::service_fn(move |req| {
                            let handler = handler.clone();
                            async move { Ok::<_, Infallible>(handler.handle(req).await) }
                        });
                        let connection = http.serve_connection(TokioIo::new(stream), service).into_owned();
                        let connection = connections.watch(connection);
                        tokio::spawn(async move {
                            if let Err(e) = connection.await {
                                tracing::debug!("connection ended: {e}");
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
                _ = term.recv() => break "SIGTERM",
                _ = int.recv() => break "SIGINT",
            }
        };
        drop(listener);
        server.drain(stop, connections).await
    }

    /// Lets every request received finish, its instance and its response body included,
    /// within the grace period. Idle keep-alive connections close at once; a connection that
    /// has sent no whole request yet does not hold the exit.
    async fn drain(&self, stop: &str, connections: GracefulShutdown) -> i32 {
        let in_flight = self.in_flight.get();
        let noun = if in_flight == 1 {
            "request"
        } else {
            "requests"
        };
        eprintln!("runwasm: {stop}: stop accepting, {in_flight} {noun} in flight");
        let finished = async {
            let closed = connections.shutdown();
            tokio::pin!(closed);
            tokio::select! {
                _ = &mut closed => {}
                _ = self.in_flight.none_left() => {
                    // the last responses are written; let their connections flush and close
                    let _ = tokio::time::timeout(FLUSH_GRACE, closed).await;
                }
            }
            let _ = self.slots.acquire_many(self.settings.max_concurrency).await;
        };
        let drained = tokio::time::timeout(self.settings.grace_period, finished)
            .await
            .is_ok();
        if let Some(log) = &self.log {
            log.flush();
        }
        if drained {
            eprintln!("runwasm: stopped");
            EXIT_DRAINED
        } else {
            eprintln!(
                "runwasm: stopped: requests still running after the grace period of {}s",
                self.settings.grace_period.as_secs()
            );
            EXIT_FAILED
        }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<HyperOutgoingBody> {
        let arrived = Instant::now();
        let request = self.in_flight.enter();
        // both are reference-counted, not copied: the log and the error reports name the request
        let name = RequestName {
            method: req.method().clone(),
            uri: req.uri().clone(),
        };
        let response = match self.admit().await {
            None => overloaded(),
            Some(slot) => match self.call_guest(req, slot, request, &name).await {
                Ok(response) => response,
                Err(()) => internal_error(),
            },
        };
        if let Some(log) = &self.log {
            log.record(
                name.method.as_str(),
                name.target(),
                response.status().as_u16(),
                arrived.elapsed(),
            );
        }
        response
    }

    /// A slot for one more instance: at once, or within the queue timeout, or none (503).
    async fn admit(&self) -> Option<OwnedSemaphorePermit> {
        match self.slots.clone().try_acquire_owned() {
            Ok(slot) => Some(slot),
            Err(TryAcquireError::Closed) => None,
            Err(TryAcquireError::NoPermits) => tokio::time::timeout(
                self.settings.queue_timeout,
                self.slots.clone().acquire_owned(),
            )
            .await
            .ok()?
            .ok(),
        }
    }

    /// Runs the handler in a fresh instance, on this connection's task until the handler
    /// sets its response. A handler that has also finished its body by then (the common
    /// case) is answered with the whole body and a `content-length`, in one write; one that
    /// is still writing goes on in a task of its own and its body is streamed. Failures are
    /// reported on stderr, naming the request, and answered with a 500 when no head was sent.
    async fn call_guest(
        &self,
        req: Request<Incoming>,
        slot: OwnedSemaphorePermit,
        request: InFlight,
        name: &RequestName,
    ) -> Result<Response<HyperOutgoingBody>, ()> {
        let fail = |reason: String| eprintln!("runwasm: {name}: {reason}");
        let wasi = match self.plan.builder() {
            Ok(mut builder) => builder.build(),
            Err(e) => {
                fail(format!("cannot build the WASI context: {e:#}"));
                return Err(());
            }
        };
        let mut store = Store::new(
            self.pre.engine(),
            ProxyState::new(wasi, self.settings.outgoing),
        );
        let (respond, mut head) = oneshot::channel();
        let resources = (|| {
            let mut http = store.data_mut().http();
            let req = http.new_incoming_request(Scheme::Http, req)?;
            let out = http.new_response_outparam(respond)?;
            wasmtime::Result::<_>::Ok((req, out))
        })();
        let (req, out) = match resources {
            Ok(resources) => resources,
            Err(e) => {
                fail(format!("{e:#}"));
                return Err(());
            }
        };
        let pre = self.pre.clone();
        let name = name.clone();
        let mut instance = Box::pin(async move {
            // the slot is held until this store is dropped, when the instance ends
            let _slot = slot;
            let outcome = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, req, out)
                    .await
            }
            .await;
            if let Err(e) = &outcome {
                eprintln!("runwasm: {name}: {}", describe(e));
            }
            outcome.is_ok()
        });
        let mut set_head = None;
        let mut finished = tokio::select! {
            biased;
            sent = &mut head => {
                set_head = Some(sent.map_err(drop));
                None
            }
            ok = &mut instance => Some(ok),
        };
        let head = set_head.unwrap_or_else(|| head.try_recv().map_err(drop));
        if finished.is_none() && head.is_ok() {
            // give the handler the chance to finish its body without waiting for I/O
            finished = futures_now(&mut instance);
        }
        match (head, finished) {
            (Ok(Ok(response)), Some(_)) => Ok(whole(response, request)),
            (Ok(Ok(response)), None) => {
                tokio::spawn(instance);
                Ok(response.map(|body| Tracked::new(body, request).boxed_unsync()))
            }
            (Ok(Err(code)), _) => {
                fail(format!("the handler answered with the error {code:?}"));
                Err(())
            }
            // the outparam was dropped unset: the instance failed (reported) or returned early
            (Err(_), finished) => {
                let returned = match finished {
                    Some(ok) => ok,
                    None => instance.await,
                };
                if returned {
                    fail("the handler returned without setting a response".into());
                }
                Err(())
            }
        }
    }
}

/// The method and target of a request, for its log line and its error reports.
#[derive(Clone)]
struct RequestName {
    method: Method,
    uri: Uri,
}

impl RequestName {
    fn target(&self) -> &str {
        self.uri
            .path_and_query()
            .map_or_else(|| self.uri.path(), |target| target.as_str())
    }
}

impl std::fmt::Display for RequestName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.target())
    }
}

fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // a restarted container binds again while the old connections are in TIME_WAIT
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

fn describe(err: &wasmtime::Error) -> String {
    match err.downcast_ref::<wasmtime::Trap>() {
        // its text starts with "wasm trap: "
        Some(trap) => trap.to_string(),
        None => format!("{err:#}").replace('\n', " "),
    }
}
