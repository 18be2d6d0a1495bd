//! The container operations of the shim's tasks: what forks into a container (create, exec)
//! through the `runwasm` binary, everything else in-process on runwasm's state.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use containerd_shim::api::CreateTaskRequest;
use containerd_shim::protos::ttrpc::Code;
use oci_spec::runtime::{LinuxResources, Spec};

use runwasm_container::cgroup::oom;
use runwasm_container::{ContainerError, Runtime};

use crate::artifact::ContentStore;
use crate::cli::{ProcessIo, RunwasmCli};
use crate::io::{copy_console, resize, ConsoleSocket, StdioPaths};
use crate::task::{ContainerOps, Error, Launched, Result};

pub struct RunwasmOps {
    /// Runs what forks into a container (create, exec) in a fresh process.
    cli: RunwasmCli,
    /// Everything else (start, kill, delete, ps, pause, update) needs no fork: done here,
    /// on the same state, without a process start per call.
    runtime: Runtime,
    /// Where OCI Wasm artifacts' modules are read from.
    content: ContentStore,
}

impl RunwasmOps {
    pub fn new(cli: RunwasmCli, runtime: Runtime, content: ContentStore) -> Self {
        Self {
            cli,
            runtime,
            content,
        }
    }

    /// Mounts the rootfs containerd sends (none when the bundle already has it).
    fn mount_rootfs(&self, bundle: &Path, req: &CreateTaskRequest) -> Result<()> {
        let rootfs = bundle.join("rootfs");
        for m in &req.rootfs {
            std::fs::create_dir_all(&rootfs).map_err(|e| Error::op(Code::INTERNAL, e))?;
            containerd_shim::mount::mount_rootfs(
                Some(m.type_.as_str()),
                Some(m.source.as_str()),
                &m.options,
                &rootfs,
            )
            .map_err(|e| Error::op(Code::INTERNAL, format!("cannot mount rootfs: {e}")))?;
        }
        Ok(())
    }

    /// An OCI Wasm artifact's module, from containerd's content store into the bundle.
    fn supply_artifact(&self, id: &str, bundle: &Path) -> Result<()> {
        let module = self
            .content
            .wasm_module(id, runwasm_wasm::limits::max_module_bytes())
            .map_err(|e| Error::op(Code::FAILED_PRECONDITION, e))?;
        if let Some((module, precompiled)) = module {
            runwasm_container::artifact::write(bundle, &module, precompiled.as_ref())
                .map_err(|e| Error::op(Code::INTERNAL, e))?;
        }
        Ok(())
    }

    /// `runwasm create`: the container's init pid and, with a terminal, the pty master.
    fn create_container(&self, id: &str, bundle: &Path, stdio: &StdioPaths) -> Result<Launched> {
        let pid_file = bundle.join("init.pid");
        let (bundle_s, pid_s) = (bundle.display().to_string(), pid_file.display().to_string());
        let console = self.run_with_stdio(
            &bundle.join("log.json"),
            &["create", "--bundle", &bundle_s, "--pid-file", &pid_s, id],
            stdio,
        )?;
        Ok(Launched {
            pid: read_pid(&pid_file)?,
            console,
        })
    }

