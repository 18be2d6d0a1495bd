//! A container's cgroup statistics as the kernel keeps them, in the layout of the host's
//! cgroup version: read from the cgroup files as containerd's cgroups package and runc read
//! them (the same files, units and fallbacks), for the shim's metrics and `runwasm events`.
//! A file a kernel does not offer (no swap accounting, no PSI, no blkio) reads as zero.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::TaskCgroup;

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("process {0} has no memory cgroup")]
    NoCgroup(i32),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

/// The statistics of one cgroup: v1 (legacy or hybrid host) or v2 (unified host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupStats {
    V1(Box<V1Stats>),
    V2(Box<V2Stats>),
}

impl CgroupStats {
    /// The statistics of the cgroup of `pid`; an error once the cgroup is gone.
    pub fn of_pid(pid: i32) -> Result<Self, StatsError> {
        match TaskCgroup::of_pid(pid).ok_or(StatsError::NoCgroup(pid))? {
            TaskCgroup::V1 { memory } => Ok(Self::V1(Box::new(V1Stats::read(
                &memory,
                &super::v1_dirs(pid),
                Path::new("/proc/partitions"),
            )?))),
            TaskCgroup::V2 { dir } => Ok(Self::V2(Box::new(V2Stats::read(&dir)?))),
        }
    }
}

/// A `KEY VALUE` per line file (cpu.stat, memory.stat, memory.events, memory.oom_control).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keyed(pub HashMap<String, u64>);

impl Keyed {
    fn read(path: &Path) -> Self {
        Self(
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .filter_map(|line| {
                    let (key, value) = line.split_once(' ')?;
                    Some((key.to_string(), value.trim().parse().ok()?))
                })
                .collect(),
        )
    }

    /// The value of `key`, 0 when the kernel does not report it.
    pub fn get(&self, key: &str) -> u64 {
        self.0.get(key).copied().unwrap_or(0)
    }
}

/// `memory.[MODULE.]{usage_in_bytes,limit_in_bytes,max_usage_in_bytes,failcnt}` (v1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryCounters {
    pub usage: u64,
    pub limit: u64,
    pub max: u64,
    pub failcnt: u64,
}

/// pids.current and pids.max; a limit of 0 is none ("max"), as containerd reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pids {
    pub current: u64,
    pub limit: u64,
}

/// CPU time in nanoseconds (v1: cpuacct).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuUsage {
    pub total: u64,
    pub user: u64,
    pub kernel: u64,
    pub per_cpu: Vec<u64>,
}

/// CFS throttling (v1: the cpu controller's cpu.stat; throttled_time in nanoseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Throttling {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

/// One line of a v1 blkio file; `device` is /dev/NAME from /proc/partitions, or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub device: String,
    pub op: String,
    pub value: u64,
}

/// The v1 blkio files, by the names containerd and runc give them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blkio {
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    pub io_serviced_recursive: Vec<BlkioEntry>,
    pub io_queued_recursive: Vec<BlkioEntry>,
    pub io_service_time_recursive: Vec<BlkioEntry>,
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    pub io_merged_recursive: Vec<BlkioEntry>,
    pub io_time_recursive: Vec<BlkioEntry>,
    pub sectors_recursive: Vec<BlkioEntry>,
}

/// A cgroup v1 task's statistics: its memory directory and, when mounted, its cpu, cpuacct,
/// pids and blkio directories.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V1Stats {
    /// memory.stat (`cache`, `rss`, `total_inactive_file`, ...)
    pub memory_stat: Keyed,
    pub memory: MemoryCounters,
    /// memory.memsw.*: memory + swap
    pub swap: MemoryCounters,
    /// memory.kmem.*
    pub kernel: MemoryCounters,
    /// memory.kmem.tcp.*
    pub kernel_tcp: MemoryCounters,
    pub oom_control: Keyed,
    pub cpu: CpuUsage,
    pub throttling: Throttling,
    pub pids: Option<Pids>,
    pub blkio: Option<Blkio>,
}

/// One device of a v2 io.stat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoEntry {
    pub major: u64,
    pub minor: u64,
    pub rbytes: u64,
    pub wbytes: u64,
    pub rios: u64,
    pub wios: u64,
}

