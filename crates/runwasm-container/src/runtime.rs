//! The container operations behind `runwasm` and the shim: one state directory per
//! container under `root`, in libcontainer's format.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use libcgroups::common::{AnyCgroupManager, CgroupConfig, CgroupManager, ControllerOpt};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::state::StateError;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxResources, Process, Spec};

use crate::artifact;
use crate::error::ContainerError;
use crate::notify_sockets::NotifySockets;
use crate::state::{status_name, RuncState};
use crate::tether::Tether;
use crate::workload::executor_for;

/// Where state lives unless `--root` says otherwise.
pub const DEFAULT_ROOT: &str = "/run/runwasm";

#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
    systemd_cgroup: bool,
}

#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub preserve_fds: i32,
    /// `false` for `run` in the foreground: the init process stays our child.
    pub detach: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub id: String,
    /// A process.json; when absent, `args` (with `env`, `cwd`) describe the process.
    pub process: Option<PathBuf>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    pub user: Option<(u32, Option<u32>)>,
    pub additional_gids: Vec<u32>,
    pub capabilities: Vec<String>,
    pub no_new_privs: bool,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: i32,
    /// Exec into a paused container too (the process starts frozen, runs on resume).
    pub ignore_paused: bool,
}

/// Reads and validates a bundle's `config.json`.
pub fn load_spec(bundle: &Path) -> Result<Spec, ContainerError> {
    let path = bundle.join("config.json");
    let text = fs::read_to_string(&path).map_err(|source| ContainerError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ContainerError::InvalidConfig {
        path,
        reason: e.to_string(),
    })
}

const STATE_READ_RETRIES: usize = 20;

/// A state file read while it was being rewritten: empty or cut short.
fn is_partial_state(err: &libcontainer::error::LibcontainerError) -> bool {
    matches!(
        err,
        libcontainer::error::LibcontainerError::State(StateError::ParseStateFile { source, .. })
            if source.is_eof()
    )
}