    /// Runs `runwasm` with a console socket when the process has a terminal, and starts
    /// copying between the pty and the fifos once runwasm has sent the master.
    fn run_with_stdio(
        &self,
        log: &Path,
        args: &[&str],
        stdio: &StdioPaths,
    ) -> Result<Option<OwnedFd>> {
        if !stdio.terminal {
            let io = stdio
                .open()
                .map_err(|e| Error::op(Code::INTERNAL, format!("cannot open stdio: {e}")))?;
            self.cli
                .run(log, args, io)
                .map_err(|e| Error::op(Code::UNKNOWN, e.0))?;
            return Ok(None);
        }
        let socket = ConsoleSocket::new()
            .map_err(|e| Error::op(Code::INTERNAL, format!("console socket: {e}")))?;
        let socket_path = socket.path().display().to_string();
        let mut full: Vec<&str> = vec![args[0], "--console-socket", &socket_path];
        full.extend_from_slice(&args[1..]);
        let receiver = std::thread::spawn(move || socket.receive_master());
        if let Err(e) = self.cli.run(log, &full, ProcessIo::default()) {
            // runwasm failed before sending a master: wake the receiver so it ends
            let _ = std::os::unix::net::UnixStream::connect(&socket_path);
            let _ = receiver.join();
            return Err(Error::op(Code::UNKNOWN, e.0));
        }
        let master = receiver
            .join()
            .map_err(|_| Error::op(Code::INTERNAL, "console receiver panicked"))?
            .map_err(|e| Error::op(Code::INTERNAL, format!("console: {e}")))?;
        copy_console(&master, stdio)
            .map_err(|e| Error::op(Code::INTERNAL, format!("console copy: {e}")))?;
        Ok(Some(master))
    }

    fn step(&self, bundle: &Path, id: &str, step: Lifecycle) -> Result<()> {
        lifecycle(
            (&self.cli, &self.runtime),
            bundle,
            id,
            has_hooks(bundle),
            step,
        )
    }
}

impl ContainerOps for RunwasmOps {
    fn create(&self, req: &CreateTaskRequest) -> Result<Launched> {
        // the kernel's wait before a first cgroup migration passes while the rootfs is
        // mounted and runwasm starts; `runwasm create` then finds it done
        drop(runwasm_container::cgroup::prime_migrations());
        let bundle = PathBuf::from(&req.bundle);
        let stdio = StdioPaths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        let created = self
            .mount_rootfs(&bundle, req)
            .and_then(|()| self.supply_artifact(&req.id, &bundle))
            .and_then(|()| self.create_container(&req.id, &bundle, &stdio));
        if created.is_err() {
            // nothing of a failed create stays: container state, rootfs mount
            let _ = self.runtime.delete(&req.id, true);
            if !req.rootfs.is_empty() {
                let _ =
                    nix::mount::umount2(&bundle.join("rootfs"), nix::mount::MntFlags::MNT_DETACH);
            }
        }
        created
    }

    fn start(&self, id: &str, bundle: &Path) -> Result<()> {
        self.step(bundle, id, Lifecycle::Start)
    }

    fn write_process(&self, bundle: &Path, exec_id: &str, spec: &[u8]) -> Result<PathBuf> {
        let path = bundle.join(format!("exec-{exec_id}.json"));
        std::fs::write(&path, spec).map_err(|e| Error::op(Code::INTERNAL, e))?;
        Ok(path)
    }

    fn remove_process(&self, spec: &Path) {
        let _ = std::fs::remove_file(spec);
    }

    fn exec(
        &self,
        id: &str,
        bundle: &Path,
        exec_id: &str,
        spec: &Path,
        stdio: &StdioPaths,
    ) -> Result<Launched> {
        // as for create: the exec'd process joins the container's cgroups
        drop(runwasm_container::cgroup::prime_migrations());
        let pid_file = bundle.join(format!("exec-{exec_id}.pid"));
        let (spec_s, pid_s) = (spec.display().to_string(), pid_file.display().to_string());
        let console = self.run_with_stdio(
            &bundle.join("log.json"),
            &[
                "exec",
                "--detach",
                "--pid-file",
                &pid_s,
                "--process",
                &spec_s,
                id,
            ],
            stdio,
        )?;
        Ok(Launched {
            pid: read_pid(&pid_file)?,
            console,
        })
    }

    fn kill(&self, id: &str, signal: u32, all: bool) -> Result<()> {
        self.runtime
            .kill(id, &signal.to_string(), all)
            .map_err(container_error)
    }

