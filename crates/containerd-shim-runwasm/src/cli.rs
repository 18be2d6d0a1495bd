//! The shim creates containers and execs processes through the `runwasm` binary, as
//! containerd's runc shim runs `runc`: the shim is multi-threaded (ttrpc, reaper), so it never
//! forks into a container itself; `runwasm` does, from a fresh single-threaded process. Both
//! share one state format and one compile cache. The shim holds the binary on a read-only
//! mount for its life and starts it from there, so runwasm runs sealed (CVE-2019-5736)
//! without re-executing itself at every call.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use std::sync::Arc;

use containerd_shim::monitor::{monitor_subscribe, wait_pid, Topic};
use runwasm_container::seal::SealedBinary;

#[derive(Debug, Clone)]
pub struct RunwasmCli {
    binary: PathBuf,
    /// What is executed: `binary` on its read-only mount when one could be made.
    sealed: Option<Arc<SealedBinary>>,
    root: PathBuf,
}

/// A failed `runwasm` call: its last error line, which names the problem.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The stdio a container process gets; `None` is /dev/null.
#[derive(Default)]
pub struct ProcessIo {
    pub stdin: Option<std::fs::File>,
    pub stdout: Option<std::fs::File>,
    pub stderr: Option<std::fs::File>,
}

fn stdio(file: Option<std::fs::File>) -> Stdio {
    file.map(Stdio::from).unwrap_or_else(Stdio::null)
}

impl RunwasmCli {
    /// `runwasm` next to this shim binary, else from PATH; state under `root`.
    pub fn new(root: PathBuf) -> Self {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.canonicalize().ok()?.parent()?.join("runwasm")))
            .filter(|p| p.exists());
        let on_path = || {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join("runwasm"))
                .find(|p| p.is_file())
        };
        let binary = beside
            .or_else(on_path)
            .unwrap_or_else(|| PathBuf::from("runwasm"));
        // without one (no new mount API), runwasm seals itself
        let sealed = SealedBinary::of(&binary).ok().map(Arc::new);
        Self {
            binary,
            sealed,
            root,
        }
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Runs `runwasm --root R --log LOG --log-format json ARGS` with `io` as its stdio,
    /// which the container it creates inherits. A failure carries the last error line of the
    /// log, as containerd shows it.
    pub fn run(&self, log: &Path, args: &[&str], io: ProcessIo) -> Result<(), CliError> {
        let mut cmd = match &self.sealed {
            Some(sealed) => Command::new(sealed.path()),
            None => Command::new(&self.binary),
        };
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(log)
            .args(["--log-format", "json"])
            .args(args)
            .stdin(stdio(io.stdin))
            .stdout(stdio(io.stdout))
            .stderr(stdio(io.stderr));
        // the shim's reaper thread collects every child: wait through its monitor
        let subscription =
            monitor_subscribe(Topic::Pid).map_err(|e| CliError(format!("monitor: {e}")))?;
        let child = cmd
            .spawn()
            .map_err(|e| CliError(format!("cannot run {}: {e}", self.binary.display())))?;
        match wait_pid(child.id() as i32, subscription) {
            0 => Ok(()),
            code => Err(CliError(last_error(log).unwrap_or_else(|| {
                format!("runwasm {} exited with status {code}", args[0])
            }))),
        }
    }
}

/// The message of the last `"level":"error"` line of a runtime log.
fn last_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|line| {
        let entry: serde_json::Value = serde_json::from_str(line).ok()?;
        (entry["level"] == "error").then(|| entry["msg"].as_str().map(str::to_string))?
    })
}
