//! The command line: runc's global flags and commands (liboci-cli's argument types) and
//! runwasm's own (`spec`, `list`, `image`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::filter::LevelFilter;

use crate::logging::LogFormat;
use crate::{commands, image, list, spec};

#[derive(Parser, Debug)]
#[command(
    name = "runwasm",
    version,
    about = "OCI runtime for Wasm and Linux containers"
)]
pub struct Cli {
    /// Directory for container state
    #[arg(long, global = true, default_value = runwasm_container::runtime::DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Log file (default: stderr)
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long, global = true, default_value = "text")]
    pub log_format: LogFormat,
    /// Log level: error, warn, info, debug
    #[arg(long, global = true)]
    pub log_level: Option<LevelFilter>,
    /// Use systemd for cgroups
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Log debug messages
    #[arg(long, global = true)]
    pub debug: bool,
    /// Accepted for runc compatibility (true, false or auto); runwasm runs as root.
    /// `spec --rootless` writes a rootless config.
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container (its process waits for `start`)
    Create(liboci_cli::Create),
    /// Start a created container
    Start(liboci_cli::Start),
    /// Create and start a container
    Run(liboci_cli::Run),
    /// Print a container's state as JSON
    State(liboci_cli::State),
    /// Send a signal to a container's init (or every) process
    Kill(commands::Kill),
    /// Delete a container
    Delete(liboci_cli::Delete),
    /// Run a process (a Linux program or a Wasm module) in a running container
    Exec(liboci_cli::Exec),
    /// List a container's processes
    Ps(liboci_cli::Ps),
    /// Freeze a container's processes
    Pause(liboci_cli::Pause),
    /// Thaw a paused container
    Resume(liboci_cli::Resume),
    /// Change a container's resource limits
    Update(liboci_cli::Update),
    /// Print a container's cgroup statistics (and OOM kills) as JSON events
    Events(liboci_cli::Events),
    /// Print what this runtime supports (runtime-spec features.md JSON)
    Features(liboci_cli::Features),
    /// Write a starter config.json (a Linux shell, or a Wasm module with --wasm)
    Spec(spec::SpecArgs),
    /// List the containers under --root
    #[command(visible_alias = "ls")]
    List(list::ListArgs),
    /// Build Wasm images (OCI image layout tarballs)
    #[command(subcommand)]
    Image(image::ImageCommand),
}

impl Command {
    /// The container a command names, checked before any work is done for it.
    pub fn container_id(&self) -> Option<&str> {
        Some(match self {
            Command::Create(a) => &a.container_id,
            Command::Start(a) => &a.container_id,
            Command::Run(a) => &a.container_id,
            Command::State(a) => &a.container_id,
            Command::Kill(a) => &a.container_id,
            Command::Delete(a) => &a.container_id,
            Command::Exec(a) => &a.container_id,
            Command::Ps(a) => &a.container_id,
            Command::Pause(a) => &a.container_id,
            Command::Resume(a) => &a.container_id,
            Command::Update(a) => &a.container_id,
            Command::Events(a) => &a.container_id,
            Command::Features(_) | Command::Spec(_) | Command::List(_) | Command::Image(_) => {
                return None
            }
        })
    }

    /// How a failure ends, as runc: `exec failed: ...` and 255 for exec (callers such as
    /// CRI-O's ExecSync tell it from the process's own status by that), 1 for the rest.
    pub fn failure(&self) -> (u8, Option<&'static str>) {
        match self {
            Command::Exec(_) => (255, Some("exec failed")),
            _ => (1, None),
        }
    }
}
