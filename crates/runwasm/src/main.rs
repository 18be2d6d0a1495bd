//! `runwasm`: a runc-compatible OCI runtime that runs Wasm and Linux containers.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::filter::LevelFilter;

use runwasm::cli::{Cli, Command};
use runwasm::{commands, logging};

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
