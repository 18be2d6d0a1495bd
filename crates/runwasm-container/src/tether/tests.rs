use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::Tether;

const HELPER_MODE: &str = "RUNWASM_TETHER_HELPER";
/// The directories the helper says its children make (colon-separated).
const HELPER_DIRS: &str = "RUNWASM_TETHER_DIRS";

/// Not a test of its own: the tests below run the test binary again with this one test and
/// a mode, to have a process that tethers a child and then dies, releases or fails.
#[test]
fn helper() {
    let Ok(mode) = std::env::var(HELPER_MODE) else {
        return;
    };
    let dirs: Vec<std::path::PathBuf> = std::env::var(HELPER_DIRS)
        .unwrap_or_default()
        .split(':')
        .filter(|d| !d.is_empty())
        .map(Into::into)
        .collect();
    let tether = Tether::arm(&dirs);
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

/// Made dirs for a helper: an empty one (removed when the tether acts) and one with a file
/// in it (never removed: rmdir only).
struct MadeDirs {
    _base: tempfile::TempDir,
    empty: std::path::PathBuf,
    full: std::path::PathBuf,
}

impl MadeDirs {
    fn new() -> Self {
        let base = tempfile::tempdir().unwrap();
        let (empty, full) = (base.path().join("empty"), base.path().join("full"));
        std::fs::create_dir(&empty).unwrap();
        std::fs::create_dir(&full).unwrap();
        std::fs::write(full.join("file"), "").unwrap();
        MadeDirs {
            _base: base,
            empty,
            full,
        }
    }

    fn env(&self) -> String {
        format!("{}:{}", self.empty.display(), self.full.display())
    }

    /// Waits up to `limit` for the empty one to go.
    fn empty_gone_within(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.empty.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        !self.empty.exists()
    }
}

/// Runs the helper in `mode`; its child's pid and the helper itself.
fn run_helper(mode: &str, dirs: &MadeDirs) -> (Pid, std::process::Child) {
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tether::tests::helper", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(HELPER_MODE, mode)
        .env(HELPER_DIRS, dirs.env())
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
    let dirs = MadeDirs::new();
    let (child, mut helper) = run_helper("die", &dirs);
    assert!(runs(child), "the tethered child runs while its parent does");
    assert!(dirs.empty.exists(), "a made dir went while its forker ran");
    helper.kill().unwrap();
    helper.wait().unwrap();
    let gone = gone_within(child, Duration::from_secs(5));
    if !gone {
        let _ = kill(child, Signal::SIGKILL);
    }
    assert!(gone, "the child of a SIGKILLed forker still runs");
    assert!(
        dirs.empty_gone_within(Duration::from_secs(5)),
        "the empty made dir of a SIGKILLed forker is still there"
    );
    assert!(
        dirs.full.exists(),
        "a made dir that is not empty was removed"
    );
}

#[test]
fn released_children_outlive_their_forker() {
    let dirs = MadeDirs::new();
    let (child, mut helper) = run_helper("release", &dirs);
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
    assert!(
        dirs.empty.exists(),
        "the made dir of a released tether was removed"
    );
}

#[test]
fn a_failed_create_kills_what_it_forked() {
    let dirs = MadeDirs::new();
    let (child, mut helper) = run_helper("fail", &dirs);
    let gone = gone_within(child, Duration::from_secs(5));
    if !gone {
        let _ = kill(child, Signal::SIGKILL);
    }
    let _ = helper.wait();
    assert!(gone, "an unreleased tether left its child running");
    assert!(
        dirs.empty_gone_within(Duration::from_secs(5)),
        "the empty made dir of a failed create is still there"
    );
}
