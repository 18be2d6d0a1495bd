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
     ONLY=http (or `scripts/bench.py --only http`): item 6 only, on the first engine: serving
     wasi:http (fixture http.tar) beside the native floor (test/http-floor, HTTP_FLOOR), load by
     wrk; its section of docs/benchmarks.md is replaced, the rest left alone.
     HTTP_SECONDS (each wrk run, default 10), HTTP_ROUNDS (wrk runs per server and concurrency,
     alternating, default 3; the section gives their medians), FIRST_RUNS (first-response
     runs, default 10),
     HTTP_PORT (first port tried on 127.0.0.1, default 18080; taken ones are skipped),
     RUNWASI_SHIM (a build of runwasi's containerd-shim-wasmtime-v1: item 6 then serves the same
     image through it too, as runtime io.containerd.wasmtime.v1, alternating with runwasm)
"""
import datetime, json, os, platform, socket, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNWASM = os.environ.get("RUNWASM", f"{ROOT}/target/release/runwasm")
SHIM = os.environ.get("SHIM", f"{ROOT}/target/release/containerd-shim-runwasm-v1")
FIXTURES = os.environ.get("FIXTURES", f"{ROOT}/target/fixtures")
DIR = os.environ.get("BENCH_DIR", "/tmp/runwasm-bench")
RUNS = int(os.environ.get("RUNS", "20"))
CONCURRENT = int(os.environ.get("CONCURRENT", "50"))
IDLE = int(os.environ.get("IDLE", "20"))
ONLY = os.environ.get("ONLY", "")
if sys.argv[1:2] == ["--only"] and len(sys.argv) == 3:
    ONLY = sys.argv[2]
elif sys.argv[1:]:
    sys.exit("usage: scripts/bench.py [--only sequential|http]  (or env ONLY)")
BASELINE_SHIM = os.environ.get("BASELINE_SHIM", "")
RUNWASI_SHIM = os.environ.get("RUNWASI_SHIM", "")
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
HTTP = "docker.io/runwasm-test/http:latest"
HTTP_FLOOR = os.environ.get("HTTP_FLOOR", f"{ROOT}/target/release/http-floor")
HTTP_SECONDS = int(os.environ.get("HTTP_SECONDS", "10"))
HTTP_ROUNDS = int(os.environ.get("HTTP_ROUNDS", "3"))
FIRST_RUNS = int(os.environ.get("FIRST_RUNS", "10"))
HTTP_PORT = int(os.environ.get("HTTP_PORT", "18080"))
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

def start_engine(engine, http_only=False):
    use_engine(engine)
    os.makedirs(f"{CTRD}/bin", exist_ok=True)
    links = [(SHIM, "containerd-shim-runwasm-v1"), (RUNWASM, "runwasm")]
    if BASELINE_SHIM:
        links.append((BASELINE_SHIM, "containerd-shim-runwasmbase-v1"))
    if RUNWASI_SHIM:
        links.append((RUNWASI_SHIM, "containerd-shim-wasmtime-v1"))
    for src, name in links:
        link = f"{CTRD}/bin/{name}"
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(src, link)
    # images' precompiled layers trusted (only the artifact-large-pre image has one)
    subprocess.run([f"{ROOT}/scripts/containerd.sh", "start", CTRD], check=True,
                   env={**os.environ, "CONTAINERD_ENGINE": engine, "RUNWASM_TRUST_PRECOMPILED": "1"})
    if http_only:
        ctr("image", "import", f"{FIXTURES}/http.tar")
        return False
    for tar in ("wasm.tar", "busybox.tar", "http.tar"):
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
    if ONLY in ("", "http") and not os.access(HTTP_FLOOR, os.X_OK):
        sys.exit(f"{HTTP_FLOOR} missing: cargo build --release -p http-floor (make build)")
    if ONLY == "http":
        start_engine(ENGINES[0], http_only=True)
        try:
            version = sh(CTR, "-a", SOCK, "version").stdout
            version = version.split("Server:")[1].split("Version:")[1].split()[0]
            h = {"containerd": version, **measure_http()}
        finally:
            stop_engine()
        splice_http_section(http_section(h))
        return
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

    r["http"] = measure_http()
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

# --- 6. serving wasi:http, beside a native floor ----------------------------------------------

# wrk's own summary, exact (latency in µs), instead of its rounded text
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests": %d, "duration_us": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d, "status_errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""

def free_port(start):
    """The first port from `start` that nothing on this host listens on (the servers run with
    the host's network: a port taken by another test is skipped, never shared)."""
    for port in range(start, start + 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    sys.exit(f"no free port from {start}")

def get(port):
    """One connection, `GET /`, the whole response: (status, body), or None if none."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError:                        # refused, reset, timed out: not serving yet
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0), body

def first_200(port, proc, start, what, expect):
    """Polls `GET /` every 1 ms until a 200: ms since `start` (perf_counter)."""
    while time.perf_counter() - start < 30:
        got = get(port)
        if got and got[0] == 200:
            elapsed = (time.perf_counter() - start) * 1000
            if expect not in got[1]:
                sys.exit(f"{what}: unexpected body {got[1]!r}")
            return elapsed
        if proc.poll() is not None:
            sys.exit(f"{what} exited ({proc.returncode}) before serving; see {DIR}/http-*.log")
        time.sleep(0.001)
    sys.exit(f"{what}: no 200 OK on port {port} within 30 s; see {DIR}/http-*.log")

# the wasi:http servers that run the image: runwasm, and runwasi as a comparator when given
HTTP_RUNTIMES = {"runwasm": "io.containerd.runwasm.v1",
                 **({"runwasi": "io.containerd.wasmtime.v1"} if RUNWASI_SHIM else {})}

def start_http(cid, port, log, server="runwasm"):
    """`ctr run --rm` of the wasi:http image in the background (not -d: ctr copies the
    container's stdout, the access log, to `log`; a detached task's fifo would fill up)."""
    cmd = [CTR, "-a", SOCK, "-n", NS, "run", "--rm", "--fifo-dir", f"{CTRD}/fifo", "--net-host",
           "--runtime", HTTP_RUNTIMES[server],
           "--env", f"WASMTIME_HTTP_PROXY_SOCKET_ADDR=127.0.0.1:{port}", HTTP, cid]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=open(f"{DIR}/http-{cid}.log", "w"))
    return proc, start

def stop_http(cid, proc):
    """SIGKILL, ctr's --rm deletes the container; a leftover is removed."""
    ctr("t", "kill", "-s", "SIGKILL", cid, check=False)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill(); proc.wait()
    if cid in ctr("c", "ls", "-q", check=False).stdout.split():
        ctr("t", "rm", "-f", cid, check=False)
        ctr("c", "rm", cid, check=False)

def task_pid(cid):
    for line in ctr("t", "ls").stdout.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == cid:
            return int(fields[1])
    sys.exit(f"task {cid} not found in ctr task ls")

def shim_of(pid):
    """The container's shim: its init's parent (a task id may be alive in other containerds)."""
    ppid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    cmdline = open(f"/proc/{ppid}/cmdline", "rb").read()
    return [ppid] if b"containerd-shim" in cmdline.split(b"\0")[0] else []

def cpu_seconds(pids):
    """utime + stime of the processes: /proc/PID/stat counts all of a process's threads, the
    ones that already exited included (a thread's own /proc/PID/task/TID/stat would miss them)."""
    ticks = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])    # utime, stime: fields 14 and 15 of stat
    return ticks / os.sysconf("SC_CLK_TCK")

