//! The containerd shim v2 of runwasm as a library: `main.rs` is the process (containerd's
//! start/delete/serve actions); the task service, its state machine and the containerd
//! adapters live here, where unit tests and fuzz targets reach them.

pub mod artifact;
pub mod bootstrap;
pub mod cli;
pub mod events;
pub mod io;
pub mod logging;
pub mod metrics;
pub mod ops;
pub mod service;
pub mod task;
