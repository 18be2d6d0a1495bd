//! Cgroup metrics of a task for `ctr task metrics`, `docker stats` and the kubelet:
//! containerd's `io.containerd.cgroups.v1.Metrics` on a cgroup v1 host,
//! `io.containerd.cgroups.v2.Metrics` on a unified one (the types containerd's own runc shim
//! sends), read from the cgroup files as containerd's cgroups package reads them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use containerd_shim::protos::cgroups::metrics as v1;
use containerd_shim::protos::cgroups_v2::metrics as v2;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};

use crate::cgroup::TaskCgroup;
use crate::service::to_any;

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("process {0} has no memory cgroup")]
    NoCgroup(i32),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot encode metrics: {0}")]
    Encode(#[from] containerd_shim::protos::protobuf::Error),
}

pub fn collect(pid: i32) -> Result<Any, StatsError> {
    match TaskCgroup::of_pid(pid).ok_or(StatsError::NoCgroup(pid))? {
        TaskCgroup::V1 { memory } => {
            let dirs = crate::cgroup::v1_dirs(pid);
            let metrics = v1_metrics(&memory, &dirs, Path::new("/proc/partitions"))?;
            Ok(to_any(
                "io.containerd.cgroups.v1.Metrics",
                &metrics.write_to_bytes()?,
            ))
        }
        TaskCgroup::V2 { dir } => Ok(to_any(
            "io.containerd.cgroups.v2.Metrics",
            &v2_metrics(&dir)?.write_to_bytes()?,
        )),
    }
}

/// The one file whose absence fails the call: the cgroup is gone.
fn required_value(path: &Path) -> Result<u64, StatsError> {
    let text = std::fs::read_to_string(path).map_err(|source| StatsError::Read {
        path: path.display().to_string(),
        source,
    })?;
    Ok(text.trim().parse().unwrap_or(0))
}

/// pids.max: "max" (or no pids controller) is no limit, which containerd reports as 0.
fn pids_limit(path: &Path) -> u64 {
    match single_value(path) {
        Some(u64::MAX) | None => 0,
        Some(limit) => limit,
    }
}

/// A `KEY VALUE` per line file (cpu.stat, memory.stat, memory.events); a file the kernel
/// does not offer (no PSI, no swap accounting) reads as empty rather than failing the call.
fn flat_keyed(path: &Path) -> HashMap<String, u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// A single-value file; "max" (no limit) is u64::MAX, as containerd reports it.
fn single_value(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    match text.trim() {
        "max" => Some(u64::MAX),
        value => value.parse().ok(),
    }
}

