//! `containerd-shim-runwasm-v1`: the containerd shim v2 of runwasm.
//! `ctr run --runtime io.containerd.runwasm.v1`, CRI `runtime_type = "io.containerd.runwasm.v1"`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{Config, DeleteResponse, ExitSignal, Flags, StartOpts};

use containerd_shim_runwasm::artifact::ContentStore;
use containerd_shim_runwasm::cli::RunwasmCli;
use containerd_shim_runwasm::events::{self, ContainerdEvents};
use containerd_shim_runwasm::ops::{self, Lifecycle, RunwasmOps};
use containerd_shim_runwasm::service::{self, TaskService};
use containerd_shim_runwasm::{bootstrap, logging};
use runwasm_container::Runtime;

/// Annotations that name a pod: its containers share one shim.
const POD_ANNOTATIONS: [&str; 2] = [
    "io.kubernetes.cri.sandbox-id",
    "io.kubernetes.cri-o.SandboxID",
];

struct Shim {
    exit: Arc<ExitSignal>,
    /// the events not yet delivered, waited for before the shim exits
    events: std::sync::OnceLock<events::Pending>,
    namespace: String,
    id: String,
    bundle: String,
    /// containerd's gRPC address: its content store holds OCI Wasm artifacts' modules
    address: String,
}

fn state_root(namespace: &str) -> PathBuf {
    PathBuf::from("/run/containerd/runwasm").join(namespace)
}

/// The pod of the container whose bundle is the current directory, or the container itself.
fn grouping(id: &str) -> String {
    let annotations = ops::bundle_spec(Path::new(".")).and_then(|spec| spec.annotations().clone());
    POD_ANNOTATIONS
        .iter()
        .find_map(|key| annotations.as_ref()?.get(*key).cloned())
        .unwrap_or_else(|| id.to_string())
}

/// containerd-shim installs signal-hook handlers for SIGCHLD and SIGPIPE before `start` and
/// closes their pipe when `start` returns, handlers still installed: a late SIGCHLD (the
/// spawned helper exiting) then writes into the closed pipe, whose SIGPIPE runs the handler
/// again, forever (seen once: a `start` spinning at 100% CPU). `start` needs neither signal.
fn quiet_start_signals() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: default and ignore dispositions run no code of ours in the handler.
    unsafe {
        let _ = signal(Signal::SIGCHLD, SigHandler::SigDfl);
        let _ = signal(Signal::SIGPIPE, SigHandler::SigIgn);
    }
}

/// Starts the shim daemon of the container's pod (or finds the running one) and returns the
/// address containerd connects to.
fn start_daemon(opts: StartOpts) -> Result<String, containerd_shim::Error> {
    let group = grouping(&opts.id);
    // the daemon publishes events there; the bootstrap protocol passes it in its params only
    let ttrpc = opts.ttrpc_address.clone();
    let (_pid, address) =
        containerd_shim::spawn(opts, &group, vec![("TTRPC_ADDRESS", ttrpc.as_str())])?;
    // containerd reconnects after a restart through the bundle's `address` file
    std::fs::write("address", &address).map_err(|e| containerd_shim::Error::IoError {
        context: "write address".into(),
        err: e,
    })?;
    Ok(address)
}

/// `start` under containerd 2.3's bootstrap protocol; `Ok(false)` when containerd used the
/// old one, which containerd-shim's own `start` serves.
fn bootstrap_start() -> anyhow::Result<bool> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flags = containerd_shim::parse(&args)?;
    if flags.action != "start" {
        return Ok(false);
    }
    let Some(opts) = bootstrap::start_opts(&flags)? else {
        return Ok(false);
    };
    let address = start_daemon(opts)?;
    std::io::stdout().write_all(&bootstrap::encode_result(&address)?)?;
    Ok(true)
}

impl containerd_shim::Shim for Shim {
    type T = TaskService;

    fn new(_runtime_id: &str, args: &Flags, config: &mut Config) -> Self {
        // containerd-shim's own logger sees only `log` records; ours takes both
        config.no_setup_logger = true;
        logging::init(&args.action, args.debug, RUNTIME_ID);
        Self {
            exit: Arc::new(ExitSignal::default()),
            events: std::sync::OnceLock::new(),
            namespace: args.namespace.clone(),
            id: args.id.clone(),
            bundle: args.bundle.clone(),
            address: args.address.clone(),
        }
    }

