//! Every transition and the races the e2e suites found, against fake container operations
//! and a recording event sink: no root, no containerd.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use containerd_shim::api::{CreateTaskRequest, Status};
use containerd_shim::protos::ttrpc::{self, Code};
use oci_spec::runtime::LinuxResources;

use super::process::{Exit, Outcome, Process, State, EXEC_FAILED};
use super::{ContainerOps, Error, Event, EventSink, Launched, Result, Tasks};
use crate::io::StdioPaths;

type Hook = Box<dyn FnOnce(i32) + Send>;

/// Container operations that launch nothing: pids count up from 100, any operation can be
/// made to fail, and a hook can run in the middle of one (as the reaper would).
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
    next_pid: AtomicI32,
    failing: Mutex<Vec<&'static str>>,
    during: Mutex<HashMap<&'static str, Hook>>,
    on_oom: Mutex<Option<Box<dyn Fn() + Send>>>,
}

impl Fake {
    fn fail(&self, op: &'static str) {
        self.failing.lock().unwrap().push(op);
    }

    fn heal(&self) {
        self.failing.lock().unwrap().clear();
    }

    fn during(&self, op: &'static str, hook: impl FnOnce(i32) + Send + 'static) {
        self.during.lock().unwrap().insert(op, Box::new(hook));
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// Records the call, runs its hook with `pid`, then fails or succeeds.
    fn call(&self, op: &'static str, detail: String, pid: i32) -> Result<()> {
        self.calls.lock().unwrap().push(format!("{op} {detail}"));
        let hook = self.during.lock().unwrap().remove(op);
        if let Some(hook) = hook {
            hook(pid);
        }
        if self.failing.lock().unwrap().contains(&op) {
            return Err(Error::op(Code::UNKNOWN, format!("{op} failed")));
        }
        Ok(())
    }

    fn launch(&self, op: &'static str, detail: String) -> Result<Launched> {
        let pid = 100 + self.next_pid.fetch_add(1, Ordering::SeqCst);
        self.call(op, detail, pid)?;
        Ok(Launched { pid, console: None })
    }
}

struct FakeOps(Arc<Fake>);

impl ContainerOps for FakeOps {
    fn create(&self, req: &CreateTaskRequest) -> Result<Launched> {
        self.0.launch("create", req.id.clone())
    }
    fn start(&self, id: &str, _bundle: &Path) -> Result<()> {
        self.0.call("start", id.to_string(), 0)
    }
    fn write_process(&self, bundle: &Path, exec_id: &str, spec: &[u8]) -> Result<PathBuf> {
        let text = String::from_utf8_lossy(spec).into_owned();
        self.0
            .call("write_process", format!("{exec_id} {text}"), 0)?;
        Ok(bundle.join(format!("exec-{exec_id}.json")))
    }
    fn remove_process(&self, spec: &Path) {
        let _ = self.0.call("remove_process", spec.display().to_string(), 0);
    }
    fn exec(
        &self,
        id: &str,
        _bundle: &Path,
        exec_id: &str,
        _spec: &Path,
        _stdio: &StdioPaths,
    ) -> Result<Launched> {
        self.0.launch("exec", format!("{id} {exec_id}"))
    }
    fn kill(&self, id: &str, signal: u32, all: bool) -> Result<()> {
        self.0.call("kill", format!("{id} {signal} {all}"), 0)
    }
    fn signal(&self, pid: i32, signal: u32) -> Result<()> {
        self.0.call("signal", format!("{pid} {signal}"), 0)
    }
    fn pause(&self, id: &str) -> Result<()> {
        self.0.call("pause", id.to_string(), 0)
    }
    fn resume(&self, id: &str) -> Result<()> {
        self.0.call("resume", id.to_string(), 0)
    }
    fn delete(&self, id: &str, _bundle: &Path) -> Result<()> {
        self.0.call("delete", id.to_string(), 0)
    }
    fn pids(&self, id: &str) -> Result<Vec<i32>> {
        self.0.call("pids", id.to_string(), 0)?;
        Ok(vec![100])
    }
    fn update(&self, id: &str, resources: &LinuxResources) -> Result<()> {
        let pids = resources.pids().as_ref().map(|p| p.limit());
        self.0.call("update", format!("{id} {pids:?}"), 0)
    }
    fn resize(&self, _console: &OwnedFd, width: u32, height: u32) -> Result<()> {
        self.0.call("resize", format!("{width}x{height}"), 0)
    }
    fn watch_oom(&self, pid: i32, on_oom: Box<dyn Fn() + Send>) {
        let _ = self.0.call("watch_oom", pid.to_string(), 0);
        *self.0.on_oom.lock().unwrap() = Some(on_oom);
    }
}

/// Events as short labels, in publishing order.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Event>>>);

impl EventSink for Recorder {
    fn publish(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

fn label(event: &Event) -> String {
    match event {
        Event::Create(e) => format!("create {} pid {}", e.container_id, e.pid),
        Event::Start(e) => format!("start {} pid {}", e.container_id, e.pid),
        Event::Exit(e) => format!(
            "exit {}/{} pid {} status {}",
            e.container_id, e.id, e.pid, e.exit_status
        ),
        Event::Delete(e) => format!(
            "delete {} pid {} status {}",
            e.container_id, e.pid, e.exit_status
        ),
        Event::ExecAdded(e) => format!("exec-added {}/{}", e.container_id, e.exec_id),
        Event::ExecStarted(e) => format!(
            "exec-started {}/{} pid {}",
            e.container_id, e.exec_id, e.pid
        ),
        Event::Paused(e) => format!("paused {}", e.container_id),
        Event::Resumed(e) => format!("resumed {}", e.container_id),
        Event::Oom(e) => format!("oom {}", e.container_id),
    }
}

struct Shim {
    fake: Arc<Fake>,
    events: Recorder,
    tasks: Arc<Tasks<FakeOps, Recorder>>,
}

fn shim() -> Shim {
    let fake = Arc::new(Fake::default());
    let events = Recorder::default();
    let tasks = Arc::new(Tasks::new(FakeOps(fake.clone()), events.clone()));
    Shim {
        fake,
        events,
        tasks,
    }
}

fn request(id: &str) -> CreateTaskRequest {
    CreateTaskRequest {
        id: id.to_string(),
        bundle: format!("/bundles/{id}"),
        stdout: format!("/fifos/{id}-out"),
        ..Default::default()
    }
}

fn stdio() -> StdioPaths {
    StdioPaths::default()
}

impl Shim {
    fn events(&self) -> Vec<String> {
        self.events.0.lock().unwrap().iter().map(label).collect()
    }

    fn status(&self, id: &str, exec_id: &str) -> Status {
        self.tasks.state(id, exec_id).unwrap().status
    }

    /// The reaper seeing the launched process exit while its create or exec still runs.
    fn exit_hook(&self, code: i32) -> impl FnOnce(i32) + Send + 'static {
        let tasks = Arc::downgrade(&self.tasks);
        move |pid| tasks.upgrade().unwrap().exited(pid, code)
    }

    fn running(&self, id: &str) -> i32 {
        self.tasks.create(&request(id)).unwrap();
        self.tasks.start(id, "").unwrap()
    }

    fn running_exec(&self, id: &str, exec_id: &str) -> i32 {
        self.tasks.add_exec(id, exec_id, b"{}", stdio()).unwrap();
        self.tasks.start(id, exec_id).unwrap()
    }
}

/// The error's code and text as containerd receives them.
fn refusal<T>(result: Result<T>) -> (Code, String) {
    match result {
        Ok(_) => panic!("not refused"),
        Err(e) => match ttrpc::Error::from(e) {
            ttrpc::Error::RpcStatus(status) => (status.code(), status.message),
            other => panic!("not a status: {other:?}"),
        },
    }
}

fn not_found(what: &str) -> (Code, String) {
    (Code::NOT_FOUND, format!("{what} not found"))
}

/// Runs `f` on a thread; its result, or None if it is still blocked after `wait`.
fn blocked_for<T: Send + 'static>(
    wait: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> (mpsc::Receiver<T>, bool) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    let blocked = matches!(rx.recv_timeout(wait), Err(mpsc::RecvTimeoutError::Timeout));
    (rx, blocked)
}

const LONG: Duration = Duration::from_secs(10);

#[test]
fn states_map_to_containerd_statuses() {
    let exit = Exit {
        status: 1,
        at: super::now(),
    };
    let cases = [
        (State::Creating { exited: None }, Status::CREATED),
        (
            State::Creating {
                exited: Some(exit.clone()),
            },
            Status::STOPPED,
        ),
        (State::Created, Status::CREATED),
        (State::Starting { exited: None }, Status::CREATED),
        (
            State::Starting {
                exited: Some(exit.clone()),
            },
            Status::STOPPED,
        ),
        (State::Running, Status::RUNNING),
        (State::Paused, Status::PAUSED),
        (State::Stopped(exit), Status::STOPPED),
    ];
    for (state, status) in cases {
        assert_eq!(state.status(), status, "{state:?}");
    }
}

#[test]
fn process_transitions() {
    let mut init = Process::init(stdio());
    assert_eq!(init.state(), &State::Creating { exited: None });
    assert!(
        init.begin_start(|| "init".into()).is_err(),
        "start while creating"
    );
    assert_eq!(init.finish(Outcome::Done, false), None);
    assert_eq!(init.state(), &State::Created);
    init.begin_start(|| "init".into()).unwrap();
    assert_eq!(init.finish(Outcome::Failed, false), None, "a failed start");
    assert_eq!(
        init.state(),
        &State::Created,
        "a failed init start can be retried"
    );
    init.begin_start(|| "init".into()).unwrap();
    init.finish(Outcome::Done, false);
    assert_eq!(init.state(), &State::Running);
    init.set_frozen(false);
    assert_eq!(init.state(), &State::Running, "resume of a running process");
    init.set_frozen(true);
    assert_eq!(init.state(), &State::Paused);
    init.set_frozen(true);
    assert_eq!(init.state(), &State::Paused);
    init.set_frozen(false);
    assert_eq!(init.state(), &State::Running);
    let exit = init.exited(3).expect("announced at once");
    assert_eq!(init.state(), &State::Stopped(exit.clone()));
    assert_eq!(init.exited(4), None, "a second exit");
    assert_eq!(init.state(), &State::Stopped(exit));
    init.set_frozen(true);
    assert!(
        matches!(init.state(), State::Stopped(_)),
        "pause of a stopped process"
    );
    assert!(init.begin_start(|| "init".into()).is_err());

    let mut exec = Process::exec(stdio(), PathBuf::from("p.json"));
    assert_eq!(exec.state(), &State::Created);
    exec.check_deletable("e").unwrap();
    exec.begin_start(|| "exec".into()).unwrap();
    assert!(exec.check_deletable("e").is_err(), "delete while starting");
    assert_eq!(exec.finish(Outcome::Failed, true), None);
    assert!(matches!(exec.state(), State::Stopped(e) if e.status == EXEC_FAILED));
    exec.check_deletable("e").unwrap();
}

#[test]
fn held_exits_are_released_by_finish() {
    let mut init = Process::init(stdio());
    init.pid = 7;
    assert!(init.is_live_pid(7));
    assert_eq!(init.exited(1), None, "held while creating");
    assert!(!init.is_live_pid(7));
    assert_eq!(init.state().status(), Status::STOPPED);
    let held = init.finish(Outcome::Done, false).expect("released");
    assert_eq!(init.state(), &State::Stopped(held));

    let mut init = Process::init(stdio());
    init.finish(Outcome::Done, false);
    init.begin_start(|| "init".into()).unwrap();
    assert_eq!(init.exited(2), None, "held while starting");
    let held = init
        .finish(Outcome::Failed, false)
        .expect("released by a failed start");
    assert_eq!(held.status, 2);
    assert_eq!(init.state(), &State::Stopped(held));
}

#[test]
fn create_start_exit_delete() {
    let s = shim();
    assert_eq!(s.tasks.create(&request("t")).unwrap(), 100);
    assert_eq!(s.status("t", ""), Status::CREATED);
    let view = s.tasks.state("t", "").unwrap();
    assert_eq!(view.bundle, PathBuf::from("/bundles/t"));
    assert_eq!(view.stdio.stdout, "/fifos/t-out");
    assert_eq!(view.pid, 100);
    assert!(view.exit.is_none());
    assert_eq!(s.tasks.start("t", "").unwrap(), 100);
    assert_eq!(s.status("t", ""), Status::RUNNING);
    assert_eq!(s.tasks.live_init_pid("t").unwrap(), 100);
    assert_eq!(s.tasks.init_pid("t"), 100);

    let tasks = s.tasks.clone();
    let (waiter, blocked) = blocked_for(Duration::from_millis(100), move || tasks.wait("t", ""));
    assert!(blocked, "wait returned before the exit");
    s.tasks.exited(100, 3);
    let exit = waiter.recv_timeout(LONG).unwrap().unwrap();
    assert_eq!(exit.status, 3);
    let view = s.tasks.state("t", "").unwrap();
    assert_eq!(
        (view.status, view.exit),
        (Status::STOPPED, Some(exit.clone()))
    );

    let gone = s.tasks.delete("t", "").unwrap();
    assert_eq!((gone.pid, gone.exit_status), (100, 3));
    assert_eq!(gone.exited_at, Some(exit.at));
    assert_eq!(
        s.events(),
        [
            "create t pid 100",
            "start t pid 100",
            "exit t/t pid 100 status 3",
            "delete t pid 100 status 3"
        ]
    );
    assert_eq!(
        s.fake.calls(),
        ["create t", "watch_oom 100", "start t", "delete t"]
    );
    assert!(s.tasks.is_empty());
    assert_eq!(s.tasks.init_pid("t"), 0);
}

#[test]
fn double_create_is_already_exists() {
    let s = shim();
    s.tasks.create(&request("t")).unwrap();
    assert_eq!(
        refusal(s.tasks.create(&request("t"))),
        (Code::ALREADY_EXISTS, "task t exists".into())
    );
    assert_eq!(s.fake.calls(), ["create t", "watch_oom 100"]);
    assert_eq!(s.status("t", ""), Status::CREATED);
}

#[test]
fn unknown_ids_are_not_found() {
    let s = shim();
    let task = || not_found("task x");
    assert_eq!(refusal(s.tasks.start("x", "")), task());
    assert_eq!(refusal(s.tasks.start("x", "e")), task());
    assert_eq!(refusal(s.tasks.kill("x", "", 9, false)), task());
    assert_eq!(refusal(s.tasks.delete("x", "")), task());
    assert_eq!(refusal(s.tasks.delete("x", "e")), task());
    assert_eq!(refusal(s.tasks.state("x", "")), task());
    assert_eq!(refusal(s.tasks.wait("x", "")), task());
    assert_eq!(refusal(s.tasks.set_frozen("x", true)), task());
    assert_eq!(refusal(s.tasks.set_frozen("x", false)), task());
    assert_eq!(refusal(s.tasks.pids("x")), task());
    assert_eq!(
        refusal(s.tasks.update("x", Some(b"not json".as_slice()))),
        task()
    );
    assert_eq!(refusal(s.tasks.resize_pty("x", "", 80, 24)), task());
    assert_eq!(refusal(s.tasks.add_exec("x", "e", b"{}", stdio())), task());
    assert_eq!(refusal(s.tasks.live_init_pid("x")), task());
    assert!(s.fake.calls().is_empty(), "no operation on an unknown task");

    s.running("t");
    let exec = || not_found("exec e");
    assert_eq!(refusal(s.tasks.start("t", "e")), exec());
    assert_eq!(refusal(s.tasks.kill("t", "e", 9, false)), exec());
    assert_eq!(refusal(s.tasks.delete("t", "e")), exec());
    assert_eq!(refusal(s.tasks.state("t", "e")), exec());
    assert_eq!(refusal(s.tasks.wait("t", "e")), exec());
    assert_eq!(refusal(s.tasks.resize_pty("t", "e", 80, 24)), exec());
}

#[test]
fn a_failed_create_leaves_no_task() {
    let s = shim();
    s.fake.fail("create");
    assert_eq!(
        refusal(s.tasks.create(&request("t"))),
        (Code::UNKNOWN, "create failed".into())
    );
    assert!(s.tasks.is_empty());
    assert!(s.events().is_empty());
    s.fake.heal();
    s.tasks.create(&request("t")).unwrap();
    assert_eq!(s.events(), ["create t pid 101"]);
}

/// The init exits before its pid is read (the reaper saw an unknown pid): the exit is its
/// own, announced after TaskCreate.
#[test]
fn exit_during_create_comes_after_task_create() {
    let s = shim();
    s.fake.during("create", s.exit_hook(7));
    s.tasks.create(&request("t")).unwrap();
    assert_eq!(
        s.events(),
        ["create t pid 100", "exit t/t pid 100 status 7"]
    );
    assert_eq!(s.status("t", ""), Status::STOPPED);
    assert_eq!(s.tasks.wait("t", "").unwrap().status, 7);
    assert_eq!(
        refusal(s.tasks.start("t", "")),
        (
            Code::FAILED_PRECONDITION,
            "task t is not in the created state".into()
        )
    );
    assert_eq!(
        refusal(s.tasks.kill("t", "", 9, false)),
        (Code::NOT_FOUND, "process already finished".into())
    );
    assert_eq!(
        refusal(s.tasks.live_init_pid("t")),
        (Code::NOT_FOUND, "task t is stopped".into())
    );
}

/// An exit of the same pid from before the create (a recycled pid) is not the init's.
#[test]
fn a_stale_exit_of_the_pid_is_ignored() {
    let s = shim();
    s.tasks.exited(100, 9);
    std::thread::sleep(Duration::from_millis(2));
    s.tasks.create(&request("t")).unwrap();
    assert_eq!(s.status("t", ""), Status::CREATED);
    assert_eq!(s.events(), ["create t pid 100"]);
}

/// The init exits while its start runs: state and wait see it at once, TaskExit follows
/// TaskStart.
#[test]
fn exit_before_task_start_is_sent_comes_after_it() {
    let s = shim();
    s.tasks.create(&request("t")).unwrap();
    let tasks = s.tasks.clone();
    let events = s.events.clone();
    s.fake.during("start", move |_| {
        tasks.exited(100, 0);
        assert_eq!(tasks.state("t", "").unwrap().status, Status::STOPPED);
        assert_eq!(tasks.wait("t", "").unwrap().status, 0);
        assert_eq!(
            events.0.lock().unwrap().len(),
            1,
            "TaskExit before TaskStart"
        );
    });
    assert_eq!(s.tasks.start("t", "").unwrap(), 100);
    assert_eq!(
        s.events(),
        [
            "create t pid 100",
            "start t pid 100",
            "exit t/t pid 100 status 0"
        ]
    );
    assert_eq!(s.status("t", ""), Status::STOPPED);
}

#[test]
fn a_failed_start_can_be_retried() {
    let s = shim();
    s.tasks.create(&request("t")).unwrap();
    s.fake.fail("start");
    assert_eq!(
        refusal(s.tasks.start("t", "")),
        (Code::UNKNOWN, "start failed".into())
    );
    assert_eq!(s.status("t", ""), Status::CREATED);
    s.fake.heal();
    s.tasks.start("t", "").unwrap();
    assert_eq!(s.status("t", ""), Status::RUNNING);
    assert_eq!(s.events(), ["create t pid 100", "start t pid 100"]);
    assert_eq!(
        refusal(s.tasks.start("t", "")),
        (
            Code::FAILED_PRECONDITION,
            "task t is not in the created state".into()
        )
    );
}

/// The start fails because the init died: its exit still goes out, with no TaskStart.
#[test]
fn a_failed_start_releases_the_held_exit() {
    let s = shim();
    s.tasks.create(&request("t")).unwrap();
    s.fake.fail("start");
    let tasks = s.tasks.clone();
    s.fake.during("start", move |_| tasks.exited(100, 137));
    refusal(s.tasks.start("t", ""));
    assert_eq!(
        s.events(),
        ["create t pid 100", "exit t/t pid 100 status 137"]
    );
    assert_eq!(s.status("t", ""), Status::STOPPED);
}

#[test]
fn exec_lifecycle() {
    let s = shim();
    s.running("t");
    s.tasks
        .add_exec("t", "e", b"{\"args\":[]}", stdio())
        .unwrap();
    let view = s.tasks.state("t", "e").unwrap();
    assert_eq!((view.status, view.pid), (Status::CREATED, 0));
    assert_eq!(
        refusal(s.tasks.kill("t", "e", 9, false)),
        (Code::NOT_FOUND, "process already finished".into()),
        "kill of an exec not started"
    );
    assert_eq!(s.tasks.start("t", "e").unwrap(), 101);
    assert_eq!(s.status("t", "e"), Status::RUNNING);
    assert_eq!(
        refusal(s.tasks.start("t", "e")),
        (
            Code::FAILED_PRECONDITION,
            "exec e of task t is not in the created state".into()
        )
    );
    s.tasks.kill("t", "e", 15, false).unwrap();
    s.tasks.exited(101, 143);
    assert_eq!(s.status("t", "e"), Status::STOPPED);
    assert_eq!(s.status("t", ""), Status::RUNNING, "the init runs on");
    let gone = s.tasks.delete("t", "e").unwrap();
    assert_eq!((gone.pid, gone.exit_status), (101, 143));
    assert!(gone.exited_at.is_some());
    assert_eq!(refusal(s.tasks.state("t", "e")), not_found("exec e"));
    assert_eq!(
        s.events(),
        [
            "create t pid 100",
            "start t pid 100",
            "exec-added t/e",
            "exec-started t/e pid 101",
            "exit t/e pid 101 status 143"
        ],
        "no event for an exec's delete"
    );
    assert_eq!(
        s.fake.calls()[3..],
        [
            "write_process e {\"args\":[]}",
            "exec t e",
            "signal 101 15",
            "remove_process /bundles/t/exec-e.json"
        ]
    );
}

#[test]
fn a_duplicate_exec_is_refused_without_touching_the_first() {
    let s = shim();
    s.running("t");
    s.tasks.add_exec("t", "e", b"first", stdio()).unwrap();
    assert_eq!(
        refusal(s.tasks.add_exec("t", "e", b"second", stdio())),
        (Code::ALREADY_EXISTS, "exec e exists".into())
    );
    let writes: Vec<_> = s
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("write_process"))
        .collect();
    assert_eq!(writes, ["write_process e first"]);
    assert_eq!(s.status("t", "e"), Status::CREATED);
}