/// io.stat: `MAJ:MIN rbytes=N wbytes=N rios=N wios=N ...` per device.
fn io_entries(path: &Path) -> Vec<v2::IOEntry> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (major, minor) = fields.next()?.split_once(':')?;
            let mut entry = v2::IOEntry {
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

/// The v2 metrics of one cgroup directory, as containerd's cgroup2 manager fills them.
pub fn v2_metrics(dir: &Path) -> Result<v2::Metrics, StatsError> {
    // memory.current is always there while the cgroup exists: its absence is the error
    let usage = required_value(&dir.join("memory.current"))?;
    let cpu = flat_keyed(&dir.join("cpu.stat"));
    let memory = flat_keyed(&dir.join("memory.stat"));
    let events = flat_keyed(&dir.join("memory.events"));
    let get = |map: &HashMap<String, u64>, key: &str| map.get(key).copied().unwrap_or(0);
    let mem = |key: &str| get(&memory, key);
    Ok(v2::Metrics {
        pids: MessageField::some(v2::PidsStat {
            current: single_value(&dir.join("pids.current")).unwrap_or(0),
            limit: pids_limit(&dir.join("pids.max")),
            ..Default::default()
        }),
        cpu: MessageField::some(v2::CPUStat {
            usage_usec: get(&cpu, "usage_usec"),
            user_usec: get(&cpu, "user_usec"),
            system_usec: get(&cpu, "system_usec"),
            nr_periods: get(&cpu, "nr_periods"),
            nr_throttled: get(&cpu, "nr_throttled"),
            throttled_usec: get(&cpu, "throttled_usec"),
            ..Default::default()
        }),
        memory: MessageField::some(v2::MemoryStat {
            anon: mem("anon"),
            file: mem("file"),
            kernel_stack: mem("kernel_stack"),
            slab: mem("slab"),
            sock: mem("sock"),
            shmem: mem("shmem"),
            file_mapped: mem("file_mapped"),
            file_dirty: mem("file_dirty"),
            file_writeback: mem("file_writeback"),
            anon_thp: mem("anon_thp"),
            inactive_anon: mem("inactive_anon"),
            active_anon: mem("active_anon"),
            inactive_file: mem("inactive_file"),
            active_file: mem("active_file"),
            unevictable: mem("unevictable"),
            slab_reclaimable: mem("slab_reclaimable"),
            slab_unreclaimable: mem("slab_unreclaimable"),
            pgfault: mem("pgfault"),
            pgmajfault: mem("pgmajfault"),
            workingset_refault: mem("workingset_refault"),
            workingset_activate: mem("workingset_activate"),
            workingset_nodereclaim: mem("workingset_nodereclaim"),
            pgrefill: mem("pgrefill"),
            pgscan: mem("pgscan"),
            pgsteal: mem("pgsteal"),
            pgactivate: mem("pgactivate"),
            pgdeactivate: mem("pgdeactivate"),
            pglazyfree: mem("pglazyfree"),
            pglazyfreed: mem("pglazyfreed"),
            thp_fault_alloc: mem("thp_fault_alloc"),
            thp_collapse_alloc: mem("thp_collapse_alloc"),
            usage,
            usage_limit: single_value(&dir.join("memory.max")).unwrap_or(u64::MAX),
            max_usage: single_value(&dir.join("memory.peak")).unwrap_or(0),
            swap_usage: single_value(&dir.join("memory.swap.current")).unwrap_or(0),
            swap_limit: single_value(&dir.join("memory.swap.max")).unwrap_or(0),
            ..Default::default()
        }),
        memory_events: MessageField::some(v2::MemoryEvents {
            low: get(&events, "low"),
            high: get(&events, "high"),
            max: get(&events, "max"),
            oom: get(&events, "oom"),
            oom_kill: get(&events, "oom_kill"),
            ..Default::default()
        }),
        io: MessageField::some(v2::IOStat {
            usage: io_entries(&dir.join("io.stat")),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// USER_HZ, the unit of cpuacct.stat: the kernel's ABI fixes it at 100 on every architecture
/// containers run on (containerd hard-codes it too, rather than asking sysconf).
const USER_HZ: u64 = 100;
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// `memory.[MODULE.]{usage_in_bytes,limit_in_bytes,max_usage_in_bytes,failcnt}`; a module the
/// kernel lacks (memsw without swap accounting) reads as zeros, as containerd reports it.
fn memory_entry(dir: &Path, module: &str) -> v1::MemoryEntry {
    let value = |name: &str| single_value(&dir.join(format!("memory.{module}{name}"))).unwrap_or(0);
    v1::MemoryEntry {
        usage: value("usage_in_bytes"),
        limit: value("limit_in_bytes"),
        max: value("max_usage_in_bytes"),
        failcnt: value("failcnt"),
        ..Default::default()
    }
}

fn v1_memory(dir: &Path) -> Result<v1::MemoryStat, StatsError> {
    // memory.usage_in_bytes is always there while the cgroup exists: its absence is the error
    required_value(&dir.join("memory.usage_in_bytes"))?;
    let stat = flat_keyed(&dir.join("memory.stat"));
    let mem = |key: &str| stat.get(key).copied().unwrap_or(0);
    Ok(v1::MemoryStat {
        cache: mem("cache"),
        rss: mem("rss"),
        rss_huge: mem("rss_huge"),
        mapped_file: mem("mapped_file"),
        dirty: mem("dirty"),
        writeback: mem("writeback"),
        pg_pg_in: mem("pgpgin"),
        pg_pg_out: mem("pgpgout"),
        pg_fault: mem("pgfault"),
        pg_maj_fault: mem("pgmajfault"),
        inactive_anon: mem("inactive_anon"),
        active_anon: mem("active_anon"),
        inactive_file: mem("inactive_file"),
        active_file: mem("active_file"),
        unevictable: mem("unevictable"),
        hierarchical_memory_limit: mem("hierarchical_memory_limit"),
        hierarchical_swap_limit: mem("hierarchical_memsw_limit"),
        total_cache: mem("total_cache"),
        total_rss: mem("total_rss"),
        total_rss_huge: mem("total_rss_huge"),
        total_mapped_file: mem("total_mapped_file"),
        total_dirty: mem("total_dirty"),
        total_writeback: mem("total_writeback"),
        total_pg_pg_in: mem("total_pgpgin"),
        total_pg_pg_out: mem("total_pgpgout"),
        total_pg_fault: mem("total_pgfault"),
        total_pg_maj_fault: mem("total_pgmajfault"),
        total_inactive_anon: mem("total_inactive_anon"),
        total_active_anon: mem("total_active_anon"),
        total_inactive_file: mem("total_inactive_file"),
        total_active_file: mem("total_active_file"),
        total_unevictable: mem("total_unevictable"),
        usage: MessageField::some(memory_entry(dir, "")),
        swap: MessageField::some(memory_entry(dir, "memsw.")),
        kernel: MessageField::some(memory_entry(dir, "kmem.")),
        kernel_tcp: MessageField::some(memory_entry(dir, "kmem.tcp.")),
        ..Default::default()
    })
}

/// CPU time from the cpuacct controller (nanoseconds; cpuacct.stat counts USER_HZ ticks) and
/// CFS throttling from the cpu controller's cpu.stat (throttled_time is in nanoseconds).
fn v1_cpu(cpuacct: Option<&Path>, cpu: Option<&Path>) -> v1::CPUStat {
    let mut usage = v1::CPUUsage::default();
    if let Some(dir) = cpuacct {
        let ticks = flat_keyed(&dir.join("cpuacct.stat"));
        let nanos = |key: &str| ticks.get(key).copied().unwrap_or(0) * NANOS_PER_SECOND / USER_HZ;
        usage.total = single_value(&dir.join("cpuacct.usage")).unwrap_or(0);
        usage.user = nanos("user");
        usage.kernel = nanos("system");
        usage.per_cpu = std::fs::read_to_string(dir.join("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|value| value.parse().ok())
            .collect();
    }
    let stat = cpu
        .map(|dir| flat_keyed(&dir.join("cpu.stat")))
        .unwrap_or_default();
    let get = |key: &str| stat.get(key).copied().unwrap_or(0);
    v1::CPUStat {
        usage: MessageField::some(usage),
        throttling: MessageField::some(v1::Throttle {
            periods: get("nr_periods"),
            throttled_periods: get("nr_throttled"),
            throttled_time: get("throttled_time"),
            ..Default::default()
        }),
        ..Default::default()
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
fn blkio_entries(path: &Path, names: &HashMap<(u64, u64), String>) -> Vec<v1::BlkIOEntry> {
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
            Some(v1::BlkIOEntry {
                op: op.to_string(),
                device: names.get(&(major, minor)).cloned().unwrap_or_default(),
                major,
                minor,
                value: value.parse().ok()?,
                ..Default::default()
            })
        })
        .collect()
}

/// The CFQ scheduler's blkio.*_recursive files when they hold anything, else (blk-mq
/// kernels, no CFQ) the throttle policy's bytes and operations, as containerd falls back.
fn v1_blkio(dir: &Path, partitions: &Path) -> v1::BlkIOStat {
    let names = partition_names(partitions);
    let read = |name: &str| blkio_entries(&dir.join(format!("blkio.{name}")), &names);
    let cfq = v1::BlkIOStat {
        io_service_bytes_recursive: read("io_service_bytes_recursive"),
        io_serviced_recursive: read("io_serviced_recursive"),
        io_queued_recursive: read("io_queued_recursive"),
        io_service_time_recursive: read("io_service_time_recursive"),
        io_wait_time_recursive: read("io_wait_time_recursive"),
        io_merged_recursive: read("io_merged_recursive"),
        io_time_recursive: read("time_recursive"),
        sectors_recursive: read("sectors_recursive"),
        ..Default::default()
    };
    if cfq != v1::BlkIOStat::default() {
        return cfq;
    }
    v1::BlkIOStat {
        io_service_bytes_recursive: read("throttle.io_service_bytes"),
        io_serviced_recursive: read("throttle.io_serviced"),
        ..Default::default()
    }
}

/// The v1 metrics of a task from its memory cgroup directory and its directory in the other
/// controllers (`cpu`, `cpuacct`, `pids`, `blkio`: each when mounted), as containerd's
/// cgroup1 package fills them; `partitions` (/proc/partitions) names the block devices.
pub fn v1_metrics(
    memory: &Path,
    dirs: &HashMap<String, PathBuf>,
    partitions: &Path,
) -> Result<v1::Metrics, StatsError> {
    let dir = |controller: &str| dirs.get(controller).map(PathBuf::as_path);
    let oom = flat_keyed(&memory.join("memory.oom_control"));
    let oom = |key: &str| oom.get(key).copied().unwrap_or(0);
    Ok(v1::Metrics {
        memory: MessageField::some(v1_memory(memory)?),
        memory_oom_control: MessageField::some(v1::MemoryOomControl {
            oom_kill_disable: oom("oom_kill_disable"),
            under_oom: oom("under_oom"),
            oom_kill: oom("oom_kill"),
            ..Default::default()
        }),
        cpu: MessageField::some(v1_cpu(dir("cpuacct"), dir("cpu"))),
        pids: MessageField::from_option(dir("pids").map(|pids| v1::PidsStat {
            current: single_value(&pids.join("pids.current")).unwrap_or(0),
            limit: pids_limit(&pids.join("pids.max")),
            ..Default::default()
        })),
        blkio: MessageField::from_option(dir("blkio").map(|blkio| v1_blkio(blkio, partitions))),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim::protos::protobuf::MessageFull;

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
        let m = v2_metrics(dir.path()).unwrap();
        assert_eq!(m.memory.usage, 2367488);
        assert_eq!(m.memory.usage_limit, 67108864);
        assert_eq!(m.memory.max_usage, 3145728);
        assert_eq!(m.memory.anon, 1060864);
        // the kubelet's working set is usage - inactive_file
        assert_eq!(m.memory.inactive_file, 409600);
        assert_eq!(m.memory.pgmajfault, 2);
        assert_eq!(m.memory_events.oom_kill, 1);
        assert_eq!(m.memory_events.max, 3);
        assert_eq!(m.cpu.usage_usec, 21733);
        assert_eq!(m.cpu.system_usec, 10359);
        assert_eq!(m.cpu.throttled_usec, 812);
        assert_eq!(m.pids.current, 3);
        assert_eq!(m.pids.limit, 0, "pids.max 'max' is no limit");
        assert_eq!(m.io.usage.len(), 1);
        assert_eq!(
            (
                m.io.usage[0].major,
                m.io.usage[0].rbytes,
                m.io.usage[0].wios
            ),
            (254, 1052672, 1)
        );
    }

    #[test]
    fn files_the_kernel_lacks_read_as_zero() {
        let dir = fixture();
        std::fs::remove_file(dir.path().join("io.stat")).unwrap();
        std::fs::remove_file(dir.path().join("memory.peak")).unwrap();
        std::fs::write(dir.path().join("memory.max"), "max\n").unwrap();
        let m = v2_metrics(dir.path()).unwrap();
        assert_eq!(m.memory.max_usage, 0);
        assert_eq!(m.memory.usage_limit, u64::MAX);
        assert!(m.io.usage.is_empty());
    }

    #[test]
    fn a_removed_cgroup_is_an_error() {
        let dir = fixture();
        let err = v2_metrics(&dir.path().join("gone")).unwrap_err();
        assert!(err.to_string().contains("memory.current"), "{err}");
    }

    #[test]
    fn encodes_as_containerds_v2_type() {
        let dir = fixture();
        let bytes = v2_metrics(dir.path()).unwrap().write_to_bytes().unwrap();
        let back = v2::Metrics::parse_from_bytes(&bytes).unwrap();
        assert_eq!(back.memory.usage, 2367488);
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
        fn metrics(&self) -> v1::Metrics {
            v1_metrics(&self.memory(), &self.dirs, &self.partitions()).unwrap()
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
        let m = v1_fixture().metrics();
        let mem = &m.memory;
        // what docker stats shows: usage (less total_inactive_file) / limit
        assert_eq!(
            (
                mem.usage.usage,
                mem.usage.limit,
                mem.usage.max,
                mem.usage.failcnt
            ),
            (2080768, 67108864, 3145728, 2)
        );
        assert_eq!(
            (
                mem.swap.usage,
                mem.swap.limit,
                mem.swap.max,
                mem.swap.failcnt
            ),
            (2084864, 9223372036854771712, 3149824, 0)
        );
        assert_eq!(
            (mem.kernel.usage, mem.kernel.max),
            (8192, 16384),
            "memory.kmem.*"
        );
        assert_eq!(
            *mem.kernel_tcp,
            v1::MemoryEntry::default(),
            "no kmem.tcp files"
        );
        let local = [
            (mem.cache, 1048576),
            (mem.rss, 266240),
            (mem.rss_huge, 0),
            (mem.mapped_file, 4096),
            (mem.dirty, 8192),
            (mem.writeback, 0),
            (mem.pg_pg_in, 223),
            (mem.pg_pg_out, 132),
            (mem.pg_fault, 487),
            (mem.pg_maj_fault, 1),
            (mem.inactive_anon, 229376),
            (mem.active_anon, 4096),
            (mem.inactive_file, 1048576),
            (mem.active_file, 12288),
            (mem.unevictable, 0),
            (mem.hierarchical_memory_limit, 67108864),
            (mem.hierarchical_swap_limit, 9223372036854771712),
        ];
        let total = [
            (mem.total_cache, 1052672),
            (mem.total_rss, 270336),
            (mem.total_rss_huge, 2097152),
            (mem.total_mapped_file, 8192),
            (mem.total_dirty, 12288),
            (mem.total_writeback, 4096),
            (mem.total_pg_pg_in, 224),
            (mem.total_pg_pg_out, 133),
            (mem.total_pg_fault, 488),
            (mem.total_pg_maj_fault, 2),
            (mem.total_inactive_anon, 233472),
            (mem.total_active_anon, 8192),
            (mem.total_inactive_file, 1052672),
            (mem.total_active_file, 16384),
            (mem.total_unevictable, 4096),
        ];
        for (i, (got, want)) in local.into_iter().chain(total).enumerate() {
            assert_eq!(got, want, "memory.stat field #{i}");
        }
        assert_eq!(
            (
                m.memory_oom_control.oom_kill_disable,
                m.memory_oom_control.under_oom,
                m.memory_oom_control.oom_kill
            ),
            (0, 0, 1)
        );
    }

    #[test]
    fn reads_v1_cpu_pids_and_blkio() {
        let m = v1_fixture().metrics();
        assert_eq!(m.cpu.usage.total, 435797112, "cpuacct.usage, ns");
        assert_eq!(m.cpu.usage.per_cpu, vec![3418863, 432378249]);
        assert_eq!(m.cpu.usage.user, 430_000_000, "43 USER_HZ ticks in ns");
        assert_eq!(m.cpu.usage.kernel, 20_000_000, "2 USER_HZ ticks in ns");
        assert_eq!(
            (
                m.cpu.throttling.periods,
                m.cpu.throttling.throttled_periods,
                m.cpu.throttling.throttled_time
            ),
            (12, 3, 81234567)
        );
        assert_eq!((m.pids.current, m.pids.limit), (3, 64));
        let bytes = &m.blkio.io_service_bytes_recursive;
        assert_eq!(
            bytes.len(),
            6,
            "one entry per op, no 'Total' line: {bytes:?}"
        );
        assert_eq!(
            (
                bytes[0].device.as_str(),
                bytes[0].major,
                bytes[0].minor,
                bytes[0].op.as_str(),
                bytes[0].value
            ),
            ("/dev/vda", 254, 0, "Read", 1052672)
        );
        assert_eq!((bytes[1].op.as_str(), bytes[1].value), ("Write", 4096));
        let ios = &m.blkio.io_serviced_recursive;
        assert_eq!((ios[0].op.as_str(), ios[0].value), ("Read", 18));
        assert!(m.blkio.sectors_recursive.is_empty());
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
        let m = f.metrics();
        let bytes = &m.blkio.io_service_bytes_recursive;
        assert_eq!(bytes.len(), 3);
        assert_eq!(
            (bytes[0].major, bytes[0].device.as_str(), bytes[0].value),
            (8, "", 512),
            "a device /proc/partitions lacks has no name"
        );
        let sectors = &m.blkio.sectors_recursive;
        assert_eq!(
            (sectors.len(), sectors[0].op.as_str(), sectors[0].value),
            (1, "", 1)
        );
        assert!(
            m.blkio.io_serviced_recursive.is_empty(),
            "no throttle files mixed in"
        );
    }

    #[test]
    fn v1_unlimited_pids_and_unmounted_controllers() {
        let mut f = v1_fixture();
        std::fs::write(f.file("pids", "pids.max"), "max\n").unwrap();
        assert_eq!(f.metrics().pids.limit, 0, "pids.max 'max' is no limit");
        for controller in ["memory", "cpu", "cpuacct", "pids", "blkio"] {
            if controller != "memory" {
                f.dirs.remove(controller);
            }
        }
        for name in ["memory.memsw.usage_in_bytes", "memory.stat"] {
            std::fs::remove_file(f.file("memory", name)).unwrap();
        }
        let m = f.metrics();
        assert_eq!(m.memory.usage.usage, 2080768);
        assert_eq!(m.memory.swap.usage, 0, "no swap accounting");
        assert_eq!(m.memory.total_inactive_file, 0);
        assert_eq!(m.cpu.usage.total, 0);
        assert!(m.cpu.usage.per_cpu.is_empty());
        assert!(m.pids.is_none());
        assert!(m.blkio.is_none());
    }

    #[test]
    fn a_removed_v1_cgroup_is_an_error() {
        let f = v1_fixture();
        let err = v1_metrics(&f.memory().join("gone"), &f.dirs, &f.partitions()).unwrap_err();
        assert!(err.to_string().contains("memory.usage_in_bytes"), "{err}");
    }

    #[test]
    fn encodes_as_containerds_v1_type() {
        let bytes = v1_fixture().metrics().write_to_bytes().unwrap();
        let back = v1::Metrics::parse_from_bytes(&bytes).unwrap();
        assert_eq!(back.memory.usage.limit, 67108864);
        assert_eq!(back.cpu.usage.total, 435797112);
        assert_eq!(
            v1::Metrics::descriptor().full_name(),
            "io.containerd.cgroups.v1.Metrics"
        );
    }
}
