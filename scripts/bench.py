#!/usr/bin/env python3
"""`make bench`: runwasm's shim, runwasm through containerd's runc shim, and runc + static
busybox, measured in the same run on a private containerd, alternating, after warm-up.
Writes docs/benchmarks.md (and prints it).

env: RUNS (sequential runs per runtime, default 20), CONCURRENT (default 50),
     IDLE (idle containers for density, default 20), BENCH_DIR (default /tmp/runwasm-bench),
     ONLY=sequential (item 1 only, printed, docs/benchmarks.md left alone: for A/B checks),
     BASELINE_SHIM (another build's containerd-shim-runwasm-v1, with its runwasm beside it:
     measured as runtime "baseline-shim" next to the others, for before/after comparisons)
"""
import datetime, json, os, platform, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNWASM = os.environ.get("RUNWASM", f"{ROOT}/target/release/runwasm")
SHIM = os.environ.get("SHIM", f"{ROOT}/target/release/containerd-shim-runwasm-v1")
FIXTURES = os.environ.get("FIXTURES", f"{ROOT}/target/fixtures")
DIR = os.environ.get("BENCH_DIR", "/tmp/runwasm-bench")
RUNS = int(os.environ.get("RUNS", "20"))
CONCURRENT = int(os.environ.get("CONCURRENT", "50"))
IDLE = int(os.environ.get("IDLE", "20"))
ONLY = os.environ.get("ONLY", "")
BASELINE_SHIM = os.environ.get("BASELINE_SHIM", "")
CTRD = f"{DIR}/containerd"
SOCK = f"{CTRD}/containerd.sock"
NS = "bench"
WASM = "docker.io/runwasm-test/wasm:latest"
BUSYBOX = "docker.io/runwasm-test/busybox:latest"
CACHE = os.environ.get("RUNWASM_CACHE_DIR", "/var/lib/runwasm/cache")

def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kw)

def ctr(*args, **kw):
    return sh("ctr", "-a", SOCK, "-n", NS, *args, **kw)

# how each runtime runs a container: (ctr run flags, image, args for a hello, args to idle)
RUNTIMES = {
    "runwasm-shim": (["--runtime", "io.containerd.runwasm.v1"], WASM, [], ["/probe.wasm", "sleep", "3600"]),
    "runwasm-runc-shim": (["--runtime", "io.containerd.runc.v2", "--runc-binary", RUNWASM,
                           "--runc-root", f"{DIR}/runwasm-root"], WASM, [], ["/probe.wasm", "sleep", "3600"]),
    "runc": (["--runtime", "io.containerd.runc.v2", "--runc-root", f"{DIR}/runc-root"], BUSYBOX,
             ["/bin/busybox", "echo", "hello from wasm"], ["/bin/busybox", "sleep", "3600"]),
}

if BASELINE_SHIM:
    RUNTIMES["baseline-shim"] = (["--runtime", "io.containerd.runwasmbase.v1"], WASM, [],
                                 ["/probe.wasm", "sleep", "3600"])

counter = 0
def run_once(runtime, extra_args=None, detach=False):
    global counter
    counter += 1
    flags, image, hello, idle = RUNTIMES[runtime]
    cid = f"{runtime}-{counter}"
    mode = ["-d"] if detach else ["--rm"]
    cmd = ["ctr", "-a", SOCK, "-n", NS, "run", *mode, "--fifo-dir", f"{CTRD}/fifo", *flags,
           image, cid, *(idle if detach else (extra_args or hello))]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = (time.perf_counter() - start) * 1000
    if out.returncode != 0 or (not detach and not extra_args and "hello from wasm" not in out.stdout):
        sys.exit(f"{runtime} run failed: {out.stdout} {out.stderr}")
    return cid, elapsed

def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}

def pss_rss(pid):
    pss = rss = 0
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
    except OSError:
        pass
    return pss, rss

def descendants(pid):
    children = sh("ps", "-e", "-o", "pid=,ppid=").stdout.split()
    pairs = list(zip(map(int, children[0::2]), map(int, children[1::2])))
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        found.append(p)
        frontier.extend(c for c, pp in pairs if pp == p)
    return found