#[test]
fn invalid_exec_ids() {
    let s = shim();
    s.running("t");
    for bad in ["", "a/b"] {
        assert_eq!(
            refusal(s.tasks.add_exec("t", bad, b"{}", stdio())),
            (Code::INVALID_ARGUMENT, format!("invalid exec id {bad:?}"))
        );
    }
}

#[test]
fn delete_of_a_running_exec_is_refused() {
    let s = shim();
    s.running("t");
    s.running_exec("t", "e");
    let refused = (
        Code::FAILED_PRECONDITION,
        "exec e is running: kill it first".to_string(),
    );
    assert_eq!(refusal(s.tasks.delete("t", "e")), refused);
    s.tasks.set_frozen("t", true).unwrap();
    assert_eq!(refusal(s.tasks.delete("t", "e")), refused, "paused");
    assert_eq!(s.status("t", "e"), Status::PAUSED);
    s.tasks.set_frozen("t", false).unwrap();
    s.tasks.exited(101, 0);
    s.tasks.delete("t", "e").unwrap();
}

/// The exec exits before runwasm's pid file is read: TaskExit follows TaskExecStarted.
#[test]
fn exit_during_exec_start_comes_after_exec_started() {
    let s = shim();
    s.running("t");
    s.tasks.add_exec("t", "e", b"{}", stdio()).unwrap();
    s.fake.during("exec", s.exit_hook(5));
    s.tasks.start("t", "e").unwrap();
    assert_eq!(
        s.events()[2..],
        [
            "exec-added t/e",
            "exec-started t/e pid 101",
            "exit t/e pid 101 status 5"
        ]
    );
    assert_eq!(s.tasks.wait("t", "e").unwrap().status, 5);
}

