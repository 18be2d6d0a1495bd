//! A task's cgroup statistics (runwasm-container's [`CgroupStats`]) as containerd's metrics
//! types, for `ctr task metrics`, `docker stats` and the kubelet: the types containerd's own
//! runc shim sends, `io.containerd.cgroups.v1.Metrics` on a cgroup v1 host and
//! `io.containerd.cgroups.v2.Metrics` on a unified one, filled as containerd's cgroups
//! package fills them.

use containerd_shim::protos::cgroups::metrics as v1;
use containerd_shim::protos::cgroups_v2::metrics as v2;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};
use runwasm_container::cgroup::stats::{
    BlkioEntry, MemoryCounters, Pids, StatsError, V1Stats, V2Stats,
};
use runwasm_container::cgroup::CgroupStats;

use crate::service::to_any;

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error(transparent)]
    Stats(#[from] StatsError),
    #[error("cannot encode metrics: {0}")]
    Encode(#[from] containerd_shim::protos::protobuf::Error),
}

/// The metrics of the cgroup of `pid`, as the Any containerd expects.
pub fn collect(pid: i32) -> Result<Any, MetricsError> {
    Ok(match CgroupStats::of_pid(pid)? {
        CgroupStats::V1(stats) => to_any(
            "io.containerd.cgroups.v1.Metrics",
            &v1_metrics(&stats).write_to_bytes()?,
        ),
        CgroupStats::V2(stats) => to_any(
            "io.containerd.cgroups.v2.Metrics",
            &v2_metrics(&stats).write_to_bytes()?,
        ),
    })
}

pub fn v2_metrics(stats: &V2Stats) -> v2::Metrics {
    let cpu = |key: &str| stats.cpu_stat.get(key);
    let mem = |key: &str| stats.memory_stat.get(key);
    let events = |key: &str| stats.memory_events.get(key);
    v2::Metrics {
        pids: MessageField::some(v2::PidsStat {
            current: stats.pids.current,
            limit: stats.pids.limit,
            ..Default::default()
        }),
        cpu: MessageField::some(v2::CPUStat {
            usage_usec: cpu("usage_usec"),
            user_usec: cpu("user_usec"),
            system_usec: cpu("system_usec"),
            nr_periods: cpu("nr_periods"),
            nr_throttled: cpu("nr_throttled"),
            throttled_usec: cpu("throttled_usec"),
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
            usage: stats.memory_usage,
            usage_limit: stats.memory_limit,
            max_usage: stats.memory_peak,
            swap_usage: stats.swap_usage,
            swap_limit: stats.swap_limit,
            ..Default::default()
        }),
        memory_events: MessageField::some(v2::MemoryEvents {
            low: events("low"),
            high: events("high"),
            max: events("max"),
            oom: events("oom"),
            oom_kill: events("oom_kill"),
            ..Default::default()
        }),
        io: MessageField::some(v2::IOStat {
            usage: stats
                .io
                .iter()
                .map(|io| v2::IOEntry {
                    major: io.major,
                    minor: io.minor,
                    rbytes: io.rbytes,
                    wbytes: io.wbytes,
                    rios: io.rios,
                    wios: io.wios,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn memory_entry(counters: &MemoryCounters) -> v1::MemoryEntry {
    v1::MemoryEntry {
        usage: counters.usage,
        limit: counters.limit,
        max: counters.max,
        failcnt: counters.failcnt,
        ..Default::default()
    }
}

fn v1_memory(stats: &V1Stats) -> v1::MemoryStat {
    let mem = |key: &str| stats.memory_stat.get(key);
    v1::MemoryStat {
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
        usage: MessageField::some(memory_entry(&stats.memory)),
        swap: MessageField::some(memory_entry(&stats.swap)),
        kernel: MessageField::some(memory_entry(&stats.kernel)),
        kernel_tcp: MessageField::some(memory_entry(&stats.kernel_tcp)),
        ..Default::default()
    }
}

fn blkio_entries(entries: &[BlkioEntry]) -> Vec<v1::BlkIOEntry> {
    entries
        .iter()
        .map(|entry| v1::BlkIOEntry {
            op: entry.op.clone(),
            device: entry.device.clone(),
            major: entry.major,
            minor: entry.minor,
            value: entry.value,
            ..Default::default()
        })
        .collect()
}

fn pids(pids: &Pids) -> v1::PidsStat {
    v1::PidsStat {
        current: pids.current,
        limit: pids.limit,
        ..Default::default()
    }
}

pub fn v1_metrics(stats: &V1Stats) -> v1::Metrics {
    let oom = |key: &str| stats.oom_control.get(key);
    v1::Metrics {
        memory: MessageField::some(v1_memory(stats)),
        memory_oom_control: MessageField::some(v1::MemoryOomControl {
            oom_kill_disable: oom("oom_kill_disable"),
            under_oom: oom("under_oom"),
            oom_kill: oom("oom_kill"),
            ..Default::default()
        }),
        cpu: MessageField::some(v1::CPUStat {
            usage: MessageField::some(v1::CPUUsage {
                total: stats.cpu.total,
                user: stats.cpu.user,
                kernel: stats.cpu.kernel,
                per_cpu: stats.cpu.per_cpu.clone(),
                ..Default::default()
            }),
            throttling: MessageField::some(v1::Throttle {
                periods: stats.throttling.periods,
                throttled_periods: stats.throttling.throttled_periods,
                throttled_time: stats.throttling.throttled_time,
                ..Default::default()
            }),
            ..Default::default()
        }),
        pids: MessageField::from_option(stats.pids.as_ref().map(pids)),
        blkio: MessageField::from_option(stats.blkio.as_ref().map(|blkio| v1::BlkIOStat {
            io_service_bytes_recursive: blkio_entries(&blkio.io_service_bytes_recursive),
            io_serviced_recursive: blkio_entries(&blkio.io_serviced_recursive),
            io_queued_recursive: blkio_entries(&blkio.io_queued_recursive),
            io_service_time_recursive: blkio_entries(&blkio.io_service_time_recursive),
            io_wait_time_recursive: blkio_entries(&blkio.io_wait_time_recursive),
            io_merged_recursive: blkio_entries(&blkio.io_merged_recursive),
            io_time_recursive: blkio_entries(&blkio.io_time_recursive),
            sectors_recursive: blkio_entries(&blkio.sectors_recursive),
            ..Default::default()
        })),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim::protos::protobuf::MessageFull;
    use runwasm_container::cgroup::stats::{CpuUsage, Keyed, Throttling};

    fn keyed(pairs: &[(&str, u64)]) -> Keyed {
        Keyed(pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect())
    }

    #[test]
    fn v2_fields_by_containerds_names() {
        let stats = V2Stats {
            memory_usage: 2367488,
            memory_limit: u64::MAX,
            memory_peak: 3145728,
            memory_stat: keyed(&[("anon", 1060864), ("inactive_file", 409600)]),
            memory_events: keyed(&[("oom_kill", 1), ("max", 3)]),
            cpu_stat: keyed(&[("usage_usec", 21733), ("throttled_usec", 812)]),
            pids: Pids {
                current: 3,
                limit: 0,
            },
            ..Default::default()
        };
        let m = v2_metrics(&stats);
        assert_eq!(
            (m.memory.usage, m.memory.usage_limit, m.memory.max_usage),
            (2367488, u64::MAX, 3145728)
        );
        // the kubelet's working set is usage - inactive_file
        assert_eq!((m.memory.anon, m.memory.inactive_file), (1060864, 409600));
        assert_eq!((m.memory_events.oom_kill, m.memory_events.max), (1, 3));
        assert_eq!((m.cpu.usage_usec, m.cpu.throttled_usec), (21733, 812));
        assert_eq!((m.pids.current, m.pids.limit), (3, 0));
        let bytes = m.write_to_bytes().unwrap();
        assert_eq!(
            v2::Metrics::parse_from_bytes(&bytes).unwrap().memory.usage,
            2367488
        );
    }

    #[test]
    fn v1_fields_by_containerds_names() {
        let stats = V1Stats {
            memory_stat: keyed(&[
                ("cache", 1048576),
                ("pgpgin", 223),
                ("total_inactive_file", 1052672),
                ("hierarchical_memsw_limit", 7),
            ]),
            memory: MemoryCounters {
                usage: 2080768,
                limit: 67108864,
                max: 3145728,
                failcnt: 2,
            },
            oom_control: keyed(&[("oom_kill", 1)]),
            cpu: CpuUsage {
                total: 435797112,
                user: 430_000_000,
                kernel: 20_000_000,
                per_cpu: vec![3418863, 432378249],
            },
            throttling: Throttling {
                periods: 12,
                throttled_periods: 3,
                throttled_time: 81234567,
            },
            ..Default::default()
        };
        let m = v1_metrics(&stats);
        assert_eq!((m.memory.cache, m.memory.pg_pg_in), (1048576, 223));
        assert_eq!(m.memory.total_inactive_file, 1052672);
        assert_eq!(m.memory.hierarchical_swap_limit, 7);
        assert_eq!((m.memory.usage.usage, m.memory.usage.failcnt), (2080768, 2));
        assert_eq!(m.memory_oom_control.oom_kill, 1);
        assert_eq!(m.cpu.usage.per_cpu, vec![3418863, 432378249]);
        assert_eq!(m.cpu.throttling.throttled_time, 81234567);
        assert!(m.pids.is_none(), "no pids controller, no pids message");
        assert!(m.blkio.is_none());
        let bytes = m.write_to_bytes().unwrap();
        assert_eq!(
            v1::Metrics::parse_from_bytes(&bytes)
                .unwrap()
                .cpu
                .usage
                .total,
            435797112
        );
        assert_eq!(
            v1::Metrics::descriptor().full_name(),
            "io.containerd.cgroups.v1.Metrics"
        );
    }
}
