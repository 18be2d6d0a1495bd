//! A test program for runwasm's end-to-end tests: one binary, one behaviour per subcommand.
use std::io::{Read, Write};
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
        other => fail(&format!("unknown command {other}")),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("probe: {msg}");
    std::process::exit(1)
}
