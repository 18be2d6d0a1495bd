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
mod tests;
