//! A test program for runwasm's end-to-end tests: one binary, one behaviour per subcommand.
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cmd = args.get(1).map(String::as_str).unwrap_or("hello");
    let rest = &args[args.len().min(2)..];
    match cmd {
        "hello" => println!("hello from wasm"),
        "args" => println!("args: {}", args.join(" ")),
        "env" => {
            for name in rest {
                println!("{name}={}", std::env::var(name).unwrap_or_else(|_| "<unset>".into()));
            }
        }
        "exit" => std::process::exit(rest.first().and_then(|n| n.parse().ok()).unwrap_or(1)),
        "cat" => match std::fs::read_to_string(&rest[0]) {
            Ok(text) => print!("{text}"),
            Err(e) => fail(&format!("cannot read {}: {e}", rest[0])),
        },
        "write" => match std::fs::write(&rest[0], rest.get(1).map(String::as_str).unwrap_or("")) {
            Ok(()) => println!("wrote {}", rest[0]),
            Err(e) => fail(&format!("cannot write {}: {e}", rest[0])),
        },
        "ls" => match std::fs::read_dir(&rest[0]) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                println!("{}", names.join(" "));
            }
            Err(e) => fail(&format!("cannot list {}: {e}", rest[0])),
        },
        "alloc" => {
            // touch MiB after MiB of linear memory: a memory limit ends this with the OOM killer
            let mib: usize = rest.first().and_then(|n| n.parse().ok()).unwrap_or(64);
            let mut blocks = Vec::new();
            for i in 0..mib {
                blocks.push(vec![i as u8; 1 << 20]);
            }
            println!("allocated {} MiB", blocks.len());
        }
        "stdin" => {
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input).unwrap();
            print!("stdin: {input}");
        }
        "stderr" => eprintln!("{}", rest.join(" ")),
        "both" => {
            println!("to stdout");
            std::io::stdout().flush().unwrap();
            eprintln!("to stderr");
        }
        "sleep" => {
            let secs: u64 = rest.first().and_then(|n| n.parse().ok()).unwrap_or(3600);
            println!("sleeping {secs}s");
            std::io::stdout().flush().unwrap();
            std::thread::sleep(Duration::from_secs(secs));
        }
        "loop" => {
            println!("looping");
            std::io::stdout().flush().unwrap();
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "trap" => {
            #[cfg(target_arch = "wasm32")]
            core::arch::wasm32::unreachable();
        }
        "escape" => escape(),
        "ro-write" => ro_write(rest.first().map(String::as_str).unwrap_or("/ro")),
        "read-raw" => {
            // one line per path, as `escape` prints: any byte read is an escape
            for path in rest {
                match read_head(path) {
                    Ok(got) => println!("ESCAPED read {path}: {got}"),
                    Err(e) => println!("refused read {path}: {e}"),
                }
            }
            println!("read-raw: {} routes", rest.len());
        }
        other => fail(&format!("unknown command {other}")),
    }
}

/// Every route a module could take from its WASI sandbox to the kernel's view of its own
/// process (procfs, sysfs, cgroupfs, mqueue): one line per route, `refused ROUTE: ERROR` or
/// `ESCAPED ROUTE: WHAT IT GOT`, then `escape: N routes`. Nothing here changes anything: the
/// code rewrite through /proc/self/mem writes back the bytes it read.
fn escape() {
    let mut routes = 0;
    let mut report = |route: &str, outcome: Result<String, String>| {
        routes += 1;
        match outcome {
            Ok(got) => println!("ESCAPED {route}: {got}"),
            Err(e) => println!("refused {route}: {e}"),
        }
        let _ = std::io::stdout().flush();
    };
    // the memory of the runtime process itself: rewrite a page of its native code
    report("/proc/self/mem", mem_attack("/proc/self/maps", "/proc/self/mem"));
    report("/link-proc/mem (relative symlink in the rootfs)", mem_attack("/link-proc/maps", "/link-proc/mem"));
    for path in [
        "/proc/self/maps",
        "/./proc/self/maps",
        "/tmp/../proc/self/maps",
        "/proc/1/environ",
        "/proc/self/cwd/etc/greeting.txt",
        "/etc/../proc/1/root/etc/hostname",
        "/proc/1/root/etc/hostname",
        "/link-proc/maps",
        "/abs-proc/maps",
        "/abs-proc/status",
        "/proc/sys/kernel/core_pattern",
        "/sys/kernel/uevent_seqnum",
        "/tmp/../sys/kernel/uevent_seqnum",
        // top-level links to the root and to /dev: granting what they lead to would grant all
        "/rootlink/proc/self/maps",
        "/rootlink/sys/kernel/uevent_seqnum",
    ] {
        report(&format!("read {path}"), read_head(path));
    }
    for path in ["/proc", "/sys", "/sys/fs/cgroup", "/./proc/self/fd", "/dev/mqueue", "/devlink/pts"] {
        report(&format!("list {path}"), list_nonempty(path));
    }
    // a message queue is created by creating a file in an mqueue mount
    report("create /dev/mqueue/runwasm-escape", create("/dev/mqueue/runwasm-escape"));
    report("create /sys/fs/cgroup/runwasm-escape", create("/sys/fs/cgroup/runwasm-escape"));
    println!("escape: {routes} routes");
}

