//! A client of `containerd-shim-runwasm-v1` that plays containerd's part: it starts the shim
//! as containerd 2.3 does (BootstrapParams on stdin, no `TTRPC_ADDRESS` in the environment)
//! and calls the task API at the address of the BootstrapResult.
//!
//! usage: shim-client-e2e MODE SHIM BUNDLE CONTAINERD_SOCKET ID
//! Both modes print `shim-pid: N` (the shim's own pid, from Connect) first.
//!   run:   create, start, wait, delete, shutdown; prints `exit_status N` and the stdout.
//!   edges: the task API's edge cases, on a bundle whose process runs for a while (see
//!          `edges`); prints one `ok: ...` line per check and fails at the first miss.
//! BUNDLE holds config.json and rootfs/; stdout goes to BUNDLE/stdout. As containerd does,
//! the client makes the BUNDLE/log fifo the shim logs to, and shows its lines.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use containerd_shim::protos::api::{
    ConnectRequest, CreateTaskRequest, DeleteRequest, ExecProcessRequest, KillRequest,
    ShutdownRequest, StartRequest, WaitRequest,
};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{CodedInputStream, MessageField};
use containerd_shim::protos::ttrpc::{context, Code, Error as TtrpcError};
use containerd_shim::protos::{Client, TaskClient};

const NAMESPACE: &str = "runwasm-bootstrap";

/// A length-delimited protobuf field.
fn field(number: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![((number << 3) | 2) as u8];
    let mut len = bytes.len();
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(bytes);
    out
}

/// containerd.runtime.bootstrap.v1.BootstrapParams, as containerd 2.3 writes it.
fn bootstrap_params(id: &str, socket: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(field(1, id.as_bytes()));
    out.extend(field(2, NAMESPACE.as_bytes()));
    out.extend([0x18, 0x00]); // log_level INFO
    out.extend(field(4, b"v2.3.0"));
    out.extend(field(5, format!("{socket}.ttrpc").as_bytes()));
    out.extend(field(6, socket.as_bytes()));
    out.extend(field(7, b"/usr/bin/containerd"));
    out
}

/// BootstrapResult {version = 1, address = 2, protocol = 3}.
fn parse_result(bytes: &[u8]) -> Result<(i32, String, String)> {
    let mut stream = CodedInputStream::from_bytes(bytes);
    let (mut version, mut address, mut protocol) = (0, String::new(), String::new());
    while !stream.eof()? {
        match stream.read_raw_varint32()? {
            0x08 => version = stream.read_int32()?,
            0x12 => address = stream.read_string()?,
            0x1a => protocol = stream.read_string()?,
            tag => bail!("unexpected field tag {tag:#x} in BootstrapResult"),
        }
    }
    Ok((version, address, protocol))
}

