//! The Task service: containerd's ttrpc requests mapped onto the task state machine
//! ([`crate::task`]), exits from the shim's reaper fed into it.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::Arc;

use containerd_shim::api::{
    CloseIORequest, ConnectRequest, ConnectResponse, CreateTaskRequest, CreateTaskResponse,
    DeleteRequest, ExecProcessRequest, KillRequest, PauseRequest, PidsRequest, PidsResponse,
    ResizePtyRequest, ResumeRequest, ShutdownRequest, StartRequest, StartResponse, StateRequest,
    StateResponse, StatsRequest, StatsResponse, UpdateTaskRequest, WaitRequest, WaitResponse,
};
use containerd_shim::monitor::{monitor_subscribe, Subject, Topic};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::ttrpc::{self, Code};
use containerd_shim::protos::types::task::ProcessInfo;
use containerd_shim::{api, DeleteResponse, ExitSignal, TtrpcContext, TtrpcResult};

use crate::events::ContainerdEvents;
use crate::io::StdioPaths;
use crate::ops::RunwasmOps;
use crate::task::{self, now, Tasks};

fn rpc(code: Code, msg: impl ToString) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, msg))
}

impl From<task::Error> for ttrpc::Error {
    fn from(e: task::Error) -> Self {
        rpc(e.code(), e)
    }
}

#[derive(Clone)]
pub struct TaskService {
    tasks: Arc<Tasks<RunwasmOps, ContainerdEvents>>,
    exit: Arc<ExitSignal>,
}

impl TaskService {
    pub fn new(ops: RunwasmOps, events: ContainerdEvents, exit: Arc<ExitSignal>) -> Self {
        let tasks = Arc::new(Tasks::new(ops, events));
        let watcher = tasks.clone();
        std::thread::spawn(move || watch_exits(&watcher));
        Self { tasks, exit }
    }
}

/// Every exit the shim's reaper sees goes to the tasks.
fn watch_exits(tasks: &Tasks<RunwasmOps, ContainerdEvents>) {
    let Ok(subscription) = monitor_subscribe(Topic::Pid) else {
        tracing::error!("cannot watch process exits");
        return;
    };
    while let Ok(event) = subscription.rx.recv() {
        if let Subject::Pid(pid) = event.subject {
            tasks.exited(pid, event.exit_code);
        }
    }
}

