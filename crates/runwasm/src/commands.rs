//! One function per subcommand, each a thin mapping from runc's flags to the runtime.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::Args;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;
use runwasm_container::{CreateOptions, ExecOptions, Runtime};

use crate::cli::Command;

/// `kill ID [SIGNAL]`: runc's default signal is SIGTERM.
#[derive(Args, Debug)]
pub struct Kill {
    pub container_id: String,
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
    /// Send the signal to every process of the container
    #[arg(short, long)]
    pub all: bool,
}

/// runc's rule for a container id (`^[\w+-\.]+$`, not `.` or `..`), with its messages: the
/// id names a directory under --root, so nothing else may reach the filesystem.
pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        bail!("container id cannot be empty");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+-.".contains(c);
    if id == "." || id == ".." || !id.chars().all(allowed) {
        bail!("invalid container ID format");
    }
    Ok(())
}

/// Runs `command`; returns the exit status to end with.
pub fn run(runtime: &Runtime, root: &Path, rootless: bool, command: Command) -> Result<u8> {
    match command {
        Command::Create(args) => {
            let id = args.container_id.clone();
            cleanup_failed_create(runtime, root, &id, |runtime| {
                runtime.create(&CreateOptions {
                    id: id.clone(),
                    bundle: args.bundle,
                    pid_file: args.pid_file,
                    console_socket: args.console_socket,
                    no_pivot: args.no_pivot,
                    preserve_fds: args.preserve_fds,
                    detach: true,
                })
            })?;
        }
        Command::Start(args) => runtime.start(&args.container_id)?,
        Command::Run(args) => return run_container(runtime, root, args),
        Command::State(args) => {
            let state = runtime.state(&args.container_id)?;
            println!("{}", serde_json::to_string_pretty(&state)?);
        }
        Command::Kill(args) => runtime.kill(&args.container_id, &args.signal, args.all)?,
        Command::Delete(args) => runtime.delete(&args.container_id, args.force)?,
        Command::Exec(args) => return exec(runtime, args),
        Command::Ps(args) => {
            let pids = runtime.pids(&args.container_id)?;
            match args.format.as_str() {
                "json" => println!("{}", serde_json::to_string(&pids)?),
                "table" => {
                    println!("PID");
                    for pid in pids {
                        println!("{pid}");
                    }
                }
                other => anyhow::bail!("invalid ps format {other:?}: use table or json"),
            }
        }
        Command::Pause(args) => runtime.pause(&args.container_id)?,
        Command::Resume(args) => runtime.resume(&args.container_id)?,
        Command::Update(args) => update(runtime, args)?,
        Command::Events(args) => crate::events::run(runtime, &args)?,
        Command::Features(_) => {
            println!("{}", serde_json::to_string_pretty(&features())?);
        }
        Command::Spec(args) => crate::spec::write(&args, rootless)?,
        Command::List(args) => crate::list::print(runtime, root, &args)?,
        Command::Image(command) => crate::image::run(&command)?,
    }
    Ok(0)
}

/// Runs `step` (a create, or a create and start) and, when it fails, deletes whatever it left
/// of container `id` (state directory, cgroup, process), as runc does. A container that
/// existed before is never touched, nor one another create made meanwhile.
fn cleanup_failed_create<T>(
    runtime: &Runtime,
    root: &Path,
    id: &str,
    step: impl FnOnce(&Runtime) -> Result<T, runwasm_container::ContainerError>,
) -> Result<T> {
    let dir = root.join(id);
    if dir.exists() {
        return Ok(step(runtime)?);
    }
    step(runtime).map_err(|e| {
        if e.to_string().contains("already exists") {
            return e.into();
        }
        let _ = runtime.delete(id, true);
        // a directory libcontainer made before it wrote the state has no container to delete
        let _ = std::fs::remove_dir_all(&dir);
        e.into()
    })
}

