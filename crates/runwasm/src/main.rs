//! `runwasm`: a runc-compatible OCI runtime that runs Wasm and Linux containers.

mod commands;
mod logging;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::filter::LevelFilter;

use logging::LogFormat;

#[derive(Parser, Debug)]
#[command(
    name = "runwasm",
    version,
    about = "OCI runtime for Wasm and Linux containers"
)]
struct Cli {
    /// Directory for container state
    #[arg(long, global = true, default_value = runwasm_container::runtime::DEFAULT_ROOT)]
    root: PathBuf,
    /// Log file (default: stderr)
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long, global = true, default_value = "text")]
    log_format: LogFormat,
    /// Log level: error, warn, info, debug
    #[arg(long, global = true)]
    log_level: Option<LevelFilter>,
    /// Use systemd for cgroups
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// Log debug messages
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for runc compatibility (true, false or auto); runwasm runs as root
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
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
    /// Print what this runtime supports (runtime-spec features.md JSON)
    Features(liboci_cli::Features),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // help and version go to stdout with status 0; usage errors say what was wrong
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let level = cli.log_level.unwrap_or(if cli.debug {
        LevelFilter::DEBUG
    } else {
        LevelFilter::ERROR
    });
    if let Err(e) = logging::init(cli.log.as_deref(), cli.log_format, level) {
        eprintln!("runwasm: cannot open log file: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = runwasm_container::Runtime::new(&cli.root, cli.systemd_cgroup);
    match commands::run(&runtime, cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let msg = format!("{e:#}");
            // the caller's log (containerd, CRI-O) and the caller's stderr (conmon, podman)
            if cli.log.is_some() {
                tracing::error!("{msg}");
            }
            eprintln!("runwasm: {msg}");
            ExitCode::FAILURE
        }
    }
}
