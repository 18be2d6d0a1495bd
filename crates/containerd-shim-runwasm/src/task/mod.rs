//! The lifecycle of a task's processes (its init and its execs) as a state machine with
//! checked transitions, over two ports: the container operations (runwasm and its runtime in
//! the shim, a fake in the unit tests) and the sink of task events (containerd in the shim,
//! a recorder in the tests). The ttrpc service is a thin adapter over [`Tasks`].

mod process;
mod tasks;
#[cfg(test)]
mod tests;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use containerd_shim::api::CreateTaskRequest;
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::MessageDyn;
use containerd_shim::protos::topics;
use containerd_shim::protos::ttrpc::Code;
use oci_spec::runtime::LinuxResources;

use crate::io::StdioPaths;

pub use tasks::Tasks;

/// A refused transition or a failed container operation, with the code containerd sees.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("task {0} not found")]
    TaskNotFound(String),
    #[error("exec {0} not found")]
    ExecNotFound(String),
    #[error("task {0} exists")]
    TaskExists(String),
    #[error("exec {0} exists")]
    ExecExists(String),
    #[error("invalid exec id {0:?}")]
    InvalidExecId(String),
    #[error("invalid resources: {0}")]
    InvalidResources(serde_json::Error),
    /// Names the process as [`key_name`] does.
    #[error("{0} is not in the created state")]
    NotCreated(String),
    #[error("exec {0} is running: kill it first")]
    ExecRunning(String),
    /// As containerd's runc shim: an exited process is never signalled (its pid may already
    /// belong to another process).
    #[error("process already finished")]
    Finished,
    /// Its cgroup is found through its pid: containerd skips NOT_FOUND tasks' stats.
    #[error("task {0} is stopped")]
    Stopped(String),
    #[error("{message}")]
    Op { code: Code, message: String },
}

impl Error {
    /// A container operation's failure.
    pub fn op(code: Code, message: impl ToString) -> Self {
        Self::Op {
            code,
            message: message.to_string(),
        }
    }

    pub fn code(&self) -> Code {
        match self {
            Self::TaskNotFound(_) | Self::ExecNotFound(_) | Self::Finished | Self::Stopped(_) => {
                Code::NOT_FOUND
            }
            Self::TaskExists(_) | Self::ExecExists(_) => Code::ALREADY_EXISTS,
            Self::InvalidExecId(_) | Self::InvalidResources(_) => Code::INVALID_ARGUMENT,
            Self::NotCreated(_) | Self::ExecRunning(_) => Code::FAILED_PRECONDITION,
            Self::Op { code, .. } => *code,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// "task ID" or "exec ID of task ID", for messages.
fn key_name((id, exec_id): (&str, &str)) -> String {
    if exec_id.is_empty() {
        format!("task {id}")
    } else {
        format!("exec {exec_id} of task {id}")
    }
}

/// What a create or an exec start launched.
pub struct Launched {
    pub pid: i32,
    /// The pty master, when the process has a terminal.
    pub console: Option<OwnedFd>,
}

/// What the state machine asks of the containers. Calls are made without the task lock held:
/// exits the reaper sees meanwhile are applied while they run.
pub trait ContainerOps {
    /// Creates the task's container (rootfs, artifact, `runwasm create`); a failed create
    /// leaves nothing behind.
    fn create(&self, req: &CreateTaskRequest) -> Result<Launched>;
    /// Starts the created container `id`.
    fn start(&self, id: &str, bundle: &Path) -> Result<()>;
    /// Writes an exec's process spec into the bundle, where [`ContainerOps::exec`] reads it.
    fn write_process(&self, bundle: &Path, exec_id: &str, spec: &[u8]) -> Result<PathBuf>;
    fn remove_process(&self, spec: &Path);
    /// Runs the process `spec` in container `id`.
    fn exec(
        &self,
        id: &str,
        bundle: &Path,
        exec_id: &str,
        spec: &Path,
        stdio: &StdioPaths,
    ) -> Result<Launched>;
    /// Signals the container's init (and with `all` all its processes).
    fn kill(&self, id: &str, signal: u32, all: bool) -> Result<()>;
    /// Signals one exec by pid.
    fn signal(&self, pid: i32, signal: u32) -> Result<()>;
    fn pause(&self, id: &str) -> Result<()>;
    fn resume(&self, id: &str) -> Result<()>;
    /// Kills and deletes the container and unmounts its rootfs.
    fn delete(&self, id: &str, bundle: &Path) -> Result<()>;
    fn pids(&self, id: &str) -> Result<Vec<i32>>;
    fn update(&self, id: &str, resources: &LinuxResources) -> Result<()>;
    fn resize(&self, console: &OwnedFd, width: u32, height: u32) -> Result<()>;
    /// Calls `on_oom` whenever the OOM killer acts in the cgroup of `pid`.
    fn watch_oom(&self, pid: i32, on_oom: Box<dyn Fn() + Send>);
}

/// A task event for containerd.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Create(TaskCreate),
    Start(TaskStart),
    Exit(TaskExit),
    Delete(TaskDelete),
    ExecAdded(TaskExecAdded),
    ExecStarted(TaskExecStarted),
    Paused(TaskPaused),
    Resumed(TaskResumed),
    Oom(TaskOOM),
}

impl Event {
    pub fn topic(&self) -> &'static str {
        match self {
            Self::Create(_) => topics::TASK_CREATE_EVENT_TOPIC,
            Self::Start(_) => topics::TASK_START_EVENT_TOPIC,
            Self::Exit(_) => topics::TASK_EXIT_EVENT_TOPIC,
            Self::Delete(_) => topics::TASK_DELETE_EVENT_TOPIC,
            Self::ExecAdded(_) => topics::TASK_EXEC_ADDED_EVENT_TOPIC,
            Self::ExecStarted(_) => topics::TASK_EXEC_STARTED_EVENT_TOPIC,
            Self::Paused(_) => topics::TASK_PAUSED_EVENT_TOPIC,
            Self::Resumed(_) => topics::TASK_RESUMED_EVENT_TOPIC,
            Self::Oom(_) => topics::TASK_OOM_EVENT_TOPIC,
        }
    }

    pub fn into_message(self) -> Box<dyn MessageDyn> {
        match self {
            Self::Create(e) => Box::new(e),
            Self::Start(e) => Box::new(e),
            Self::Exit(e) => Box::new(e),
            Self::Delete(e) => Box::new(e),
            Self::ExecAdded(e) => Box::new(e),
            Self::ExecStarted(e) => Box::new(e),
            Self::Paused(e) => Box::new(e),
            Self::Resumed(e) => Box::new(e),
            Self::Oom(e) => Box::new(e),
        }
    }
}

/// Where task events go, in the order they are published.
pub trait EventSink {
    fn publish(&self, event: Event);
}

pub fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
        ..Default::default()
    }
}