fn run_container(runtime: &Runtime, root: &Path, args: liboci_cli::Run) -> Result<u8> {
    let id = args.container_id.clone();
    let container = cleanup_failed_create(runtime, root, &id, |runtime| {
        let container = runtime.create(&CreateOptions {
            id: id.clone(),
            bundle: args.bundle,
            pid_file: args.pid_file,
            console_socket: args.console_socket,
            no_pivot: args.no_pivot,
            preserve_fds: args.preserve_fds,
            detach: args.detach,
        })?;
        runtime.start(&id)?;
        Ok(container)
    })?;
    if args.detach {
        return Ok(0);
    }
    let pid = container
        .pid()
        .context("the container has no init process")?;
    let code = wait_exit(pid)?;
    if !args.keep {
        runtime.delete(&id, true)?;
    }
    Ok(code)
}

fn exec(runtime: &Runtime, args: liboci_cli::Exec) -> Result<u8> {
    let pid = runtime.exec(&ExecOptions {
        id: args.container_id,
        process: args.process,
        args: args.command,
        env: args.env,
        cwd: args.cwd,
        user: args.user,
        additional_gids: args.additional_gids,
        capabilities: args.cap,
        no_new_privs: args.no_new_privs,
        detach: args.detach,
        pid_file: args.pid_file,
        console_socket: args.console_socket,
        preserve_fds: args.preserve_fds,
        ignore_paused: args.ignore_paused,
    })?;
    if args.detach {
        return Ok(0);
    }
    wait_exit(pid)
}

/// Waits for our child `pid`: its exit status, or 128+N when signal N killed it.
fn wait_exit(pid: Pid) -> Result<u8> {
    loop {
        match waitpid(pid, None).context("waiting for the container process")? {
            WaitStatus::Exited(_, code) => return Ok(code as u8),
            WaitStatus::Signaled(_, sig, _) => return Ok(128 + sig as u8),
            _ => continue,
        }
    }
}

fn update(runtime: &Runtime, args: liboci_cli::Update) -> Result<()> {
    let resources: LinuxResources = match args.resources.as_deref() {
        Some(path) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            serde_json::from_str(&text).context("invalid resources JSON on stdin")?
        }
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("invalid resources JSON in {}", path.display()))?
        }
        None => {
            let mut resources = LinuxResources::default();
            if let Some(limit) = args.pids_limit {
                resources.set_pids(Some(
                    oci_spec::runtime::LinuxPidsBuilder::default()
                        .limit(limit)
                        .build()?,
                ));
            }
            if let Some(bytes) = args.memory {
                resources.set_memory(Some(
                    oci_spec::runtime::LinuxMemoryBuilder::default()
                        .limit(i64::try_from(bytes).context("--memory is too large")?)
                        .build()?,
                ));
            }
            resources
        }
    };
    runtime.update(&args.container_id, &resources)?;
    Ok(())
}

/// The runtime-spec `features.md` document.
fn features() -> serde_json::Value {
    let annotations: serde_json::Map<String, serde_json::Value> =
        runwasm_wasm::classify::KNOWN_ANNOTATIONS
            .iter()
            .chain(&runwasm_wasm::serve::settings::ANNOTATIONS)
            .map(|key| (key.to_string(), serde_json::Value::from("supported")))
            .chain([(
                "io.github.runwasm.version".to_string(),
                serde_json::Value::from(env!("CARGO_PKG_VERSION")),
            )])
            .collect();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": oci_spec::runtime::VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop"],
        "mountOptions": ["ro", "rw", "bind", "rbind", "nosuid", "nodev", "noexec",
                         "suid", "dev", "exec", "private", "rprivate", "shared", "rshared",
                         "slave", "rslave", "relatime", "norelatime", "strictatime",
                         "nostrictatime", "noatime", "atime", "sync", "async", "tmpcopyup"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"],
            "capabilities": caps(),
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false},
            "seccomp": {"enabled": true},
            "apparmor": {"enabled": runwasm_container::lsm::apparmor_enabled()},
            "selinux": {"enabled": runwasm_container::lsm::selinux_enabled()}
        },
        "annotations": annotations,
        "potentiallyUnsafeConfigAnnotations": []
    })
}

fn caps() -> Vec<String> {
    let mut names: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::validate_id;

    #[test]
    fn ids_follow_runc_rules() {
        for id in ["a", "ab+c-d.e_f", "A9", "..."] {
            assert!(validate_id(id).is_ok(), "{id}");
        }
        for id in ["", ".", "..", "a/b", "../x", "a b", "x:y", "é"] {
            assert!(validate_id(id).is_err(), "{id}");
        }
    }
}
