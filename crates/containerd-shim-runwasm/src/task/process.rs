//! One process of a task and its checked transitions:
//!
//! ```text
//! Creating --create done--> Created --start--> Starting --start done--> Running <--> Paused
//! Starting --init start failed--> Created          Starting --exec start failed--> Stopped(255)
//! Created | Running | Paused --exit--> Stopped     delete (of an exec: unless it runs) --> gone
//! ```
//!
//! An exit seen while a create or start is in progress is known at once (state, wait) but
//! its TaskExit is held until TaskCreate, TaskStart or TaskExecStarted is out; the process
//! then ends Stopped. A deleted process leaves its task's table: its waiters learn it is gone.

use containerd_shim::api::Status;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;

use super::{now, Error, Result};
use crate::io::StdioPaths;

/// The exit status reported for an exec that could not be started.
pub const EXEC_FAILED: u32 = 255;

#[derive(Debug, Clone, PartialEq)]
pub struct Exit {
    pub status: u32,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// The init's create is in progress; `exited` holds an exit seen meanwhile.
    Creating {
        exited: Option<Exit>,
    },
    Created,
    /// A start is in progress; `exited` holds an exit seen meanwhile.
    Starting {
        exited: Option<Exit>,
    },
    Running,
    Paused,
    Stopped(Exit),
}

impl State {
    pub fn status(&self) -> Status {
        match self {
            Self::Creating { exited: None } | Self::Created | Self::Starting { exited: None } => {
                Status::CREATED
            }
            Self::Running => Status::RUNNING,
            Self::Paused => Status::PAUSED,
            Self::Creating { exited: Some(_) }
            | Self::Starting { exited: Some(_) }
            | Self::Stopped(_) => Status::STOPPED,
        }
    }

    pub fn exit(&self) -> Option<&Exit> {
        match self {
            Self::Creating { exited } | Self::Starting { exited } => exited.as_ref(),
            Self::Stopped(exit) => Some(exit),
            _ => None,
        }
    }
}

/// How a create or start ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    Done,
    Failed,
}

pub struct Process {
    /// 0 until the process is launched and its pid read.
    pub pid: i32,
    state: State,
    pub stdio: StdioPaths,
    pub console: Option<std::os::fd::OwnedFd>,
    /// An exec's process.json, written when it is added, run when it is started.
    pub spec: Option<std::path::PathBuf>,
}

impl Process {
    /// A task's init, whose create is in progress.
    pub fn init(stdio: StdioPaths) -> Self {
        Self {
            pid: 0,
            state: State::Creating { exited: None },
            stdio,
            console: None,
            spec: None,
        }
    }

    /// An exec, added and not started.
    pub fn exec(stdio: StdioPaths, spec: std::path::PathBuf) -> Self {
        Self {
            pid: 0,
            state: State::Created,
            stdio,
            console: None,
            spec: Some(spec),
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn exit(&self) -> Option<&Exit> {
        self.state.exit()
    }

    /// Created -> Starting; `name` says which process, for the refusal.
    pub fn begin_start(&mut self, name: impl FnOnce() -> String) -> Result<()> {
        match self.state {
            State::Created => {
                self.state = State::Starting { exited: None };
                Ok(())
            }
            _ => Err(Error::NotCreated(name())),
        }
    }

    /// The process exited. Returns the exit to announce now: none while a create or start
    /// holds it back.
    pub fn exited(&mut self, status: u32) -> Option<Exit> {
        let exit = Exit { status, at: now() };
        match &mut self.state {
            State::Creating { exited } | State::Starting { exited } => {
                *exited = Some(exit);
                None
            }
            State::Created | State::Running | State::Paused => {
                self.state = State::Stopped(exit.clone());
                Some(exit)
            }
            State::Stopped(_) => None,
        }
    }

    /// Whether an exit of `pid` is this process's.
    pub fn is_live_pid(&self, pid: i32) -> bool {
        self.pid == pid && self.exit().is_none()
    }

    /// Ends a create (Creating -> Created) or a start (Starting -> Running; a failed init
    /// start -> Created, a failed exec start -> Stopped(255)). Returns the exit held back
    /// meanwhile, to be announced after the create or start event.
    pub fn finish(&mut self, outcome: Outcome, exec: bool) -> Option<Exit> {
        let (held, done) = match &mut self.state {
            State::Creating { exited } => (exited.take(), State::Created),
            State::Starting { exited } => (
                exited.take(),
                match (outcome, exec) {
                    (Outcome::Done, _) => State::Running,
                    (Outcome::Failed, false) => State::Created,
                    (Outcome::Failed, true) => State::Stopped(Exit {
                        status: EXEC_FAILED,
                        at: now(),
                    }),
                },
            ),
            _ => return None,
        };
        self.state = match (&held, done) {
            // an exec that never ran keeps its own exit status
            (_, stopped @ State::Stopped(_)) => stopped,
            (Some(exit), _) => State::Stopped(exit.clone()),
            (None, done) => done,
        };
        held
    }

    /// The pid to signal: none once exited or while unknown.
    pub fn kill_target(&self) -> Result<i32> {
        if self.exit().is_some() || self.pid == 0 {
            return Err(Error::Finished);
        }
        Ok(self.pid)
    }

    /// An exec may be deleted unless it runs (or is being started).
    pub fn check_deletable(&self, exec_id: &str) -> Result<()> {
        match self.state {
            State::Starting { exited: None } | State::Running | State::Paused => {
                Err(Error::ExecRunning(exec_id.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// Running -> Paused (`frozen`) or Paused -> Running; other states stay.
    pub fn set_frozen(&mut self, frozen: bool) {
        self.state = match (&self.state, frozen) {
            (State::Running, true) => State::Paused,
            (State::Paused, false) => State::Running,
            _ => return,
        };
    }
}