    fn signal(&self, pid: i32, signal: u32) -> Result<()> {
        let signal = nix::sys::signal::Signal::try_from(signal as i32)
            .map_err(|e| Error::op(Code::INVALID_ARGUMENT, e))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
            .map_err(|e| Error::op(Code::UNKNOWN, e))
    }

    fn pause(&self, id: &str) -> Result<()> {
        self.runtime.pause(id).map_err(container_error)
    }

    fn resume(&self, id: &str) -> Result<()> {
        self.runtime.resume(id).map_err(container_error)
    }

    fn delete(&self, id: &str, bundle: &Path) -> Result<()> {
        self.step(bundle, id, Lifecycle::Delete)
    }

    fn pids(&self, id: &str) -> Result<Vec<i32>> {
        self.runtime.pids(id).map_err(container_error)
    }

    fn update(&self, id: &str, resources: &LinuxResources) -> Result<()> {
        self.runtime.update(id, resources).map_err(container_error)
    }

    fn resize(&self, console: &OwnedFd, width: u32, height: u32) -> Result<()> {
        resize(console, width, height).map_err(|e| Error::op(Code::INTERNAL, e))
    }

    fn watch_oom(&self, pid: i32, on_oom: Box<dyn Fn() + Send>) {
        oom::watch(pid, on_oom);
    }
}

/// The bundle's config.json, read as runwasm reads it; `None` when it is missing or invalid
/// (then `runwasm create` reports why).
pub fn bundle_spec(bundle: &Path) -> Option<Spec> {
    runwasm_container::runtime::load_spec(bundle).ok()
}

/// Whether the bundle's spec has OCI hooks: libcontainer waits for them as its children,
/// which the shim's reaper would collect first, so such a container is started and deleted
/// by runwasm.
pub fn has_hooks(bundle: &Path) -> bool {
    let Some(hooks) = bundle_spec(bundle).and_then(|spec| spec.hooks().clone()) else {
        return false;
    };
    #[allow(deprecated)] // prestart: deprecated by the runtime spec, still run by runtimes
    let lists = [
        hooks.prestart(),
        hooks.create_runtime(),
        hooks.create_container(),
        hooks.start_container(),
        hooks.poststart(),
        hooks.poststop(),
    ];
    lists
        .iter()
        .any(|list| list.as_ref().is_some_and(|l| !l.is_empty()))
}

#[derive(Clone, Copy)]
pub enum Lifecycle {
    Start,
    /// Also kills a running container and unmounts the bundle's rootfs.
    Delete,
}

/// Starts or deletes a container: in-process on runwasm's state, or through a runwasm
/// process when the spec has hooks (see [`has_hooks`]).
pub fn lifecycle(
    (cli, runtime): (&RunwasmCli, &Runtime),
    bundle: &Path,
    id: &str,
    hooks: bool,
    step: Lifecycle,
) -> Result<()> {
    let args: &[&str] = match step {
        Lifecycle::Start => &["start", id],
        Lifecycle::Delete => &["delete", "--force", id],
    };
    let done = if hooks {
        cli.run(&bundle.join("log.json"), args, ProcessIo::default())
            .map_err(|e| Error::op(Code::UNKNOWN, e.0))
    } else {
        match step {
            Lifecycle::Start => runtime.start(id),
            Lifecycle::Delete => runtime.delete(id, true),
        }
        .map_err(container_error)
    };
    if let Lifecycle::Delete = step {
        let _ = nix::mount::umount2(&bundle.join("rootfs"), nix::mount::MntFlags::MNT_DETACH);
    }
    done
}

/// A container operation's error, as containerd shows it.
fn container_error(err: ContainerError) -> Error {
    let code = match err {
        ContainerError::NotFound(_) => Code::NOT_FOUND,
        ContainerError::WrongStatus { .. } => Code::FAILED_PRECONDITION,
        _ => Code::UNKNOWN,
    };
    Error::op(code, err)
}

fn read_pid(path: &Path) -> Result<i32> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Error::op(Code::INTERNAL, format!("no pid in {}", path.display())))
}