/// Reads the start of a file: any content at all is an escape.
fn read_head(path: &str) -> Result<String, String> {
    let mut buf = [0u8; 120];
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let n = file.read(&mut buf).map_err(|e| format!("opened, read failed: {e}"))?;
    Ok(format!("read {n} bytes: {:?}", String::from_utf8_lossy(&buf[..n])))
}

/// Lists a directory: an error or an empty directory (the empty tmpfs over a kernel
/// filesystem) is a refusal; any entry is an escape.
fn list_nonempty(path: &str) -> Result<String, String> {
    let names: Vec<String> = std::fs::read_dir(path)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if names.is_empty() {
        Err("empty".into())
    } else {
        let shown: Vec<&str> = names.iter().take(12).map(String::as_str).collect();
        Ok(format!("{} entries: {}", names.len(), shown.join(" ")))
    }
}

fn create(path: &str) -> Result<String, String> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map(|_| "created".into())
        .map_err(|e| e.to_string())
}

/// CVE-style self-modification: find an executable mapping in MAPS, open MEM read-write,
/// read 16 bytes of that code and write the same bytes back through the file.
fn mem_attack(maps: &str, mem: &str) -> Result<String, String> {
    let target = std::fs::read_to_string(maps).ok().and_then(|text| {
        text.lines()
            .find(|line| line.split_whitespace().nth(1) == Some("r-xp"))
            .and_then(|line| u64::from_str_radix(line.split('-').next()?, 16).ok())
    });
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(mem)
        .map_err(|e| e.to_string())?;
    let Some(addr) = target else {
        return Ok(format!("opened {mem} read-write ({maps} unreadable)"));
    };
    let mut code = [0u8; 16];
    let at = SeekFrom::Start(addr);
    if let Err(e) = file.seek(at).and_then(|_| file.read_exact(&mut code)) {
        return Ok(format!("opened {mem} read-write, reading code at {addr:#x} failed: {e}"));
    }
    match file.seek(at).and_then(|_| file.write_all(&code)) {
        Ok(()) => Ok(format!("rewrote 16 bytes of native code at {addr:#x}")),
        Err(e) => Ok(format!("opened {mem} read-write and read code at {addr:#x}; write failed: {e}")),
    }
}

/// Tries to write into the read-only mount DIR by every route: the mount's own (read-only)
/// preopen, and through the writable `/` preopen. One line per route as `escape` prints, then
/// `ro-write: N routes`.
fn ro_write(dir: &str) {
    let name = dir.trim_start_matches('/');
    let routes = [
        format!("/{name}/x"),
        format!("/tmp/../{name}/x"),
        format!("/./{name}/x"),
        format!("/etc/../{name}/marker.txt"),
        format!("/{name}/marker.txt"),
    ];
    for route in &routes {
        let outcome = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(route)
            .and_then(|mut f| f.write_all(b"written by the module\n"));
        match outcome {
            Ok(()) => println!("ESCAPED write {route}: wrote"),
            Err(e) => println!("refused write {route}: {e}"),
        }
    }
    match std::fs::create_dir(format!("/tmp/../{name}/newdir")) {
        Ok(()) => println!("ESCAPED mkdir /tmp/../{name}/newdir: created"),
        Err(e) => println!("refused mkdir /tmp/../{name}/newdir: {e}"),
    }
    println!("ro-write: {} routes", routes.len() + 1);
}

fn fail(msg: &str) -> ! {
    eprintln!("probe: {msg}");
    std::process::exit(1)
}