#[test]
fn a_failed_exec_start_stops_it_and_wakes_its_waiters() {
    let s = shim();
    s.running("t");
    s.tasks.add_exec("t", "e", b"{}", stdio()).unwrap();
    let tasks = s.tasks.clone();
    let (waiter, blocked) = blocked_for(Duration::from_millis(100), move || tasks.wait("t", "e"));
    assert!(blocked);
    s.fake.fail("exec");
    assert_eq!(
        refusal(s.tasks.start("t", "e")),
        (Code::UNKNOWN, "exec failed".into())
    );
    let exit = waiter.recv_timeout(LONG).unwrap().unwrap();
    assert_eq!(exit.status, EXEC_FAILED);
    let view = s.tasks.state("t", "e").unwrap();
    assert_eq!((view.status, view.pid), (Status::STOPPED, 0));
    assert_eq!(s.events()[2..], ["exec-added t/e"]);
    let gone = s.tasks.delete("t", "e").unwrap();
    assert_eq!(gone.exit_status, EXEC_FAILED);
}

#[test]
fn waits_are_woken_by_delete() {
    let s = shim();
    s.running("t");
    s.tasks.add_exec("t", "e", b"{}", stdio()).unwrap();
    let tasks = s.tasks.clone();
    let (exec_waiter, blocked) =
        blocked_for(Duration::from_millis(100), move || tasks.wait("t", "e"));
    assert!(blocked);
    s.tasks.delete("t", "e").unwrap();
    let woken = exec_waiter.recv_timeout(LONG).expect("exec waiter woken");
    assert_eq!(refusal(woken), not_found("exec e"));

    let tasks = s.tasks.clone();
    let (init_waiter, blocked) =
        blocked_for(Duration::from_millis(100), move || tasks.wait("t", ""));
    assert!(blocked);
    s.tasks.delete("t", "").unwrap();
    let woken = init_waiter.recv_timeout(LONG).expect("init waiter woken");
    assert_eq!(refusal(woken), not_found("task t"));
}