/// A cgroup v2 directory's statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V2Stats {
    pub memory_usage: u64,
    /// memory.max; u64::MAX is no limit
    pub memory_limit: u64,
    /// memory.peak (0 on kernels before 5.19)
    pub memory_peak: u64,
    pub swap_usage: u64,
    pub swap_limit: u64,
    pub memory_stat: Keyed,
    pub memory_events: Keyed,
    /// cpu.stat (`usage_usec`, `nr_throttled`, ...)
    pub cpu_stat: Keyed,
    pub pids: Pids,
    pub io: Vec<IoEntry>,
}

/// The one file whose absence fails the call: the cgroup is gone.
fn required_value(path: &Path) -> Result<u64, StatsError> {
    let text = std::fs::read_to_string(path).map_err(|source| StatsError::Read {
        path: path.display().to_string(),
        source,
    })?;
    Ok(text.trim().parse().unwrap_or(0))
}

/// A single-value file; "max" (no limit) is u64::MAX, as containerd reports it.
fn single_value(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    match text.trim() {
        "max" => Some(u64::MAX),
        value => value.parse().ok(),
    }
}

/// pids.current and pids.max of a pids controller directory.
fn pids(dir: &Path) -> Pids {
    Pids {
        current: single_value(&dir.join("pids.current")).unwrap_or(0),
        limit: match single_value(&dir.join("pids.max")) {
            Some(u64::MAX) | None => 0,
            Some(limit) => limit,
        },
    }
}

/// io.stat: `MAJ:MIN rbytes=N wbytes=N rios=N wios=N ...` per device.
fn io_entries(path: &Path) -> Vec<IoEntry> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (major, minor) = fields.next()?.split_once(':')?;
            let mut entry = IoEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                ..Default::default()
            };
            for field in fields {
                let Some((key, value)) = field.split_once('=') else {
                    continue;
                };
                let value = value.parse().unwrap_or(0);
                match key {
                    "rbytes" => entry.rbytes = value,
                    "wbytes" => entry.wbytes = value,
                    "rios" => entry.rios = value,
                    "wios" => entry.wios = value,
                    _ => {}
                }
            }
            Some(entry)
        })
        .collect()
}

impl V2Stats {
    /// The statistics of one cgroup v2 directory.
    pub fn read(dir: &Path) -> Result<Self, StatsError> {
        // memory.current is always there while the cgroup exists: its absence is the error
        let memory_usage = required_value(&dir.join("memory.current"))?;
        Ok(Self {
            memory_usage,
            memory_limit: single_value(&dir.join("memory.max")).unwrap_or(u64::MAX),
            memory_peak: single_value(&dir.join("memory.peak")).unwrap_or(0),
            swap_usage: single_value(&dir.join("memory.swap.current")).unwrap_or(0),
            swap_limit: single_value(&dir.join("memory.swap.max")).unwrap_or(0),
            memory_stat: Keyed::read(&dir.join("memory.stat")),
            memory_events: Keyed::read(&dir.join("memory.events")),
            cpu_stat: Keyed::read(&dir.join("cpu.stat")),
            pids: pids(dir),
            io: io_entries(&dir.join("io.stat")),
        })
    }
}

/// USER_HZ, the unit of cpuacct.stat: the kernel's ABI fixes it at 100 on every architecture
/// containers run on (containerd hard-codes it too, rather than asking sysconf).
const USER_HZ: u64 = 100;
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// A module the kernel lacks (memsw without swap accounting) reads as zeros, as containerd
/// reports it.
fn memory_counters(dir: &Path, module: &str) -> MemoryCounters {
    let value = |name: &str| single_value(&dir.join(format!("memory.{module}{name}"))).unwrap_or(0);
    MemoryCounters {
        usage: value("usage_in_bytes"),
        limit: value("limit_in_bytes"),
        max: value("max_usage_in_bytes"),
        failcnt: value("failcnt"),
    }
}

