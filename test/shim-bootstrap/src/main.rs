//! Starts `containerd-shim-runwasm-v1` as containerd 2.3 does (BootstrapParams on stdin, no
//! `TTRPC_ADDRESS` in the environment), then runs a task through the task API at the address
//! of the BootstrapResult: create, start, wait, delete, shutdown.
//!
//! usage: shim-bootstrap-e2e SHIM BUNDLE CONTAINERD_SOCKET ID
//! BUNDLE holds config.json and rootfs/; the task's stdout goes to BUNDLE/stdout. As
//! containerd does, the test makes the BUNDLE/log fifo the shim logs to, and shows its lines.
//! Prints `exit_status N` and the task's stdout; fails on any protocol error.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context, Result};
use containerd_shim::protos::api::{
    CreateTaskRequest, DeleteRequest, ShutdownRequest, StartRequest, WaitRequest,
};
use containerd_shim::protos::protobuf::CodedInputStream;
use containerd_shim::protos::ttrpc::context;
use containerd_shim::protos::{Client, TaskClient};

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
fn bootstrap_params(id: &str, namespace: &str, socket: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(field(1, id.as_bytes()));
    out.extend(field(2, namespace.as_bytes()));
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

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, shim, bundle, socket, id] = args.as_slice() else {
        bail!("usage: shim-bootstrap-e2e SHIM BUNDLE CONTAINERD_SOCKET ID");
    };
    let namespace = "runwasm-bootstrap";
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
        .args(["-namespace", namespace, "-id", id, "-address", socket])
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
        .write_all(&bootstrap_params(id, namespace, socket))?;
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

    let task = TaskClient::new(Client::connect(&address)?);
    let ctx = || context::with_timeout(10_000_000_000);
    let stdout = format!("{bundle}/stdout");
    std::fs::write(&stdout, "")?;
    let created = task.create(
        ctx(),
        &CreateTaskRequest {
            id: id.clone(),
            bundle: bundle.clone(),
            stdout: stdout.clone(),
            ..Default::default()
        },
    )?;
    ensure!(created.pid > 0, "no pid from Create");
    task.start(
        ctx(),
        &StartRequest {
            id: id.clone(),
            ..Default::default()
        },
    )?;
    let waited = task.wait(
        ctx(),
        &WaitRequest {
            id: id.clone(),
            ..Default::default()
        },
    )?;
    println!("exit_status {}", waited.exit_status);
    print!("{}", std::fs::read_to_string(&stdout)?);
    task.delete(
        ctx(),
        &DeleteRequest {
            id: id.clone(),
            ..Default::default()
        },
    )?;
    // the shim exits on Shutdown; the connection may close before the reply
    let _ = task.shutdown(ctx(), &ShutdownRequest::default());
    Ok(())
}
