//! `runwasm events`: a container's cgroup statistics and OOM kills as runc prints them, one
//! JSON object per line: `{"type":"stats","id":ID,"data":{...}}` (runc's `types.Stats`:
//! cpu, memory, pids, blkio) and `{"type":"oom","id":ID}`. Read by runwasm-container's
//! cgroup module, the one the shim's metrics come from.

use std::time::Duration;

use anyhow::{bail, Result};
use runwasm_container::cgroup::stats::{BlkioEntry, MemoryCounters, V1Stats, V2Stats};
use runwasm_container::cgroup::{oom, CgroupStats};
use runwasm_container::Runtime;
use serde_json::{json, Value};

/// `--stats`: one stats event. Otherwise a stats event every `--interval` seconds and an
/// oom event on each OOM kill, until the container stops.
pub fn run(runtime: &Runtime, args: &liboci_cli::Events) -> Result<()> {
    let id = args.container_id.clone();
    let state = runtime.state(&id)?;
    if state.pid == 0 || !matches!(state.status, "running" | "paused" | "created") {
        bail!("container {id:?} is not running");
    }
    let stats = CgroupStats::of_pid(state.pid)?;
    print_event("stats", &id, Some(runc_stats(&stats)));
    if args.stats {
        return Ok(());
    }
    let oom_id = id.clone();
    oom::watch(state.pid, move || print_event("oom", &oom_id, None));
    let interval = Duration::from_secs(u64::from(args.interval.max(1)));
    loop {
        std::thread::sleep(interval);
        // the cgroup (or the process) is gone: the container stopped
        let Ok(stats) = CgroupStats::of_pid(state.pid) else {
            return Ok(());
        };
        print_event("stats", &id, Some(runc_stats(&stats)));
    }
}

fn print_event(kind: &str, id: &str, data: Option<Value>) {
    let mut event = json!({"type": kind, "id": id});
    if let Some(data) = data {
        event["data"] = data;
    }
    println!("{event}");
}

/// runc's `types.Stats` of a cgroup.
pub fn runc_stats(stats: &CgroupStats) -> Value {
    match stats {
        CgroupStats::V1(v1) => v1_stats(v1),
        CgroupStats::V2(v2) => v2_stats(v2),
    }
}

fn memory_entry(counters: &MemoryCounters) -> Value {
    json!({
        "limit": counters.limit,
        "usage": counters.usage,
        "max": counters.max,
        "failcnt": counters.failcnt,
    })
}