#[test]
fn kill_of_a_stopped_process_is_not_found() {
    let s = shim();
    s.running("t");
    s.running_exec("t", "e");
    s.tasks.kill("t", "", 9, true).unwrap();
    s.tasks.exited(101, 137);
    s.tasks.exited(100, 137);
    let finished = (Code::NOT_FOUND, "process already finished".to_string());
    assert_eq!(refusal(s.tasks.kill("t", "", 9, false)), finished);
    assert_eq!(refusal(s.tasks.kill("t", "e", 9, false)), finished);
    let signals: Vec<_> = s
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("kill") || c.starts_with("signal"))
        .collect();
    assert_eq!(signals, ["kill t 9 true"], "no signal after the exit");
}

#[test]
fn kill_during_create_is_not_found() {
    let s = shim();
    let tasks = s.tasks.clone();
    s.fake.during("create", move |_| {
        assert_eq!(
            refusal(tasks.kill("t", "", 9, false)),
            (Code::NOT_FOUND, "process already finished".into())
        );
        assert_eq!(tasks.state("t", "").unwrap().status, Status::CREATED);
    });
    s.tasks.create(&request("t")).unwrap();
}

#[test]
fn exits_are_announced_once() {
    let s = shim();
    s.running("t");
    s.tasks.exited(100, 1);
    s.tasks.exited(100, 2);
    s.tasks.exited(555, 0);
    assert_eq!(s.tasks.wait("t", "").unwrap().status, 1);
    assert_eq!(s.events()[2..], ["exit t/t pid 100 status 1"]);
}