fn rootfs_of(spec: &Spec, bundle: &Path) -> PathBuf {
    let root = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .unwrap_or_else(|| PathBuf::from("rootfs"));
    bundle.join(root)
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>, systemd_cgroup: bool) -> Self {
        Self {
            root: root.into(),
            systemd_cgroup,
        }
    }

    fn ensure_root(&self) -> Result<PathBuf, ContainerError> {
        fs::create_dir_all(&self.root).map_err(|source| ContainerError::Io {
            path: self.root.clone(),
            source,
        })?;
        fs::canonicalize(&self.root).map_err(|source| ContainerError::Io {
            path: self.root.clone(),
            source,
        })
    }

    pub fn load(&self, id: &str) -> Result<Container, ContainerError> {
        let dir = self.root.join(id);
        if id.is_empty() || id.contains('/') || !dir.join("state.json").exists() {
            return Err(ContainerError::NotFound(id.to_string()));
        }
        // libcontainer saves state.json by truncating and rewriting it in place, so a reader
        // (the shim's delete while runwasm's kill saves) can see it empty or cut short: such
        // a read is retried, briefly, instead of failing the call
        for _ in 0..STATE_READ_RETRIES {
            match Container::load(dir.clone()) {
                Err(e) if is_partial_state(&e) => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                loaded => return Ok(loaded?),
            }
        }
        // still cut short: its writer was killed while saving
        Container::load(dir).map_err(|e| match is_partial_state(&e) {
            true => ContainerError::StateCutShort {
                id: id.to_string(),
                reason: crate::error::error_chain(&e),
            },
            false => e.into(),
        })
    }

    /// Creates the container: isolation set up, the process waiting for `start`.
    pub fn create(&self, opts: &CreateOptions) -> Result<Container, ContainerError> {
        let primed = crate::cgroup::prime_migrations();
        let bundle = fs::canonicalize(&opts.bundle).map_err(|source| ContainerError::Io {
            path: opts.bundle.clone(),
            source,
        })?;
        let spec = load_spec(&bundle)?;
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| ContainerError::InvalidConfig {
                path: bundle.join("config.json"),
                reason: "it has no process".into(),
            })?;
        let supplied = artifact::read(&bundle)?;
        let executor = executor_for(
            process,
            &spec,
            &rootfs_of(&spec, &bundle),
            supplied,
            opts.preserve_fds,
        )?;
        let wasm = executor.is_wasm();
        tracing::debug!(id = %opts.id, wasm, "creating container");
        let root = self.ensure_root()?;
        // a container of that id owns its cgroup: this create must not touch it
        if root.join(&opts.id).exists() {
            return Err(libcontainer::error::LibcontainerError::Exist.into());
        }
        // joined here, on every path that reaches a fork; an early error return leaves
        // it to finish on its own
        let _ = primed.join();
        let tether = Tether::arm(&self.cgroup_dirs_made_for(&spec, &opts.id));
        let container = ContainerBuilder::new(opts.id.clone(), SyscallType::default())
            .with_executor(executor)
            .with_root_path(root)?
            .with_pid_file(opts.pid_file.as_ref())?
            .with_console_socket(opts.console_socket.as_ref())
            .with_preserved_fds(opts.preserve_fds)
            .validate_id()?
            .as_init(&bundle)
            .with_systemd(self.systemd_cgroup)
            .with_no_pivot(opts.no_pivot)
            .with_detach(opts.detach)
            .build()?;
        tether.release();
        Ok(container)
    }

    /// The cgroup directories a create makes, with the cgroupfs driver (systemd's are units,
    /// which systemd removes when they empty).
    fn cgroup_dirs_made_for(&self, spec: &Spec, id: &str) -> Vec<PathBuf> {
        if self.systemd_cgroup {
            return Vec::new();
        }
        let path = libcontainer::utils::get_cgroup_path(
            &spec.linux().as_ref().and_then(|l| l.cgroups_path().clone()),
            id,
        );
        crate::cgroup::container_dirs(&path)
    }

    #[tracing::instrument(level = "info", skip(self))]
    pub fn start(&self, id: &str) -> Result<(), ContainerError> {
        let mut container = self.load(id)?;
        if container.status() != ContainerStatus::Created {
            return Err(self.wrong_status(&container, "start", "created"));
        }
        container.start()?;
        tracing::info!(
            pid = container.pid().map(|p| p.as_raw()),
            "container started"
        );
        Ok(())
    }

    pub fn state(&self, id: &str) -> Result<RuncState, ContainerError> {
        let container = self.load(id)?;
        let rootfs = load_spec(container.bundle())
            .map(|spec| rootfs_of(&spec, container.bundle()))
            .unwrap_or_else(|_| container.bundle().join("rootfs"));
        Ok(RuncState::of(&container, rootfs))
    }

    #[tracing::instrument(level = "info", skip(self))]
    pub fn kill(&self, id: &str, signal: &str, all: bool) -> Result<(), ContainerError> {
        let signal = Signal::try_from(signal).map_err(|e| ContainerError::InvalidConfig {
            path: PathBuf::from("signal"),
            reason: e.to_string(),
        })?;
        let mut container = self.load(id)?;
        Ok(container.kill(signal, all)?)
    }

    /// Deletes the container; `--force` also kills a running one and accepts a missing one.
    #[tracing::instrument(level = "info", skip(self))]
    pub fn delete(&self, id: &str, force: bool) -> Result<(), ContainerError> {
        let mut container = match self.load(id) {
            Err(ContainerError::NotFound(_)) if force => {
                self.remove_dir_without_state(id);
                return Ok(());
            }
            Err(ContainerError::StateCutShort { reason, .. }) if force => {
                tracing::warn!("removing a container whose state file is cut short: {reason}");
                self.remove_dir_with_state_cut_short(id);
                return Ok(());
            }
            other => other?,
        };
        if !force && !container.can_delete() {
            return Err(self.wrong_status(&container, "delete", "stopped or created (or --force)"));
        }
        if force {
            empty_cgroup_of_unfinished_create(&container);
        }
        match container.delete(force) {
            // the guard of a killed create removes the container's empty cgroup dirs too: one
            // that went between libcgroups' look and its rmdir fails the delete, and a second
            // one finds it gone
            Err(e) if force => {
                tracing::debug!("deleting again: {e}");
                container.delete(force)?
            }
            other => other?,
        }
        tracing::info!("container deleted");
        Ok(())
    }

    /// A state dir without state.json: a `runwasm create` killed between making the dir and
    /// recording the container. Nothing else of it exists yet (the cgroup comes later).
    fn remove_dir_without_state(&self, id: &str) {
        let dir = self.root.join(id);
        if !id.is_empty() && !id.contains('/') && dir.is_dir() && !dir.join("state.json").exists() {
            let _ = fs::remove_dir_all(&dir);
        }
    }

    /// A state dir whose state.json stays empty or cut short: a `runwasm create` killed while
    /// it saved the state (libcontainer rewrites the file in place). Killed at the first save,
    /// nothing else of it exists; at the second, its processes and cgroup do, and the cgroup
    /// path is in youki_config.json.
    fn remove_dir_with_state_cut_short(&self, id: &str) {
        let dir = self.root.join(id);
        if let Ok(config) = libcontainer::config::YoukiConfig::load(&dir) {
            empty_cgroup(config.cgroup_path, self.systemd_cgroup, id);
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[tracing::instrument(level = "info", skip(self))]
    pub fn pause(&self, id: &str) -> Result<(), ContainerError> {
        Ok(self.load(id)?.pause()?)
    }

    #[tracing::instrument(level = "info", skip(self))]
    pub fn resume(&self, id: &str) -> Result<(), ContainerError> {
        Ok(self.load(id)?.resume()?)
    }

    fn cgroup(&self, container: &Container) -> Result<AnyCgroupManager, ContainerError> {
        libcgroups::common::create_cgroup_manager(CgroupConfig {
            cgroup_path: container.spec()?.cgroup_path,
            systemd_cgroup: container.systemd(),
            container_name: container.id().to_string(),
        })
        .map_err(|e| ContainerError::Cgroup(crate::error::error_chain(&e)))
    }

    /// Every process in the container's cgroup.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>, ContainerError> {
        let container = self.load(id)?;
        let pids = self
            .cgroup(&container)?
            .get_all_pids()
            .map_err(|e| ContainerError::Cgroup(crate::error::error_chain(&e)))?;
        Ok(pids.into_iter().map(Pid::as_raw).collect())
    }

    pub fn update(&self, id: &str, resources: &LinuxResources) -> Result<(), ContainerError> {
        let container = self.load(id)?;
        self.cgroup(&container)?
            .apply(&ControllerOpt {
                resources,
                disable_oom_killer: false,
                oom_score_adj: None,
                freezer_state: None,
            })
            .map_err(|e| ContainerError::Cgroup(crate::error::error_chain(&e)))
    }

    /// Runs a new process in a running container; Wasm when its entrypoint is a module.
    /// Returns the process's pid (as this process sees it).
    pub fn exec(&self, opts: &ExecOptions) -> Result<Pid, ContainerError> {
        // the exec'd process joins the container's cgroups
        let primed = crate::cgroup::prime_migrations();
        let container = self.load(&opts.id)?;
        let paused_ok = opts.ignore_paused && container.status() == ContainerStatus::Paused;
        if container.status() != ContainerStatus::Running && !paused_ok {
            return Err(self.wrong_status(
                &container,
                "exec",
                "running (or paused with --ignore-paused)",
            ));
        }
        let spec = load_spec(container.bundle())?;
        let process = self.exec_process(opts, &spec)?;
        let init = container
            .pid()
            .ok_or_else(|| ContainerError::NotFound(opts.id.clone()))?;
        // the container's own view of its filesystem, mounts included
        let root = PathBuf::from(format!("/proc/{init}/root"));
        // an exec runs what the rootfs (and mounts) hold; an artifact's module is the init's
        let executor = executor_for(&process, &spec, &root, None, opts.preserve_fds)?;

        let (user, group) = match opts.user {
            Some((uid, gid)) => (Some(uid), gid),
            None => (None, None),
        };
        let root = self.ensure_root()?;
        let sockets = NotifySockets::before_exec(&root.join(&opts.id));
        let _ = primed.join();
        // an exec joins the container's cgroup: it makes no directory of its own
        let tether = Tether::arm(&[]);
        let built = (|| -> Result<Pid, ContainerError> {
            Ok(
                ContainerBuilder::new(opts.id.clone(), SyscallType::default())
                    .with_executor(executor)
                    .with_root_path(root.clone())?
                    .with_console_socket(opts.console_socket.as_ref())
                    .with_pid_file(opts.pid_file.as_ref())?
                    .with_preserved_fds(opts.preserve_fds)
                    .validate_id()?
                    .as_tenant()
                    .with_ignore_paused(opts.ignore_paused)
                    .with_detach(opts.detach)
                    .with_cwd(opts.cwd.as_ref())
                    .with_env(opts.env.iter().cloned().collect::<HashMap<_, _>>())
                    .with_process(opts.process.as_ref())
                    .with_container_args(opts.args.clone())
                    .with_no_new_privs(opts.no_new_privs)
                    .with_additional_gids(opts.additional_gids.clone())
                    .with_user(user)
                    .with_group(group)
                    .with_capabilities(opts.capabilities.clone())
                    .build()?,
            )
        })();
        if built.is_ok() {
            tether.release();
        } else {
            // killed at once, not after the wait
            drop(tether);
            sockets.wait_for_this_exec();
        }
        sockets.remove_stale();
        built.map_err(|err| match pids_limit_reached(init) {
            Some(why) => ContainerError::Libcontainer(format!("{err} ({why})")),
            None => err,
        })
    }

    /// The process an exec will run, as libcontainer will build it: from process.json, or
    /// the container's process with the command, env and cwd of the request.
    fn exec_process(&self, opts: &ExecOptions, spec: &Spec) -> Result<Process, ContainerError> {
        if let Some(path) = &opts.process {
            let text = fs::read_to_string(path).map_err(|source| ContainerError::Io {
                path: path.clone(),
                source,
            })?;
            return serde_json::from_str(&text).map_err(|e| ContainerError::InvalidConfig {
                path: path.clone(),
                reason: e.to_string(),
            });
        }
        let mut process = spec.process().clone().unwrap_or_default();
        process.set_args(Some(opts.args.clone()));
        let mut env = process.env().clone().unwrap_or_default();
        env.extend(opts.env.iter().map(|(k, v)| format!("{k}={v}")));
        process.set_env(Some(env));
        if let Some(cwd) = &opts.cwd {
            process.set_cwd(cwd.clone());
        }
        Ok(process)
    }

    fn wrong_status(
        &self,
        c: &Container,
        action: &'static str,
        needed: &'static str,
    ) -> ContainerError {
        ContainerError::WrongStatus {
            id: c.id().to_string(),
            status: status_name(c.status()).to_string(),
            action,
            needed,
        }
    }
}

