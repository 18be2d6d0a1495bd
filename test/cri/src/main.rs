//! A pod through the containerd CRI plugin, called as the kubelet calls it: a pause sandbox
//! with `runtime_handler`, a Wasm container and a Linux sidecar in the same pod, exit codes,
//! CRI log lines, ExecSync into the Wasm container, stop and remove.
//!
//! usage: cri-e2e SOCKET HANDLER LOG_DIR STATE_ROOT (the runtime's state directory for k8s.io)
//! Prints `pod-id: ID` once the sandbox runs and `ok: ...` per check; exits non-zero, naming
//! the failed check, when anything is not as the kubelet expects.

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

/// What the kubelet sends for a pod without hostPID or shareProcessNamespace, on the host
/// network (no CNI on the test machine).
fn namespace_options() -> NamespaceOption {
    NamespaceOption {
        network: NamespaceMode::Node as i32,
        pid: NamespaceMode::Container as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

fn pod_config(log_dir: &str) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: "wasm-pod".into(),
            uid: format!("uid-{}", std::process::id()),
            namespace: "runwasm-e2e".into(),
            attempt: 0,
        }),
        log_directory: log_dir.into(),
        linux: Some(LinuxPodSandboxConfig {
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(namespace_options()),
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
    async fn container(&mut self, name: &str, image: &str, command: &[&str]) -> Result<String> {
        let config = ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: name.into(),
                attempt: 0,
            }),
            image: Some(ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
            command: command.iter().map(|s| s.to_string()).collect(),
            log_path: format!("{name}.log"),
            linux: Some(LinuxContainerConfig {
                security_context: Some(LinuxContainerSecurityContext {
                    namespace_options: Some(namespace_options()),
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
        self.rt
            .start_container(StartContainerRequest {
                container_id: id.clone(),
            })
            .await
            .with_context(|| format!("StartContainer {name}"))?;
        Ok(id)
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
        for _ in 0..100 {
            let status = self.status(id).await?;
            if status.state == state as i32 {
                return Ok(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("container {id} never reached {state:?}")
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, socket, handler, log_dir, state_root] = args.as_slice() else {
        bail!("usage: cri-e2e SOCKET HANDLER LOG_DIR STATE_ROOT");
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

    pod.rt
        .stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: id.clone(),
        })
        .await
        .context("StopPodSandbox")?;
    pod.rt
        .remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: id.clone(),
        })
        .await
        .context("RemovePodSandbox")?;
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
