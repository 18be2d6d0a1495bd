//! Container lifecycle for runwasm, on youki's libcontainer and libcgroups.
//!
//! Every container gets the same isolation; [`workload::executor_for`] decides whether its
//! process then runs a Wasm module in-process or `execve`s a Linux program.

pub mod artifact;
pub mod cgroup;
pub mod error;
pub mod executor;
pub mod lsm;
mod notify_sockets;
pub mod runtime;
pub mod sandbox;
pub mod seal;
pub mod state;
pub mod tether;
pub mod workload;

pub use error::ContainerError;
pub use runtime::{CreateOptions, ExecOptions, Runtime};
pub use state::RuncState;
