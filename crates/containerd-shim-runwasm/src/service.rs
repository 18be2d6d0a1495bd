//! The Task service: containerd's requests mapped onto `runwasm` calls, an explicit process
//! state machine (created -> running <-> paused -> stopped), exits from the shim's reaper and
//! the task events containerd expects.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

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
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{api, Context, DeleteResponse, ExitSignal, TtrpcContext, TtrpcResult};
use oci_spec::runtime::LinuxResources;

use runwasm_container::{ContainerError, Runtime};

use crate::cli::{ProcessIo, RunwasmCli};
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
        }
    }
}

struct Task {
    bundle: PathBuf,
    init: Proc,
    execs: HashMap<String, Proc>,
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

#[derive(Default)]
struct Tasks {
    tasks: HashMap<String, Task>,
    /// Exits of pids not yet known (a process can exit before its pid file is read).
    unclaimed: HashMap<i32, i32>,
}

impl Tasks {
    fn get(&mut self, id: &str) -> TtrpcResult<&mut Task> {
        self.tasks
            .get_mut(id)
            .ok_or_else(|| rpc(Code::NOT_FOUND, format!("task {id} not found")))
    }
}

struct Inner {
    namespace: String,
    /// Runs what forks into a container (create, exec) in a fresh process.
    cli: RunwasmCli,
    /// Everything else (start, kill, delete, ps, pause, update) needs no fork: done here,
    /// on the same state, without a process start per call.
    runtime: Runtime,
    publisher: RemotePublisher,
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
        namespace: &str,
        cli: RunwasmCli,
        runtime: Runtime,
        publisher: RemotePublisher,
        exit: Arc<ExitSignal>,
    ) -> Self {
        let inner = Arc::new(Inner {
            namespace: namespace.to_string(),
            cli,
            runtime,
            publisher,
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

    fn publish(&self, topic: &str, event: Box<dyn MessageDyn>) {
        if let Err(e) = self
            .publisher
            .publish(Context::default(), topic, &self.namespace, event)
        {
            log::warn!("cannot publish {topic}: {e}");
        }
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
                tasks.unclaimed.insert(pid, event.exit_code);
                // runwasm's own short-lived processes land here too: keep the map small
                if tasks.unclaimed.len() > 1024 {
                    tasks.unclaimed.clear();
                }
            }
        }
    }

    fn record_exit(&self, tasks: &mut Tasks, pid: i32, code: i32) -> bool {
        for (id, task) in tasks.tasks.iter_mut() {
            let init = std::iter::once((String::new(), &mut task.init));
            for (exec_id, proc) in init.chain(task.execs.iter_mut().map(|(k, v)| (k.clone(), v))) {
                if proc.pid == pid && proc.exited_at.is_none() {
                    let at = now();
                    proc.status = Status::STOPPED;
                    proc.exit_status = code as u32;
                    proc.exited_at = Some(at.clone());
                    self.publish(
                        topics::TASK_EXIT_EVENT_TOPIC,
                        Box::new(TaskExit {
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
                        }),
                    );
                    self.exited.notify_all();
                    return true;
                }
            }
        }
        false
    }

    /// Records a started process's pid, applying an exit that was seen before the pid.
    fn set_pid(&self, tasks: &mut Tasks, id: &str, exec_id: &str, pid: i32) -> TtrpcResult<()> {
        let early_exit = tasks.unclaimed.remove(&pid);
        let proc = tasks.get(id)?.proc_mut(exec_id)?;
        proc.pid = pid;
        proc.status = Status::RUNNING;
        if let Some(code) = early_exit {
            self.record_exit(tasks, pid, code);
        }
        Ok(())
    }

    fn task_paths(&self, id: &str) -> TtrpcResult<(PathBuf, PathBuf)> {
        let mut tasks = self.lock();
        let task = tasks.get(id)?;
        Ok((task.bundle.clone(), task.log()))
    }

    /// Fails with NOT_FOUND unless the shim runs task `id`.
    fn known(&self, id: &str) -> TtrpcResult<()> {
        self.lock().get(id).map(|_| ())
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
        let stdio = stdio_of(&req.stdin, &req.stdout, &req.stderr, req.terminal);
        me.lock().tasks.insert(
            req.id.clone(),
            Task {
                bundle: bundle.clone(),
                init: Proc::new(stdio.clone()),
                execs: HashMap::new(),
            },
        );
        let pid_file = bundle.join("init.pid");
        let (bundle_s, pid_s) = (bundle.display().to_string(), pid_file.display().to_string());
        let created = me.run_with_stdio(
            &bundle.join("log.json"),
            &[
                "create",
                "--bundle",
                &bundle_s,
                "--pid-file",
                &pid_s,
                &req.id,
            ],
            &stdio,
        );
        let console = match created {
            Ok(console) => console,
            Err(e) => {
                me.lock().tasks.remove(&req.id);
                if !req.rootfs.is_empty() {
                    let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
                }
                return Err(e);
            }
        };
        let pid = read_pid(&pid_file)?;
        {
            let mut tasks = me.lock();
            if let Some(task) = tasks.tasks.get_mut(&req.id) {
                task.init.pid = pid;
                task.init.console = console;
            }
        }
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
        me.publish(
            topics::TASK_CREATE_EVENT_TOPIC,
            Box::new(TaskCreate {
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
            }),
        );
        Ok(CreateTaskResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    fn start(&self, _ctx: &TtrpcContext, req: StartRequest) -> TtrpcResult<StartResponse> {
        let me = &self.inner;
        let (bundle, log) = me.task_paths(&req.id)?;
        if req.exec_id.is_empty() {
            me.runtime.start(&req.id).map_err(container_error)?;
            let pid = {
                let mut tasks = me.lock();
                let task = tasks.get(&req.id)?;
                if task.init.exited_at.is_none() {
                    task.init.status = Status::RUNNING;
                }
                task.init.pid
            };
            me.publish(
                topics::TASK_START_EVENT_TOPIC,
                Box::new(TaskStart {
                    container_id: req.id.clone(),
                    pid: pid as u32,
                    ..Default::default()
                }),
            );
            return Ok(StartResponse {
                pid: pid as u32,
                ..Default::default()
            });
        }
        let (spec, stdio) = {
            let mut tasks = me.lock();
            let task = tasks.get(&req.id)?;
            let proc = task.proc_mut(&req.exec_id)?;
            (
                proc.exec_spec.clone().unwrap_or_default(),
                proc.stdio.clone(),
            )
        };
        let pid_file = bundle.join(format!("exec-{}.pid", req.exec_id));
        let (spec_s, pid_s) = (spec.display().to_string(), pid_file.display().to_string());
        let console = me.run_with_stdio(
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
        )?;
        let pid = read_pid(&pid_file)?;
        {
            let mut tasks = me.lock();
            if let Some(task) = tasks.tasks.get_mut(&req.id) {
                if let Some(proc) = task.execs.get_mut(&req.exec_id) {
                    proc.console = console;
                }
            }
            me.set_pid(&mut tasks, &req.id, &req.exec_id, pid)?;
        }
        me.publish(
            topics::TASK_EXEC_STARTED_EVENT_TOPIC,
            Box::new(TaskExecStarted {
                container_id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                pid: pid as u32,
                ..Default::default()
            }),
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
            let proc = task
                .execs
                .remove(&req.exec_id)
                .ok_or_else(|| rpc(Code::NOT_FOUND, format!("exec {} not found", req.exec_id)))?;
            if let Some(spec) = proc.exec_spec {
                let _ = std::fs::remove_file(spec);
            }
            return Ok(api::DeleteResponse {
                pid: proc.pid as u32,
                exit_status: proc.exit_status,
                exited_at: proc.exited_at.into(),
                ..Default::default()
            });
        }
        let (bundle, _) = me.task_paths(&req.id)?;
        me.runtime.delete(&req.id, true).map_err(container_error)?;
        let _ = nix::mount::umount2(&bundle.join("rootfs"), nix::mount::MntFlags::MNT_DETACH);
        let task = me
            .lock()
            .tasks
            .remove(&req.id)
            .ok_or_else(|| rpc(Code::NOT_FOUND, format!("task {} not found", req.id)))?;
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
        if req.exec_id.is_empty() {
            me.known(&req.id)?;
            return me
                .runtime
                .kill(&req.id, &req.signal.to_string(), req.all)
                .map(|_| api::Empty::new())
                .map_err(container_error);
        }
        let pid = {
            let mut tasks = me.lock();
            let task = tasks.get(&req.id)?;
            let proc = task.proc_mut(&req.exec_id)?;
            if proc.exited_at.is_some() || proc.pid == 0 {
                return Err(rpc(Code::NOT_FOUND, "process already finished"));
            }
            proc.pid
        };
        let signal = nix::sys::signal::Signal::try_from(req.signal as i32)
            .map_err(|e| rpc(Code::INVALID_ARGUMENT, e.to_string()))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
            .map_err(|e| rpc(Code::UNKNOWN, e.to_string()))?;
        Ok(api::Empty::new())
    }

    fn exec(&self, _ctx: &TtrpcContext, req: ExecProcessRequest) -> TtrpcResult<api::Empty> {
        let me = &self.inner;
        let (bundle, _) = me.task_paths(&req.id)?;
        let spec_path = bundle.join(format!("exec-{}.json", req.exec_id));
        let spec = req
            .spec
            .as_ref()
            .map(|any| any.value.clone())
            .unwrap_or_default();
        std::fs::write(&spec_path, spec).map_err(|e| rpc(Code::INTERNAL, e.to_string()))?;
        {
            let mut tasks = me.lock();
            let task = tasks.get(&req.id)?;
            if task.execs.contains_key(&req.exec_id) {
                return Err(rpc(
                    Code::ALREADY_EXISTS,
                    format!("exec {} exists", req.exec_id),
                ));
            }
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
            task.init.status = status;
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
