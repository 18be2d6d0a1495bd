//! The `runwasm` command, as a library so that its parser and commands can be tested and
//! fuzzed apart from the process: `main.rs` only parses, sets up logging and reports.

pub mod cli;
pub mod commands;
pub mod events;
pub mod image;
pub mod list;
pub mod logging;
pub mod spec;