def pss_mb(pids):
    return sum(pss_rss(pid)[0] for pid in pids) / 1024

def log_lines(log_path, offset):
    """Access-log lines written since `offset`: (lines, lines whose status is not 200)."""
    lines = bad = 0
    with open(log_path, "rb") as f:
        f.seek(offset)
        for line in f:
            fields = line.split()
            lines += 1
            bad += len(fields) < 4 or fields[3] != b"200"
    return lines, bad

def wrk(port, conns, seconds, pids, log_path=None, pss_every=0.0):
    """wrk -t2 -cN --latency against the server on `port`; the CPU the server's processes
    used meanwhile, and with `pss_every` their Pss sampled while it runs."""
    offset = os.path.getsize(log_path) if log_path else 0
    cpu0 = cpu_seconds(pids)
    proc = subprocess.Popen(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency",
                             "-s", f"{DIR}/wrk-report.lua", f"http://127.0.0.1:{port}/"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples = []
    if pss_every:
        deadline = time.monotonic() + seconds - pss_every / 2
        time.sleep(pss_every)
        while proc.poll() is None and time.monotonic() < deadline:
            samples.append(pss_mb(pids))
            time.sleep(pss_every)
    out, err = proc.communicate()
    cpu = cpu_seconds(pids) - cpu0
    report = [l for l in out.splitlines() if l.startswith("WRK ")]
    if proc.returncode != 0 or not report:
        sys.exit(f"wrk failed ({proc.returncode}): {out} {err}")
    r = json.loads(report[0][4:])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = sum(r[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts",
                                     "status_errors"))
    r["cpu_s"] = cpu
    r["cpu_us_per_request"] = cpu * 1e6 / max(r["requests"], 1)
    if samples:
        r["pss_mb_samples"] = [round(s, 2) for s in samples]
    if log_path:
        time.sleep(0.3)                    # the access log is flushed within 100 ms
        r["access_log_lines"], r["access_log_not_200"] = log_lines(log_path, offset)
    return r

def median_run(runs):
    """The wrk runs of one server and concurrency as one: the median of each figure, the sums
    of the counts, every Pss sample, and each run's req/s and p99."""
    combined = {key: statistics.median(r[key] for r in runs)
                for key in ("rps", "p50_us", "p99_us", "cpu_us_per_request")}
    for key in ("requests", "errors", "access_log_lines", "access_log_not_200"):
        if key in runs[0]:
            combined[key] = sum(r[key] for r in runs)
    samples = [s for r in runs for s in r.get("pss_mb_samples", [])]
    if samples:
        combined["pss_mb_samples"] = samples
    combined["runs"] = [{"rps": round(r["rps"]), "p99_us": r["p99_us"]} for r in runs]
    return combined

def measure_http():
    """Item 6: first response of a wasi:http container, then wrk at c16 and c64 against one
    long-running container and against the native floor, alternating."""
    with open(f"{DIR}/wrk-report.lua", "w") as f:
        f.write(WRK_REPORT)
    h = {"seconds": HTTP_SECONDS, "rounds": HTTP_ROUNDS, "wrk": sh("wrk", "-v", check=False).stdout.split("[")[0].strip(),
         "loadavg_at_start": os.getloadavg()[0]}
    log_path = f"{DIR}/http-access.log"
    log = open(log_path, "ab")

    # first response: ctr run launched -> first 200 OK; a warm-up run fills the compile cache
    firsts = {server: [] for server in HTTP_RUNTIMES}
    for i in range(FIRST_RUNS + 1):
        for server in HTTP_RUNTIMES:
            cid, port = f"http-first-{server}-{i}", free_port(HTTP_PORT + 10 + i)
            proc, start = start_http(cid, port, log, server)
            ms = first_200(port, proc, start, cid, b"hello from wasi:http")
            stop_http(cid, proc)
            time.sleep(0.2)                # the shim's exit and containerd's cleanup after it
            if i:
                firsts[server].append(ms)
    for server, runs in firsts.items():
        h["first_response" if server == "runwasm" else f"{server}_first_response"] = {
            **summary(runs), "runs": runs}
        print(f"http {server} first response", json.dumps(summary(runs)), flush=True)

    # the servers under load: one container of each runtime, one native floor
    serving, ports, pids, shims = {}, {}, {}, {}
    floor = None
    try:
        for server in HTTP_RUNTIMES:
            cid = f"http-serve-{server}"
            ports[server] = free_port(max([HTTP_PORT - 1, *ports.values()]) + 1)
            proc, start = start_http(cid, ports[server], log, server)
            serving[server] = (cid, proc)
            first_200(ports[server], proc, start, cid, b"hello from wasi:http")
            init = task_pid(cid)
            pids[server], shims[server] = descendants(init), shim_of(init)
        ports["native"] = free_port(max(ports.values()) + 1)
        floor = subprocess.Popen([HTTP_FLOOR, f"127.0.0.1:{ports['native']}"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=open(f"{DIR}/http-floor.log", "w"))
        first_200(ports["native"], floor, time.perf_counter(), "http-floor", b"hello from native")
        pids["native"] = [floor.pid]
        h["processes"] = {"runwasm_task": pids["runwasm"], "runwasm_shim": shims["runwasm"]}
        h["idle_pss_mb"] = {name: pss_mb(p) for name, p in pids.items()}
        h["idle_pss_mb"]["runwasm_shim"] = pss_mb(shims["runwasm"])
        logs = {"runwasm": log_path}
        for name in ports:                 # warm-up: connections, instance pool, page cache
            wrk(ports[name], 64, 2, pids[name])
        runs = {f"{name}-c{conns}": [] for conns in (16, 64) for name in ports}
        for _ in range(HTTP_ROUNDS):       # rounds, so that a slow minute of the VM hits all
            for conns in (16, 64):
                for name in ports:
                    r = wrk(ports[name], conns, HTTP_SECONDS, pids[name], logs.get(name),
                            pss_every=2.0 if conns == 64 else 0.0)
                    runs[f"{name}-c{conns}"].append(r)
                    print(f"http {name} c{conns}", json.dumps(r), flush=True)
        h["load"] = {key: median_run(rs) for key, rs in runs.items()}
        h["shim_pss_mb"] = pss_mb(shims["runwasm"])
        if "runwasi" in shims:
            h["runwasi_shim_pss_mb"] = pss_mb(shims["runwasi"])
    finally:
        if floor:
            floor.kill(); floor.wait()
        for cid, proc in serving.values():
            stop_http(cid, proc)
        log.close()
    h["access_log_bytes"] = os.path.getsize(log_path)
    os.remove(log_path)
    return h

# issue 11's targets, and runwasi's figures as reported there (quoted, not measured here)
HTTP_TARGETS = {"rps": 33000, "p99_ms": {16: 2.51, 64: 7.49}, "first_ms": 65, "pss_mb": 17}
# what RUNWASI_SHIM was built from, as the section names it
RUNWASI_BUILD = os.environ.get("RUNWASI_BUILD", "runwasi commit eb9967a, wasmtime 36")
RUNWASI = ("16,421 req/s at c16 (p50 0.98 ms, p99 2.51 ms); 16,278 req/s at c64 (p99 7.49 ms); "
           "105 µs CPU per request; first 200 OK 110 ms; 35 MB Pss")

def http_section(h):
    """Item 6 of docs/benchmarks.md, between markers (so that ONLY=http replaces just it)."""
    load = h["load"]
    def met(ok):
        return "met" if ok else "**not met**"
    lines = [
        "<!-- bench.py http: begin -->",
        f"## 6. Serving wasi:http (containerd {h['containerd']})",
        f"Measured {datetime.date.today()} by `scripts/bench.py` (`make bench`, or this item alone: "
        "`ONLY=http scripts/bench.py`).",
        "The component of `test/wasm/http` (`GET /` -> 200 `hello from wasi:http`; fixture `http.tar`) "
        "served by runwasm's shim, started as "
        "`ctr run --rm --net-host --runtime io.containerd.runwasm.v1 "
        "--env WASMTIME_HTTP_PROXY_SOCKET_ADDR=127.0.0.1:PORT docker.io/runwasm-test/http:latest ID`, "
        "access log on (the default: ctr copies it to a file); "
        "the native floor is `test/http-floor` (hyper 1 HTTP/1.1 keep-alive on tokio's multi-threaded "
        "runtime, no Wasm), in the same run. "
        f"Load: `wrk -t2 -c16|-c64 -d{h['seconds']}s --latency http://127.0.0.1:PORT/` ({h['wrk']}, "
        f"on the same {os.cpu_count()} cores as the server; 1-minute load average at the start "
        f"{h['loadavg_at_start']:.1f}: other work on the machine skews these), after a 2 s warm-up of "
        f"each server, in {h['rounds']} rounds; a round runs each server at c16, then each at c64. "
        "A row gives the median of its runs for each figure (errors: their sum), and each run's req/s "
        "and p99 in order. "
        "CPU: utime + stime of the server's processes (for runwasm the task's init from `ctr task ls` and "
        "its children, /proc/PID/stat) over the run, per request. Errors: wrk's socket errors + "
        "responses >= 400 (runwasm's access log counts its responses other than 200, below).",
        "",
        "| server | connections | req/s | p50 ms | p99 ms | errors | CPU µs/request | each run: req/s, p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    labels = {"runwasm": "runwasm wasi:http", "runwasi": f"runwasi wasmtime shim ({RUNWASI_BUILD})",
              "native": "native floor"}
    for conns in (16, 64):
        for name, label in labels.items():
            if f"{name}-c{conns}" not in load:
                continue
            r = load[f"{name}-c{conns}"]
            each = "; ".join(f"{run['rps']:,}, {run['p99_us'] / 1000:.2f}" for run in r["runs"])
            lines.append(f"| {label} | {conns} | {r['rps']:,.0f} | {r['p50_us'] / 1000:.2f} | "
                         f"{r['p99_us'] / 1000:.2f} | {r['errors']} | {r['cpu_us_per_request']:.1f} | {each} |")
    f = h["first_response"]
    pss, native_pss = serving_pss(h, "runwasm"), serving_pss(h, "native")
    rw16, rw64 = load["runwasm-c16"], load["runwasm-c64"]
    logged = sum(load[f"runwasm-c{c}"]["access_log_lines"] for c in (16, 64))
    not200 = sum(load[f"runwasm-c{c}"]["access_log_not_200"] for c in (16, 64))
    lines += [
        "",
        f"- First response (`ctr run` launched -> first `200 OK` of `GET /`, polled every 1 ms; compile "
        f"cache warm from a warm-up run; {len(f['runs'])} runs, each container deleted after): median "
        f"**{f['median']:.1f} ms** (min {f['min']:.1f}, max {f['max']:.1f}).",
        f"- Pss while serving (the task's processes, largest of the samples taken every 2 s of the c64 "
        f"runs): **{pss:.1f} MB** (idle after start {h['idle_pss_mb']['runwasm']:.1f} MB; the shim "
        f"beside it {h['shim_pss_mb']:.1f} MB). Native floor: {native_pss:.1f} MB.",
        f"- The access log recorded {logged:,} requests over the runwasm runs "
        f"(wrk counted {rw16['requests'] + rw64['requests']:,} completed), {not200} of them not 200.",
        "",
        "Targets (issue 11), against the runwasm rows (medians):",
        f"- >= {HTTP_TARGETS['rps']:,} req/s at c16 and c64: {rw16['rps']:,.0f} / {rw64['rps']:,.0f} — "
        f"{met(min(rw16['rps'], rw64['rps']) >= HTTP_TARGETS['rps'])}",
        f"- p99 <= runwasi's {HTTP_TARGETS['p99_ms'][16]} ms at c16 and {HTTP_TARGETS['p99_ms'][64]} ms "
        f"at c64: {rw16['p99_us'] / 1000:.2f} / {rw64['p99_us'] / 1000:.2f} ms — "
        f"{met(rw16['p99_us'] / 1000 <= HTTP_TARGETS['p99_ms'][16] and rw64['p99_us'] / 1000 <= HTTP_TARGETS['p99_ms'][64])}",
        f"- first response <= {HTTP_TARGETS['first_ms']} ms: {f['median']:.1f} ms — "
        f"{met(f['median'] <= HTTP_TARGETS['first_ms'])}",
        f"- Pss <= {HTTP_TARGETS['pss_mb']} MB: {pss:.1f} MB — {met(pss <= HTTP_TARGETS['pss_mb'])}; "
        f"with the shim beside it {pss + h['shim_pss_mb']:.1f} MB — "
        f"{met(pss + h['shim_pss_mb'] <= HTTP_TARGETS['pss_mb'])}",
        "",
        *runwasi_lines(h),
        f"runwasi, as reported in issue 11 (quoted for reference, not measured here): {RUNWASI}.",
        "",
        "Rerun this item alone: `make build fixtures && ONLY=http scripts/bench.py` "
        "(env HTTP_SECONDS, HTTP_ROUNDS, FIRST_RUNS, HTTP_PORT; the first of ENGINES is used). With runwasi: "
        "build its wasmtime shim (`cargo build --release -p containerd-shim-wasmtime` in a checkout of "
        "github.com/containerd/runwasi) and add `RUNWASI_SHIM=/path/to/containerd-shim-wasmtime-v1`.",
        "",
        "Raw results of this item:",
        "```json", json.dumps(h, indent=1), "```",
        "<!-- bench.py http: end -->",
    ]
    return lines

def serving_pss(h, name):
    """The largest Pss sample of a server's c64 run (its idle Pss without samples)."""
    return max(h["load"][f"{name}-c64"].get("pss_mb_samples", [h["idle_pss_mb"][name]]))

def runwasi_lines(h):
    """The same-run comparison with runwasi, when RUNWASI_SHIM was given."""
    load = h["load"]
    if "runwasi-c16" not in load:
        return ["runwasi was not measured in this run (set RUNWASI_SHIM to a build of its "
                "containerd-shim-wasmtime-v1).", ""]
    f, rf = h["first_response"], h["runwasi_first_response"]
    def vs(key, scale, unit, digits):
        return " / ".join(f"{load[f'runwasm-c{c}'][key] * scale:,.{digits}f} vs "
                          f"{load[f'runwasi-c{c}'][key] * scale:,.{digits}f} {unit} at c{c}" for c in (16, 64))
    return [
        f"runwasi measured in this run ({RUNWASI_BUILD}, `--runtime io.containerd.wasmtime.v1`, the same "
        "image, container and rounds, alternating with runwasm), runwasm vs runwasi (medians):",
        f"- req/s: {vs('rps', 1, 'req/s', 0)}",
        f"- p99: {vs('p99_us', 0.001, 'ms', 2)}",
        f"- CPU per request: {vs('cpu_us_per_request', 1, 'µs', 1)}",
        f"- first response: median {f['median']:.1f} vs {rf['median']:.1f} ms "
        f"(runwasi min {rf['min']:.1f}, max {rf['max']:.1f})",
        f"- Pss while serving: {serving_pss(h, 'runwasm'):.1f} vs {serving_pss(h, 'runwasi'):.1f} MB "
        f"(runwasi's shim beside it {h.get('runwasi_shim_pss_mb', 0):.1f} MB)",
        "",
    ]

def splice_http_section(lines):
    """ONLY=http: item 6 of docs/benchmarks.md replaced (or put before the raw results)."""
    path = f"{ROOT}/docs/benchmarks.md"
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    section = "\n".join(lines) + "\n"
    begin, end = "<!-- bench.py http: begin -->", "<!-- bench.py http: end -->\n"
    if begin in text and end in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    elif "\n## Raw results" in text:
        at = text.index("\n## Raw results") + 1
        text = text[:at] + section + "\n" + text[at:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)
    print(section)

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
    lines += ["", f"Sections 3 to 6: containerd {r['version']}."]
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
              f"- speed-up of a later start: **{ip['speedup']:.0f}x** (target >= 10x)", ""]
    if "http" in r:                        # item 6 keeps its raw results in its own section
        lines += http_section({"containerd": r["version"], **r["http"]}) + [""]
        raw = {**results, "engines": {**engines, first: {k: v for k, v in r.items() if k != "http"}}}
    else:
        raw = results
    lines += ["## Raw results", "```json", json.dumps(raw, indent=1), "```", ""]
    text = "\n".join(lines)
    with open(f"{ROOT}/docs/benchmarks.md", "w") as f:
        f.write(text)
    print(text)

if __name__ == "__main__":
    main()