def task_processes(cids):
    """Shims and container processes of the tasks (shim processes counted once)."""
    shims = set()
    for cid in cids:
        out = sh("pgrep", "-f", f"containerd-shim.*-id {cid}( |$)", check=False).stdout.split()
        shims.update(int(p) for p in out)
    procs = set()
    for s in shims:
        procs.update(descendants(s))
    return procs

def memory(cids):
    total_pss = total_rss = 0
    for pid in task_processes(cids):
        pss, rss = pss_rss(pid)
        total_pss += pss; total_rss += rss
    return total_pss / 1024, total_rss / 1024

def cleanup_tasks():
    for cid in ctr("t", "ls", "-q", check=False).stdout.split():
        ctr("t", "kill", "-s", "SIGKILL", cid, check=False)
    time.sleep(0.5)
    for cid in ctr("t", "ls", "-q", check=False).stdout.split():
        ctr("t", "rm", "-f", cid, check=False)
    for cid in ctr("c", "ls", "-q", check=False).stdout.split():
        ctr("c", "rm", cid, check=False)

def main():
    os.makedirs(f"{CTRD}/bin", exist_ok=True)
    links = [(SHIM, "containerd-shim-runwasm-v1"), (RUNWASM, "runwasm")]
    if BASELINE_SHIM:
        links.append((BASELINE_SHIM, "containerd-shim-runwasmbase-v1"))
    for src, name in links:
        link = f"{CTRD}/bin/{name}"
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(src, link)
    subprocess.run([f"{ROOT}/scripts/containerd.sh", "start", CTRD], check=True)
    try:
        for tar in ("wasm.tar", "busybox.tar"):
            ctr("image", "import", f"{FIXTURES}/{tar}")
        results = measure()
    finally:
        cleanup_tasks()
        subprocess.run([f"{ROOT}/scripts/containerd.sh", "stop", CTRD])
    if ONLY == "sequential":
        seq = results["sequential"]
        print(f"runwasm-shim / runc median: {seq['runwasm-shim']['median'] / seq['runc']['median']:.2f}")
        return
    write_report(results)

