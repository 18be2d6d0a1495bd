//! `runwasm`: a runc-compatible OCI runtime that runs Wasm and Linux containers.

mod commands;
mod image;
mod list;
mod logging;
mod spec;

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
    /// Accepted for runc compatibility (true, false or auto); runwasm runs as root.
    /// `spec --rootless` writes a rootless config.
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
    fn container_id(&self) -> Option<&str> {
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
            Command::Features(_) | Command::Spec(_) | Command::List(_) | Command::Image(_) => {
                return None
            }
        })
    }

    /// How a failure ends, as runc: `exec failed: ...` and 255 for exec (callers such as
    /// CRI-O's ExecSync tell it from the process's own status by that), 1 for the rest.
    fn failure(&self) -> (u8, Option<&'static str>) {
        match self {
            Command::Exec(_) => (255, Some("exec failed")),
            _ => (1, None),
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // help and version go to stdout with status 0; usage errors say what was wrong
            let _ = e.print();
            if !e.use_stderr() {
                return ExitCode::SUCCESS;
            }
            // and, as runc, as a logrus line for callers that grep stderr for level=error
            eprintln!("{}", logging::usage_error_line(&e.to_string()));
            return ExitCode::FAILURE;
        }
    };
    let level = cli.log_level.unwrap_or(if cli.debug {
        LevelFilter::DEBUG
    } else {
        LevelFilter::ERROR
    });
    let logs_to_file = match logging::init(cli.log.as_deref(), cli.log_format, level) {
        Ok(to_file) => to_file,
        Err(e) => {
            eprintln!(
                "{}",
                logging::usage_error_line(&format!("cannot open log file: {e}"))
            );
            return ExitCode::FAILURE;
        }
    };
    let (failure_code, prefix) = cli.command.failure();
    match enter(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let msg = match prefix {
                Some(prefix) => format!("{prefix}: {e:#}"),
                None => format!("{e:#}"),
            };
            tracing::error!("{msg}");
            // runc: the logrus line goes to --log FILE, the bare message to stderr; without
            // --log the logrus line itself is on stderr
            if logs_to_file {
                eprintln!("{msg}");
            }
            ExitCode::from(failure_code)
        }
    }
}

/// Checks the container id, seals the binary when the command enters a container, runs it.
fn enter(cli: Cli) -> anyhow::Result<u8> {
    if let Some(id) = cli.command.container_id() {
        commands::validate_id(id)?;
    }
    // a command that forks into a container runs from a sealed copy of this binary
    if matches!(
        cli.command,
        Command::Create(_) | Command::Run(_) | Command::Exec(_)
    ) {
        runwasm_container::seal::ensure_sealed()?;
    }
    let runtime = runwasm_container::Runtime::new(&cli.root, cli.systemd_cgroup);
    let rootless = cli.rootless.as_deref() == Some("true");
    commands::run(&runtime, &cli.root, rootless, cli.command)
}
