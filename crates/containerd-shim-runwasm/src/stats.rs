//! Cgroup metrics of a task for `ctr task metrics` and the kubelet: containerd's
//! `io.containerd.cgroups.v1.Metrics` on a cgroup v1 host, `io.containerd.cgroups.v2.Metrics`
//! on a unified one (the types containerd's own runc shim sends).

use std::collections::HashMap;
use std::path::Path;

use containerd_shim::cgroup::{collect_metrics, get_cgroup};
use containerd_shim::protos::cgroups_v2::metrics as v2;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};

use crate::cgroup::TaskCgroup;
use crate::service::to_any;

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("process {0} has no memory cgroup")]
    NoCgroup(i32),
    #[error(transparent)]
    V1(#[from] containerd_shim::Error),
    #[error("cannot read {path}: {source}")]
    V2 {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot encode metrics: {0}")]
    Encode(#[from] containerd_shim::protos::protobuf::Error),
}

pub fn collect(pid: i32) -> Result<Any, StatsError> {
    match TaskCgroup::of_pid(pid).ok_or(StatsError::NoCgroup(pid))? {
        TaskCgroup::V1 { .. } => {
            let metrics = collect_metrics(&get_cgroup(pid as u32)?)?;
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
    let current = dir.join("memory.current");
    let usage = std::fs::read_to_string(&current)
        .map_err(|source| StatsError::V2 {
            path: current.display().to_string(),
            source,
        })?
        .trim()
        .parse()
        .unwrap_or(0);
    let cpu = flat_keyed(&dir.join("cpu.stat"));
    let memory = flat_keyed(&dir.join("memory.stat"));
    let events = flat_keyed(&dir.join("memory.events"));
    let get = |map: &HashMap<String, u64>, key: &str| map.get(key).copied().unwrap_or(0);
    let mem = |key: &str| get(&memory, key);
    Ok(v2::Metrics {
        pids: MessageField::some(v2::PidsStat {
            current: single_value(&dir.join("pids.current")).unwrap_or(0),
            limit: match single_value(&dir.join("pids.max")) {
                Some(u64::MAX) | None => 0,
                Some(limit) => limit,
            },
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
}
