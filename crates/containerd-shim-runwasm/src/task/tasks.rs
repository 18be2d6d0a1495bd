//! The shim's tasks: each request is a checked transition under one lock, container
//! operations run outside it, events go out in the order the transitions happened.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use containerd_shim::api::{CreateTaskRequest, Status};
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::MessageField;
use oci_spec::runtime::LinuxResources;

use super::process::{Exit, Outcome, Process};
use super::{key_name, now, ContainerOps, Error, Event, EventSink, Launched, Result};
use crate::io::StdioPaths;

/// How long an exit of an unknown pid is kept for a process whose pid is not read yet.
const UNCLAIMED_TTL: Duration = Duration::from_secs(60);

struct Task {
    bundle: PathBuf,
    init: Process,
    execs: HashMap<String, Process>,
}

impl Task {
    fn process(&mut self, exec_id: &str) -> Result<&mut Process> {
        if exec_id.is_empty() {
            return Ok(&mut self.init);
        }
        self.execs
            .get_mut(exec_id)
            .ok_or_else(|| Error::ExecNotFound(exec_id.to_string()))
    }
}

#[derive(Default)]
struct Table {
    tasks: HashMap<String, Task>,
    /// Exits of pids not yet known (a process can exit before its pid file is read), with
    /// when they happened: only an exit after a process was launched can be its own.
    unclaimed: HashMap<i32, (i32, Instant)>,
}

impl Table {
    fn task(&mut self, id: &str) -> Result<&mut Task> {
        self.tasks
            .get_mut(id)
            .ok_or_else(|| Error::TaskNotFound(id.to_string()))
    }

    fn process(&mut self, (id, exec_id): (&str, &str)) -> Result<&mut Process> {
        self.task(id)?.process(exec_id)
    }
}

/// A process as the State request reports it.
pub struct ProcessView {
    pub bundle: PathBuf,
    pub pid: i32,
    pub status: Status,
    pub stdio: StdioPaths,
    pub exit: Option<Exit>,
}

/// What a deleted process reports.
pub struct Deleted {
    pub pid: i32,
    pub exit_status: u32,
    pub exited_at: Option<Timestamp>,
}

pub struct Tasks<O, E> {
    ops: O,
    /// Shared with the OOM watchers.
    events: Arc<E>,
    table: Mutex<Table>,
    /// Signalled on every exit and removal, for `wait`.
    changed: Condvar,
}