/// CPU time from the cpuacct controller (cpuacct.stat counts USER_HZ ticks).
fn cpu_usage(cpuacct: &Path) -> CpuUsage {
    let ticks = Keyed::read(&cpuacct.join("cpuacct.stat"));
    CpuUsage {
        total: single_value(&cpuacct.join("cpuacct.usage")).unwrap_or(0),
        user: ticks.get("user") * NANOS_PER_SECOND / USER_HZ,
        kernel: ticks.get("system") * NANOS_PER_SECOND / USER_HZ,
        per_cpu: std::fs::read_to_string(cpuacct.join("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|value| value.parse().ok())
            .collect(),
    }
}

fn throttling(cpu: &Path) -> Throttling {
    let stat = Keyed::read(&cpu.join("cpu.stat"));
    Throttling {
        periods: stat.get("nr_periods"),
        throttled_periods: stat.get("nr_throttled"),
        throttled_time: stat.get("throttled_time"),
    }
}

/// /proc/partitions: `major minor #blocks name` after a header; the first name of a device.
fn partition_names(path: &Path) -> HashMap<(u64, u64), String> {
    let mut names = HashMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [major, minor, _, name] = fields[..] {
            if let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) {
                names
                    .entry((major, minor))
                    .or_insert_with(|| format!("/dev/{name}"));
            }
        }
    }
    names
}

