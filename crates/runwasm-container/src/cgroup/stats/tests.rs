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