impl<O: ContainerOps, E: EventSink + Send + Sync + 'static> Tasks<O, E> {
    pub fn new(ops: O, events: E) -> Self {
        Self {
            ops,
            events: Arc::new(events),
            table: Mutex::new(Table::default()),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, event: Event) {
        self.events.publish(event)
    }

    /// Fails with NOT_FOUND unless task `id` exists.
    pub fn known(&self, id: &str) -> Result<()> {
        self.lock().task(id).map(|_| ())
    }

    pub fn is_empty(&self) -> bool {
        self.lock().tasks.is_empty()
    }

    /// The init's pid, 0 when unknown.
    pub fn init_pid(&self, id: &str) -> i32 {
        self.lock().tasks.get(id).map_or(0, |t| t.init.pid)
    }

    /// The pid of a task's init that has not exited.
    pub fn live_init_pid(&self, id: &str) -> Result<i32> {
        let mut table = self.lock();
        let task = table.task(id)?;
        if task.init.exit().is_some() {
            return Err(Error::Stopped(id.to_string()));
        }
        Ok(task.init.pid)
    }

    /// An exit the reaper saw: the process it belongs to is stopped, or the exit is kept
    /// for a process whose pid is not read yet.
    pub fn exited(&self, pid: i32, code: i32) {
        let mut table = self.lock();
        if !self.record_exit(&mut table, pid, code) {
            // runwasm's own short-lived processes land here too: keep the map small
            table
                .unclaimed
                .retain(|_, (_, at)| at.elapsed() < UNCLAIMED_TTL);
            table.unclaimed.insert(pid, (code, Instant::now()));
        }
    }

    fn record_exit(&self, table: &mut Table, pid: i32, code: i32) -> bool {
        for (id, task) in table.tasks.iter_mut() {
            let init = std::iter::once(("", &mut task.init));
            let execs = task.execs.iter_mut().map(|(k, v)| (k.as_str(), v));
            for (exec_id, proc) in init.chain(execs) {
                if !proc.is_live_pid(pid) {
                    continue;
                }
                if let Some(exit) = proc.exited(code as u32) {
                    self.publish(exit_event((id.as_str(), exec_id), pid, &exit));
                }
                self.changed.notify_all();
                return true;
            }
        }
        false
    }

    /// Records the pid of a process launched at `launched`, applying its exit if the reaper
    /// saw it before the pid was known.
    fn set_pid(
        &self,
        table: &mut Table,
        key: (&str, &str),
        pid: i32,
        launched: Instant,
    ) -> Result<()> {
        let early_exit = table
            .unclaimed
            .remove(&pid)
            .filter(|(_, at)| *at >= launched);
        table.process(key)?.pid = pid;
        if let Some((code, _)) = early_exit {
            self.record_exit(table, pid, code);
        }
        Ok(())
    }

    /// Ends a create or start: `event` (TaskCreate, TaskStart or TaskExecStarted) goes out,
    /// then an exit that happened meanwhile.
    fn finish(
        &self,
        table: &mut Table,
        key: (&str, &str),
        outcome: Outcome,
        event: Option<Event>,
    ) -> Result<()> {
        let proc = table.process(key)?;
        let pid = proc.pid;
        let held = proc.finish(outcome, !key.1.is_empty());
        if let Some(event) = event {
            self.publish(event);
        }
        if let Some(exit) = held {
            self.publish(exit_event(key, pid, &exit));
        }
        Ok(())
    }

    /// Creates task `req.id`; its init is CREATED when this returns.
    pub fn create(&self, req: &CreateTaskRequest) -> Result<i32> {
        let id = req.id.as_str();
        {
            let mut table = self.lock();
            if table.tasks.contains_key(id) {
                return Err(Error::TaskExists(id.to_string()));
            }
            let stdio = StdioPaths {
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
            };
            table.tasks.insert(
                id.to_string(),
                Task {
                    bundle: PathBuf::from(&req.bundle),
                    init: Process::init(stdio),
                    execs: HashMap::new(),
                },
            );
        }
        let launched = Instant::now();
        let Launched { pid, console } = match self.ops.create(req) {
            Ok(launched) => launched,
            Err(e) => {
                self.lock().tasks.remove(id);
                return Err(e);
            }
        };
        let events = self.events.clone();
        let container_id = id.to_string();
        self.ops.watch_oom(
            pid,
            Box::new(move || {
                events.publish(Event::Oom(TaskOOM {
                    container_id: container_id.clone(),
                    ..Default::default()
                }))
            }),
        );
        let event = Event::Create(TaskCreate {
            container_id: id.to_string(),
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
        });
        let key = (id, "");
        let mut table = self.lock();
        table.task(id)?.init.console = console;
        self.set_pid(&mut table, key, pid, launched)?;
        self.finish(&mut table, key, Outcome::Done, Some(event))?;
        Ok(pid)
    }

    /// Starts a task's init or an exec; it is RUNNING (or STOPPED already) when this returns.
    pub fn start(&self, id: &str, exec_id: &str) -> Result<i32> {
        let key = (id, exec_id);
        let (bundle, spec, stdio) = {
            let mut table = self.lock();
            let task = table.task(id)?;
            let bundle = task.bundle.clone();
            let proc = task.process(exec_id)?;
            proc.begin_start(|| key_name(key))?;
            (
                bundle,
                proc.spec.clone().unwrap_or_default(),
                proc.stdio.clone(),
            )
        };
        if exec_id.is_empty() {
            let started = self.ops.start(id, &bundle);
            let mut table = self.lock();
            if let Err(e) = started {
                let _ = self.finish(&mut table, key, Outcome::Failed, None);
                return Err(e);
            }
            let pid = table.task(id)?.init.pid;
            let event = Event::Start(TaskStart {
                container_id: id.to_string(),
                pid: pid as u32,
                ..Default::default()
            });
            self.finish(&mut table, key, Outcome::Done, Some(event))?;
            return Ok(pid);
        }
        let launched = Instant::now();
        let started = self.ops.exec(id, &bundle, exec_id, &spec, &stdio);
        let mut table = self.lock();
        let Launched { pid, console } = match started {
            Ok(launched) => launched,
            Err(e) => {
                // the exec never ran: it is stopped, and its waiters learn so
                let _ = self.finish(&mut table, key, Outcome::Failed, None);
                self.changed.notify_all();
                return Err(e);
            }
        };
        table.process(key)?.console = console;
        self.set_pid(&mut table, key, pid, launched)?;
        let event = Event::ExecStarted(TaskExecStarted {
            container_id: id.to_string(),
            exec_id: exec_id.to_string(),
            pid: pid as u32,
            ..Default::default()
        });
        self.finish(&mut table, key, Outcome::Done, Some(event))?;
        Ok(pid)
    }

    /// Adds exec `exec_id` to task `id`, CREATED, its process spec written to the bundle.
    pub fn add_exec(&self, id: &str, exec_id: &str, spec: &[u8], stdio: StdioPaths) -> Result<()> {
        // the id names a file in the bundle
        if exec_id.is_empty() || exec_id.contains('/') {
            return Err(Error::InvalidExecId(exec_id.to_string()));
        }
        {
            let mut table = self.lock();
            let task = table.task(id)?;
            // checked before writing: a duplicate must not replace the known exec's process
            if task.execs.contains_key(exec_id) {
                return Err(Error::ExecExists(exec_id.to_string()));
            }
            let path = self.ops.write_process(&task.bundle, exec_id, spec)?;
            task.execs
                .insert(exec_id.to_string(), Process::exec(stdio, path));
        }
        self.publish(Event::ExecAdded(TaskExecAdded {
            container_id: id.to_string(),
            exec_id: exec_id.to_string(),
            ..Default::default()
        }));
        Ok(())
    }

    /// Deletes an exec that does not run, or a task (its container killed and deleted).
    pub fn delete(&self, id: &str, exec_id: &str) -> Result<Deleted> {
        if !exec_id.is_empty() {
            let mut table = self.lock();
            let task = table.task(id)?;
            if let Some(proc) = task.execs.get(exec_id) {
                proc.check_deletable(exec_id)?;
            }
            let proc = task
                .execs
                .remove(exec_id)
                .ok_or_else(|| Error::ExecNotFound(exec_id.to_string()))?;
            if let Some(spec) = &proc.spec {
                self.ops.remove_process(spec);
            }
            self.changed.notify_all();
            return Ok(deleted(&proc));
        }
        let bundle = self.lock().task(id)?.bundle.clone();
        self.ops.delete(id, &bundle)?;
        let task = {
            let mut table = self.lock();
            let task = table
                .tasks
                .remove(id)
                .ok_or_else(|| Error::TaskNotFound(id.to_string()))?;
            self.changed.notify_all();
            task
        };
        let mut gone = deleted(&task.init);
        let exited_at = gone.exited_at.get_or_insert_with(now).clone();
        self.publish(Event::Delete(TaskDelete {
            container_id: id.to_string(),
            pid: gone.pid as u32,
            exit_status: gone.exit_status,
            exited_at: MessageField::some(exited_at),
            ..Default::default()
        }));
        Ok(gone)
    }

    /// Signals a task's init (through the container) or an exec; refused once it exited.
    pub fn kill(&self, id: &str, exec_id: &str, signal: u32, all: bool) -> Result<()> {
        let pid = self.lock().process((id, exec_id))?.kill_target()?;
        if exec_id.is_empty() {
            return self.ops.kill(id, signal, all);
        }
        self.ops.signal(pid, signal)
    }

    /// Freezes (`frozen`) or thaws the container: every running process of the task is
    /// PAUSED, every paused one RUNNING again.
    pub fn set_frozen(&self, id: &str, frozen: bool) -> Result<()> {
        self.known(id)?;
        if frozen {
            self.ops.pause(id)?;
        } else {
            self.ops.resume(id)?;
        }
        if let Some(task) = self.lock().tasks.get_mut(id) {
            task.init.set_frozen(frozen);
            for proc in task.execs.values_mut() {
                proc.set_frozen(frozen);
            }
        }
        let container_id = id.to_string();
        self.publish(if frozen {
            Event::Paused(TaskPaused {
                container_id,
                ..Default::default()
            })
        } else {
            Event::Resumed(TaskResumed {
                container_id,
                ..Default::default()
            })
        });
        Ok(())
    }

    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        self.known(id)?;
        self.ops.pids(id)
    }

    /// `resources` is the runtime spec's LinuxResources as JSON, as containerd sends it.
    pub fn update(&self, id: &str, resources: Option<&[u8]>) -> Result<()> {
        self.known(id)?;
        let resources: LinuxResources = resources
            .map(serde_json::from_slice)
            .transpose()
            .map_err(Error::InvalidResources)?
            .unwrap_or_default();
        self.ops.update(id, &resources)
    }

    pub fn resize_pty(&self, id: &str, exec_id: &str, width: u32, height: u32) -> Result<()> {
        let mut table = self.lock();
        let proc = table.process((id, exec_id))?;
        match &proc.console {
            Some(master) => self.ops.resize(master, width, height),
            None => Ok(()),
        }
    }

    /// Blocks until the process exits; NOT_FOUND if it is deleted first.
    pub fn wait(&self, id: &str, exec_id: &str) -> Result<Exit> {
        let mut table = self.lock();
        loop {
            if let Some(exit) = table.process((id, exec_id))?.exit() {
                return Ok(exit.clone());
            }
            table = self.changed.wait(table).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub fn state(&self, id: &str, exec_id: &str) -> Result<ProcessView> {
        let mut table = self.lock();
        let task = table.task(id)?;
        let bundle = task.bundle.clone();
        let proc = task.process(exec_id)?;
        Ok(ProcessView {
            bundle,
            pid: proc.pid,
            status: proc.state().status(),
            stdio: proc.stdio.clone(),
            exit: proc.exit().cloned(),
        })
    }
}

fn deleted(proc: &Process) -> Deleted {
    Deleted {
        pid: proc.pid,
        exit_status: proc.exit().map_or(0, |e| e.status),
        exited_at: proc.exit().map(|e| e.at.clone()),
    }
}

fn exit_event((id, exec_id): (&str, &str), pid: i32, exit: &Exit) -> Event {
    Event::Exit(TaskExit {
        container_id: id.to_string(),
        id: if exec_id.is_empty() { id } else { exec_id }.to_string(),
        pid: pid as u32,
        exit_status: exit.status,
        exited_at: MessageField::some(exit.at.clone()),
        ..Default::default()
    })
}