fn blkio_entries(entries: &[BlkioEntry]) -> Value {
    entries
        .iter()
        .map(|e| json!({"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}))
        .collect()
}

fn v1_stats(stats: &V1Stats) -> Value {
    let blkio = stats.blkio.clone().unwrap_or_default();
    let pids = stats.pids.unwrap_or_default();
    json!({
        "cpu": {
            "usage": {
                "total": stats.cpu.total,
                "percpu": stats.cpu.per_cpu,
                "kernel": stats.cpu.kernel,
                "user": stats.cpu.user,
            },
            "throttling": {
                "periods": stats.throttling.periods,
                "throttled_periods": stats.throttling.throttled_periods,
                "throttled_time": stats.throttling.throttled_time,
            },
        },
        "memory": {
            "cache": stats.memory_stat.get("cache"),
            "usage": memory_entry(&stats.memory),
            "swap": memory_entry(&stats.swap),
            "kernel": memory_entry(&stats.kernel),
            "kernelTCP": memory_entry(&stats.kernel_tcp),
            "raw": stats.memory_stat.0,
        },
        "pids": {"current": pids.current, "limit": pids.limit},
        "blkio": {
            "ioServiceBytesRecursive": blkio_entries(&blkio.io_service_bytes_recursive),
            "ioServicedRecursive": blkio_entries(&blkio.io_serviced_recursive),
            "ioQueueRecursive": blkio_entries(&blkio.io_queued_recursive),
            "ioServiceTimeRecursive": blkio_entries(&blkio.io_service_time_recursive),
            "ioWaitTimeRecursive": blkio_entries(&blkio.io_wait_time_recursive),
            "ioMergedRecursive": blkio_entries(&blkio.io_merged_recursive),
            "ioTimeRecursive": blkio_entries(&blkio.io_time_recursive),
            "sectorsRecursive": blkio_entries(&blkio.sectors_recursive),
        },
        "hugetlb": {},
    })
}

/// runc fills its v1-shaped types from cgroup v2 files: microseconds become nanoseconds,
/// "swap" is memory plus swap (memsw), io.stat becomes Read/Write entries.
fn v2_stats(stats: &V2Stats) -> Value {
    const NANOS_PER_MICRO: u64 = 1000;
    let cpu = |key: &str| stats.cpu_stat.get(key);
    let io = |read: fn(&runwasm_container::cgroup::stats::IoEntry) -> u64,
              write: fn(&runwasm_container::cgroup::stats::IoEntry) -> u64| {
        stats
            .io
            .iter()
            .flat_map(|e| {
                [("Read", read(e)), ("Write", write(e))].map(|(op, value)| {
                    json!({"major": e.major, "minor": e.minor, "op": op, "value": value})
                })
            })
            .collect::<Vec<_>>()
    };
    json!({
        "cpu": {
            "usage": {
                "total": cpu("usage_usec") * NANOS_PER_MICRO,
                "kernel": cpu("system_usec") * NANOS_PER_MICRO,
                "user": cpu("user_usec") * NANOS_PER_MICRO,
            },
            "throttling": {
                "periods": cpu("nr_periods"),
                "throttled_periods": cpu("nr_throttled"),
                "throttled_time": cpu("throttled_usec") * NANOS_PER_MICRO,
            },
        },
        "memory": {
            "cache": stats.memory_stat.get("file"),
            "usage": {
                "limit": stats.memory_limit,
                "usage": stats.memory_usage,
                "max": stats.memory_peak,
                "failcnt": stats.memory_events.get("max"),
            },
            "swap": {
                "limit": stats.swap_limit.saturating_add(stats.memory_limit),
                "usage": stats.swap_usage + stats.memory_usage,
                "failcnt": 0,
            },
            "raw": stats.memory_stat.0,
        },
        "pids": {"current": stats.pids.current, "limit": stats.pids.limit},
        "blkio": {
            "ioServiceBytesRecursive": io(|e| e.rbytes, |e| e.wbytes),
            "ioServicedRecursive": io(|e| e.rios, |e| e.wios),
        },
        "hugetlb": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use runwasm_container::cgroup::stats::{CpuUsage, IoEntry, Keyed, Pids};

    fn keyed(pairs: &[(&str, u64)]) -> Keyed {
        Keyed(pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect())
    }

    #[test]
    fn v1_as_runc_prints_it() {
        let stats = CgroupStats::V1(Box::new(V1Stats {
            memory_stat: keyed(&[("cache", 4096), ("rss", 8192)]),
            memory: MemoryCounters {
                usage: 2080768,
                limit: 67108864,
                max: 3145728,
                failcnt: 2,
            },
            cpu: CpuUsage {
                total: 435797112,
                user: 430_000_000,
                kernel: 20_000_000,
                per_cpu: vec![1, 2],
            },
            pids: Some(Pids {
                current: 3,
                limit: 64,
            }),
            ..Default::default()
        }));
        let v = runc_stats(&stats);
        assert_eq!(v["cpu"]["usage"]["total"], 435797112);
        assert_eq!(v["cpu"]["usage"]["percpu"], json!([1, 2]));
        assert_eq!(v["memory"]["cache"], 4096);
        assert_eq!(v["memory"]["usage"]["usage"], 2080768);
        assert_eq!(v["memory"]["usage"]["limit"], 67108864);
        assert_eq!(v["memory"]["raw"]["rss"], 8192);
        assert_eq!(v["pids"], json!({"current": 3, "limit": 64}));
        assert_eq!(v["blkio"]["ioServiceBytesRecursive"], json!([]));
    }

    #[test]
    fn v2_in_runcs_units() {
        let stats = CgroupStats::V2(Box::new(V2Stats {
            memory_usage: 1000,
            memory_limit: u64::MAX,
            swap_usage: 24,
            swap_limit: u64::MAX,
            memory_stat: keyed(&[("file", 512)]),
            cpu_stat: keyed(&[("usage_usec", 21733), ("throttled_usec", 2)]),
            io: vec![IoEntry {
                major: 254,
                minor: 0,
                rbytes: 10,
                wbytes: 20,
                rios: 1,
                wios: 2,
            }],
            ..Default::default()
        }));
        let v = runc_stats(&stats);
        assert_eq!(v["cpu"]["usage"]["total"], 21_733_000u64, "ns");
        assert_eq!(v["cpu"]["throttling"]["throttled_time"], 2000);
        assert_eq!(v["memory"]["cache"], 512, "file pages are the cache");
        assert_eq!(v["memory"]["swap"]["usage"], 1024, "memory + swap");
        assert_eq!(v["memory"]["swap"]["limit"], u64::MAX, "no overflow");
        assert_eq!(
            v["blkio"]["ioServiceBytesRecursive"],
            json!([
                {"major": 254, "minor": 0, "op": "Read", "value": 10},
                {"major": 254, "minor": 0, "op": "Write", "value": 20}
            ])
        );
    }
}
