//! A pod through the containerd CRI plugin, called as the kubelet calls it: a pause sandbox
//! with `runtime_handler`, a Wasm container and a Linux sidecar in the same pod, exit codes,
//! CRI log lines, ExecSync into the Wasm container, stop and remove.
//!
//! usage: cri-e2e SOCKET HANDLER LOG_DIR STATE_ROOT (the runtime's state directory for k8s.io)
//! Prints `pod-id: ID` once the sandbox runs, `container-id: ID` per container and
//! `ok: ...` per check; exits non-zero, naming the failed check, when anything is not as the
//! kubelet expects.
//!
//! usage: cri-e2e run-one SOCKET HANDLER LOG_DIR IMAGE [ARGS...]
//! Runs IMAGE (already in the k8s.io namespace) as the one container of a pod with runtime
//! handler HANDLER, as the kubelet runs a container spec with `args` and no `command`: the
//! image's entrypoint gets ARGS; an image without an entrypoint runs ARGS (the first ARG as
//! the command). Waits for it to exit (at most CRI_E2E_TIMEOUT seconds, default 120), prints
//! `pod-id: ID`, `container-id: ID`, `exit-code: N` (with `reason: R` and `message: M` when
//! the CRI gives them) and each line of its CRI log (LOG_DIR/one.log) as `log: LINE`, then
//! stops and removes the pod. Exits 0 whatever the container's exit code;
//! non-zero, naming the call, when a CRI call fails (the pod is still removed).
//!
//! usage: cri-e2e status SOCKET
//! Prints the CRI Status conditions: `RuntimeReady: true`, `NetworkReady: true` (a false one
//! with its reason and message).
//!
//! usage: cri-e2e pod-up SOCKET HANDLER LOG_DIR NAME=IMAGE [ARGS...] [-- NAME=IMAGE [ARGS...]]...
//! Runs a pod with a network namespace of its own (the kubelet's namespace options for a pod
//! without hostNetwork: containerd's CNI plugin gives it its IP) and runtime handler HANDLER,
//! with one container NAME per `NAME=IMAGE [ARGS...]` (ARGS as run-one passes them; log
//! LOG_DIR/NAME.log). Prints `pod-id: ID`, `pod-ip: IP` (from PodSandboxStatus),
//! `container-id: ID` per container and `running: NAME` once each one runs (within
//! CRI_E2E_TIMEOUT seconds, default 60), then exits 0 and leaves the pod running. When
//! something fails it exits non-zero naming it, and the pod is removed.
//!
//! usage: cri-e2e pod-down SOCKET POD_ID
//! Deletes the pod as the kubelet does: StopContainer of each running container with a grace
//! period of CRI_E2E_GRACE seconds (default 30, the kubelet's default; all at once), printing
//! `stopped: NAME exit-code N`, then StopPodSandbox and RemovePodSandbox (which removes the
//! containers); prints `removed: POD_ID`.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};
use tower::service_fn;

const WASM_IMAGE: &str = "docker.io/runwasm-test/wasm:latest";
const LINUX_IMAGE: &str = "docker.io/runwasm-test/busybox:latest";