/// A blkio file: `MAJ:MIN OP VALUE` (or `MAJ:MIN VALUE`) per line and a closing `Total N`.
fn blkio_entries(path: &Path, names: &HashMap<(u64, u64), String>) -> Vec<BlkioEntry> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (device, op, value) = match fields[..] {
                [device, op, value] => (device, op, value),
                [device, value] => (device, "", value),
                _ => return None,
            };
            let (major, minor) = device.split_once(':')?;
            let (major, minor) = (major.parse().ok()?, minor.parse().ok()?);
            Some(BlkioEntry {
                op: op.to_string(),
                device: names.get(&(major, minor)).cloned().unwrap_or_default(),
                major,
                minor,
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// The CFQ scheduler's blkio.*_recursive files when they hold anything, else (blk-mq
/// kernels, no CFQ) the throttle policy's bytes and operations, as containerd falls back.
fn blkio(dir: &Path, partitions: &Path) -> Blkio {
    let names = partition_names(partitions);
    let read = |name: &str| blkio_entries(&dir.join(format!("blkio.{name}")), &names);
    let cfq = Blkio {
        io_service_bytes_recursive: read("io_service_bytes_recursive"),
        io_serviced_recursive: read("io_serviced_recursive"),
        io_queued_recursive: read("io_queued_recursive"),
        io_service_time_recursive: read("io_service_time_recursive"),
        io_wait_time_recursive: read("io_wait_time_recursive"),
        io_merged_recursive: read("io_merged_recursive"),
        io_time_recursive: read("time_recursive"),
        sectors_recursive: read("sectors_recursive"),
    };
    if cfq != Blkio::default() {
        return cfq;
    }
    Blkio {
        io_service_bytes_recursive: read("throttle.io_service_bytes"),
        io_serviced_recursive: read("throttle.io_serviced"),
        ..Default::default()
    }
}

impl V1Stats {
    /// The statistics of a task from its memory cgroup directory and its directory in the
    /// other controllers (`cpu`, `cpuacct`, `pids`, `blkio`: each when mounted);
    /// `partitions` (/proc/partitions) names the block devices.
    pub fn read(
        memory: &Path,
        dirs: &HashMap<String, PathBuf>,
        partitions: &Path,
    ) -> Result<Self, StatsError> {
        let dir = |controller: &str| dirs.get(controller).map(PathBuf::as_path);
        // memory.usage_in_bytes is always there while the cgroup exists: its absence is the
        // error
        required_value(&memory.join("memory.usage_in_bytes"))?;
        Ok(Self {
            memory_stat: Keyed::read(&memory.join("memory.stat")),
            memory: memory_counters(memory, ""),
            swap: memory_counters(memory, "memsw."),
            kernel: memory_counters(memory, "kmem."),
            kernel_tcp: memory_counters(memory, "kmem.tcp."),
            oom_control: Keyed::read(&memory.join("memory.oom_control")),
            cpu: dir("cpuacct").map(cpu_usage).unwrap_or_default(),
            throttling: dir("cpu").map(throttling).unwrap_or_default(),
            pids: dir("pids").map(pids),
            blkio: dir("blkio").map(|blkio_dir| blkio(blkio_dir, partitions)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cgroup v2 directory as the kernel writes it (contents from a real 6.x host).
    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            ("memory.current", "2367488\n"),
            ("memory.max", "67108864\n"),
            ("memory.peak", "3145728\n"),
            (
                "memory.stat",
                "anon 1060864\nfile 974848\nkernel_stack 32768\nslab 215000\n\
              inactive_file 409600\nactive_file 565248\npgfault 1570\npgmajfault 2\n",
            ),
            (
                "memory.events",
                "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n",
            ),
            (
                "cpu.stat",
                "usage_usec 21733\nuser_usec 11374\nsystem_usec 10359\n\
              nr_periods 4\nnr_throttled 1\nthrottled_usec 812\n",
            ),
            ("pids.current", "3\n"),
            ("pids.max", "max\n"),
            (
                "io.stat",
                "254:0 rbytes=1052672 wbytes=4096 rios=18 wios=1 dbytes=0 dios=0\n",
            ),
        ];
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn reads_a_v2_cgroup() {
        let dir = fixture();
        let m = V2Stats::read(dir.path()).unwrap();
        assert_eq!(m.memory_usage, 2367488);
        assert_eq!(m.memory_limit, 67108864);
        assert_eq!(m.memory_peak, 3145728);
        assert_eq!(m.memory_stat.get("anon"), 1060864);
        // the kubelet's working set is usage - inactive_file
        assert_eq!(m.memory_stat.get("inactive_file"), 409600);
        assert_eq!(m.memory_stat.get("pgmajfault"), 2);
        assert_eq!(m.memory_events.get("oom_kill"), 1);
        assert_eq!(m.memory_events.get("max"), 3);
        assert_eq!(m.cpu_stat.get("usage_usec"), 21733);
        assert_eq!(m.cpu_stat.get("system_usec"), 10359);
        assert_eq!(m.cpu_stat.get("throttled_usec"), 812);
        assert_eq!(m.pids.current, 3);
        assert_eq!(m.pids.limit, 0, "pids.max 'max' is no limit");
        assert_eq!(m.io.len(), 1);
        assert_eq!(
            (m.io[0].major, m.io[0].rbytes, m.io[0].wios),
            (254, 1052672, 1)
        );
    }

    #[test]
    fn files_the_kernel_lacks_read_as_zero() {
        let dir = fixture();
        std::fs::remove_file(dir.path().join("io.stat")).unwrap();
        std::fs::remove_file(dir.path().join("memory.peak")).unwrap();
        std::fs::write(dir.path().join("memory.max"), "max\n").unwrap();
        let m = V2Stats::read(dir.path()).unwrap();
        assert_eq!(m.memory_peak, 0);
        assert_eq!(m.memory_limit, u64::MAX);
        assert!(m.io.is_empty());
    }

    #[test]
    fn a_removed_cgroup_is_an_error() {
        let dir = fixture();
        let err = V2Stats::read(&dir.path().join("gone")).unwrap_err();
        assert!(err.to_string().contains("memory.current"), "{err}");
    }

    /// A task's cgroup v1 directories as the kernel writes them (contents from this 6.x
    /// hybrid host: a 64 MiB container with cpu and cpuacct mounted apart), each
    /// controller in a subdirectory, and a /proc/partitions.
    struct V1Fixture {
        root: tempfile::TempDir,
        dirs: HashMap<String, PathBuf>,
    }

    impl V1Fixture {
        fn memory(&self) -> PathBuf {
            self.dirs["memory"].clone()
        }
        fn partitions(&self) -> PathBuf {
            self.root.path().join("partitions")
        }
        fn file(&self, controller: &str, name: &str) -> PathBuf {
            self.dirs[controller].join(name)
        }
        fn stats(&self) -> V1Stats {
            V1Stats::read(&self.memory(), &self.dirs, &self.partitions()).unwrap()
        }
    }

    const V1_MEMORY_STAT: &str = "cache 1048576\nrss 266240\nrss_huge 0\nshmem 0\n\
        mapped_file 4096\ndirty 8192\nwriteback 0\nworkingset_refault_anon 0\n\
        workingset_refault_file 0\nswap 0\nswapcached 0\npgpgin 223\npgpgout 132\n\
        pgfault 487\npgmajfault 1\ninactive_anon 229376\nactive_anon 4096\n\
        inactive_file 1048576\nactive_file 12288\nunevictable 0\n\
        hierarchical_memory_limit 67108864\nhierarchical_memsw_limit 9223372036854771712\n\
        total_cache 1052672\ntotal_rss 270336\ntotal_rss_huge 2097152\ntotal_shmem 0\n\
        total_mapped_file 8192\ntotal_dirty 12288\ntotal_writeback 4096\n\
        total_workingset_refault_anon 0\ntotal_workingset_refault_file 0\ntotal_swap 0\n\
        total_swapcached 0\ntotal_pgpgin 224\ntotal_pgpgout 133\ntotal_pgfault 488\n\
        total_pgmajfault 2\ntotal_inactive_anon 233472\ntotal_active_anon 8192\n\
        total_inactive_file 1052672\ntotal_active_file 16384\ntotal_unevictable 4096\n";

    fn v1_fixture() -> V1Fixture {
        let root = tempfile::tempdir().unwrap();
        let files = [
            ("memory", "memory.usage_in_bytes", "2080768\n"),
            ("memory", "memory.limit_in_bytes", "67108864\n"),
            ("memory", "memory.max_usage_in_bytes", "3145728\n"),
            ("memory", "memory.failcnt", "2\n"),
            ("memory", "memory.stat", V1_MEMORY_STAT),
            (
                "memory",
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
            ),
            ("memory", "memory.memsw.usage_in_bytes", "2084864\n"),
            (
                "memory",
                "memory.memsw.limit_in_bytes",
                "9223372036854771712\n",
            ),
            ("memory", "memory.memsw.max_usage_in_bytes", "3149824\n"),
            ("memory", "memory.memsw.failcnt", "0\n"),
            ("memory", "memory.kmem.usage_in_bytes", "8192\n"),
            (
                "memory",
                "memory.kmem.limit_in_bytes",
                "9223372036854771712\n",
            ),
            ("memory", "memory.kmem.max_usage_in_bytes", "16384\n"),
            ("memory", "memory.kmem.failcnt", "0\n"),
            ("cpuacct", "cpuacct.usage", "435797112\n"),
            ("cpuacct", "cpuacct.usage_percpu", "3418863 432378249 \n"),
            ("cpuacct", "cpuacct.stat", "user 43\nsystem 2\n"),
            (
                "cpu",
                "cpu.stat",
                "nr_periods 12\nnr_throttled 3\nthrottled_time 81234567\n\
                 nr_bursts 0\nburst_time 0\n",
            ),
            ("pids", "pids.current", "3\n"),
            ("pids", "pids.max", "64\n"),
            // blk-mq kernel: no CFQ files, the throttle policy's
            (
                "blkio",
                "blkio.throttle.io_service_bytes",
                "254:0 Read 1052672\n254:0 Write 4096\n254:0 Sync 1056768\n\
                 254:0 Async 0\n254:0 Discard 0\n254:0 Total 1056768\nTotal 1056768\n",
            ),
            (
                "blkio",
                "blkio.throttle.io_serviced",
                "254:0 Read 18\n254:0 Write 1\n254:0 Sync 19\n254:0 Async 0\n\
                 254:0 Discard 0\n254:0 Total 19\nTotal 19\n",
            ),
        ];
        let mut dirs = HashMap::new();
        for (controller, name, text) in files {
            let dir = root.path().join(controller).join("k8s.io/abc");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), text).unwrap();
            dirs.insert(controller.to_string(), dir);
        }
        std::fs::write(
            root.path().join("partitions"),
            "major minor  #blocks  name\n\n 254        0  268435456 vda\n",
        )
        .unwrap();
        V1Fixture { root, dirs }
    }

    #[test]
    fn reads_v1_memory() {
        let m = v1_fixture().stats();
        assert_eq!(
            m.memory,
            MemoryCounters {
                usage: 2080768,
                limit: 67108864,
                max: 3145728,
                failcnt: 2
            }
        );
        assert_eq!(
            m.swap,
            MemoryCounters {
                usage: 2084864,
                limit: 9223372036854771712,
                max: 3149824,
                failcnt: 0
            }
        );
        assert_eq!(
            (m.kernel.usage, m.kernel.max),
            (8192, 16384),
            "memory.kmem.*"
        );
        assert_eq!(m.kernel_tcp, MemoryCounters::default(), "no kmem.tcp files");
        assert_eq!(m.memory_stat.get("cache"), 1048576);
        assert_eq!(m.memory_stat.get("total_inactive_file"), 1052672);
        assert_eq!(m.memory_stat.get("hierarchical_memory_limit"), 67108864);
        assert_eq!(m.memory_stat.0.len(), 42, "every memory.stat line");
        assert_eq!(m.oom_control.get("oom_kill"), 1);
    }

    #[test]
    fn reads_v1_cpu_pids_and_blkio() {
        let m = v1_fixture().stats();
        assert_eq!(m.cpu.total, 435797112, "cpuacct.usage, ns");
        assert_eq!(m.cpu.per_cpu, vec![3418863, 432378249]);
        assert_eq!(m.cpu.user, 430_000_000, "43 USER_HZ ticks in ns");
        assert_eq!(m.cpu.kernel, 20_000_000, "2 USER_HZ ticks in ns");
        assert_eq!(
            m.throttling,
            Throttling {
                periods: 12,
                throttled_periods: 3,
                throttled_time: 81234567
            }
        );
        assert_eq!(
            m.pids,
            Some(Pids {
                current: 3,
                limit: 64
            })
        );
        let blkio = m.blkio.unwrap();
        let bytes = &blkio.io_service_bytes_recursive;
        assert_eq!(
            bytes.len(),
            6,
            "one entry per op, no 'Total' line: {bytes:?}"
        );
        assert_eq!(
            bytes[0],
            BlkioEntry {
                major: 254,
                minor: 0,
                device: "/dev/vda".into(),
                op: "Read".into(),
                value: 1052672
            }
        );
        assert_eq!((bytes[1].op.as_str(), bytes[1].value), ("Write", 4096));
        let ios = &blkio.io_serviced_recursive;
        assert_eq!((ios[0].op.as_str(), ios[0].value), ("Read", 18));
        assert!(blkio.sectors_recursive.is_empty());
    }

    #[test]
    fn v1_cfq_blkio_files_come_first() {
        let f = v1_fixture();
        std::fs::write(
            f.file("blkio", "blkio.io_service_bytes_recursive"),
            "8:0 Read 512\n8:0 Write 0\n8:0 Total 512\nTotal 512\n",
        )
        .unwrap();
        std::fs::write(f.file("blkio", "blkio.sectors_recursive"), "8:0 1\n").unwrap();
        let blkio = f.stats().blkio.unwrap();
        let bytes = &blkio.io_service_bytes_recursive;
        assert_eq!(bytes.len(), 3);
        assert_eq!(
            (bytes[0].major, bytes[0].device.as_str(), bytes[0].value),
            (8, "", 512),
            "a device /proc/partitions lacks has no name"
        );
        let sectors = &blkio.sectors_recursive;
        assert_eq!(
            (sectors.len(), sectors[0].op.as_str(), sectors[0].value),
            (1, "", 1)
        );
        assert!(
            blkio.io_serviced_recursive.is_empty(),
            "no throttle files mixed in"
        );
    }

    #[test]
    fn v1_unlimited_pids_and_unmounted_controllers() {
        let mut f = v1_fixture();
        std::fs::write(f.file("pids", "pids.max"), "max\n").unwrap();
        assert_eq!(
            f.stats().pids.unwrap().limit,
            0,
            "pids.max 'max' is no limit"
        );
        for controller in ["cpu", "cpuacct", "pids", "blkio"] {
            f.dirs.remove(controller);
        }
        for name in ["memory.memsw.usage_in_bytes", "memory.stat"] {
            std::fs::remove_file(f.file("memory", name)).unwrap();
        }
        let m = f.stats();
        assert_eq!(m.memory.usage, 2080768);
        assert_eq!(m.swap.usage, 0, "no swap accounting");
        assert_eq!(m.memory_stat.get("total_inactive_file"), 0);
        assert_eq!(m.cpu, CpuUsage::default());
        assert_eq!(m.pids, None);
        assert_eq!(m.blkio, None);
    }

    #[test]
    fn a_removed_v1_cgroup_is_an_error() {
        let f = v1_fixture();
        let err = V1Stats::read(&f.memory().join("gone"), &f.dirs, &f.partitions()).unwrap_err();
        assert!(err.to_string().contains("memory.usage_in_bytes"), "{err}");
    }
}
