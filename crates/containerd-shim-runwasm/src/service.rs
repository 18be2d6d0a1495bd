//! The Task service: containerd's requests mapped onto `runwasm` calls, an explicit process
//! state machine (created -> running <-> paused -> stopped), exits from the shim's reaper and
//! the task events containerd expects.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use containerd_shim::api::{
    CloseIORequest, ConnectRequest, ConnectResponse, CreateTaskRequest, CreateTaskResponse,
    DeleteRequest, ExecProcessRequest, KillRequest, PauseRequest, PidsRequest, PidsResponse,
    ResizePtyRequest, ResumeRequest, ShutdownRequest, StartRequest, StartResponse, StateRequest,
    StateResponse, StatsRequest, StatsResponse, Status, UpdateTaskRequest, WaitRequest,
    WaitResponse,
};
use containerd_shim::monitor::{monitor_subscribe, Topic};
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::{MessageDyn, MessageField};
use containerd_shim::protos::topics;
use containerd_shim::protos::ttrpc::{self, Code};
use containerd_shim::protos::types::task::ProcessInfo;
use containerd_shim::{api, DeleteResponse, ExitSignal, TtrpcContext, TtrpcResult};
use oci_spec::runtime::LinuxResources;

use runwasm_container::{ContainerError, Runtime};

use crate::artifact::ContentStore;
use crate::cli::{ProcessIo, RunwasmCli};
use crate::events::EventSink;
use crate::io::{copy_console, resize, ConsoleSocket, StdioPaths};
use crate::oom;

fn rpc(code: Code, msg: impl ToString) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, msg))
}

fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
        ..Default::default()
    }
}

/// One process of a task: the init or an exec.
struct Proc {
    pid: i32,
    status: Status,
    exit_status: u32,
    exited_at: Option<Timestamp>,
    stdio: StdioPaths,
    console: Option<OwnedFd>,
    /// An exec's process.json, written when it is added, run when it is started.
    exec_spec: Option<PathBuf>,
    /// A create or start is in progress: an exit seen meanwhile waits in `held_exit` so
    /// that containerd gets TaskCreate, TaskStart or TaskExecStarted before TaskExit.
    starting: bool,
    held_exit: Option<TaskExit>,
}

impl Proc {
    fn new(stdio: StdioPaths) -> Self {
        Self {
            pid: 0,
            status: Status::CREATED,
            exit_status: 0,
            exited_at: None,
            stdio,
            console: None,
            exec_spec: None,
            starting: false,
            held_exit: None,
        }
    }

    fn exited(&self) -> bool {
        self.exited_at.is_some()
    }
}

struct Task {
    bundle: PathBuf,
    init: Proc,
    execs: HashMap<String, Proc>,
    /// The spec has OCI hooks: libcontainer waits for them as its children, which the shim's
    /// reaper would collect first, so such a container is started and deleted by runwasm.
    hooks: bool,
}

impl Task {
    fn proc_mut(&mut self, exec_id: &str) -> TtrpcResult<&mut Proc> {
        if exec_id.is_empty() {
            return Ok(&mut self.init);
        }
        self.execs
            .get_mut(exec_id)
            .ok_or_else(|| rpc(Code::NOT_FOUND, format!("exec {exec_id} not found")))
    }

    fn log(&self) -> PathBuf {
        self.bundle.join("log.json")
    }
}

/// How long an exit of an unknown pid is kept for a process whose pid is not read yet.
const UNCLAIMED_TTL: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Tasks {
    tasks: HashMap<String, Task>,
    /// Exits of pids not yet known (a process can exit before its pid file is read), with
    /// when they happened: only an exit after a process was launched can be its own.
    unclaimed: HashMap<i32, (i32, Instant)>,
}

impl Tasks {
    fn get(&mut self, id: &str) -> TtrpcResult<&mut Task> {
        self.tasks
            .get_mut(id)
            .ok_or_else(|| rpc(Code::NOT_FOUND, format!("task {id} not found")))
    }
}