#[test]
fn pause_and_resume_apply_to_every_process() {
    let s = shim();
    s.running("t");
    s.running_exec("t", "run");
    s.tasks.add_exec("t", "new", b"{}", stdio()).unwrap();
    s.running_exec("t", "done");
    s.tasks.exited(102, 0);
    s.tasks.set_frozen("t", true).unwrap();
    let statuses = |s: &Shim| {
        ["", "run", "new", "done"]
            .map(|exec| s.status("t", exec))
            .to_vec()
    };
    assert_eq!(
        statuses(&s),
        [
            Status::PAUSED,
            Status::PAUSED,
            Status::CREATED,
            Status::STOPPED
        ]
    );
    s.tasks.set_frozen("t", false).unwrap();
    assert_eq!(
        statuses(&s),
        [
            Status::RUNNING,
            Status::RUNNING,
            Status::CREATED,
            Status::STOPPED
        ]
    );
    let events = s.events();
    assert_eq!(events[events.len() - 2..], ["paused t", "resumed t"]);
}

#[test]
fn a_refused_pause_changes_nothing() {
    let s = shim();
    s.running("t");
    s.fake.fail("pause");
    assert_eq!(
        refusal(s.tasks.set_frozen("t", true)),
        (Code::UNKNOWN, "pause failed".into())
    );
    assert_eq!(s.status("t", ""), Status::RUNNING);
    assert_eq!(s.events().len(), 2, "no TaskPaused");
}