def measure():
    r = {}
    names = list(RUNTIMES)
    for name in names:                     # warm-up: page cache, compile cache, snapshots
        for _ in range(3):
            run_once(name)
    seq = {n: [] for n in names}
    for _ in range(RUNS):                  # alternating rounds
        for n in names:
            seq[n].append(run_once(n)[1])
    r["sequential"] = {n: summary(v) for n, v in seq.items()}
    print("sequential", json.dumps(r["sequential"]), flush=True)
    if ONLY == "sequential":
        return r

    r["concurrent"] = {}
    for n in names:
        flags, image, hello, _ = RUNTIMES[n]
        start = time.perf_counter()
        procs = [subprocess.Popen(["ctr", "-a", SOCK, "-n", NS, "run", "--rm", "--fifo-dir",
                                   f"{CTRD}/fifo", *flags, image, f"{n}-c{i}", *hello],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for i in range(CONCURRENT)]
        failed = sum(p.wait() != 0 for p in procs)
        r["concurrent"][n] = {"total_ms": (time.perf_counter() - start) * 1000, "failed": failed}
    print("concurrent", json.dumps(r["concurrent"]), flush=True)

    r["one_container"], r["density"] = {}, {}
    for n in names:
        cid, _ = run_once(n, detach=True)
        time.sleep(1)
        pss, rss = memory([cid])
        r["one_container"][n] = {"pss_mb": pss, "rss_mb": rss}
        cleanup_tasks()
        cids = [run_once(n, detach=True)[0] for _ in range(IDLE)]
        time.sleep(1)
        pss, rss = memory(cids)
        r["density"][n] = {"pss_mb_per_container": pss / IDLE, "rss_mb_per_container": rss / IDLE}
        cleanup_tasks()
    print("memory", json.dumps(r["one_container"]), json.dumps(r["density"]), flush=True)

    # the compile cache through the whole stack: first start of the large module (its entry
    # removed from the cache) and later starts
    large = ["/large.wasm"]
    r["large_module"] = {}
    for n in ("runwasm-shim", "runwasm-runc-shim"):
        subprocess.run(["rm", "-rf", CACHE])
        first = run_once(n, extra_args=large)[1]
        later = [run_once(n, extra_args=large)[1] for _ in range(5)]
        r["large_module"][n] = {"first_ms": first, "later_median_ms": statistics.median(later)}
    print("large module", json.dumps(r["large_module"]), flush=True)

    bench = sh("cargo", "run", "-q", "--release", "-p", "runwasm-wasm", "--example", "cache_bench",
               "--", f"{FIXTURES}/wasm-rootfs/large.wasm", "10", cwd=ROOT).stdout
    r["in_process"] = json.loads(bench.strip().splitlines()[-1])
    print("in-process", json.dumps(r["in_process"]), flush=True)
    return r

def write_report(r):
    seq, conc = r["sequential"], r["concurrent"]
    ratio = seq["runwasm-shim"]["median"] / seq["runc"]["median"]
    ratio_cli = seq["runwasm-runc-shim"]["median"] / seq["runc"]["median"]
    mem = open("/proc/meminfo").readline().split()[1]
    lines = [
        "# Benchmarks",
        "",
        f"Measured {datetime.date.today()} by `make bench` (`scripts/bench.py`), all runtimes in the",
        "same run against one private containerd "
        f"({sh('containerd', '--version').stdout.split()[2]}), alternating, after 3 warm-up runs each.",
        f"Machine: {os.cpu_count()} cores, {int(mem) // 1024 // 1024} GiB, kernel {platform.release()}, "
        "Debian 12, cgroup v1 hybrid.",
        "Rerun: `make bench` (env RUNS, CONCURRENT, IDLE change the counts).",
        "Where the time goes and what was done about it: docs/performance.md.",
        "",
        f"## 1. Sequential `ctr run --rm` of a hello ({RUNS} runs each)",
        "| runtime | median ms | min ms | max ms |", "|---|---|---|---|",
    ]
    for n, s in seq.items():
        lines.append(f"| {n} | {s['median']:.1f} | {s['min']:.1f} | {s['max']:.1f} |")
    lines += ["", f"runwasm-shim / runc median: **{ratio:.2f}** (target <= 0.80); "
              f"runwasm through the runc shim / runc: {ratio_cli:.2f}.", "",
              f"## 2. {CONCURRENT} concurrent `ctr run --rm`", "| runtime | total ms | failed |", "|---|---|---|"]
    for n, c in conc.items():
        lines.append(f"| {n} | {c['total_ms']:.0f} | {c['failed']} |")
    lines += ["", "## 3. One long-running container: shim + container processes",
              "| runtime | Pss MB | RSS MB |", "|---|---|---|"]
    for n, m in r["one_container"].items():
        lines.append(f"| {n} | {m['pss_mb']:.1f} | {m['rss_mb']:.1f} |")
    lines += ["", f"## 4. Density: {IDLE} idle containers (shims included)",
              "| runtime | Pss MB per container | RSS MB per container |", "|---|---|---|"]
    for n, m in r["density"].items():
        lines.append(f"| {n} | {m['pss_mb_per_container']:.2f} | {m['rss_mb_per_container']:.2f} |")
    ip = r["in_process"]
    lines += ["", f"## 5. Compile cache: a {ip['module_bytes'] / 1e6:.1f} MB module (`test/wasm/gen-large.py`)",
              "Through containerd (`ctr run --rm`, cache emptied before the first start):",
              "| runtime | first start ms | later start median ms |", "|---|---|---|"]
    for n, m in r["large_module"].items():
        lines.append(f"| {n} | {m['first_ms']:.0f} | {m['later_median_ms']:.0f} |")
    lines += ["", "In-process (`crates/runwasm-wasm/examples/cache_bench.rs`, a fresh engine per start):", "",
              f"- first start (compile with Cranelift, store): {ip['cold_ms']:.1f} ms",
              f"- later start (verify digest, map artifact, link): median {ip['warm_median_ms']:.2f} ms "
              f"(min {ip['warm_min_ms']:.2f}, max {ip['warm_max_ms']:.2f})",
              f"- instantiate + run `_start`: median {ip['run_median_ms']:.2f} ms",
              f"- speed-up of a later start: **{ip['speedup']:.0f}x** (target >= 10x)", "",
              "## Raw results", "```json", json.dumps(r, indent=1), "```", ""]
    text = "\n".join(lines)
    with open(f"{ROOT}/docs/benchmarks.md", "w") as f:
        f.write(text)
    print(text)

if __name__ == "__main__":
    main()