    fn start_shim(&mut self, opts: StartOpts) -> Result<String, containerd_shim::Error> {
        let address = start_daemon(opts);
        quiet_start_signals();
        address
    }

    /// Cleans up after a shim that died: the container is killed and deleted, its rootfs
    /// unmounted.
    fn delete_shim(&mut self) -> Result<DeleteResponse, containerd_shim::Error> {
        let bundle = if self.bundle.is_empty() {
            std::env::current_dir().unwrap_or_default()
        } else {
            PathBuf::from(&self.bundle)
        };
        let root = state_root(&self.namespace);
        let tools = (&RunwasmCli::new(root.clone()), &Runtime::new(root, false));
        let hooks = ops::has_hooks(&bundle);
        if let Err(e) = ops::lifecycle(tools, &bundle, &self.id, hooks, Lifecycle::Delete) {
            tracing::warn!("cleanup of {}: {e}", self.id);
        }
        Ok(service::dead_shim_response())
    }

    fn wait(&mut self) {
        self.exit.wait();
        if let Some(pending) = self.events.get() {
            pending.wait_delivered(EVENTS_AT_EXIT);
        }
    }

    fn create_task_service(&self, publisher: RemotePublisher) -> TaskService {
        let root = state_root(&self.namespace);
        let _ = std::fs::create_dir_all(&root);
        // the crate connected `publisher` to TTRPC_ADDRESS; the sink reconnects there
        let address = std::env::var("TTRPC_ADDRESS").unwrap_or_default();
        let events = ContainerdEvents::new(publisher, address, self.namespace.clone());
        let _ = self.events.set(events.pending());
        TaskService::new(
            RunwasmOps::new(
                RunwasmCli::new(root.clone()),
                Runtime::new(root, false),
                ContentStore::new(self.address.clone(), self.namespace.clone()),
            ),
            events,
            self.exit.clone(),
        )
    }
}

const RUNTIME_ID: &str = "io.containerd.runwasm.v1";
/// How long an exiting shim waits for its last events (TaskDelete) to reach containerd.
const EVENTS_AT_EXIT: std::time::Duration = std::time::Duration::from_secs(2);

/// `-info`: containerd's RuntimeInfo, with runwasm's runtime-spec features.
fn print_info() -> std::io::Result<()> {
    use containerd_shim::protos::protobuf::{Message, MessageField};
    use containerd_shim::protos::types::introspection::{RuntimeInfo, RuntimeVersion};
    let features = std::process::Command::new(RunwasmCli::new(PathBuf::new()).binary())
        .arg("features")
        .output()?;
    if !features.status.success() {
        return Err(std::io::Error::other("runwasm features failed"));
    }
    let info = RuntimeInfo {
        name: RUNTIME_ID.to_string(),
        version: MessageField::some(RuntimeVersion {
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        }),
        features: MessageField::some(service::to_any(
            "types.containerd.io/opencontainers/runtime-spec/1/features/Features",
            &features.stdout,
        )),
        ..Default::default()
    };
    let bytes = info.write_to_bytes().map_err(std::io::Error::other)?;
    std::io::stdout().write_all(&bytes)
}

fn main() {
    // every pod has a shim and its threads rarely allocate: one malloc arena instead of one
    // per thread saves about 100 kB of each shim (measured with 10 idle pods)
    // SAFETY: mallopt only tunes the allocator; called before any thread exists
    unsafe { nix::libc::mallopt(nix::libc::M_ARENA_MAX, 1) };
    // the shim crate handles neither of these two flags
    match std::env::args().nth(1).as_deref() {
        Some("-v") | Some("--version") | Some("-version") => {
            println!(
                "containerd-shim-runwasm-v1:\n  Runtime: {RUNTIME_ID}\n  Version: {}",
                env!("CARGO_PKG_VERSION")
            );
            return;
        }
        Some("-info") | Some("--info") => {
            if let Err(e) = print_info() {
                eprintln!("{RUNTIME_ID}: {e}");
                std::process::exit(1);
            }
            return;
        }
        _ => {}
    }
    match bootstrap_start() {
        Ok(true) => {}
        Ok(false) => containerd_shim::run::<Shim>(RUNTIME_ID, None),
        Err(e) => {
            eprintln!("{RUNTIME_ID}: {e:#}");
            std::process::exit(1);
        }
    }
}