/// Starts the shim with the bootstrap protocol; returns a client of its task API.
fn start_shim(shim: &str, bundle: &str, socket: &str, id: &str) -> Result<TaskClient> {
    let log = format!("{bundle}/log");
    let _ = std::fs::remove_file(&log);
    nix::unistd::mkfifo(
        log.as_str(),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )?;
    std::thread::spawn(move || {
        if let Ok(fifo) = std::fs::File::open(&log) {
            for line in BufReader::new(fifo).lines().map_while(Result::ok) {
                eprintln!("shim log: {line}");
            }
        }
    });
    let mut start = Command::new(shim)
        .args(["-namespace", NAMESPACE, "-id", id, "-address", socket])
        .args(["-publish-binary", "/usr/bin/containerd", "start"])
        .current_dir(bundle)
        .env_remove("TTRPC_ADDRESS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run the shim")?;
    start
        .stdin
        .take()
        .context("stdin")?
        .write_all(&bootstrap_params(id, socket))?;
    let out = start.wait_with_output()?;
    ensure!(
        out.status.success(),
        "shim start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (version, address, protocol) = parse_result(&out.stdout)?;
    println!("BootstrapResult version={version} protocol={protocol} address={address}");
    ensure!(version == 2, "task API version {version}, want 2");
    ensure!(protocol == "ttrpc", "protocol {protocol:?}, want ttrpc");
    Ok(TaskClient::new(Client::connect(&address)?))
}

fn ctx() -> context::Context {
    context::with_timeout(10_000_000_000)
}

/// The status code of a failed call; `None` when it succeeded.
fn code_of<T>(result: std::result::Result<T, TtrpcError>) -> Option<Code> {
    match result {
        Ok(_) => None,
        Err(TtrpcError::RpcStatus(status)) => Some(status.code()),
        Err(_) => Some(Code::UNKNOWN),
    }
}

fn expect_code<T>(
    result: std::result::Result<T, TtrpcError>,
    want: Code,
    what: &str,
) -> Result<()> {
    let got = code_of(result);
    ensure!(got == Some(want), "{what}: got {got:?}, want {want:?}");
    println!("ok: {what} is {want:?}");
    Ok(())
}

fn create(task: &TaskClient, id: &str, bundle: &str) -> std::result::Result<u32, TtrpcError> {
    let stdout = format!("{bundle}/stdout");
    let _ = std::fs::write(&stdout, "");
    let req = CreateTaskRequest {
        id: id.to_string(),
        bundle: bundle.to_string(),
        stdout,
        ..Default::default()
    };
    task.create(ctx(), &req).map(|resp| resp.pid)
}

fn start(task: &TaskClient, id: &str, exec_id: &str) -> std::result::Result<u32, TtrpcError> {
    let req = StartRequest {
        id: id.to_string(),
        exec_id: exec_id.to_string(),
        ..Default::default()
    };
    task.start(ctx(), &req).map(|resp| resp.pid)
}

fn kill(task: &TaskClient, id: &str, exec_id: &str) -> std::result::Result<(), TtrpcError> {
    let req = KillRequest {
        id: id.to_string(),
        exec_id: exec_id.to_string(),
        signal: 9,
        ..Default::default()
    };
    task.kill(ctx(), &req).map(|_| ())
}

fn delete(task: &TaskClient, id: &str, exec_id: &str) -> std::result::Result<u32, TtrpcError> {
    let req = DeleteRequest {
        id: id.to_string(),
        exec_id: exec_id.to_string(),
        ..Default::default()
    };
    task.delete(ctx(), &req).map(|resp| resp.exit_status)
}

/// Waits on a thread with a deadline: a Wait that never returns is a failure, not a hang.
fn wait(task: &TaskClient, id: &str, exec_id: &str) -> Result<u32> {
    let (tx, rx) = mpsc::channel();
    let (task, req) = (
        task.clone(),
        WaitRequest {
            id: id.to_string(),
            exec_id: exec_id.to_string(),
            ..Default::default()
        },
    );
    std::thread::spawn(move || {
        let _ = tx.send(task.wait(ctx(), &req).map(|resp| resp.exit_status));
    });
    Ok(rx
        .recv_timeout(Duration::from_secs(10))
        .with_context(|| format!("Wait for {id}/{exec_id} did not return"))??)
}

/// An exec of `args` as containerd sends it: the runtime-spec Process as JSON.
fn exec(
    task: &TaskClient,
    id: &str,
    exec_id: &str,
    args: &[&str],
) -> std::result::Result<(), TtrpcError> {
    let process = serde_json::json!({
        "args": args, "cwd": "/", "env": ["PATH=/"], "user": {"uid": 0, "gid": 0},
    });
    let req = ExecProcessRequest {
        id: id.to_string(),
        exec_id: exec_id.to_string(),
        spec: MessageField::some(Any {
            type_url: "types.containerd.io/opencontainers/runtime-spec/1/Process".into(),
            value: process.to_string().into_bytes(),
            ..Default::default()
        }),
        ..Default::default()
    };
    task.exec(ctx(), &req).map(|_| ())
}

fn run(task: &TaskClient, id: &str, bundle: &str) -> Result<()> {
    ensure!(create(task, id, bundle)? > 0, "no pid from Create");
    start(task, id, "")?;
    println!("exit_status {}", wait(task, id, "")?);
    print!("{}", std::fs::read_to_string(format!("{bundle}/stdout"))?);
    delete(task, id, "")?;
    Ok(())
}

/// The bundle's process must run for a few seconds (e.g. `/probe.wasm sleep 30`) and its
/// rootfs must hold `/probe.wasm` and the invalid `/bad.wasm`.
fn edges(task: &TaskClient, id: &str, bundle: &str) -> Result<()> {
    create(task, id, bundle)?;
    expect_code(
        create(task, id, bundle),
        Code::ALREADY_EXISTS,
        "a second Create of the id",
    )?;
    start(task, id, "")?;
    expect_code(
        start(task, id, ""),
        Code::FAILED_PRECONDITION,
        "a second Start",
    )?;

    // a duplicate exec id is refused and leaves the pending exec's process as it was
    exec(task, id, "dup", &["/probe.wasm", "exit", "3"])?;
    expect_code(
        exec(task, id, "dup", &["/probe.wasm", "exit", "9"]),
        Code::ALREADY_EXISTS,
        "a second Exec of a pending exec id",
    )?;
    start(task, id, "dup")?;
    let status = wait(task, id, "dup")?;
    ensure!(
        status == 3,
        "the pending exec exited {status}: want 3 (its own command), 9 is the duplicate's"
    );
    println!("ok: the pending exec ran its own command (exit 3)");
    delete(task, id, "dup")?;

    exec(task, id, "running", &["/probe.wasm", "sleep", "30"])?;
    start(task, id, "running")?;
    expect_code(
        exec(task, id, "running", &["/probe.wasm", "exit", "9"]),
        Code::ALREADY_EXISTS,
        "a second Exec of a running exec id",
    )?;
    expect_code(
        delete(task, id, "running"),
        Code::FAILED_PRECONDITION,
        "Delete of a running exec",
    )?;
    kill(task, id, "running")?;
    let status = wait(task, id, "running")?;
    ensure!(status == 137, "killed exec exit status {status}, want 137");
    println!("ok: killed exec exits 137");
    expect_code(
        kill(task, id, "running"),
        Code::NOT_FOUND,
        "Kill of an exited exec",
    )?;
    delete(task, id, "running")?;

    exec(task, id, "broken", &["/bad.wasm"])?;
    ensure!(
        start(task, id, "broken").is_err(),
        "Start of an invalid module succeeded"
    );
    let status = wait(task, id, "broken")?;
    // the shim's status for an exec that never ran
    ensure!(
        status == 255,
        "Wait on an exec that failed to start: status {status}, want 255"
    );
    println!("ok: Wait on an exec that failed to start returns 255");
    delete(task, id, "broken")?;

    kill(task, id, "")?;
    let status = wait(task, id, "")?;
    ensure!(status == 137, "killed init exit status {status}, want 137");
    println!("ok: killed init exits 137");
    expect_code(
        kill(task, id, ""),
        Code::NOT_FOUND,
        "Kill of an exited task",
    )?;
    delete(task, id, "")?;
    expect_code(delete(task, id, ""), Code::NOT_FOUND, "a second Delete")?;
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, shim, bundle, socket, id] = args.as_slice() else {
        bail!("usage: shim-client-e2e run|edges SHIM BUNDLE CONTAINERD_SOCKET ID");
    };
    let task = start_shim(shim, bundle, socket, id)?;
    // the caller checks that this process is gone after Shutdown
    let connect = ConnectRequest {
        id: id.to_string(),
        ..Default::default()
    };
    println!("shim-pid: {}", task.connect(ctx(), &connect)?.shim_pid);
    match mode.as_str() {
        "run" => run(&task, id, bundle)?,
        "edges" => edges(&task, id, bundle)?,
        other => bail!("unknown mode {other:?}: use run or edges"),
    }
    // the shim exits on Shutdown; the connection may close before the reply
    let _ = task.shutdown(ctx(), &ShutdownRequest::default());
    Ok(())
}
