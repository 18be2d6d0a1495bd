#!/usr/bin/env python3
"""`make bench`: runwasm's shim, runwasm through containerd's runc shim, and runc + static
busybox, measured in the same run on a private containerd, alternating, after warm-up.
Writes docs/benchmarks.md (and prints it).

env: ENGINES (containerd engines to measure 1. and 2. on, default "containerd-1.6
     containerd-2.1"; the rest runs on the first), RUNS (sequential runs per runtime,
     default 20), CONCURRENT (default 50),
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
ENGINES = os.environ.get("ENGINES", "containerd-1.6 containerd-2.1").split()
NS = "bench"
# the containerd being measured: set by use_engine
CTRD = SOCK = CTR = ""

def use_engine(engine):
    global CTRD, SOCK, CTR
    CTRD = f"{DIR}/{engine}"
    SOCK = f"{CTRD}/containerd.sock"
    CTR = f"{CTRD}/bin/ctr"
WASM = "docker.io/runwasm-test/wasm:latest"
ARTIFACT = "docker.io/runwasm-test/artifact:oci"
BUSYBOX = "docker.io/runwasm-test/busybox:latest"
CACHE = os.environ.get("RUNWASM_CACHE_DIR", "/var/lib/runwasm/cache")

def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kw)

def ctr(*args, **kw):
    return sh(CTR, "-a", SOCK, "-n", NS, *args, **kw)

# how each runtime runs a container: (ctr run flags, image, args for a hello, args to idle)
RUNTIMES = {
    "runwasm-shim": (["--runtime", "io.containerd.runwasm.v1"], WASM, [], ["/probe.wasm", "sleep", "3600"]),
    "runwasm-runc-shim": (["--runtime", "io.containerd.runc.v2", "--runc-binary", RUNWASM,
                           "--runc-root", f"{DIR}/runwasm-root"], WASM, [], ["/probe.wasm", "sleep", "3600"]),
    "runc": (["--runtime", "io.containerd.runc.v2", "--runc-root", f"{DIR}/runc-root"], BUSYBOX,
             ["/bin/busybox", "echo", "hello from wasm"], ["/bin/busybox", "sleep", "3600"]),
}
# the same module as an OCI Wasm artifact (module layer read from the content store)
ARTIFACT_RUNTIME = {"runwasm-shim-artifact": (["--runtime", "io.containerd.runwasm.v1"], ARTIFACT, [],
                                              ["/probe.wasm", "sleep", "3600"])}

if BASELINE_SHIM:
    RUNTIMES["baseline-shim"] = (["--runtime", "io.containerd.runwasmbase.v1"], WASM, [],
                                 ["/probe.wasm", "sleep", "3600"])

counter = 0
def run_once(runtime, extra_args=None, detach=False):
    global counter
    counter += 1
    flags, image, hello, idle = {**RUNTIMES, **ARTIFACT_RUNTIME}[runtime]
    cid = f"{runtime}-{counter}"
    mode = ["-d"] if detach else ["--rm"]
    cmd = [CTR, "-a", SOCK, "-n", NS, "run", *mode, "--fifo-dir", f"{CTRD}/fifo", *flags,
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

def start_engine(engine):
    use_engine(engine)
    os.makedirs(f"{CTRD}/bin", exist_ok=True)
    links = [(SHIM, "containerd-shim-runwasm-v1"), (RUNWASM, "runwasm")]
    if BASELINE_SHIM:
        links.append((BASELINE_SHIM, "containerd-shim-runwasmbase-v1"))
    for src, name in links:
        link = f"{CTRD}/bin/{name}"
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(src, link)
    # images' precompiled layers trusted (only the artifact-large-pre image has one)
    subprocess.run([f"{ROOT}/scripts/containerd.sh", "start", CTRD], check=True,
                   env={**os.environ, "CONTAINERD_ENGINE": engine, "RUNWASM_TRUST_PRECOMPILED": "1"})
    for tar in ("wasm.tar", "busybox.tar"):
        ctr("image", "import", f"{FIXTURES}/{tar}")
    # containerd 1.6.20 refuses layers that are not tar ("mismatched image rootfs and manifest
    # layers"): artifacts need 1.6.25+ / 1.7.7+
    return all(ctr("image", "import", "--all-platforms", f"{FIXTURES}/{tar}",
                   check=False).returncode == 0
               for tar in ("artifact-oci.tar", "artifact-large.tar", "artifact-large-pre.tar"))

def stop_engine():
    cleanup_tasks()
    subprocess.run([f"{ROOT}/scripts/containerd.sh", "stop", CTRD])

def main():
    results = {"engines": {}}
    for i, engine in enumerate(ENGINES):
        artifacts = start_engine(engine)
        try:
            version = sh(CTR, "-a", SOCK, "version").stdout
            version = version.split("Server:")[1].split("Version:")[1].split()[0]
            results["engines"][engine] = {"version": version, **measure(i == 0, artifacts)}
        finally:
            stop_engine()
    if ONLY == "sequential":
        for engine, r in results["engines"].items():
            seq = r["sequential"]
            print(f"{engine}: runwasm-shim / runc median: "
                  f"{seq['runwasm-shim']['median'] / seq['runc']['median']:.2f}")
        return
    write_report(results)

def measure(full, artifacts):
    """Sequential and concurrent starts (of the artifact too when the engine can import it);
    with `full` also memory and the compile cache."""
    r = {}
    names = list(RUNTIMES) + (list(ARTIFACT_RUNTIME) if artifacts else [])
    for name in names:                     # warm-up: page cache, compile cache, snapshots
        for _ in range(3):
            run_once(name)
    seq = {n: [] for n in names}
    for _ in range(RUNS):                  # alternating rounds
        for n in names:
            seq[n].append(run_once(n)[1])
    r["sequential"] = {n: summary(v) for n, v in seq.items()}
    print(CTRD, "sequential", json.dumps(r["sequential"]), flush=True)
    if ONLY == "sequential":
        return r

    r["concurrent"] = {}
    for n in RUNTIMES:
        flags, image, hello, _ = RUNTIMES[n]
        start = time.perf_counter()
        procs = [subprocess.Popen([CTR, "-a", SOCK, "-n", NS, "run", "--rm", "--fifo-dir",
                                   f"{CTRD}/fifo", *flags, image, f"{n}-c{i}", *hello],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for i in range(CONCURRENT)]
        failed = sum(p.wait() != 0 for p in procs)
        r["concurrent"][n] = {"total_ms": (time.perf_counter() - start) * 1000, "failed": failed}
    print(CTRD, "concurrent", json.dumps(r["concurrent"]), flush=True)
    if artifacts:
        r["precompiled_layer"] = precompiled_first_start()
    if not full:
        return r

    r["one_container"], r["density"] = {}, {}
    for n in RUNTIMES:
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

def precompiled_first_start(rounds=5):
    """First start of the large module (compile cache emptied) as a plain artifact and as one
    with a precompiled layer, alternating."""
    firsts = {"artifact": [], "artifact-precompiled": []}
    images = {"artifact": "docker.io/runwasm-test/artifact:large",
              "artifact-precompiled": "docker.io/runwasm-test/artifact:large-pre"}
    for i in range(rounds):
        for name, image in images.items():
            subprocess.run(["rm", "-rf", CACHE])
            start = time.perf_counter()
            out = subprocess.run([CTR, "-a", SOCK, "-n", NS, "run", "--rm", "--fifo-dir", f"{CTRD}/fifo",
                                  "--runtime", "io.containerd.runwasm.v1", image, f"pre-{name}-{i}"],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"{image} failed: {out.stderr}")
            firsts[name].append((time.perf_counter() - start) * 1000)
    result = {n: summary(v) for n, v in firsts.items()}
    print(CTRD, "precompiled layer", json.dumps(result), flush=True)
    return result

def write_report(results):
    engines = results["engines"]
    first = next(iter(engines))
    r = engines[first]
    mem = open("/proc/meminfo").readline().split()[1]
    versions = ", ".join(f"{e} ({v['version']})" for e, v in engines.items())
    lines = [
        "# Benchmarks",
        "",
        f"Measured {datetime.date.today()} by `make bench` (`scripts/bench.py`), all runtimes in the",
        f"same run against private containerds ({versions}), alternating, after 3 warm-up runs each.",
        f"Machine: {os.cpu_count()} cores, {int(mem) // 1024 // 1024} GiB, kernel {platform.release()}, "
        "Debian 12, cgroup v1 hybrid.",
        "Rerun: `make bench` (env ENGINES, RUNS, CONCURRENT, IDLE change what is measured).",
        "Where the time goes and what was done about it: docs/performance.md.",
        "",
        f"## 1. Sequential `ctr run --rm` of a hello ({RUNS} runs each)",
        "`runwasm-shim-artifact` runs the same module from an OCI Wasm artifact "
        "(`runwasm image build --artifact`): its module layer is read from containerd's content store.",
        "",
        "| containerd | runtime | median ms | min ms | max ms |", "|---|---|---|---|---|",
    ]
    for engine, e in engines.items():
        for n, st in e["sequential"].items():
            lines.append(f"| {e['version']} | {n} | {st['median']:.1f} | {st['min']:.1f} | {st['max']:.1f} |")
    lines.append("")
    for engine, e in engines.items():
        seq = e["sequential"]
        ratio = seq["runwasm-shim"]["median"] / seq["runc"]["median"]
        ratio_cli = seq["runwasm-runc-shim"]["median"] / seq["runc"]["median"]
        lines.append(f"- containerd {e['version']}: runwasm-shim / runc median **{ratio:.2f}** "
                     f"(target <= 0.80); runwasm through the runc shim / runc: {ratio_cli:.2f}.")
    lines += ["", f"## 2. {CONCURRENT} concurrent `ctr run --rm`",
              "| containerd | runtime | total ms | failed |", "|---|---|---|---|"]
    for engine, e in engines.items():
        for n, c in e["concurrent"].items():
            lines.append(f"| {e['version']} | {n} | {c['total_ms']:.0f} | {c['failed']} |")
    for engine, e in engines.items():
        if "precompiled_layer" not in e:
            continue
        p = e["precompiled_layer"]
        lines += ["", f"## 2b. First start of a precompiled artifact (containerd {e['version']})",
                  "The large module (section 5) as an OCI Wasm artifact, compile cache emptied before "
                  "each start, with and without a precompiled layer (`runwasm image build --precompile`, "
                  "used because this containerd's shims run with `RUNWASM_TRUST_PRECOMPILED=1`):", "",
                  "| image | first start median ms | min ms | max ms |", "|---|---|---|---|"]
        for n, st in p.items():
            lines.append(f"| {n} | {st['median']:.0f} | {st['min']:.0f} | {st['max']:.0f} |")
    lines += ["", f"Sections 3 to 5: containerd {r['version']}."]
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
              "## Raw results", "```json", json.dumps(results, indent=1), "```", ""]
    text = "\n".join(lines)
    with open(f"{ROOT}/docs/benchmarks.md", "w") as f:
        f.write(text)
    print(text)

if __name__ == "__main__":
    main()