struct Inner {
    /// Runs what forks into a container (create, exec) in a fresh process.
    cli: RunwasmCli,
    /// Everything else (start, kill, delete, ps, pause, update) needs no fork: done here,
    /// on the same state, without a process start per call.
    runtime: Runtime,
    events: EventSink,
    /// Where OCI Wasm artifacts' modules are read from.
    content: ContentStore,
    tasks: Mutex<Tasks>,
    exited: Condvar,
    exit: Arc<ExitSignal>,
}

#[derive(Clone)]
pub struct TaskService {
    inner: Arc<Inner>,
}

impl TaskService {
    pub fn new(
        cli: RunwasmCli,
        runtime: Runtime,
        events: EventSink,
        content: ContentStore,
        exit: Arc<ExitSignal>,
    ) -> Self {
        let inner = Arc::new(Inner {
            cli,
            runtime,
            events,
            content,
            tasks: Mutex::new(Tasks::default()),
            exited: Condvar::new(),
            exit,
        });
        let watcher = inner.clone();
        std::thread::spawn(move || watcher.watch_exits());
        Self { inner }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Tasks> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tools(&self) -> (&RunwasmCli, &Runtime) {
        (&self.cli, &self.runtime)
    }

    fn publish(&self, topic: &'static str, event: Box<dyn MessageDyn>) {
        self.events.publish(topic, event)
    }

    /// Every exit the shim's reaper sees: mark the process stopped and tell containerd.
    fn watch_exits(&self) {
        let Ok(subscription) = monitor_subscribe(Topic::Pid) else {
            log::error!("cannot watch process exits");
            return;
        };
        while let Ok(event) = subscription.rx.recv() {
            let containerd_shim::monitor::Subject::Pid(pid) = event.subject else {
                continue;
            };
            let mut tasks = self.lock();
            if !self.record_exit(&mut tasks, pid, event.exit_code) {
                // runwasm's own short-lived processes land here too: keep the map small
                tasks
                    .unclaimed
                    .retain(|_, (_, at)| at.elapsed() < UNCLAIMED_TTL);
                tasks
                    .unclaimed
                    .insert(pid, (event.exit_code, Instant::now()));
            }
        }
    }

    fn record_exit(&self, tasks: &mut Tasks, pid: i32, code: i32) -> bool {
        for (id, task) in tasks.tasks.iter_mut() {
            let init = std::iter::once((String::new(), &mut task.init));
            for (exec_id, proc) in init.chain(task.execs.iter_mut().map(|(k, v)| (k.clone(), v))) {
                if proc.pid == pid && !proc.exited() {
                    let at = now();
                    proc.status = Status::STOPPED;
                    proc.exit_status = code as u32;
                    proc.exited_at = Some(at.clone());
                    let event = TaskExit {
                        container_id: id.clone(),
                        id: if exec_id.is_empty() {
                            id.clone()
                        } else {
                            exec_id
                        },
                        pid: pid as u32,
                        exit_status: code as u32,
                        exited_at: MessageField::some(at),
                        ..Default::default()
                    };
                    if proc.starting {
                        proc.held_exit = Some(event);
                    } else {
                        self.publish(topics::TASK_EXIT_EVENT_TOPIC, Box::new(event));
                    }
                    self.exited.notify_all();
                    return true;
                }
            }
        }
        false
    }

    /// Records the pid of a process launched at `launched` (CREATED for an init, RUNNING for
    /// an exec), applying its exit if the reaper saw it before the pid was known.
    fn set_pid(
        &self,
        tasks: &mut Tasks,
        (id, exec_id): (&str, &str),
        pid: i32,
        status: Status,
        launched: Instant,
    ) -> TtrpcResult<()> {
        let early_exit = tasks
            .unclaimed
            .remove(&pid)
            .filter(|(_, at)| *at >= launched);
        let proc = tasks.get(id)?.proc_mut(exec_id)?;
        proc.pid = pid;
        proc.status = status;
        if let Some((code, _)) = early_exit {
            self.record_exit(tasks, pid, code);
        }
        Ok(())
    }

    /// Ends a create or start: `event` (TaskCreate, TaskStart or TaskExecStarted) goes out,
    /// then an exit that happened meanwhile.
    fn finish_start(
        &self,
        tasks: &mut Tasks,
        (id, exec_id): (&str, &str),
        event: Option<(&'static str, Box<dyn MessageDyn>)>,
    ) {
        let Ok(proc) = tasks.get(id).and_then(|t| t.proc_mut(exec_id)) else {
            return;
        };
        proc.starting = false;
        let held = proc.held_exit.take();
        if let Some((topic, event)) = event {
            self.publish(topic, event);
        }
        if let Some(exit) = held {
            self.publish(topics::TASK_EXIT_EVENT_TOPIC, Box::new(exit));
        }
    }

    /// Fails with NOT_FOUND unless the shim runs task `id`.
    fn known(&self, id: &str) -> TtrpcResult<()> {
        self.lock().get(id).map(|_| ())
    }

    /// Mounts the rootfs containerd sends (none when the bundle already has it).
    fn mount_rootfs(&self, bundle: &Path, req: &CreateTaskRequest) -> TtrpcResult<()> {
        let rootfs = bundle.join("rootfs");
        for m in &req.rootfs {
            std::fs::create_dir_all(&rootfs).map_err(|e| rpc(Code::INTERNAL, e.to_string()))?;
            containerd_shim::mount::mount_rootfs(
                Some(m.type_.as_str()),
                Some(m.source.as_str()),
                &m.options,
                &rootfs,
            )
            .map_err(|e| rpc(Code::INTERNAL, format!("cannot mount rootfs: {e}")))?;
        }
        Ok(())
    }

    /// An OCI Wasm artifact's module, from containerd's content store into the bundle.
    fn supply_artifact(&self, id: &str, bundle: &Path) -> TtrpcResult<()> {
        let module = self
            .content
            .wasm_module(id, runwasm_wasm::limits::max_module_bytes())
            .map_err(|e| rpc(Code::FAILED_PRECONDITION, e.to_string()))?;
        if let Some((module, precompiled)) = module {
            runwasm_container::artifact::write(bundle, &module, precompiled.as_ref())
                .map_err(|e| rpc(Code::INTERNAL, e.to_string()))?;
        }
        Ok(())
    }

    /// `runwasm create`: the container's init pid and, with a terminal, the pty master.
    fn create_container(
        &self,
        id: &str,
        bundle: &Path,
        stdio: &StdioPaths,
    ) -> TtrpcResult<(i32, Option<OwnedFd>)> {
        let pid_file = bundle.join("init.pid");
        let (bundle_s, pid_s) = (bundle.display().to_string(), pid_file.display().to_string());
        let console = self.run_with_stdio(
            &bundle.join("log.json"),
            &["create", "--bundle", &bundle_s, "--pid-file", &pid_s, id],
            stdio,
        )?;
        Ok((read_pid(&pid_file)?, console))
    }

    /// Runs `runwasm` with a console socket when the process has a terminal, and starts
    /// copying between the pty and the fifos once runwasm has sent the master.
    fn run_with_stdio(
        &self,
        log: &Path,
        args: &[&str],
        stdio: &StdioPaths,
    ) -> TtrpcResult<Option<OwnedFd>> {
        if !stdio.terminal {
            let io = stdio
                .open()
                .map_err(|e| rpc(Code::INTERNAL, format!("cannot open stdio: {e}")))?;
            self.cli
                .run(log, args, io)
                .map_err(|e| rpc(Code::UNKNOWN, e.0))?;
            return Ok(None);
        }
        let socket = ConsoleSocket::new()
            .map_err(|e| rpc(Code::INTERNAL, format!("console socket: {e}")))?;
        let socket_path = socket.path().display().to_string();
        let mut full: Vec<&str> = vec![args[0], "--console-socket", &socket_path];
        full.extend_from_slice(&args[1..]);
        let receiver = std::thread::spawn(move || socket.receive_master());
        if let Err(e) = self.cli.run(log, &full, ProcessIo::default()) {
            // runwasm failed before sending a master: wake the receiver so it ends
            let _ = std::os::unix::net::UnixStream::connect(&socket_path);
            let _ = receiver.join();
            return Err(rpc(Code::UNKNOWN, e.0));
        }
        let master = receiver
            .join()
            .map_err(|_| rpc(Code::INTERNAL, "console receiver panicked"))?
            .map_err(|e| rpc(Code::INTERNAL, format!("console: {e}")))?;
        copy_console(&master, stdio)
            .map_err(|e| rpc(Code::INTERNAL, format!("console copy: {e}")))?;
        Ok(Some(master))
    }
}

/// The exit status reported for an exec that could not be started.
const EXEC_FAILED: u32 = 255;

/// "task ID" or "exec ID of task ID", for messages.
fn key_name((id, exec_id): (&str, &str)) -> String {
    if exec_id.is_empty() {
        format!("task {id}")
    } else {
        format!("exec {exec_id} of task {id}")
    }
}

/// The bundle's config.json as JSON, for the few fields the shim itself looks at.
pub fn bundle_spec(bundle: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(bundle.join("config.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether the bundle's spec has OCI hooks (see [`Task::hooks`]).
pub fn has_hooks(bundle: &Path) -> bool {
    bundle_spec(bundle)
        .and_then(|spec| {
            spec["hooks"].as_object().map(|hooks| {
                hooks
                    .values()
                    .any(|list| list.as_array().is_some_and(|l| !l.is_empty()))
            })
        })
        .unwrap_or(false)
}

#[derive(Clone, Copy)]
pub enum Lifecycle {
    Start,
    /// Also kills a running container and unmounts the bundle's rootfs.
    Delete,
}

/// Starts or deletes a container: in-process on runwasm's state, or through a runwasm
/// process when the spec has hooks (see [`Task::hooks`]).
pub fn lifecycle(
    (cli, runtime): (&RunwasmCli, &Runtime),
    bundle: &Path,
    id: &str,
    hooks: bool,
    step: Lifecycle,
) -> TtrpcResult<()> {
    let args: &[&str] = match step {
        Lifecycle::Start => &["start", id],
        Lifecycle::Delete => &["delete", "--force", id],
    };
    let done = if hooks {
        cli.run(&bundle.join("log.json"), args, ProcessIo::default())
            .map_err(|e| rpc(Code::UNKNOWN, e.0))
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
fn container_error(err: ContainerError) -> ttrpc::Error {
    let code = match err {
        ContainerError::NotFound(_) => Code::NOT_FOUND,
        ContainerError::WrongStatus { .. } => Code::FAILED_PRECONDITION,
        _ => Code::UNKNOWN,
    };
    rpc(code, err)
}

fn read_pid(path: &Path) -> TtrpcResult<i32> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| rpc(Code::INTERNAL, format!("no pid in {}", path.display())))
}

fn stdio_of(stdin: &str, stdout: &str, stderr: &str, terminal: bool) -> StdioPaths {
    StdioPaths {
        stdin: stdin.to_string(),
        stdout: stdout.to_string(),
        stderr: stderr.to_string(),
        terminal,
    }
}

impl containerd_shim::Task for TaskService {
    fn create(
        &self,
        _ctx: &TtrpcContext,
        req: CreateTaskRequest,
    ) -> TtrpcResult<CreateTaskResponse> {
        let me = &self.inner;
        if !req.checkpoint.is_empty() {
            return Err(rpc(
                Code::UNIMPLEMENTED,
                "checkpoint restore is not supported",
            ));
        }
        let bundle = PathBuf::from(&req.bundle);
        let stdio = stdio_of(&req.stdin, &req.stdout, &req.stderr, req.terminal);
        {
            let mut tasks = me.lock();
            if tasks.tasks.contains_key(&req.id) {
                return Err(rpc(Code::ALREADY_EXISTS, format!("task {} exists", req.id)));
            }
            let mut init = Proc::new(stdio.clone());
            // an exit during create is announced after TaskCreate
            init.starting = true;
            tasks.tasks.insert(
                req.id.clone(),
                Task {
                    bundle: bundle.clone(),
                    init,
                    execs: HashMap::new(),
                    hooks: has_hooks(&bundle),
                },
            );
        }
        let launched = Instant::now();
        let created = me
            .mount_rootfs(&bundle, &req)
            .and_then(|()| me.supply_artifact(&req.id, &bundle))
            .and_then(|()| me.create_container(&req.id, &bundle, &stdio));
        let (pid, console) = match created {
            Ok(created) => created,
            Err(e) => {
                // nothing of a failed create stays: task, container state, rootfs mount
                me.lock().tasks.remove(&req.id);
                let _ = me.runtime.delete(&req.id, true);
                if !req.rootfs.is_empty() {
                    let _ = nix::mount::umount2(
                        &bundle.join("rootfs"),
                        nix::mount::MntFlags::MNT_DETACH,
                    );
                }
                return Err(e);
            }
        };
        let notifier = self.inner.clone();
        let container_id = req.id.clone();
        oom::watch(pid, move || {
            notifier.publish(
                topics::TASK_OOM_EVENT_TOPIC,
                Box::new(TaskOOM {
                    container_id: container_id.clone(),
                    ..Default::default()
                }),
            )
        });
        let event = TaskCreate {
            container_id: req.id.clone(),
            bundle: req.bundle.clone(),
            rootfs: req.rootfs.clone(),
            io: MessageField::some(TaskIO {
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
                ..Default::default()
            }),
            pid: pid as u32,
            ..Default::default()
        };
        {
            let key = (req.id.as_str(), "");
            let mut tasks = me.lock();
            tasks.get(&req.id)?.init.console = console;
            me.set_pid(&mut tasks, key, pid, Status::CREATED, launched)?;
            me.finish_start(
                &mut tasks,
                key,
                Some((topics::TASK_CREATE_EVENT_TOPIC, Box::new(event))),
            );
        }
        Ok(CreateTaskResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    fn start(&self, _ctx: &TtrpcContext, req: StartRequest) -> TtrpcResult<StartResponse> {
        let me = &self.inner;
        let key = (req.id.as_str(), req.exec_id.as_str());
        let (bundle, log, hooks, spec, stdio) = {
            let mut tasks = me.lock();
            let task = tasks.get(&req.id)?;
            let (bundle, log, hooks) = (task.bundle.clone(), task.log(), task.hooks);
            let proc = task.proc_mut(&req.exec_id)?;
            if proc.status != Status::CREATED || proc.exited() {
                return Err(rpc(
                    Code::FAILED_PRECONDITION,
                    format!("{} is not in the created state", key_name(key)),
                ));
            }
            proc.starting = true;
            let spec = proc.exec_spec.clone().unwrap_or_default();
            (bundle, log, hooks, spec, proc.stdio.clone())
        };
        if req.exec_id.is_empty() {
            let started = lifecycle(me.tools(), &bundle, &req.id, hooks, Lifecycle::Start);
            let mut tasks = me.lock();
            if let Err(e) = started {
                me.finish_start(&mut tasks, key, None);
                return Err(e);
            }
            let task = tasks.get(&req.id)?;
            if !task.init.exited() {
                task.init.status = Status::RUNNING;
            }
            let pid = task.init.pid;
            let event = TaskStart {
                container_id: req.id.clone(),
                pid: pid as u32,
                ..Default::default()
            };
            me.finish_start(
                &mut tasks,
                key,
                Some((topics::TASK_START_EVENT_TOPIC, Box::new(event))),
            );
            return Ok(StartResponse {
                pid: pid as u32,
                ..Default::default()
            });
        }
        let pid_file = bundle.join(format!("exec-{}.pid", req.exec_id));
        let (spec_s, pid_s) = (spec.display().to_string(), pid_file.display().to_string());
        let launched = Instant::now();
        let started = me
            .run_with_stdio(
                &log,
                &[
                    "exec",
                    "--detach",
                    "--pid-file",
                    &pid_s,
                    "--process",
                    &spec_s,
                    &req.id,
                ],
                &stdio,
            )
            .and_then(|console| Ok((read_pid(&pid_file)?, console)));
        let mut tasks = me.lock();
        let (pid, console) = match started {
            Ok(started) => started,
            Err(e) => {
                // the exec never ran: it is stopped, and its waiters learn so
                if let Ok(proc) = tasks.get(&req.id).and_then(|t| t.proc_mut(&req.exec_id)) {
                    proc.status = Status::STOPPED;
                    proc.exit_status = EXEC_FAILED;
                    proc.exited_at = Some(now());
                }
                me.finish_start(&mut tasks, key, None);
                me.exited.notify_all();
                return Err(e);
            }
        };
        tasks.get(&req.id)?.proc_mut(&req.exec_id)?.console = console;
        me.set_pid(&mut tasks, key, pid, Status::RUNNING, launched)?;
        let event = TaskExecStarted {
            container_id: req.id.clone(),
            exec_id: req.exec_id.clone(),
            pid: pid as u32,
            ..Default::default()
        };
        me.finish_start(
            &mut tasks,
            key,
            Some((topics::TASK_EXEC_STARTED_EVENT_TOPIC, Box::new(event))),
        );
        Ok(StartResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    fn delete(&self, _ctx: &TtrpcContext, req: DeleteRequest) -> TtrpcResult<api::DeleteResponse> {
        let me = &self.inner;
        if !req.exec_id.is_empty() {
            let mut tasks = me.lock();
            let task = tasks.get(&req.id)?;
            let running = task
                .execs
                .get(&req.exec_id)
                .is_some_and(|p| p.pid != 0 && !p.exited());
            if running {
                return Err(rpc(
                    Code::FAILED_PRECONDITION,
                    format!("exec {} is running: kill it first", req.exec_id),
                ));
            }
            let proc = task
                .execs
                .remove(&req.exec_id)
                .ok_or_else(|| rpc(Code::NOT_FOUND, format!("exec {} not found", req.exec_id)))?;
            if let Some(spec) = proc.exec_spec {
                let _ = std::fs::remove_file(spec);
            }
            me.exited.notify_all();
            return Ok(api::DeleteResponse {
                pid: proc.pid as u32,
                exit_status: proc.exit_status,
                exited_at: proc.exited_at.into(),
                ..Default::default()
            });
        }
        let (bundle, hooks) = {
            let mut tasks = me.lock();
            let task = tasks.get(&req.id)?;
            (task.bundle.clone(), task.hooks)
        };
        lifecycle(me.tools(), &bundle, &req.id, hooks, Lifecycle::Delete)?;
        let task = {
            let mut tasks = me.lock();
            let task = tasks
                .tasks
                .remove(&req.id)
                .ok_or_else(|| rpc(Code::NOT_FOUND, format!("task {} not found", req.id)))?;
            me.exited.notify_all();
            task
        };
        let exited_at = task.init.exited_at.clone().unwrap_or_else(now);
        me.publish(
            topics::TASK_DELETE_EVENT_TOPIC,
            Box::new(TaskDelete {
                container_id: req.id.clone(),
                pid: task.init.pid as u32,
                exit_status: task.init.exit_status,
                exited_at: MessageField::some(exited_at.clone()),
                ..Default::default()
            }),
        );
        Ok(api::DeleteResponse {
            pid: task.init.pid as u32,
            exit_status: task.init.exit_status,
            exited_at: MessageField::some(exited_at),
            ..Default::default()
        })
    }

    fn pids(&self, _ctx: &TtrpcContext, req: PidsRequest) -> TtrpcResult<PidsResponse> {
        let me = &self.inner;
        me.known(&req.id)?;
        let pids = me.runtime.pids(&req.id).map_err(container_error)?;
        Ok(PidsResponse {
            processes: pids
                .into_iter()
                .map(|pid| ProcessInfo {
                    pid: pid as u32,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
    }

    fn pause(&self, _ctx: &TtrpcContext, req: PauseRequest) -> TtrpcResult<api::Empty> {
        self.set_frozen(&req.id, true)
    }

    fn resume(&self, _ctx: &TtrpcContext, req: ResumeRequest) -> TtrpcResult<api::Empty> {
        self.set_frozen(&req.id, false)
    }

    fn kill(&self, _ctx: &TtrpcContext, req: KillRequest) -> TtrpcResult<api::Empty> {
        let me = &self.inner;
        let pid = {
            let mut tasks = me.lock();
            let task = tasks.get(&req.id)?;
            let proc = task.proc_mut(&req.exec_id)?;
            // as containerd's runc shim: an exited process is NOT_FOUND, never signalled
            // (its pid may already belong to another process)
            if proc.exited() || proc.pid == 0 {
                return Err(rpc(Code::NOT_FOUND, "process already finished"));
            }
            proc.pid
        };
        if req.exec_id.is_empty() {
            return me
                .runtime
                .kill(&req.id, &req.signal.to_string(), req.all)
                .map(|_| api::Empty::new())
                .map_err(container_error);
        }
        let signal = nix::sys::signal::Signal::try_from(req.signal as i32)
            .map_err(|e| rpc(Code::INVALID_ARGUMENT, e.to_string()))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
            .map_err(|e| rpc(Code::UNKNOWN, e.to_string()))?;
        Ok(api::Empty::new())
    }

    fn exec(&self, _ctx: &TtrpcContext, req: ExecProcessRequest) -> TtrpcResult<api::Empty> {
        let me = &self.inner;
        // the id names a file in the bundle
        if req.exec_id.is_empty() || req.exec_id.contains('/') {
            return Err(rpc(
                Code::INVALID_ARGUMENT,
                format!("invalid exec id {:?}", req.exec_id),
            ));
        }
        let spec = req
            .spec
            .as_ref()
            .map(|any| any.value.clone())
            .unwrap_or_default();
        {
            let mut tasks = me.lock();
            let task = tasks.get(&req.id)?;
            // checked before writing: a duplicate must not replace the known exec's process
            if task.execs.contains_key(&req.exec_id) {
                return Err(rpc(
                    Code::ALREADY_EXISTS,
                    format!("exec {} exists", req.exec_id),
                ));
            }
            let spec_path = task.bundle.join(format!("exec-{}.json", req.exec_id));
            std::fs::write(&spec_path, spec).map_err(|e| rpc(Code::INTERNAL, e.to_string()))?;
            let mut proc = Proc::new(stdio_of(&req.stdin, &req.stdout, &req.stderr, req.terminal));
            proc.exec_spec = Some(spec_path);
            task.execs.insert(req.exec_id.clone(), proc);
        }
        me.publish(
            topics::TASK_EXEC_ADDED_EVENT_TOPIC,
            Box::new(TaskExecAdded {
                container_id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                ..Default::default()
            }),
        );
        Ok(api::Empty::new())
    }

    fn resize_pty(&self, _ctx: &TtrpcContext, req: ResizePtyRequest) -> TtrpcResult<api::Empty> {
        let mut tasks = self.inner.lock();
        let task = tasks.get(&req.id)?;
        let proc = task.proc_mut(&req.exec_id)?;
        if let Some(master) = &proc.console {
            resize(master, req.width, req.height)
                .map_err(|e| rpc(Code::INTERNAL, e.to_string()))?;
        }
        Ok(api::Empty::new())
    }

    fn close_io(&self, _ctx: &TtrpcContext, _req: CloseIORequest) -> TtrpcResult<api::Empty> {
        // stdin fifos go to the process itself: containerd closing its writer is the EOF
        Ok(api::Empty::new())
    }

    fn update(&self, _ctx: &TtrpcContext, req: UpdateTaskRequest) -> TtrpcResult<api::Empty> {
        let me = &self.inner;
        me.known(&req.id)?;
        // containerd sends the runtime-spec LinuxResources as JSON
        let resources: LinuxResources = req
            .resources
            .as_ref()
            .map(|any| serde_json::from_slice(&any.value))
            .transpose()
            .map_err(|e| rpc(Code::INVALID_ARGUMENT, format!("invalid resources: {e}")))?
            .unwrap_or_default();
        me.runtime
            .update(&req.id, &resources)
            .map(|_| api::Empty::new())
            .map_err(container_error)
    }

    fn wait(&self, _ctx: &TtrpcContext, req: WaitRequest) -> TtrpcResult<WaitResponse> {
        let me = &self.inner;
        let mut tasks = me.lock();
        loop {
            let task = tasks.get(&req.id)?;
            let proc = task.proc_mut(&req.exec_id)?;
            if let Some(at) = &proc.exited_at {
                return Ok(WaitResponse {
                    exit_status: proc.exit_status,
                    exited_at: MessageField::some(at.clone()),
                    ..Default::default()
                });
            }
            tasks = me.exited.wait(tasks).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn state(&self, _ctx: &TtrpcContext, req: StateRequest) -> TtrpcResult<StateResponse> {
        let mut tasks = self.inner.lock();
        let task = tasks.get(&req.id)?;
        let bundle = task.bundle.display().to_string();
        let proc = task.proc_mut(&req.exec_id)?;
        let mut resp = StateResponse {
            id: if req.exec_id.is_empty() {
                req.id.clone()
            } else {
                req.exec_id.clone()
            },
            bundle,
            pid: proc.pid as u32,
            stdin: proc.stdio.stdin.clone(),
            stdout: proc.stdio.stdout.clone(),
            stderr: proc.stdio.stderr.clone(),
            terminal: proc.stdio.terminal,
            exit_status: proc.exit_status,
            exec_id: req.exec_id.clone(),
            ..Default::default()
        };
        resp.set_status(proc.status);
        if let Some(at) = &proc.exited_at {
            resp.exited_at = MessageField::some(at.clone());
        }
        Ok(resp)
    }

    fn stats(&self, _ctx: &TtrpcContext, req: StatsRequest) -> TtrpcResult<StatsResponse> {
        let pid = {
            let mut tasks = self.inner.lock();
            let task = tasks.get(&req.id)?;
            if task.init.exited() {
                // its cgroup is found through its pid: containerd skips NOT_FOUND tasks
                return Err(rpc(Code::NOT_FOUND, format!("task {} is stopped", req.id)));
            }
            task.init.pid
        };
        let metrics = crate::stats::collect(pid)
            .map_err(|e| rpc(Code::INTERNAL, format!("cannot read cgroup metrics: {e}")))?;
        Ok(StatsResponse {
            stats: MessageField::some(metrics),
            ..Default::default()
        })
    }

    fn connect(&self, _ctx: &TtrpcContext, req: ConnectRequest) -> TtrpcResult<ConnectResponse> {
        let tasks = self.inner.lock();
        let task_pid = tasks
            .tasks
            .get(&req.id)
            .map(|t| t.init.pid as u32)
            .unwrap_or(0);
        Ok(ConnectResponse {
            shim_pid: std::process::id(),
            task_pid,
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        })
    }

    fn shutdown(&self, _ctx: &TtrpcContext, _req: ShutdownRequest) -> TtrpcResult<api::Empty> {
        // one shim serves a whole pod: stay while any of its tasks remains
        if self.inner.lock().tasks.is_empty() {
            self.inner.exit.signal();
        }
        Ok(api::Empty::new())
    }
}

impl TaskService {
    fn set_frozen(&self, id: &str, frozen: bool) -> TtrpcResult<api::Empty> {
        let me = &self.inner;
        me.known(id)?;
        let (frozen_state, status) = if frozen {
            (me.runtime.pause(id), Status::PAUSED)
        } else {
            (me.runtime.resume(id), Status::RUNNING)
        };
        frozen_state.map_err(container_error)?;
        if let Some(task) = me.lock().tasks.get_mut(id) {
            if !task.init.exited() {
                task.init.status = status;
            }
        }
        let event: Box<dyn MessageDyn> = if frozen {
            Box::new(TaskPaused {
                container_id: id.to_string(),
                ..Default::default()
            })
        } else {
            Box::new(TaskResumed {
                container_id: id.to_string(),
                ..Default::default()
            })
        };
        me.publish(
            if frozen {
                topics::TASK_PAUSED_EVENT_TOPIC
            } else {
                topics::TASK_RESUMED_EVENT_TOPIC
            },
            event,
        );
        Ok(api::Empty::new())
    }
}

/// Packs already encoded bytes as containerd's typeurl Any.
pub fn to_any(type_url: &str, value: &[u8]) -> Any {
    Any {
        type_url: type_url.to_string(),
        value: value.to_vec(),
        ..Default::default()
    }
}

/// What `delete` (after a dead shim) reports.
pub fn dead_shim_response() -> DeleteResponse {
    DeleteResponse {
        exit_status: 137,
        exited_at: MessageField::some(now()),
        ..Default::default()
    }
}