impl containerd_shim::Task for TaskService {
    fn create(
        &self,
        _ctx: &TtrpcContext,
        req: CreateTaskRequest,
    ) -> TtrpcResult<CreateTaskResponse> {
        if !req.checkpoint.is_empty() {
            return Err(rpc(
                Code::UNIMPLEMENTED,
                "checkpoint restore is not supported",
            ));
        }
        let pid = self.tasks.create(&req)?;
        Ok(CreateTaskResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    fn start(&self, _ctx: &TtrpcContext, req: StartRequest) -> TtrpcResult<StartResponse> {
        let pid = self.tasks.start(&req.id, &req.exec_id)?;
        // until the next create the shim waits and copies output: the code that set the
        // task up need not stay mapped (about 4 MB of Pss). Off the reply's path: the
        // unmapping takes a few tenths of a millisecond.
        let _ = std::thread::Builder::new()
            .name("release-code".into())
            .spawn(runwasm_wasm::startup_code::release);
        Ok(StartResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    fn delete(&self, _ctx: &TtrpcContext, req: DeleteRequest) -> TtrpcResult<api::DeleteResponse> {
        let gone = self.tasks.delete(&req.id, &req.exec_id)?;
        Ok(api::DeleteResponse {
            pid: gone.pid as u32,
            exit_status: gone.exit_status,
            exited_at: gone.exited_at.into(),
            ..Default::default()
        })
    }

    fn pids(&self, _ctx: &TtrpcContext, req: PidsRequest) -> TtrpcResult<PidsResponse> {
        let pids = self.tasks.pids(&req.id)?;
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
        self.tasks.set_frozen(&req.id, true)?;
        Ok(api::Empty::new())
    }

    fn resume(&self, _ctx: &TtrpcContext, req: ResumeRequest) -> TtrpcResult<api::Empty> {
        self.tasks.set_frozen(&req.id, false)?;
        Ok(api::Empty::new())
    }

    fn kill(&self, _ctx: &TtrpcContext, req: KillRequest) -> TtrpcResult<api::Empty> {
        self.tasks
            .kill(&req.id, &req.exec_id, req.signal, req.all)?;
        Ok(api::Empty::new())
    }

    fn exec(&self, _ctx: &TtrpcContext, req: ExecProcessRequest) -> TtrpcResult<api::Empty> {
        let spec = req.spec.as_ref().map(|any| any.value.as_slice());
        let stdio = StdioPaths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        self.tasks
            .add_exec(&req.id, &req.exec_id, spec.unwrap_or_default(), stdio)?;
        Ok(api::Empty::new())
    }

    fn resize_pty(&self, _ctx: &TtrpcContext, req: ResizePtyRequest) -> TtrpcResult<api::Empty> {
        self.tasks
            .resize_pty(&req.id, &req.exec_id, req.width, req.height)?;
        Ok(api::Empty::new())
    }

    fn close_io(&self, _ctx: &TtrpcContext, _req: CloseIORequest) -> TtrpcResult<api::Empty> {
        // stdin fifos go to the process itself: containerd closing its writer is the EOF
        Ok(api::Empty::new())
    }

    fn update(&self, _ctx: &TtrpcContext, req: UpdateTaskRequest) -> TtrpcResult<api::Empty> {
        let resources = req.resources.as_ref().map(|any| any.value.as_slice());
        self.tasks.update(&req.id, resources)?;
        Ok(api::Empty::new())
    }

    fn wait(&self, _ctx: &TtrpcContext, req: WaitRequest) -> TtrpcResult<WaitResponse> {
        let exit = self.tasks.wait(&req.id, &req.exec_id)?;
        Ok(WaitResponse {
            exit_status: exit.status,
            exited_at: MessageField::some(exit.at),
            ..Default::default()
        })
    }

    fn state(&self, _ctx: &TtrpcContext, req: StateRequest) -> TtrpcResult<StateResponse> {
        let view = self.tasks.state(&req.id, &req.exec_id)?;
        let mut resp = StateResponse {
            id: if req.exec_id.is_empty() {
                req.id.clone()
            } else {
                req.exec_id.clone()
            },
            bundle: view.bundle.display().to_string(),
            pid: view.pid as u32,
            stdin: view.stdio.stdin,
            stdout: view.stdio.stdout,
            stderr: view.stdio.stderr,
            terminal: view.stdio.terminal,
            exit_status: view.exit.as_ref().map_or(0, |e| e.status),
            exec_id: req.exec_id.clone(),
            ..Default::default()
        };
        resp.set_status(view.status);
        if let Some(exit) = view.exit {
            resp.exited_at = MessageField::some(exit.at);
        }
        Ok(resp)
    }

    fn stats(&self, _ctx: &TtrpcContext, req: StatsRequest) -> TtrpcResult<StatsResponse> {
        let pid = self.tasks.live_init_pid(&req.id)?;
        let metrics = crate::metrics::collect(pid)
            .map_err(|e| rpc(Code::INTERNAL, format!("cannot read cgroup metrics: {e}")))?;
        Ok(StatsResponse {
            stats: MessageField::some(metrics),
            ..Default::default()
        })
    }

    fn connect(&self, _ctx: &TtrpcContext, req: ConnectRequest) -> TtrpcResult<ConnectResponse> {
        Ok(ConnectResponse {
            shim_pid: std::process::id(),
            task_pid: self.tasks.init_pid(&req.id) as u32,
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        })
    }

    fn shutdown(&self, _ctx: &TtrpcContext, _req: ShutdownRequest) -> TtrpcResult<api::Empty> {
        // one shim serves a whole pod: stay while any of its tasks remains
        if self.tasks.is_empty() {
            remove_socket(Path::new("address"));
            self.exit.signal();
        }
        Ok(api::Empty::new())
    }
}

/// Removes the shim's socket, named by the bundle's `address` file, before Shutdown returns,
/// as the Go shims do. containerd deletes the bundle as soon as Shutdown returns; the shim
/// crate reads `address` only after its server has stopped, and lost that race about once
/// in a hundred runs (the stress soak found the sockets left in /run/containerd/s). The
/// server keeps serving on its bound socket; only the path goes.
fn remove_socket(address_file: &Path) {
    let Ok(address) = std::fs::read_to_string(address_file) else {
        return;
    };
    let path = Path::new(address.trim().trim_start_matches("unix://"));
    let is_socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
    if is_socket {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!("cannot remove the shim socket {}: {e}", path.display());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_removes_the_socket_the_address_file_names_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("s.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let address = dir.path().join("address");
        std::fs::write(&address, format!("unix://{}", socket.display())).unwrap();
        remove_socket(&address);
        assert!(!socket.exists(), "the socket is removed");

        // a regular file at that path is not a socket: kept
        std::fs::write(&socket, "not a socket").unwrap();
        remove_socket(&address);
        assert!(socket.exists());
        // no address file: nothing happens
        remove_socket(&dir.path().join("missing"));
    }
}
