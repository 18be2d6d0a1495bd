//! A container's cgroup, read the same way by the shim (`ctr task metrics`, TaskOOM
//! events, the kubelet's stats) and the CLI (`runwasm events`): where it is on a cgroup v1
//! (legacy or hybrid) or a pure v2 host, its statistics ([`stats`]) and OOM kills ([`oom`]).
//! Found from a process of the container (`/proc/PID/cgroup`), so it serves containers made
//! by any caller, with any cgroup path or cgroup driver.

pub mod oom;
pub mod stats;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use libcgroups::common::{get_cgroup_setup, CgroupSetup, DEFAULT_CGROUP_ROOT};

pub use stats::{CgroupStats, StatsError};

/// The cgroup of a process, in the version that holds its memory controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskCgroup {
    /// v1: one directory per controller; here the memory controller's.
    V1 { memory: PathBuf },
    /// v2: the one unified directory.
    V2 { dir: PathBuf },
}

/// True when /sys/fs/cgroup itself is a cgroup2 mount (not a hybrid host, where cgroup2
/// sits at /sys/fs/cgroup/unified without the memory or cpu controllers).
fn unified_host() -> bool {
    matches!(get_cgroup_setup(), Ok(CgroupSetup::Unified))
}

impl TaskCgroup {
    /// The directory: the memory controller's on v1, the unified one on v2.
    pub fn into_dir(self) -> PathBuf {
        match self {
            Self::V1 { memory } => memory,
            Self::V2 { dir } => dir,
        }
    }

    pub fn of_pid(pid: i32) -> Option<Self> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        Self::parse(&text, Path::new(DEFAULT_CGROUP_ROOT), unified_host())
    }

    /// From the text of /proc/PID/cgroup: `ID:CONTROLLERS:PATH` lines; `0::PATH` is v2.
    fn parse(proc_cgroup: &str, root: &Path, unified: bool) -> Option<Self> {
        let lines = proc_cgroup.lines().filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            Some((parts.next()?, parts.next()?, parts.next()?))
        });
        let relative = |path: &str| root.join(path.trim_start_matches('/'));
        for (id, controllers, path) in lines {
            if unified && id == "0" && controllers.is_empty() {
                return Some(Self::V2 {
                    dir: relative(path),
                });
            }
            if !unified && controllers.split(',').any(|c| c == "memory") {
                return Some(Self::V1 {
                    memory: root.join("memory").join(path.trim_start_matches('/')),
                });
            }
        }
        None
    }
}

/// Starts, on a thread, the wait that the kernel makes the first cgroup migration after a
/// quiet spell pay: an RCU grace period before `cgroup_threadgroup_rwsem` can be taken for
/// writing (7-12 ms on the benchmark machine; 0.05 ms for a migration within about 20 ms of
/// the previous one). The container's own migrations follow a few milliseconds later and
/// find it done. Moves this process into the cgroup it is already in, which changes
/// nothing; a failure (no cgroup, no permission) only loses the head start. A process that
/// forks without exec (youki's `clone3`) joins the thread first, so that the child cannot
/// inherit a lock (malloc's, say) that the thread held at the moment of the fork.
pub fn prime_migrations() -> std::thread::JoinHandle<()> {
    std::thread::spawn(|| {
        let pid = std::process::id();
        let Some(dir) = TaskCgroup::of_pid(pid as i32).map(TaskCgroup::into_dir) else {
            return;
        };
        if let Err(e) = std::fs::write(dir.join("cgroup.procs"), pid.to_string()) {
            tracing::debug!("cannot prime cgroup migrations in {}: {e}", dir.display());
        }
    })
}

/// On a v1 host, the directory of a process in each controller's hierarchy (`memory`, `cpu`,
/// `cpuacct`, `pids`, `blkio`, ...), keyed by controller name; empty when the process is gone.
pub fn v1_dirs(pid: i32) -> HashMap<String, PathBuf> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map(|text| parse_v1_dirs(&text, Path::new(DEFAULT_CGROUP_ROOT)))
        .unwrap_or_default()
}

/// From the text of /proc/PID/cgroup. A hierarchy holding several controllers
/// (`cpu,cpuacct`) is mounted at the joined name; hosts usually link each single name to
/// it, which is used when present.
fn parse_v1_dirs(proc_cgroup: &str, root: &Path) -> HashMap<String, PathBuf> {
    let mut dirs = HashMap::new();
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let path = path.trim_start_matches('/');
        // `0::PATH` is the v2 hierarchy, `name=systemd` a named one without a controller
        for controller in controllers.split(',') {
            if controller.is_empty() || controller.contains('=') {
                continue;
            }
            let single = root.join(controller);
            let mount = if single.is_dir() || !controllers.contains(',') {
                single
            } else {
                root.join(controllers)
            };
            dirs.insert(controller.to_string(), mount.join(path));
        }
    }
    dirs
}

/// The directories libcgroups makes for a container whose cgroup path is `cgroup_path` (the
/// spec's `cgroupsPath`, cgroupfs driver): one per v1 controller hierarchy, or the one v2
/// directory. Named hierarchies (`name=systemd`) hold no controller and get none.
pub fn container_dirs(cgroup_path: &Path) -> Vec<PathBuf> {
    let relative = cgroup_path.strip_prefix("/").unwrap_or(cgroup_path);
    if unified_host() {
        return vec![Path::new(DEFAULT_CGROUP_ROOT).join(relative)];
    }
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|text| v1_mount_points(&text))
        .unwrap_or_default()
        .into_iter()
        .map(|mount| mount.join(relative))
        .collect()
}