/// A force delete of a container whose `runwasm create` was killed before the container was
/// created (its caller cleaning up, as the shim does after a failed create) empties its cgroup
/// first. Such a container is recorded "creating", without an init pid (libcontainer then
/// deletes it as stopped, and removing the cgroup fails with EBUSY while the orphaned init or
/// intermediate process is still in it), or has no youki_config.json yet (libcontainer then
/// skips the cgroup altogether, and it stays behind): its processes are killed and its cgroup
/// is removed here. The cgroup comes from the recorded config, else from the bundle's spec.
fn empty_cgroup_of_unfinished_create(container: &Container) {
    let recorded = container.spec().ok();
    if recorded.is_some() && container.status() != ContainerStatus::Creating {
        return;
    }
    let cgroup_path = match &recorded {
        Some(config) => config.cgroup_path.clone(),
        None => match load_spec(container.bundle()) {
            Ok(spec) => libcontainer::utils::get_cgroup_path(
                &spec.linux().as_ref().and_then(|l| l.cgroups_path().clone()),
                container.id(),
            ),
            Err(_) => return,
        },
    };
    empty_cgroup(cgroup_path, container.systemd(), container.id());
}

/// Kills every process in a cgroup, waits (briefly) for it to empty and removes it.
fn empty_cgroup(cgroup_path: PathBuf, systemd_cgroup: bool, id: &str) {
    // a create killed half-way joined the controllers one by one (in no fixed order): its
    // process may be in some of them and not in devices, the one libcgroups lists pids from
    let dirs = match systemd_cgroup {
        true => Vec::new(),
        false => crate::cgroup::container_dirs(&cgroup_path),
    };
    let Ok(manager) = libcgroups::common::create_cgroup_manager(CgroupConfig {
        cgroup_path,
        systemd_cgroup,
        container_name: id.to_string(),
    }) else {
        return;
    };
    let members = || {
        let mut pids = manager.get_all_pids().unwrap_or_default();
        pids.extend(dirs.iter().flat_map(|dir| crate::cgroup::procs(dir)));
        pids
    };
    let _ = manager.freeze(libcgroups::common::FreezerState::Frozen);
    let kill_all = |pids: Vec<Pid>| {
        for pid in pids {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    };
    kill_all(members());
    let _ = manager.freeze(libcgroups::common::FreezerState::Thawed);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let left = members();
        if left.is_empty() || std::time::Instant::now() >= deadline {
            break;
        }
        kill_all(left);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    if dirs.is_empty() {
        if let Err(e) = manager.remove() {
            tracing::warn!("cannot remove the cgroup of an unfinished create: {e}");
        }
        return;
    }
    // not libcgroups' remove: the killed create's guard removes the same dirs, and one gone
    // between libcgroups' look and its rmdir fails that
    for dir in &dirs {
        if let Err(e) = crate::cgroup::remove_empty_dir(dir) {
            tracing::warn!(
                "cannot remove the cgroup {} of an unfinished create: {e}",
                dir.display()
            );
        }
    }
}

/// Why no process could be started in the container when its pids cgroup is the reason: at
/// the limit, clone fails with EAGAIN, which libcontainer reports only as "failed to clone".
fn pids_limit_reached(init: Pid) -> Option<String> {
    let cgroups = fs::read_to_string(format!("/proc/{init}/cgroup")).ok()?;
    let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let dir = cgroups.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let path = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "pids") {
            Some(Path::new("/sys/fs/cgroup/pids").join(path))
        } else if controllers.is_empty() && unified {
            Some(Path::new("/sys/fs/cgroup").join(path))
        } else {
            None
        }
    })?;
    let read = |name: &str| fs::read_to_string(dir.join(name)).ok();
    let max: u64 = read("pids.max")?.trim().parse().ok()?;
    let current: u64 = read("pids.current")?.trim().parse().ok()?;
    (current >= max).then(|| format!("the container's pids limit ({max}) is reached"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcontainer::error::LibcontainerError;

    fn parse_error(text: &str) -> LibcontainerError {
        LibcontainerError::State(StateError::ParseStateFile {
            state_file_path: "state.json".into(),
            source: serde_json::from_str::<serde_json::Value>(text).unwrap_err(),
        })
    }

    #[test]
    fn only_a_state_file_cut_short_is_retried() {
        assert!(is_partial_state(&parse_error("")));
        assert!(is_partial_state(&parse_error(r#"{"id":"a","#)));
        assert!(!is_partial_state(&parse_error("{x")));
        assert!(!is_partial_state(&LibcontainerError::State(
            StateError::OpenStateFile {
                state_file_path: "state.json".into(),
                source: std::io::ErrorKind::NotFound.into(),
            }
        )));
    }

    #[test]
    fn a_state_file_that_stays_empty_still_fails() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("c1")).unwrap();
        std::fs::write(root.path().join("c1/state.json"), "").unwrap();
        let err = Runtime::new(root.path(), false).load("c1").err().unwrap();
        assert!(
            err.to_string().contains("parse container state file"),
            "{err}"
        );
        assert!(matches!(err, ContainerError::StateCutShort { .. }), "{err}");
    }

    #[test]
    fn a_forced_delete_removes_a_state_dir_with_its_state_cut_short() {
        // what a `runwasm create` killed while it saved the state leaves
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("cut")).unwrap();
        std::fs::write(root.path().join("cut/state.json"), r#"{"id":"cut","#).unwrap();
        let runtime = Runtime::new(root.path(), false);
        assert!(runtime.delete("cut", false).is_err());
        assert!(root.path().join("cut").exists());
        runtime.delete("cut", true).unwrap();
        assert!(!root.path().join("cut").exists());
    }

    #[test]
    fn a_forced_delete_removes_a_state_dir_without_state() {
        // what a `runwasm create` killed between making the dir and recording the state leaves
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("half")).unwrap();
        let runtime = Runtime::new(root.path(), false);
        assert!(runtime.delete("half", false).is_err());
        assert!(root.path().join("half").exists());
        runtime.delete("half", true).unwrap();
        assert!(!root.path().join("half").exists());
        // a forced delete of nothing at all still succeeds
        runtime.delete("never", true).unwrap();
    }

    #[test]
    fn no_pids_hint_for_a_process_that_is_not_there() {
        assert_eq!(pids_limit_reached(Pid::from_raw(i32::MAX)), None);
    }
}