#[test]
fn a_failed_delete_keeps_the_task() {
    let s = shim();
    s.running("t");
    s.fake.fail("delete");
    assert_eq!(
        refusal(s.tasks.delete("t", "")),
        (Code::UNKNOWN, "delete failed".into())
    );
    assert_eq!(s.status("t", ""), Status::RUNNING);
    s.fake.heal();
    let gone = s.tasks.delete("t", "").unwrap();
    assert_eq!((gone.pid, gone.exit_status), (100, 0));
    assert!(
        gone.exited_at.is_some(),
        "a running init's delete is stamped now"
    );
    assert_eq!(s.events().last().unwrap(), "delete t pid 100 status 0");
}

#[test]
fn update_pids_and_oom() {
    let s = shim();
    s.running("t");
    let (code, text) = refusal(s.tasks.update("t", Some(b"not json".as_slice())));
    assert_eq!(code, Code::INVALID_ARGUMENT);
    assert!(text.starts_with("invalid resources: "), "{text}");
    s.tasks
        .update("t", Some(br#"{"pids":{"limit":5}}"#.as_slice()))
        .unwrap();
    s.tasks.update("t", None).unwrap();
    assert_eq!(s.tasks.pids("t").unwrap(), [100]);
    s.tasks.resize_pty("t", "", 80, 24).unwrap();
    (s.fake.on_oom.lock().unwrap().as_ref().unwrap())();
    let calls = s.fake.calls();
    assert_eq!(
        calls[calls.len() - 3..],
        ["update t Some(5)", "update t None", "pids t"],
        "no resize without a terminal"
    );
    assert_eq!(s.events().last().unwrap(), "oom t");
}

#[test]
fn shutdown_waits_for_every_task() {
    let s = shim();
    s.running("a");
    s.running("b");
    s.tasks.delete("a", "").unwrap();
    assert!(!s.tasks.is_empty());
    s.tasks.delete("b", "").unwrap();
    assert!(s.tasks.is_empty());
}

#[test]
fn a_task_deleted_during_its_start_reports_not_found() {
    let s = shim();
    s.tasks.create(&request("t")).unwrap();
    let tasks = s.tasks.clone();
    s.fake.during("start", move |_| {
        tasks.delete("t", "").unwrap();
    });
    assert_eq!(refusal(s.tasks.start("t", "")), not_found("task t"));
    assert_eq!(
        s.events(),
        ["create t pid 100", "delete t pid 100 status 0"]
    );
}
