use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::Tether;

const HELPER_MODE: &str = "RUNWASM_TETHER_HELPER";

/// Not a test of its own: the tests below run the test binary again with this one test and
/// a mode, to have a process that tethers a child and then dies, releases or fails.
#[test]
fn helper() {
    let Ok(mode) = std::env::var(HELPER_MODE) else {
        return;
    };
    let tether = Tether::arm();
    // not waited for: the tests see what becomes of it after this process
    #[allow(clippy::zombie_processes)]
    let child = Command::new("sleep").arg("30").spawn().expect("sleep");
    // the watcher arms a link within its poll interval; this is ample
    std::thread::sleep(Duration::from_millis(300));
    match mode.as_str() {
        "release" => tether.release(),
        "fail" => drop(tether),
        _ => {}
    }
    println!("tethered {}", child.id());
    if mode == "die" {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// Runs the helper in `mode`; its child's pid and the helper itself.
fn run_helper(mode: &str) -> (Pid, std::process::Child) {
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tether::tests::helper", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(HELPER_MODE, mode)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(helper.stdout.take().unwrap()).lines();
    let pid = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.split_once("tethered ")?.1.trim().parse().ok())
        .expect("the helper's child pid");
    // the rest is read, so that the helper's last lines do not fail it
    std::thread::spawn(move || lines.for_each(drop));
    (Pid::from_raw(pid), helper)
}

/// Whether `pid` still runs (a zombie, waiting for its new parent to reap it, does not).
fn runs(pid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(") ")?.1.chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}

fn gone_within(pid: Pid, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !runs(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    !runs(pid)
}

#[test]
fn a_sigkilled_forker_takes_its_children_along() {
    let (child, mut helper) = run_helper("die");
    assert!(runs(child), "the tethered child runs while its parent does");
    helper.kill().unwrap();
    helper.wait().unwrap();
    let gone = gone_within(child, Duration::from_secs(5));
    if !gone {
        let _ = kill(child, Signal::SIGKILL);
    }
    assert!(gone, "the child of a SIGKILLed forker still runs");
}

#[test]
fn released_children_outlive_their_forker() {
    let (child, mut helper) = run_helper("release");
    assert!(helper.wait().unwrap().success());
    // time enough for a signal that should not come
    std::thread::sleep(Duration::from_millis(200));
    let survived = runs(child);
    if survived {
        let _ = kill(child, Signal::SIGKILL);
    }
    assert!(
        survived,
        "a released child was killed when its forker exited"
    );
}

#[test]
fn a_failed_create_kills_what_it_forked() {
    let (child, mut helper) = run_helper("fail");
    let gone = gone_within(child, Duration::from_secs(5));
    if !gone {
        let _ = kill(child, Signal::SIGKILL);
    }
    let _ = helper.wait();
    assert!(gone, "an unreleased tether left its child running");
}
