//! What the fuzz targets share: a scratch directory per process, removed at exit.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_scratch() {
    if let Some(dir) = SCRATCH.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A private directory (0700) for this fuzzing process, made on first use: on /dev/shm where
/// there is one (the cache target syncs every file it stores; tmpfs makes that free), else
/// in the temporary directory. libFuzzer ends a run with `exit()`, so it is removed by an
/// `atexit` handler; a crash leaves it for a look.
pub fn scratch() -> &'static Path {
    SCRATCH.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let parent = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = tempfile::Builder::new()
            .prefix("runwasm-fuzz-")
            .tempdir_in(parent)
            .expect("a scratch directory")
            .keep();
        // SAFETY: registers a plain function without captured state.
        unsafe { libc::atexit(remove_scratch) };
        dir
    })
}

/// Every target calls this first. With `RUNWASM_FUZZ_SELFTEST_CRASH` set it panics, so the
/// CI suite can show that a crash fails `scripts/fuzz.sh` (test/e2e/fuzz.sh).
pub fn selftest() {
    static CRASH: OnceLock<bool> = OnceLock::new();
    if *CRASH.get_or_init(|| std::env::var_os("RUNWASM_FUZZ_SELFTEST_CRASH").is_some()) {
        panic!("RUNWASM_FUZZ_SELFTEST_CRASH is set: a deliberate crash");
    }
}