async fn connect(socket: String) -> Result<Channel> {
    Ok(Endpoint::try_from("http://[::]:50051")?
        .connect_with_connector(service_fn(move |_: Uri| {
            let path = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await?)
}

/// What the kubelet sends for a pod without hostPID or shareProcessNamespace: `network` is
/// `Node` for hostNetwork, `Pod` for a network namespace of the pod's own (set up by CNI).
fn namespace_options(network: NamespaceMode) -> NamespaceOption {
    NamespaceOption {
        network: network as i32,
        pid: NamespaceMode::Container as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

fn pod_config(log_dir: &str) -> PodSandboxConfig {
    named_pod_config("wasm-pod", log_dir, NamespaceMode::Node)
}

fn named_pod_config(name: &str, log_dir: &str, network: NamespaceMode) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{}", std::process::id()),
            namespace: "runwasm-e2e".into(),
            attempt: 0,
        }),
        log_directory: log_dir.into(),
        linux: Some(LinuxPodSandboxConfig {
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(namespace_options(network)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

struct Pod {
    rt: RuntimeServiceClient<Channel>,
    id: String,
    config: PodSandboxConfig,
    log_dir: String,
}

impl Pod {
    fn namespace_options(&self) -> NamespaceOption {
        self.config
            .linux
            .as_ref()
            .and_then(|linux| linux.security_context.as_ref())
            .and_then(|context| context.namespace_options.clone())
            .unwrap_or_else(|| namespace_options(NamespaceMode::Node))
    }

    async fn container(&mut self, name: &str, image: &str, command: &[&str]) -> Result<String> {
        let command = command.iter().map(|s| s.to_string()).collect();
        let id = self.create(name, image, command, Vec::new()).await?;
        self.start(name, &id).await?;
        Ok(id)
    }

    /// CreateContainer of `image` with the container spec's `command` and `args`.
    async fn create(
        &mut self,
        name: &str,
        image: &str,
        command: Vec<String>,
        args: Vec<String>,
    ) -> Result<String> {
        let config = ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: name.into(),
                attempt: 0,
            }),
            image: Some(ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
            command,
            args,
            log_path: format!("{name}.log"),
            linux: Some(LinuxContainerConfig {
                security_context: Some(LinuxContainerSecurityContext {
                    // the kubelet gives a container its pod's namespace options
                    namespace_options: Some(self.namespace_options()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = self
            .rt
            .create_container(CreateContainerRequest {
                pod_sandbox_id: self.id.clone(),
                config: Some(config),
                sandbox_config: Some(self.config.clone()),
            })
            .await
            .with_context(|| format!("CreateContainer {name}"))?
            .into_inner()
            .container_id;
        println!("container-id: {id}");
        Ok(id)
    }

    async fn start(&mut self, name: &str, id: &str) -> Result<()> {
        self.rt
            .start_container(StartContainerRequest {
                container_id: id.into(),
            })
            .await
            .with_context(|| format!("StartContainer {name}"))?;
        Ok(())
    }

    async fn status(&mut self, id: &str) -> Result<ContainerStatus> {
        self.rt
            .container_status(ContainerStatusRequest {
                container_id: id.into(),
                verbose: false,
            })
            .await?
            .into_inner()
            .status
            .context("no status")
    }

    async fn wait_state(&mut self, id: &str, state: ContainerState) -> Result<ContainerStatus> {
        self.wait_state_for(id, state, Duration::from_secs(10))
            .await
    }

    async fn wait_state_for(
        &mut self,
        id: &str,
        state: ContainerState,
        timeout: Duration,
    ) -> Result<ContainerStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.status(id).await.context("ContainerStatus")?;
            if status.state == state as i32 {
                return Ok(status);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "container {id} never reached {state:?} within {}s",
                    timeout.as_secs()
                )
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// StopPodSandbox, then RemovePodSandbox (which removes its containers).
    async fn remove(&mut self) -> Result<()> {
        self.rt
            .stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: self.id.clone(),
            })
            .await
            .context("StopPodSandbox")?;
        self.rt
            .remove_pod_sandbox(RemovePodSandboxRequest {
                pod_sandbox_id: self.id.clone(),
            })
            .await
            .context("RemovePodSandbox")?;
        Ok(())
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(format!("{}/{name}.log", self.log_dir)).unwrap_or_default()
    }
}

/// What the suite checks is gone after the pod is there while it runs, so that its checks
/// look in the right places: the runtime's state, a cgroup, the rootfs mount and a process of
/// container `id`.
fn footprint(state_root: &str, id: &str) -> Result<()> {
    let state = Path::new(state_root).join(id).join("state.json");
    ensure!(state.exists(), "no runtime state {}", state.display());
    let cgroup_dirs = std::fs::read_dir("/sys/fs/cgroup")?
        .flatten()
        .map(|controller| controller.path().join("k8s.io").join(id))
        .chain([Path::new("/sys/fs/cgroup/k8s.io").join(id)]);
    ensure!(
        cgroup_dirs.into_iter().any(|dir| dir.is_dir()),
        "no cgroup k8s.io/{id}"
    );
    let mounts = std::fs::read_to_string("/proc/mounts")?;
    ensure!(
        mounts.contains(&format!("/{id}/rootfs ")),
        "no rootfs mount of {id}"
    );
    let member = format!(":/k8s.io/{id}\n");
    let in_cgroup = std::fs::read_dir("/proc")?.flatten().any(|entry| {
        std::fs::read_to_string(entry.path().join("cgroup")).is_ok_and(|c| c.contains(&member))
    });
    ensure!(in_cgroup, "no process in cgroup k8s.io/{id}");
    Ok(())
}

/// The shim processes this containerd runs for runwasm.
fn shims(socket: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains("containerd-shim-runwasm-v1") && cmdline.contains(socket) {
            found.push(cmdline);
        }
    }
    found
}

/// The entrypoint in the config of `image`, from containerd's verbose ImageStatus
/// (`info["info"]` holds `{"imageSpec": <OCI image config>}`).
async fn image_entrypoint(
    images: &mut ImageServiceClient<Channel>,
    image: &str,
) -> Result<Vec<String>> {
    let status = images
        .image_status(ImageStatusRequest {
            image: Some(ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
            verbose: true,
        })
        .await
        .context("ImageStatus")?
        .into_inner();
    ensure!(
        status.image.is_some(),
        "image {image} is not in the k8s.io namespace (import it first: ctr -n k8s.io image import)"
    );
    let info = status.info.get("info").with_context(|| {
        format!(
            "ImageStatus of {image} has no verbose info: {:?}",
            status.info
        )
    })?;
    let info: serde_json::Value = serde_json::from_str(info)
        .with_context(|| format!("ImageStatus info of {image} is not JSON: {info}"))?;
    let spec = info
        .get("imageSpec")
        .with_context(|| format!("no imageSpec in the ImageStatus info of {image}: {info}"))?;
    Ok(match &spec["config"]["Entrypoint"] {
        serde_json::Value::Array(words) => words
            .iter()
            .map(|w| {
                w.as_str()
                    .map(str::to_string)
                    .context("non-string entrypoint word")
            })
            .collect::<Result<_>>()?,
        _ => Vec::new(),
    })
}

/// `run-one SOCKET HANDLER LOG_DIR IMAGE [ARGS...]`: see the crate documentation.
async fn run_one(args: &[String]) -> Result<()> {
    let [socket, handler, log_dir, image, rest @ ..] = args else {
        bail!("usage: cri-e2e run-one SOCKET HANDLER LOG_DIR IMAGE [ARGS...]");
    };
    let timeout = match std::env::var("CRI_E2E_TIMEOUT") {
        Ok(secs) => Duration::from_secs(secs.parse().context("CRI_E2E_TIMEOUT is not a number")?),
        Err(_) => Duration::from_secs(120),
    };
    std::fs::create_dir_all(log_dir)?;
    let channel = connect(socket.clone())
        .await
        .with_context(|| format!("cannot connect to the CRI socket {socket}"))?;
    let entrypoint = image_entrypoint(&mut ImageServiceClient::new(channel.clone()), image).await?;
    // the kubelet's `args` without `command`: the image's entrypoint runs them; without one,
    // the first of them is the command
    let (command, args) = match rest.split_first() {
        Some((first, others)) if entrypoint.is_empty() => (vec![first.clone()], others.to_vec()),
        _ => (Vec::new(), rest.to_vec()),
    };
    println!("image: {image} entrypoint {entrypoint:?} command {command:?} args {args:?}");
    let mut rt = RuntimeServiceClient::new(channel);
    let config = named_pod_config("run-one", log_dir, NamespaceMode::Node);
    let id = rt
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: handler.clone(),
        })
        .await
        .context("RunPodSandbox")?
        .into_inner()
        .pod_sandbox_id;
    println!("pod-id: {id}");
    let mut pod = Pod {
        rt,
        id,
        config,
        log_dir: log_dir.clone(),
    };
    let ran = one_container(&mut pod, image, command, args, timeout).await;
    // the pod goes whatever happened to its container
    let removed = pod.remove().await;
    ran?;
    removed
}

/// Creates, starts and waits for the container `one` of `pod`; prints its exit code and log.
async fn one_container(
    pod: &mut Pod,
    image: &str,
    command: Vec<String>,
    args: Vec<String>,
    timeout: Duration,
) -> Result<()> {
    // a log of an earlier run with the same LOG_DIR is not this container's
    let log = Path::new(&pod.log_dir).join("one.log");
    match std::fs::remove_file(&log) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot remove {}", log.display()))
        }
        _ => {}
    }
    let id = pod.create("one", image, command, args).await?;
    pod.start("one", &id).await?;
    let status = pod
        .wait_state_for(&id, ContainerState::ContainerExited, timeout)
        .await?;
    println!("exit-code: {}", status.exit_code);
    if !status.reason.is_empty() {
        println!("reason: {}", status.reason);
    }
    if !status.message.is_empty() {
        println!("message: {}", status.message);
    }
    for line in pod.log("one").lines() {
        println!("log: {line}");
    }
    Ok(())
}

/// `status SOCKET`: the CRI Status conditions, one `NAME: true|false` line each (with the
/// reason and message of a false one).
async fn runtime_status(args: &[String]) -> Result<()> {
    let [socket] = args else {
        bail!("usage: cri-e2e status SOCKET");
    };
    let channel = connect(socket.clone())
        .await
        .with_context(|| format!("cannot connect to the CRI socket {socket}"))?;
    let status = RuntimeServiceClient::new(channel)
        .status(StatusRequest { verbose: false })
        .await
        .context("Status")?
        .into_inner()
        .status
        .context("Status without a status")?;
    for condition in status.conditions {
        if condition.status {
            println!("{}: true", condition.r#type);
        } else {
            println!(
                "{}: false (reason: {}; message: {})",
                condition.r#type, condition.reason, condition.message
            );
        }
    }
    Ok(())
}

/// One container of `pod-up`: `NAME=IMAGE [ARGS...]`.
struct ContainerSpec {
    name: String,
    image: String,
    args: Vec<String>,
}

/// `NAME=IMAGE [ARGS...] [-- NAME=IMAGE [ARGS...]]...`
fn container_specs(args: &[String]) -> Result<Vec<ContainerSpec>> {
    let mut specs = Vec::new();
    for group in args.split(|arg| arg == "--") {
        let Some((first, rest)) = group.split_first() else {
            bail!("an empty container between two --");
        };
        let Some((name, image)) = first.split_once('=') else {
            bail!("{first:?} is not NAME=IMAGE");
        };
        ensure!(
            !name.is_empty() && !image.is_empty(),
            "{first:?} is not NAME=IMAGE"
        );
        specs.push(ContainerSpec {
            name: name.into(),
            image: image.into(),
            args: rest.to_vec(),
        });
    }
    Ok(specs)
}

/// `pod-up SOCKET HANDLER LOG_DIR NAME=IMAGE [ARGS...] [-- NAME=IMAGE [ARGS...]]...`: see the
/// crate documentation.
async fn pod_up(args: &[String]) -> Result<()> {
    const USAGE: &str =
        "usage: cri-e2e pod-up SOCKET HANDLER LOG_DIR NAME=IMAGE [ARGS...] [-- NAME=IMAGE [ARGS...]]...";
    let [socket, handler, log_dir, rest @ ..] = args else {
        bail!(USAGE);
    };
    ensure!(!rest.is_empty(), USAGE);
    let specs = container_specs(rest)?;
    let timeout = match std::env::var("CRI_E2E_TIMEOUT") {
        Ok(secs) => Duration::from_secs(secs.parse().context("CRI_E2E_TIMEOUT is not a number")?),
        Err(_) => Duration::from_secs(60),
    };
    std::fs::create_dir_all(log_dir)?;
    let channel = connect(socket.clone())
        .await
        .with_context(|| format!("cannot connect to the CRI socket {socket}"))?;
    // the kubelet's `args` without `command`, as run-one: every image is looked up before
    // there is a pod
    let mut images = ImageServiceClient::new(channel.clone());
    let mut commands = Vec::new();
    for spec in &specs {
        let entrypoint = image_entrypoint(&mut images, &spec.image).await?;
        commands.push(match spec.args.split_first() {
            Some((first, others)) if entrypoint.is_empty() => {
                (vec![first.clone()], others.to_vec())
            }
            _ => (Vec::new(), spec.args.clone()),
        });
    }
    let mut rt = RuntimeServiceClient::new(channel);
    let mut config = named_pod_config("pod-up", log_dir, NamespaceMode::Pod);
    config.hostname = "pod-up".into();
    let id = rt
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: handler.clone(),
        })
        .await
        .context("RunPodSandbox")?
        .into_inner()
        .pod_sandbox_id;
    println!("pod-id: {id}");
    let mut pod = Pod {
        rt,
        id,
        config,
        log_dir: log_dir.clone(),
    };
    let started = pod_containers(&mut pod, &specs, commands, timeout).await;
    if started.is_err() {
        // a pod that did not come up is not left behind
        if let Err(e) = pod.remove().await {
            eprintln!("removing the pod after the failure: {e:#}");
        }
    }
    started
}

/// The pod's IP, then each container of `specs` created, started and running.
async fn pod_containers(
    pod: &mut Pod,
    specs: &[ContainerSpec],
    commands: Vec<(Vec<String>, Vec<String>)>,
    timeout: Duration,
) -> Result<()> {
    let status = pod
        .rt
        .pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: pod.id.clone(),
            verbose: false,
        })
        .await
        .context("PodSandboxStatus")?
        .into_inner()
        .status
        .context("PodSandboxStatus without a status")?;
    let network = status.network.unwrap_or_default();
    ensure!(
        !network.ip.is_empty(),
        "the pod has no IP (PodSandboxStatus network {network:?})"
    );
    println!("pod-ip: {}", network.ip);
    for ip in &network.additional_ips {
        println!("pod-additional-ip: {}", ip.ip);
    }
    let mut ids = Vec::new();
    for (spec, (command, args)) in specs.iter().zip(commands) {
        // a log of an earlier pod with the same LOG_DIR is not this container's
        let log = Path::new(&pod.log_dir).join(format!("{}.log", spec.name));
        match std::fs::remove_file(&log) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot remove {}", log.display()))
            }
            _ => {}
        }
        let id = pod.create(&spec.name, &spec.image, command, args).await?;
        pod.start(&spec.name, &id).await?;
        ids.push(id);
    }
    let deadline = tokio::time::Instant::now() + timeout;
    for (spec, id) in specs.iter().zip(&ids) {
        loop {
            let status = pod.status(id).await.context("ContainerStatus")?;
            if status.state == ContainerState::ContainerRunning as i32 {
                break;
            }
            if status.state == ContainerState::ContainerExited as i32 {
                bail!(
                    "container {} exited with {} ({} {}); its log: {:?}",
                    spec.name,
                    status.exit_code,
                    status.reason,
                    status.message,
                    pod.log(&spec.name)
                );
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "container {} not running within {}s",
                spec.name,
                timeout.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        println!("running: {}", spec.name);
    }
    Ok(())
}

/// `pod-down SOCKET POD_ID`: as the kubelet deletes a pod: StopContainer of each running
/// container with the grace period (all at once), then StopPodSandbox and RemovePodSandbox.
async fn pod_down(args: &[String]) -> Result<()> {
    let [socket, id] = args else {
        bail!("usage: cri-e2e pod-down SOCKET POD_ID");
    };
    let grace: i64 = match std::env::var("CRI_E2E_GRACE") {
        Ok(secs) => secs.parse().context("CRI_E2E_GRACE is not a number")?,
        Err(_) => 30,
    };
    let channel = connect(socket.clone())
        .await
        .with_context(|| format!("cannot connect to the CRI socket {socket}"))?;
    let mut rt = RuntimeServiceClient::new(channel);
    let containers = rt
        .list_containers(ListContainersRequest {
            filter: Some(ContainerFilter {
                pod_sandbox_id: id.clone(),
                ..Default::default()
            }),
        })
        .await
        .context("ListContainers")?
        .into_inner()
        .containers;
    let mut stops = tokio::task::JoinSet::new();
    for container in containers {
        if container.state != ContainerState::ContainerRunning as i32 {
            continue;
        }
        let name = container.metadata.map(|m| m.name).unwrap_or_default();
        let mut rt = rt.clone();
        stops.spawn(async move {
            let stopped = rt
                .stop_container(StopContainerRequest {
                    container_id: container.id.clone(),
                    timeout: grace,
                })
                .await
                .with_context(|| format!("StopContainer {name}"));
            (name, container.id, stopped)
        });
    }
    let mut pod = Pod {
        rt,
        id: id.clone(),
        config: PodSandboxConfig::default(),
        log_dir: String::new(),
    };
    let mut failed = None;
    while let Some(joined) = stops.join_next().await {
        let (name, container, stopped) = joined?;
        match stopped {
            Ok(_) => {
                let status = pod.status(&container).await.context("ContainerStatus")?;
                println!("stopped: {name} exit-code {}", status.exit_code);
            }
            Err(e) => failed = Some(e),
        }
    }
    pod.remove().await?;
    println!("removed: {id}");
    failed.map_or(Ok(()), Err)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("run-one") => return run_one(&args[2..]).await,
        Some("status") => return runtime_status(&args[2..]).await,
        Some("pod-up") => return pod_up(&args[2..]).await,
        Some("pod-down") => return pod_down(&args[2..]).await,
        _ => {}
    }
    let [_, socket, handler, log_dir, state_root] = args.as_slice() else {
        bail!(
            "usage: cri-e2e SOCKET HANDLER LOG_DIR STATE_ROOT\n       cri-e2e run-one SOCKET HANDLER LOG_DIR IMAGE [ARGS...]\n       cri-e2e status SOCKET\n       cri-e2e pod-up SOCKET HANDLER LOG_DIR NAME=IMAGE [ARGS...] [-- NAME=IMAGE [ARGS...]]...\n       cri-e2e pod-down SOCKET POD_ID"
        );
    };
    std::fs::create_dir_all(log_dir)?;
    let channel = connect(socket.clone()).await?;
    let mut images = ImageServiceClient::new(channel.clone());
    for image in [WASM_IMAGE, LINUX_IMAGE] {
        let found = images
            .image_status(ImageStatusRequest {
                image: Some(ImageSpec {
                    image: image.into(),
                    ..Default::default()
                }),
                verbose: false,
            })
            .await?
            .into_inner()
            .image
            .is_some();
        ensure!(found, "image {image} is not in the k8s.io namespace");
    }
    let mut rt = RuntimeServiceClient::new(channel);
    let config = pod_config(log_dir);
    let id = rt
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: handler.clone(),
        })
        .await
        .context("RunPodSandbox")?
        .into_inner()
        .pod_sandbox_id;
    // first thing, so that the caller can check what is left of the pod even after a failure
    println!("pod-id: {id}");
    println!("pod {id} (handler {handler})");
    let mut pod = Pod {
        rt,
        id: id.clone(),
        config,
        log_dir: log_dir.clone(),
    };

    let hello = pod
        .container("hello", WASM_IMAGE, &["/probe.wasm", "both"])
        .await?;
    let status = pod
        .wait_state(&hello, ContainerState::ContainerExited)
        .await?;
    ensure!(
        status.exit_code == 0,
        "hello exit code {}",
        status.exit_code
    );
    let log = pod.log("hello");
    ensure!(
        log.contains("stdout F to stdout"),
        "CRI log lacks stdout line: {log:?}"
    );
    ensure!(
        log.contains("stderr F to stderr"),
        "CRI log lacks stderr line: {log:?}"
    );
    println!("ok: wasm container exit 0, CRI log lines");

    let failing = pod
        .container("exit7", WASM_IMAGE, &["/probe.wasm", "exit", "7"])
        .await?;
    let status = pod
        .wait_state(&failing, ContainerState::ContainerExited)
        .await?;
    ensure!(
        status.exit_code == 7,
        "exit7 exit code {}",
        status.exit_code
    );
    println!("ok: wasm container exit code 7");

    let server = pod
        .container("server", WASM_IMAGE, &["/probe.wasm", "sleep", "3600"])
        .await?;
    let sidecar = pod
        .container(
            "sidecar",
            LINUX_IMAGE,
            &["/bin/sh", "-c", "echo sidecar up; exec sleep 3600"],
        )
        .await?;
    pod.wait_state(&server, ContainerState::ContainerRunning)
        .await?;
    pod.wait_state(&sidecar, ContainerState::ContainerRunning)
        .await?;
    for container in [&id, &server, &sidecar] {
        footprint(state_root, container)?;
    }
    println!("ok: state, cgroup, rootfs mount and process of the sandbox and running containers");
    let exec = pod
        .rt
        .exec_sync(ExecSyncRequest {
            container_id: server.clone(),
            cmd: vec![
                "/probe.wasm".into(),
                "cat".into(),
                "/etc/greeting.txt".into(),
            ],
            timeout: 10,
        })
        .await
        .context("ExecSync into the wasm container")?
        .into_inner();
    let out = String::from_utf8_lossy(&exec.stdout);
    ensure!(exec.exit_code == 0, "ExecSync exit code {}", exec.exit_code);
    ensure!(
        out.contains("hello from the rootfs"),
        "ExecSync stdout {out:?}"
    );
    let exec = pod
        .rt
        .exec_sync(ExecSyncRequest {
            container_id: sidecar.clone(),
            cmd: vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo in sidecar; exit 3".into(),
            ],
            timeout: 10,
        })
        .await
        .context("ExecSync into the sidecar")?
        .into_inner();
    ensure!(
        exec.exit_code == 3,
        "sidecar ExecSync exit code {}",
        exec.exit_code
    );
    ensure!(
        pod.log("sidecar").contains("stdout F sidecar up"),
        "sidecar log"
    );
    println!("ok: ExecSync into the wasm container and the linux sidecar");

    let stats = pod
        .rt
        .container_stats(ContainerStatsRequest {
            container_id: server.clone(),
        })
        .await
        .context("ContainerStats")?
        .into_inner()
        .stats
        .context("no stats")?;
    let memory = stats
        .memory
        .and_then(|m| m.working_set_bytes)
        .map(|v| v.value);
    ensure!(
        memory.unwrap_or(0) > 0,
        "no memory working set in ContainerStats: {memory:?}"
    );
    println!(
        "ok: ContainerStats memory working set {} bytes",
        memory.unwrap_or(0)
    );

    if handler == "runwasm" {
        let running = shims(socket);
        ensure!(
            running.len() == 1,
            "one shim per pod expected, found {running:?}"
        );
        println!("ok: one shim serves the whole pod");
    }

    pod.remove().await?;
    for _ in 0..50 {
        if shims(socket).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left = shims(socket);
    ensure!(
        left.is_empty(),
        "shims left after RemovePodSandbox: {left:?}"
    );
    println!("ok: pod stopped and removed, no shim left");
    Ok(())
}