/// The processes in a cgroup directory (none when it is gone).
pub fn procs(dir: &Path) -> Vec<nix::unistd::Pid> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|pid| pid.trim().parse().ok())
        .map(nix::unistd::Pid::from_raw)
        .collect()
}

/// Removes a cgroup directory once it is empty (a process that dies in it leaves it within
/// moments); one that is gone already counts as removed.
pub fn remove_empty_dir(dir: &Path) -> std::io::Result<()> {
    let mut tries = 20;
    loop {
        match std::fs::remove_dir(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries > 1 => {
                tries -= 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// The mount options of a v1 hierarchy that are no controller.
const NOT_CONTROLLERS: [&str; 6] = [
    "rw",
    "ro",
    "xattr",
    "noprefix",
    "clone_children",
    "cpuset_v2_mode",
];

/// The mount points of the v1 hierarchies that hold a controller, from /proc/PID/mountinfo
/// (`... MOUNT_POINT OPTIONS ... - cgroup SOURCE SUPER_OPTIONS`).
fn v1_mount_points(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            let mut fs = fs.split_whitespace();
            let (kind, _source, options) = (fs.next()?, fs.next()?, fs.next()?);
            let controls = options
                .split(',')
                .any(|o| !o.contains('=') && !NOT_CONTROLLERS.contains(&o));
            let mount_point = mount.split(' ').nth(4)?;
            (kind == "cgroup" && controls).then(|| PathBuf::from(mount_point))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "9:name=systemd:/\n4:memory:/k8s.io/abc\n1:cpu:/k8s.io/abc\n0::/\n";

    #[test]
    fn priming_leaves_the_process_in_its_cgroups() {
        let before = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        prime_migrations().join().unwrap();
        assert_eq!(
            std::fs::read_to_string("/proc/self/cgroup").unwrap(),
            before
        );
    }

    #[test]
    fn a_task_cgroup_dir_is_the_memory_one_on_v1() {
        let v1 = TaskCgroup::parse(HYBRID, Path::new("/sys/fs/cgroup"), false).unwrap();
        assert_eq!(
            v1.into_dir(),
            PathBuf::from("/sys/fs/cgroup/memory/k8s.io/abc")
        );
        let v2 = TaskCgroup::parse("0::/pod/c\n", Path::new("/sys/fs/cgroup"), true).unwrap();
        assert_eq!(v2.into_dir(), PathBuf::from("/sys/fs/cgroup/pod/c"));
    }

    #[test]
    fn hybrid_host_uses_the_v1_memory_controller() {
        assert_eq!(
            TaskCgroup::parse(HYBRID, Path::new("/sys/fs/cgroup"), false),
            Some(TaskCgroup::V1 {
                memory: PathBuf::from("/sys/fs/cgroup/memory/k8s.io/abc")
            })
        );
    }

    #[test]
    fn unified_host_uses_the_v2_directory() {
        assert_eq!(
            TaskCgroup::parse("0::/k8s.io/abc\n", Path::new("/sys/fs/cgroup"), true),
            Some(TaskCgroup::V2 {
                dir: PathBuf::from("/sys/fs/cgroup/k8s.io/abc")
            })
        );
    }

    #[test]
    fn v1_dirs_of_every_controller() {
        let dirs = parse_v1_dirs(HYBRID, Path::new("/sys/fs/cgroup"));
        assert_eq!(
            dirs.get("memory"),
            Some(&PathBuf::from("/sys/fs/cgroup/memory/k8s.io/abc"))
        );
        assert_eq!(
            dirs.get("cpu"),
            Some(&PathBuf::from("/sys/fs/cgroup/cpu/k8s.io/abc"))
        );
        assert_eq!(dirs.len(), 2, "no name=systemd, no v2 entry: {dirs:?}");
    }

    #[test]
    fn v1_dirs_of_a_comounted_hierarchy() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("cpu,cpuacct")).unwrap();
        std::fs::create_dir(root.path().join("cpu")).unwrap(); // the usual link
        let dirs = parse_v1_dirs("3:cpu,cpuacct:/a/b\n", root.path());
        assert_eq!(dirs.get("cpu"), Some(&root.path().join("cpu/a/b")));
        // no cpuacct link: the joined mount
        assert_eq!(
            dirs.get("cpuacct"),
            Some(&root.path().join("cpu,cpuacct/a/b"))
        );
    }

    #[test]
    fn no_memory_controller_is_none() {
        assert_eq!(
            TaskCgroup::parse("1:cpu:/a\n", Path::new("/sys/fs/cgroup"), false),
            None
        );
    }

    #[test]
    fn removing_a_dir_that_is_gone_succeeds() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("c1");
        std::fs::create_dir(&dir).unwrap();
        remove_empty_dir(&dir).unwrap();
        assert!(!dir.exists());
        remove_empty_dir(&dir).unwrap();
        // a directory with something in it stays, with the error
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("f"), "").unwrap();
        assert!(remove_empty_dir(&dir).is_err());
        assert!(dir.exists());
    }

    #[test]
    fn v1_mount_points_of_controller_hierarchies_only() {
        let mountinfo = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
            32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n\
            39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n\
            40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n\
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(
            v1_mount_points(mountinfo),
            [
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"),
                PathBuf::from("/sys/fs/cgroup/pids")
            ]
        );
    }
}
