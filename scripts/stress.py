#!/usr/bin/env python3
"""`make stress`: runwasm under sustained, concurrent and hostile conditions, on a private
containerd (scripts/containerd.sh) under STRESS_DIR, counting runs, failures and leftovers.

usage: scripts/stress.py [--short] [--json FILE] [--report] [PART...]
  PART: soak, load, chaos, faults, or all (the default); each runs alone too.
  soak    SOAK_RUNS sequential `ctr run --rm` of the Wasm image through the shim beside a
          long-lived container (exec'd into every EXEC_EVERY runs), then SOAK_CRI CRI pods
          (test/cri's cri-e2e pod-up/pod-down: a Wasm container and a busybox sidecar) beside a
          long-lived pod. Pss and open fds of containerd and of the long-lived shim, and the
          long-lived containers' runtime state files, are sampled at the start, every
          SAMPLE_EVERY runs (SAMPLE_EVERY_CRI pods) and at the end; the growth rule (GROWTH_RULE
          below) decides.
  load    LOAD_SHIM concurrent `ctr run --rm` through the shim, then LOAD_RUNC through runwasm
          as the runc shim's runtime binary: 0 failures, nothing left.
  chaos   CHAOS_CONTAINERS containers started, exec'd into and stopped in a loop by
          CHAOS_WORKERS clients for CHAOS_SECONDS, while a random shim, a `runwasm create` or
          `runwasm exec` in flight, or containerd itself (restarted at once) is SIGKILLed at
          random moments. Then every container must be running and controllable (exec, kill,
          delete) or not running and deletable, and after cleanup nothing may be left.
  faults  the compile cache on a full tmpfs, a read-only state root, a pids cgroup at its limit,
          a module exhausting its memory limit while it is instantiated: a clear error (or a
          clear warning where the runtime goes on), nothing left, the next container fine; and
          `runwasm exec` SIGKILLed as soon as the shim started it (chaos's finding, made
          deterministic): the client's call comes back and no half-made process stays.
  --short the CI sizes (test/e2e/stress.sh); env variables of the same names override either.
  --json FILE   the results as JSON; --report  write docs/reliability.md and
                docs/reliability-soak.png (only `make stress` does)
Env: STRESS_DIR (default /tmp/runwasm-stress/run; its basename names the containerd
     namespaces, so two runs with different dirs never share one), CONTAINERD_ENGINE (default
     containerd-1.6), RUNWASM, SHIM, CRI_E2E (copied into the private containerd's bin at
     start: a rebuild of target/release during the run changes nothing), FIXTURES,
     STRESS_SEED (random seed of chaos), STRESS_BUILT_FROM (the commit the binaries were built
     from, for the report; default the repository's HEAD).
Exit status 0 when every check of every part passed.
"""
import argparse, collections, datetime, fcntl, hashlib, json, os, platform, random, re, shutil
import signal, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = {
    "runwasm": os.environ.get("RUNWASM", f"{ROOT}/target/release/runwasm"),
    "containerd-shim-runwasm-v1": os.environ.get(
        "SHIM", f"{ROOT}/target/release/containerd-shim-runwasm-v1"),
    "cri-e2e": os.environ.get("CRI_E2E", f"{ROOT}/target/release/cri-e2e"),
}
FIXTURES = os.environ.get("FIXTURES", f"{ROOT}/target/fixtures")
DIR = os.path.realpath(os.environ.get("STRESS_DIR", "/tmp/runwasm-stress/run"))
ENGINE = os.environ.get("CONTAINERD_ENGINE", "containerd-1.6")
CTRD = f"{DIR}/containerd"
SOCK = f"{CTRD}/containerd.sock"
BIN = f"{CTRD}/bin"
CTR = f"{BIN}/ctr"
RUNWASM = f"{BIN}/runwasm"
CRI_E2E = f"{BIN}/cri-e2e"
CONTAINERD_SH = f"{ROOT}/scripts/containerd.sh"
TAG = re.sub(r"[^a-z0-9-]", "-", os.path.basename(DIR).lower())
NS = f"runwasm-stress-{TAG}"          # soak's ctr runs, the faults' containers
NS_LOAD = f"{NS}-load"
NS_CHAOS = f"{NS}-chaos"
NS_RO = f"{NS}-ro"                    # a namespace whose shim state root is made read-only
K8S = "k8s.io"                        # the CRI plugin's namespace, shared: under CRI_LOCK
CRI_LOCK = "/run/lock/runwasm-e2e-cri.lock"   # the lock of test/e2e/lib.sh's cri_lock
SHIM_ROOT = "/run/containerd/runwasm"         # the shim's state root is SHIM_ROOT/NAMESPACE
RUNC_ROOT = f"{DIR}/runc-root"                # runwasm's under the runc shim: RUNC_ROOT/NS
CLI_ROOT = f"{DIR}/cli-root"                  # the faults' runwasm CLI containers
WASM = "docker.io/runwasm-test/wasm:latest"
BUSYBOX = "docker.io/runwasm-test/busybox:latest"
MEMHOG = "docker.io/runwasm-test/memhog:latest"
SHIM_RUNTIME = ["--runtime", "io.containerd.runwasm.v1"]
RUNC_RUNTIME = ["--runtime", "io.containerd.runc.v2", "--runc-binary", RUNWASM,
                "--runc-root", RUNC_ROOT]
MiB = 1024

SIZES = {
    "long": dict(SOAK_RUNS=10000, SOAK_CRI=1000, SAMPLE_EVERY=500, SAMPLE_EVERY_CRI=100,
                 EXEC_EVERY=10, LOAD_SHIM=500, LOAD_RUNC=200, CHAOS_SECONDS=600,
                 CHAOS_CONTAINERS=100, CHAOS_WORKERS=8),
    "short": dict(SOAK_RUNS=500, SOAK_CRI=50, SAMPLE_EVERY=100, SAMPLE_EVERY_CRI=10,
                  EXEC_EVERY=10, LOAD_SHIM=100, LOAD_RUNC=50, CHAOS_SECONDS=120,
                  CHAOS_CONTAINERS=50, CHAOS_WORKERS=6),
}

# No growth beyond noise: samples s0 (before any run), s1..sn. s0 is left out (warm-up: the
# first runs fill caches and pools). k = max(1, n // 3); base = max(s1..sk), the level the
# process already reached early on (a Go heap swings between collections: containerd's Pss
# went 35 -> 51 -> 35 MiB early and then stayed near 51), end = median(s(n-k+1)..sn); the
# series fails when end - base > its limit. A leak keeps growing past any early level.
GROWTH_LIMITS = {                     # series: (absolute limit, limit relative to base)
    "containerd_pss_kb": (4 * MiB, 0.10),
    "shim_pss_kb": (1 * MiB, 0.10),
    "containerd_fds": (3, 0.0),
    "shim_fds": (2, 0.0),
    "state_files": (0, 0.0),
}
GROWTH_RULE = ("samples s0 (start) .. sn; s0 is left out as warm-up; k = max(1, n // 3); "
               "base = the highest of s1..sk (the level reached early on: a Go heap swings "
               "between collections), end = median of the last k samples; a series fails when "
               "end - base exceeds its limit: Pss of containerd max(4 MiB, 10 % of base), Pss "
               "of the shim max(1 MiB, 10 % of base), open fds of containerd 3, of the shim 2, "
               "runtime state files of the long-lived containers 0")


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


# --- processes and commands ------------------------------------------------------------------

class Result:
    def __init__(self, rc, out, err, timed_out=False):
        self.rc, self.out, self.err, self.timed_out = rc, out, err, timed_out

    def brief(self):
        what = "timed out" if self.timed_out else f"exit {self.rc}"
        return f"{what}: {(self.err.strip() or self.out.strip())[-300:]}"


def sh(cmd, timeout=120, env=None):
    """Runs cmd with its output in files (not pipes: a detached container keeps what it
    inherits open long after the command returned)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        try:
            rc, timed_out = p.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            p.kill()
            rc, timed_out = p.wait(), True
        out.seek(0); err.seek(0)
        return Result(-1 if timed_out else rc, out.read(), err.read(), timed_out)


def ctr(ns, *args, timeout=120):
    return sh([CTR, "-a", SOCK, "-n", ns, *args], timeout=timeout)


def fifo_dir(ns):
    return f"{DIR}/fifo/{ns}"


def ctr_run(ns, runtime, *args, timeout=120):
    return ctr(ns, "run", "--fifo-dir", fifo_dir(ns), *runtime, *args, timeout=timeout)


def read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


def pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def cmdline(pid):
    raw = read(f"/proc/{pid}/cmdline", "rb")
    return [a.decode(errors="replace") for a in raw.split(b"\0")[:-1]] if raw else []


def flag(args, name):
    """The value after `name` in args."""
    try:
        return args[args.index(name) + 1]
    except (ValueError, IndexError):
        return None


def shims(ns=None, daemons=False):
    """{pid: (namespace, id)} of this containerd's shims (runwasm's and runc's); with
    `daemons`, only the long-lived ones (not a `start` or `delete` invocation)."""
    found = {}
    for pid in pids():
        args = cmdline(pid)
        if (args and os.path.basename(args[0]).startswith("containerd-shim")
                and flag(args, "-address") == SOCK and (ns is None or flag(args, "-namespace") == ns)
                and not (daemons and args[-1] in ("start", "delete"))):
            found[pid] = (flag(args, "-namespace"), flag(args, "-id"))
    return found


def pss_kb(pid):
    for line in (read(f"/proc/{pid}/smaps_rollup") or "").splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return None


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def alive(pid):
    stat = read(f"/proc/{pid}/stat")
    return bool(stat) and stat.rsplit(")", 1)[1].split()[0] != "Z"


def containerd_pid():
    try:
        pid = int(read(f"{CTRD}/containerd.pid").strip())
    except (AttributeError, ValueError):
        return None
    return pid if alive(pid) else None


RESTARTS = iter(range(1, 1 << 30))


def containerd_start(env=None):
    # containerd.sh truncates the log: the earlier instances' logs are kept beside it
    log_file = f"{CTRD}/log/containerd.log"
    if os.path.exists(log_file) and os.path.getsize(log_file):
        os.rename(log_file, f"{CTRD}/log/containerd.{next(RESTARTS)}.log")
    r = sh([CONTAINERD_SH, "start", CTRD], timeout=120,
           env={**os.environ, "CONTAINERD_ENGINE": ENGINE, "RUNWASM_BIN": RUNWASM, **(env or {})})
    if r.rc != 0:
        raise SystemExit(f"containerd did not start: {r.out} {r.err}")
    return containerd_pid()


def containerd_kill():
    """Stops containerd by its PID (SIGKILL), its shims and containers left running."""
    pid = containerd_pid()
    if pid:
        os.kill(pid, signal.SIGKILL)
        for _ in range(200):
            if not alive(pid):
                break
            time.sleep(0.01)
    return pid


# --- what a namespace leaves behind ----------------------------------------------------------

def socket_of(ns, cid):
    """The shim socket containerd-shim (the Rust crate) derives for a task."""
    digest = hashlib.sha256(os.path.join(SOCK, ns, cid).encode()).hexdigest()
    return f"/run/containerd/s/{digest}"


def listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def footprint(ns, ids=(), with_ctr=True):
    """Everything of namespace `ns` that exists now: runtime state dirs (shim and runc-shim
    roots), cgroups (every v1 controller and the unified hierarchy), processes in them,
    mounts under the containerd dir, task bundles, fifos, shims, the shim sockets of `ids`,
    and with `with_ctr` containerd's container records and active snapshots; for the CRI
    namespace also the CRI plugin's container and sandbox dirs and CNI IP leases."""
    items = set()
    for root in (f"{SHIM_ROOT}/{ns}", f"{RUNC_ROOT}/{ns}"):
        items.update(f"state {root}/{e}" for e in listdir(root))
    for ctl in listdir("/sys/fs/cgroup"):
        base = f"/sys/fs/cgroup/{ctl}/{ns}"
        items.update(f"cgroup {base}/{e}" for e in listdir(base) if os.path.isdir(f"{base}/{e}"))
    member = f":/{ns}/"
    for pid in pids():
        cg = read(f"/proc/{pid}/cgroup") or ""
        if member in cg:
            comm = (read(f"/proc/{pid}/comm") or "?").strip()
            path = next((l.split(":", 2)[2] for l in cg.splitlines() if member in l), "")
            items.add(f"process {pid} {comm} in {path}")
    for line in (read("/proc/mounts") or "").splitlines():
        mountpoint = line.split()[1]
        if mountpoint.startswith(CTRD + "/"):
            items.add(f"mount {mountpoint}")
    bundles = f"{CTRD}/state/io.containerd.runtime.v2.task/{ns}"
    items.update(f"bundle {bundles}/{e}" for e in listdir(bundles))
    items.update(f"fifo {fifo_dir(ns)}/{e}" for e in listdir(fifo_dir(ns)))
    items.update(f"shim {cid} (pid {pid})" for pid, (_, cid) in shims(ns).items())
    items.update(f"socket {socket_of(ns, cid)} ({cid})" for cid in ids
                 if os.path.exists(socket_of(ns, cid)))
    if ns == K8S:
        for kind in ("containers", "sandboxes"):
            for base in (f"{CTRD}/state/io.containerd.grpc.v1.cri/{kind}",
                         f"{CTRD}/root/io.containerd.grpc.v1.cri/{kind}"):
                items.update(f"cri {base}/{e}" for e in listdir(base))
        ipam = f"{CTRD}/cni/ipam/runwasm"
        items.update(f"ip-lease {e}" for e in listdir(ipam) if re.match(r"^[0-9.]+$", e))
    if with_ctr:
        for attempt in range(5):
            c = ctr(ns, "c", "ls", "-q")
            s = ctr(ns, "snapshots", "ls")
            if c.rc == 0 and s.rc == 0:
                break
            time.sleep(1)
        if c.rc != 0 or s.rc != 0:
            items.add(f"unlisted: ctr c ls / snapshots ls failed: {c.brief()} {s.brief()}")
        items.update(f"container {cid}" for cid in c.out.split())
        for line in s.out.splitlines()[1:]:
            fields = line.split()
            if fields and fields[-1] == "Active":
                items.add(f"snapshot {fields[0]}")
    return items


def state_files(ns, ids):
    """The entries of the runtime state dirs of containers `ids` (the shim's root)."""
    return sum(len(listdir(f"{SHIM_ROOT}/{ns}/{cid}")) for cid in ids)


# --- a part's checks ---------------------------------------------------------------------------

class Part:
    def __init__(self, name):
        self.name = name
        self.checks = []          # (what, ok, detail)
        self.data = {}
        self.start = time.time()

    def check(self, ok, what, detail=""):
        self.checks.append({"what": what, "ok": bool(ok), "detail": str(detail)[:2000]})
        if not ok:
            log(f"FAIL [{self.name}] {what}: {str(detail)[:600]}")
        return ok

    def result(self):
        return {"ok": all(c["ok"] for c in self.checks), "seconds": round(time.time() - self.start),
                "checks": self.checks, **self.data}


def note_error(errors, what, r, keep=20):
    if len(errors) < keep:
        errors.append(f"{what}: {r.brief()}")


# --- setup ---------------------------------------------------------------------------------------

def umount_under(path):
    for line in reversed((read("/proc/mounts") or "").splitlines()):
        mountpoint = line.split()[1]
        if mountpoint == path or mountpoint.startswith(path + "/"):
            subprocess.run(["umount", "-l", mountpoint], check=False)


def preclean():
    """What an aborted earlier run with this STRESS_DIR left: its containerd and the
    containers of its namespaces."""
    if os.path.exists(f"{CTRD}/containerd.pid") or os.path.exists(CTRD):
        subprocess.run([CONTAINERD_SH, "stop", CTRD], capture_output=True)
    runwasm = RUNWASM if os.access(RUNWASM, os.X_OK) else SRC["runwasm"]
    for ns in (NS, NS_LOAD, NS_CHAOS, NS_RO):
        for root in (f"{SHIM_ROOT}/{ns}", f"{RUNC_ROOT}/{ns}"):
            umount_under(root)
            for cid in listdir(root):
                subprocess.run([runwasm, "--root", root, "delete", "--force", cid], capture_output=True)
    for cid in listdir(CLI_ROOT):
        subprocess.run([runwasm, "--root", CLI_ROOT, "delete", "--force", cid], capture_output=True)
    umount_under(DIR)
    shutil.rmtree(DIR, ignore_errors=True)


def setup():
    preclean()
    os.makedirs(BIN, exist_ok=True)
    for name, src in SRC.items():
        if not os.access(src, os.X_OK):
            raise SystemExit(f"{src} missing: make build")
        shutil.copy2(src, f"{BIN}/{name}")
    for tar in ("wasm.tar", "busybox.tar", "pause.tar", "memhog.tar"):
        if not os.path.exists(f"{FIXTURES}/{tar}"):
            raise SystemExit(f"{FIXTURES}/{tar} missing: make fixtures")
    for ns in (NS, NS_LOAD, NS_CHAOS, NS_RO):
        os.makedirs(fifo_dir(ns), exist_ok=True)
    pid = containerd_start()
    log(f"containerd ({ENGINE}) pid {pid} at {SOCK}")
    for ns in (NS, NS_LOAD, NS_CHAOS, NS_RO, K8S):
        for tar in ("wasm.tar", "busybox.tar", "memhog.tar") + (("pause.tar",) if ns == K8S else ()):
            r = ctr(ns, "image", "import", f"{FIXTURES}/{tar}")
            if r.rc != 0:
                raise SystemExit(f"ctr image import {tar}: {r.brief()}")


def teardown():
    subprocess.run([CONTAINERD_SH, "stop", CTRD], capture_output=True)


def binaries():
    info = {}
    for name in ("runwasm", "containerd-shim-runwasm-v1"):
        with open(f"{BIN}/{name}", "rb") as f:
            info[name] = hashlib.sha256(f.read()).hexdigest()[:16]
    return info


# --- soak --------------------------------------------------------------------------------------

def growth(values, series):
    absolute, relative = GROWTH_LIMITS[series]
    post = [v for v in values[1:] if v is not None]
    if len(post) < 2 or None in values:
        return {"ok": False, "reason": f"not enough samples: {values}"}
    k = max(1, len(post) // 3)
    base, end = max(post[:k]), statistics.median(post[-k:])
    limit = max(absolute, relative * base)
    return {"ok": end - base <= limit, "base": base, "end": end, "growth": end - base,
            "limit": limit, "max": max(post), "min": min(post)}


class Sampler:
    def __init__(self, phase, shim_pid, ns, state_ids, baseline):
        self.phase, self.shim_pid, self.ns, self.state_ids = phase, shim_pid, ns, state_ids
        self.baseline = baseline
        self.samples = []
        self.start = time.time()

    def sample(self, runs, with_ctr=True):
        leftovers = sorted(footprint(self.ns, with_ctr=with_ctr) - self.baseline)
        cpid = containerd_pid()
        s = {"phase": self.phase, "runs": runs, "seconds": round(time.time() - self.start, 1),
             "containerd_pss_kb": pss_kb(cpid) if cpid else None,
             "containerd_fds": fd_count(cpid) if cpid else None,
             "shim_pss_kb": pss_kb(self.shim_pid), "shim_fds": fd_count(self.shim_pid),
             "state_files": state_files(self.ns, self.state_ids),
             "leftovers": len(leftovers), "leftover_items": leftovers[:10]}
        self.samples.append(s)
        log(f"soak {self.phase} sample at {runs}: containerd Pss {s['containerd_pss_kb']} kB "
            f"fds {s['containerd_fds']}, shim Pss {s['shim_pss_kb']} kB fds {s['shim_fds']}, "
            f"state files {s['state_files']}, leftovers {len(leftovers)} {leftovers[:3]}")
        return s

    def verdicts(self):
        return {series: growth([s[series] for s in self.samples], series) for series in GROWTH_LIMITS}


def shim_of_task(ns, cid, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for pid, (_, sid) in shims(ns).items():
            if sid == cid:
                return pid
        time.sleep(0.1)
    return None


def soak_ctr(part, sizes):
    runs, every, exec_every = sizes["SOAK_RUNS"], sizes["SAMPLE_EVERY"], sizes["EXEC_EVERY"]
    errors = []
    baseline = footprint(NS)
    r = ctr_run(NS, SHIM_RUNTIME, "-d", WASM, "soak-long", "/probe.wasm", "sleep", "360000")
    if not part.check(r.rc == 0, "the long-lived container starts", r.brief()):
        return
    shim = shim_of_task(NS, "soak-long")
    if not part.check(shim, "the long-lived container's shim is found"):
        return
    # what the long-lived container itself holds is not a leftover of the runs
    sampler = Sampler("ctr", shim, NS, ["soak-long"], footprint(NS))
    sampler.sample(0)
    failures = exec_failures = execs = i = 0  # i stays 0 with SOAK_RUNS=0
    for i in range(1, runs + 1):
        r = ctr_run(NS, SHIM_RUNTIME, "--rm", WASM, f"soak-{i}")
        if r.rc != 0 or "hello from wasm" not in r.out:
            failures += 1
            note_error(errors, f"run {i}", r)
        if i % exec_every == 0:
            execs += 1
            r = ctr(NS, "t", "exec", "--exec-id", f"x{i}", "soak-long", "/probe.wasm", "cat",
                    "/etc/greeting.txt")
            if r.rc != 0 or "hello from the rootfs" not in r.out:
                exec_failures += 1
                note_error(errors, f"exec {i}", r)
        if i % every == 0 or i == runs:
            sampler.sample(i)
            if failures > 50 and failures == i:
                part.check(False, "soak ctr runs: every run failed, stopping", errors[:3])
                break
    r = ctr(NS, "t", "rm", "-f", "soak-long")
    r2 = ctr(NS, "c", "rm", "soak-long")
    part.check(r.rc == 0 and r2.rc == 0, "the long-lived container is deleted", r.brief() + r2.brief())
    leftovers = sorted(footprint(NS, ids=[f"soak-{i}" for i in range(1, runs + 1)] + ["soak-long"])
                       - baseline)
    verdicts = sampler.verdicts()
    part.data["ctr"] = {"runs": i, "failures": failures, "execs": execs,
                        "exec_failures": exec_failures, "leaks": leftovers, "errors": errors,
                        "samples": sampler.samples, "growth": verdicts}
    part.check(i == runs, f"ctr runs done: {i} of {runs}")
    part.check(failures == 0, f"ctr run --rm failures: {failures} of {i}", errors[:5])
    part.check(exec_failures == 0, f"exec failures into the long-lived container: {exec_failures} of {execs}", errors[:5])
    part.check(not leftovers, f"leftovers after {i} ctr runs: {len(leftovers)}", leftovers[:20])
    for series, v in verdicts.items():
        part.check(v["ok"], f"ctr soak: {series} within noise", v)


class CriLock:
    """test/e2e/lib.sh's cri_lock, taken only for the CRI phase (unless the caller holds it)."""

    def __enter__(self):
        self.f = None
        if os.environ.get("RUNWASM_E2E_CRI_LOCK") == CRI_LOCK:
            return self
        self.f = open(CRI_LOCK, "a")
        deadline = time.time() + 1800
        while True:
            try:
                fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.time() > deadline:
                    raise SystemExit(f"another CRI run held {CRI_LOCK} for 30 minutes")
                time.sleep(1)

    def __exit__(self, *exc):
        if self.f:
            self.f.close()


SIDECAR = ["sh", "-c", 'trap "exit 0" TERM; sleep 360000 & wait']


def pod_up(logs, app_args):
    r = sh([CRI_E2E, "pod-up", SOCK, "runwasm", logs, f"app={WASM}", *app_args, "--",
            f"side={BUSYBOX}", *SIDECAR], timeout=180)
    pod = re.search(r"^pod-id: (\w+)$", r.out, re.M)
    ids = re.findall(r"^container-id: (\w+)$", r.out, re.M)
    ok = (r.rc == 0 and pod and len(ids) == 2 and "running: app" in r.out
          and "running: side" in r.out)
    return ok, (pod.group(1) if pod else None), ids, r


def pod_down(pod):
    r = sh([CRI_E2E, "pod-down", SOCK, pod], timeout=180,
           env={**os.environ, "CRI_E2E_GRACE": "10"})
    return r.rc == 0 and f"removed: {pod}" in r.out, r


def soak_cri(part, sizes):
    cycles, every = sizes["SOAK_CRI"], sizes["SAMPLE_EVERY_CRI"]
    errors = []
    with CriLock():
        baseline = footprint(K8S)
        ok, long_pod, long_ids, r = pod_up(f"{DIR}/cri-logs/long", ["sleep", "360000"])
        if not part.check(ok, "the long-lived pod runs", r.brief()):
            return
        shim = shim_of_task(K8S, long_pod)
        part.check(shim and len([1 for _, (_, i) in shims(K8S).items() if i == long_pod]) == 1,
                   "one shim serves the long-lived pod", shims(K8S))
        sampler = Sampler("cri", shim, K8S, [long_pod, *long_ids], footprint(K8S))
        sampler.sample(0)
        failures = exec_failures = i = 0  # i stays 0 with SOAK_CRI=0
        pod_ids = []
        for i in range(1, cycles + 1):
            ok, pod, ids, r = pod_up(f"{DIR}/cri-logs/cycle", ["sleep", "360000"])
            if pod:
                pod_ids += [pod, *ids]
            if not ok:
                failures += 1
                note_error(errors, f"pod-up {i}", r)
            if pod:
                down, r = pod_down(pod)
                if not down:
                    failures += 1 if ok else 0
                    note_error(errors, f"pod-down {i}", r)
            # one exec per pod into the long-lived pod, the Wasm container and the sidecar in turn
            target, cmd = ((long_ids[0], ["/probe.wasm", "cat", "/etc/greeting.txt"]) if i % 2
                           else (long_ids[1], ["/bin/cat", "/etc/passwd"]))
            r = ctr(K8S, "t", "exec", "--exec-id", f"x{i}", target, *cmd)
            if r.rc != 0 or ("hello from the rootfs" if i % 2 else "root:x:0:0") not in r.out:
                exec_failures += 1
                note_error(errors, f"exec {i}", r)
            if i % every == 0 or i == cycles:
                sampler.sample(i)
            if failures > 20 and failures == i:
                part.check(False, "CRI soak: every pod failed, stopping", errors[:3])
                break
        down, r = pod_down(long_pod)
        part.check(down, "the long-lived pod is removed", r.brief())
        pod_ids += [long_pod, *long_ids]
        leftovers = sorted(footprint(K8S, ids=pod_ids) - baseline)
    verdicts = sampler.verdicts()
    part.data["cri"] = {"cycles": i, "failures": failures, "execs": i,
                        "exec_failures": exec_failures, "leaks": leftovers, "errors": errors,
                        "samples": sampler.samples, "growth": verdicts}
    part.check(i == cycles, f"CRI pod cycles done: {i} of {cycles}")
    part.check(failures == 0, f"CRI pod cycle failures: {failures} of {i}", errors[:5])
    part.check(exec_failures == 0, f"exec failures into the long-lived pod: {exec_failures} of {i}", errors[:5])
    part.check(not leftovers, f"leftovers after {i} CRI pods: {len(leftovers)}", leftovers[:20])
    for series, v in verdicts.items():
        part.check(v["ok"], f"CRI soak: {series} within noise", v)


def soak(sizes):
    part = Part("soak")
    log(f"soak: {sizes['SOAK_RUNS']} ctr runs, then {sizes['SOAK_CRI']} CRI pods")
    soak_ctr(part, sizes)
    soak_cri(part, sizes)
    return part.result()


# --- load ----------------------------------------------------------------------------------------

def concurrent(ns, runtime, n, prefix):
    """n `ctr run --rm` of the Wasm hello at once: (failures, seconds, first errors)."""
    outdir = f"{DIR}/load/{prefix}"
    os.makedirs(outdir, exist_ok=True)
    start = time.time()
    procs = []
    for i in range(n):
        out = open(f"{outdir}/{i}.out", "w")
        err = open(f"{outdir}/{i}.err", "w")
        procs.append((subprocess.Popen(
            [CTR, "-a", SOCK, "-n", ns, "run", "--rm", "--fifo-dir", fifo_dir(ns), *runtime,
             WASM, f"{prefix}-{i}"], stdout=out, stderr=err, stdin=subprocess.DEVNULL), out, err))
    failures, errors = 0, []
    for i, (p, out, err) in enumerate(procs):
        try:
            rc = p.wait(timeout=max(60, 900 - (time.time() - start)))
        except subprocess.TimeoutExpired:
            p.kill()
            rc = "timeout"
        out.close(); err.close()
        text = read(f"{outdir}/{i}.out") or ""
        if rc != 0 or "hello from wasm" not in text:
            failures += 1
            if len(errors) < 10:
                errors.append(f"{prefix}-{i}: exit {rc}: {(read(f'{outdir}/{i}.err') or '').strip()[-300:]}")
    return failures, time.time() - start, errors


def load(sizes):
    part = Part("load")
    for name, runtime, n in (("shim", SHIM_RUNTIME, sizes["LOAD_SHIM"]),
                             ("runc-shim", RUNC_RUNTIME, sizes["LOAD_RUNC"])):
        log(f"load: {n} concurrent ctr run --rm through the {name}")
        ids = [f"{name}-{i}" for i in range(n)]
        baseline = footprint(NS_LOAD)
        failures, seconds, errors = concurrent(NS_LOAD, runtime, n, name)
        # ctr run --rm returns once the task is deleted: nothing may be left at once
        leftovers = sorted(footprint(NS_LOAD, ids=ids) - baseline)
        part.data[name] = {"runs": n, "failures": failures, "seconds": round(seconds, 1),
                           "errors": errors, "leaks": leftovers}
        log(f"load: {name}: {n} runs in {seconds:.1f} s, {failures} failed, {len(leftovers)} leftovers")
        part.check(failures == 0, f"{n} concurrent through the {name}: failures {failures}", errors)
        part.check(not leftovers, f"leftovers after {n} concurrent through the {name}: {len(leftovers)}",
                   leftovers[:20])
    return part.result()


# --- chaos ---------------------------------------------------------------------------------------

# what chaos runs: runwasm (three in four through its shim, the rest through the runc shim with
# runwasm as the runtime binary; three in four Wasm, the rest busybox), or CHAOS_MIX=runc, the
# control: containerd's runc shim with runc and busybox only (what containerd and ctr leave
# with the reference runtime)
CHAOS_MIX = os.environ.get("CHAOS_MIX", "runwasm")
# how ctr says that containerd died under a call
CONTAINERD_GONE = ("transport is closing", "connection refused", "error reading from server",
                   "connection reset", "Unavailable desc")
RUNC_REFERENCE = ["--runtime", "io.containerd.runc.v2"]


class Chaos:
    KINDS = ["shim"] * 3 + ["create"] * 3 + ["exec"] * 3 + ["containerd"]

    def __init__(self, sizes, seed):
        self.seconds = sizes["CHAOS_SECONDS"]
        self.n = sizes["CHAOS_CONTAINERS"]
        self.workers = sizes["CHAOS_WORKERS"]
        self.rng = random.Random(seed)
        self.seed = seed
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ops = collections.Counter()
        self.kills = collections.Counter()
        self.hung = []
        self.ids = set()
        self.runtime_of = {}
        self.outage_ids = set()   # ids with a call cut off by containerd's death
        self.killed_shim_ids = set()
        self.logf = open(f"{DIR}/chaos.log", "w")
        self.start = time.time()
        self.restart_seconds = []

    def event(self, **kw):
        with self.lock:
            self.logf.write(json.dumps({"t": round(time.time() - self.start, 3), **kw}) + "\n")
            self.logf.flush()

    def count(self, key, r=None, **kw):
        with self.lock:
            self.ops[key] += 1
            if r is not None and r.rc != 0 and any(e in r.err for e in CONTAINERD_GONE):
                self.outage_ids.add(kw.get("id"))
            if r is not None and r.timed_out:
                self.hung.append(f"{key} {kw.get('id')} {kw.get('exec_id', '')} (began at "
                                 f"{kw.get('t0')} s): no answer in 120 s")
        if r is not None and r.rc != 0:
            self.event(op=key, rc=r.rc, timed_out=r.timed_out, err=r.err.strip()[-200:], **kw)

    # the clients: each owns slots i, i+workers, ...
    def worker(self, w):
        rng = random.Random(self.seed * 1000 + w)
        slots = {i: None for i in range(w, self.n, self.workers)}   # slot -> (id, runtime, image)
        generation = collections.Counter()
        n = 0
        while not self.stop.is_set():
            slot = rng.choice(list(slots))
            current = slots[slot]
            n += 1
            if current is None:
                generation[slot] += 1
                cid = f"c{slot}-{generation[slot]}"
                if CHAOS_MIX == "runc":
                    runtime, image = "runc", "busybox"
                else:
                    runtime = "runwasm-shim" if rng.random() < 0.75 else "runwasm-runc-shim"
                    image = "wasm" if rng.random() < 0.75 else "busybox"
                with self.lock:
                    self.ids.add(cid)
                    self.runtime_of[cid] = runtime
                args = ([WASM, cid, "/probe.wasm", "sleep", "360000"] if image == "wasm"
                        else [BUSYBOX, cid, "sleep", "360000"])
                flags = {"runwasm-shim": SHIM_RUNTIME, "runwasm-runc-shim": RUNC_RUNTIME,
                         "runc": RUNC_REFERENCE}[runtime]
                t0 = time.time()
                self.event(op="create", id=cid, runtime=runtime, image=image)
                r = ctr_run(NS_CHAOS, flags, "-d", *args, timeout=120)
                self.count("create ok" if r.rc == 0 else "create failed", r, id=cid, t0=round(t0 - self.start, 3))
                slots[slot] = (cid, runtime, image)
                if r.rc != 0:
                    slots[slot] = None if self.repair(cid) else slots[slot]
            elif rng.random() < 0.6:
                cid, runtime, image = current
                cmd = (["/probe.wasm", "cat", "/etc/greeting.txt"] if image == "wasm"
                       else ["/bin/echo", "exec-ok"])
                t0 = time.time()
                r = ctr(NS_CHAOS, "t", "exec", "--exec-id", f"e{w}-{n}", cid, *cmd, timeout=120)
                want = "hello from the rootfs" if image == "wasm" else "exec-ok"
                ok = r.rc == 0 and want in r.out
                self.count("exec ok" if ok else "exec failed", r, id=cid, exec_id=f"e{w}-{n}",
                           t0=round(t0 - self.start, 3))
            else:
                cid = current[0]
                r = ctr(NS_CHAOS, "t", "rm", "-f", cid, timeout=120)
                r2 = ctr(NS_CHAOS, "c", "rm", cid, timeout=120)
                ok = r.rc == 0 and r2.rc == 0
                self.count("stop ok" if ok else "stop failed", r if r.rc else r2, id=cid)
                if ok or self.repair(cid):
                    slots[slot] = None
            if self.stop.is_set():
                break

    def repair(self, cid):
        """A container a failed call left: deleted when it can be (True when it is gone)."""
        ctr(NS_CHAOS, "t", "rm", "-f", cid, timeout=60)
        r = ctr(NS_CHAOS, "c", "rm", cid, timeout=60)
        gone = r.rc == 0 or "not found" in r.err
        self.count("repair ok" if gone else "repair failed", None if gone else r, id=cid)
        return gone

    # the killer
    def in_flight(self, verb, timeout=10):
        """A `runwasm VERB` process of this run (not a container process that still has its
        command line), with a pidfd; None when none was seen within `timeout`."""
        roots = (f"{SHIM_ROOT}/{NS_CHAOS}", RUNC_ROOT, f"/run/containerd/runc/{NS_CHAOS}")
        deadline = time.time() + timeout
        while time.time() < deadline and not self.stop.is_set():
            for pid in pids():
                args = cmdline(pid)
                if verb not in args or "--root" not in args:
                    continue
                root = flag(args, "--root") or ""
                if not root.startswith(roots):
                    continue
                if args.index(verb) < args.index("--root"):
                    continue
                comm = (read(f"/proc/{pid}/comm") or "").strip()
                if comm.startswith("youki:") or f":/{NS_CHAOS}/" in (read(f"/proc/{pid}/cgroup") or ""):
                    continue
                try:
                    return pid, os.pidfd_open(pid), args
                except OSError:
                    continue
            time.sleep(0.002)
        return None

    def kill_one(self, kind):
        if kind == "containerd":
            t0 = time.time()
            pid = containerd_kill()
            try:
                containerd_start()
                restarted = True
            except SystemExit as e:
                restarted = False
                self.event(kill="containerd", error=str(e))
            self.restart_seconds.append(time.time() - t0)
            self.kills["containerd"] += 1
            self.event(kill="containerd", pid=pid, restarted=restarted,
                       seconds=round(time.time() - t0, 2))
        elif kind == "shim":
            found = shims(NS_CHAOS, daemons=True)
            if not found:
                self.kills["shim: none running"] += 1
                return
            pid = self.rng.choice(sorted(found))
            binary = os.path.basename((cmdline(pid) or ["?"])[0])
            try:
                os.kill(pid, signal.SIGKILL)
                self.kills["shim"] += 1
                self.killed_shim_ids.add(found[pid][1])
                self.event(kill="shim", pid=pid, id=found[pid][1], binary=binary)
            except ProcessLookupError:
                self.kills["shim: gone before the kill"] += 1
        else:
            hit = self.in_flight(kind)
            if not hit:
                self.kills[f"{kind}: none in flight within 10 s"] += 1
                return
            pid, fd, args = hit
            # a random moment of its life: at once, or after up to 30 ms
            time.sleep(self.rng.choice([0, 0, self.rng.uniform(0, 0.03)]))
            try:
                signal.pidfd_send_signal(fd, signal.SIGKILL)
                self.kills[kind] += 1
                root = flag(args, "--root")
                self.event(kill=kind, pid=pid, id=args[-1], binary=os.path.basename(args[0]),
                           caller="runwasm-shim" if root.startswith(SHIM_ROOT) else "runc-shim")
            except ProcessLookupError:
                self.kills[f"{kind}: ended before the kill"] += 1
            finally:
                os.close(fd)

    def killer(self):
        kinds = []
        while not self.stop.wait(self.rng.uniform(0.5, 2.5)):
            if not kinds:
                kinds = list(self.KINDS)
                self.rng.shuffle(kinds)
            self.kill_one(kinds.pop())

    def run(self):
        threads = [threading.Thread(target=self.worker, args=(w,)) for w in range(self.workers)]
        for t in threads:
            t.start()
        killer = threading.Thread(target=self.killer)
        killer.start()
        last = time.time()
        while time.time() - self.start < self.seconds:
            time.sleep(1)
            if time.time() - last >= 30:
                last = time.time()
                log(f"chaos {int(time.time() - self.start)} s: ops {dict(self.ops)} kills {dict(self.kills)}")
        self.stop.set()
        killer.join()
        for t in threads:
            t.join()


def task_states(ns):
    r = ctr(ns, "t", "ls")
    states = {}
    for line in r.out.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3:
            states[fields[0]] = fields[2]
    return r.rc == 0, states


def wait_task(ns, cid, status, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if task_states(ns)[1].get(cid) == status:
            return True
        time.sleep(0.1)
    return False


def chaos(sizes):
    part = Part("chaos")
    seed = int(os.environ.get("STRESS_SEED", str(int(time.time()))))
    c = Chaos(sizes, seed)
    baseline = footprint(NS_CHAOS)
    log(f"chaos: {c.n} containers, {c.workers} clients, {c.seconds} s, seed {seed}")
    c.run()
    log(f"chaos over after {time.time() - c.start:.0f} s: ops {dict(c.ops)} kills {dict(c.kills)}")
    if not containerd_pid():
        containerd_start()
    time.sleep(5)                      # containerd reaps what the last kills left
    # every container: running and controllable, or not running and deletable
    outcome = collections.Counter()
    problems = []
    listed = ctr(NS_CHAOS, "c", "ls", "-q")
    part.check(listed.rc == 0, "ctr c ls after chaos", listed.brief())
    ok_states, states = task_states(NS_CHAOS)
    part.check(ok_states, "ctr t ls after chaos")
    for cid in listed.out.split():
        status = states.get(cid, "no task")
        if status == "RUNNING":
            wasm = ctr(NS_CHAOS, "c", "info", cid).out.count("runwasm-test/wasm") > 0
            cmd = (["/probe.wasm", "cat", "/etc/greeting.txt"] if wasm else ["/bin/echo", "exec-ok"])
            r = ctr(NS_CHAOS, "t", "exec", "--exec-id", "final", cid, *cmd, timeout=60)
            steps = [("exec", r.rc == 0 and ("hello from the rootfs" if wasm else "exec-ok") in r.out, r)]
            r = ctr(NS_CHAOS, "t", "kill", "-s", "SIGKILL", cid, timeout=60)
            steps.append(("kill", r.rc == 0, r))
            steps.append(("stopped after kill", wait_task(NS_CHAOS, cid, "STOPPED"), r))
            r = ctr(NS_CHAOS, "t", "rm", cid, timeout=60)
            steps.append(("task rm", r.rc == 0, r))
            r = ctr(NS_CHAOS, "c", "rm", cid, timeout=60)
            steps.append(("container rm", r.rc == 0, r))
            bad = [f"{what}: {res.brief()}" for what, ok, res in steps if not ok]
            if bad:
                outcome["running but not controllable"] += 1
                problems.append(f"{cid} (RUNNING): {bad}")
            else:
                outcome["running, exec+kill+delete ok"] += 1
        else:
            r = ctr(NS_CHAOS, "t", "rm", "-f", cid, timeout=60) if status != "no task" else None
            r2 = ctr(NS_CHAOS, "c", "rm", cid, timeout=60)
            if (r is None or r.rc == 0) and r2.rc == 0:
                outcome[f"{status.lower()}, deleted"] += 1
            else:
                outcome[f"{status.lower()}, not deletable"] += 1
                problems.append(f"{cid} ({status}): {(r or r2).brief()} {r2.brief()}")
    # tasks without a container record
    left_tasks = sorted(task_states(NS_CHAOS)[1])
    time.sleep(2)
    before_cleanup = sorted(footprint(NS_CHAOS, ids=sorted(c.ids)) - baseline)
    # what ctr (the client) leaves when containerd or a shim dies under it, which no runtime
    # can remove: the leases of calls cut off (holding their snapshots) and the stdio fifo dirs
    # of tasks whose shim died (ctr attaches to a task's fifos, and removes them, only while
    # the task's state is known)
    leases = ctr(NS_CHAOS, "leases", "ls", "-q").out.split()
    for lease in leases:
        ctr(NS_CHAOS, "leases", "rm", "--sync", lease)
    fifo_dirs = listdir(fifo_dir(NS_CHAOS))
    for d in fifo_dirs:
        shutil.rmtree(f"{fifo_dir(NS_CHAOS)}/{d}", ignore_errors=True)
    time.sleep(1)
    leftovers = sorted(footprint(NS_CHAOS, ids=sorted(c.ids)) - baseline)
    # what containerd loses when it dies in the middle of a task's create or delete: the shim
    # it started (or was deleting) runs on, with its bundle and whatever it holds, and the
    # restarted containerd no longer knows the task (so no ctr call can reach it; the same
    # happens with containerd's runc shim and runc: CHAOS_MIX=runc). Such a task is one whose
    # shim daemon is still running after every container was deleted and that had a call cut
    # off by containerd's death; all of it is removed here, as an operator would, and counted.
    def item_id(item):
        m = re.search(r"\b(c\d+-\d+)\b", item)
        return m.group(1) if m else None
    live_shims = {cid: pid for pid, (_, cid) in shims(NS_CHAOS, daemons=True).items()}
    orphans = sorted(cid for cid in live_shims if cid in c.outage_ids)
    orphaned = [i for i in leftovers if item_id(i) in orphans]
    for cid in orphans:
        try:
            os.kill(live_shims[cid], signal.SIGKILL)
        except ProcessLookupError:
            pass
        for root in (f"{SHIM_ROOT}/{NS_CHAOS}", f"{RUNC_ROOT}/{NS_CHAOS}"):
            sh([RUNWASM, "--root", root, "delete", "--force", cid])
        bundle_dir = f"{CTRD}/state/io.containerd.runtime.v2.task/{NS_CHAOS}/{cid}"
        umount_under(bundle_dir)
        shutil.rmtree(bundle_dir, ignore_errors=True)
        shutil.rmtree(f"{CTRD}/root/io.containerd.runtime.v2.task/{NS_CHAOS}/{cid}", ignore_errors=True)
        try:
            os.remove(socket_of(NS_CHAOS, cid))
        except OSError:
            pass
    if orphans:
        time.sleep(1)
        leftovers = sorted(footprint(NS_CHAOS, ids=sorted(c.ids)) - baseline)
    # the socket of a shim that was SIGKILLed (or that containerd started as it died) stays in
    # /run/containerd/s: containerd 1.6 does not remove it and neither shim's `delete` does
    # (containerd's runc shim leaves the same); removed here and counted
    dead_sockets = [i for i in leftovers if i.startswith("socket ")
                    and item_id(i) in (c.killed_shim_ids | c.outage_ids)]
    for item in dead_sockets:
        try:
            os.remove(item.split()[1])
        except OSError:
            pass
    if dead_sockets:
        leftovers = sorted(footprint(NS_CHAOS, ids=sorted(c.ids)) - baseline)
    # containerd deletes a bundle by renaming it to .ID and then removing that; killed in
    # between, it leaves the .ID dir, and a restarted containerd skips dot dirs for good
    # (containerd's own, whatever the runtime); removed here and counted when the task's
    # delete was cut off by containerd's death
    bundles = f"{CTRD}/state/io.containerd.runtime.v2.task/{NS_CHAOS}"
    renamed = [i for i in leftovers if i.startswith(f"bundle {bundles}/.")
               and item_id(i) in c.outage_ids]
    for item in renamed:
        umount_under(item.split()[1])
        shutil.rmtree(item.split()[1], ignore_errors=True)
    if renamed:
        leftovers = sorted(footprint(NS_CHAOS, ids=sorted(c.ids)) - baseline)

    def attributed(items):
        out = []
        for item in items:
            m = re.search(r"\b(c\d+-\d+)\b", item)
            runtime = c.runtime_of.get(m.group(1)) if m else None
            out.append(f"{item} [{runtime}]" if runtime else item)
        return out
    client = {"ctr leases": len(leases), "ctr fifo dirs": len(fifo_dirs),
              "snapshots freed with the leases": len([i for i in before_cleanup if i.startswith("snapshot")])
              - len([i for i in leftovers if i.startswith("snapshot")])}
    ops, kills = dict(c.ops), dict(c.kills)
    part.data.update({
        "seconds_run": round(time.time() - c.start), "containers": c.n, "clients": c.workers,
        "seed": seed, "ops": ops, "kills": kills, "containerd_restart_s": (
            round(statistics.median(c.restart_seconds), 2) if c.restart_seconds else None),
        "ids": len(c.ids), "final": dict(outcome), "problems": problems, "hung": c.hung,
        "mix": CHAOS_MIX, "client_leftovers": client,
        "orphaned_by_containerd": {"tasks": len(orphans), "items": attributed(orphaned)},
        "dead_shim_sockets": attributed(dead_sockets),
        "renamed_bundles": attributed(renamed),
        "before_client_cleanup": attributed(before_cleanup),
        "leaks": attributed(leftovers), "tasks_left": left_tasks, "log": f"{DIR}/chaos.log"})
    log(f"chaos: final {dict(outcome)}; problems {len(problems)}; leftovers {len(leftovers)}")
    for kind in ("shim", "create", "exec", "containerd"):
        part.check(kills.get(kind, 0) > 0, f"SIGKILLs of a {kind}: {kills.get(kind, 0)}", kills)
    part.check(sum(outcome.values()) > 0, f"containers left to check after chaos: {sum(outcome.values())}")
    part.check(ops.get("create ok", 0) > 0 and ops.get("exec ok", 0) > 0 and ops.get("stop ok", 0) > 0,
               "the clients created, exec'd into and stopped containers during chaos", ops)
    part.check(not problems, f"containers neither controllable nor deletable: {len(problems)}", problems[:10])
    part.check(not c.hung, f"client calls that hung (no answer in 120 s): {len(c.hung)}", c.hung[:10])
    part.check(not left_tasks, f"tasks left after every container was deleted: {left_tasks}")
    part.check(not leftovers, f"leftovers after chaos and cleanup: {len(leftovers)}", leftovers[:30])
    return part.result()


# --- resource faults ------------------------------------------------------------------------------

def bundle(rootfs, path, args, cid, **resources):
    r = sh([sys.executable, f"{ROOT}/test/e2e/mk-bundle.py", rootfs, path, json.dumps(args),
            "--cgroups-path", f"/{NS}/{cid}"])
    if r.rc != 0:
        raise SystemExit(f"mk-bundle.py: {r.brief()}")
    spec = json.load(open(f"{path}/config.json"))
    spec["linux"]["resources"].update(resources)
    json.dump(spec, open(f"{path}/config.json", "w"))
    return spec


def cli(*args, env=None, timeout=60):
    return sh([RUNWASM, "--root", CLI_ROOT, *args], timeout=timeout, env={**os.environ, **(env or {})})


def cli_clean(part, cid, what):
    """Nothing of the CLI container `cid` is left."""
    left = [f"state {CLI_ROOT}/{cid}"] if os.path.exists(f"{CLI_ROOT}/{cid}") else []
    left += [i for i in footprint(NS, with_ctr=False) if f"/{cid}" in i or f" {cid}" in i]
    part.check(not left, f"{what}: nothing of {cid} left", left)


NEXT = iter(range(1, 1000))


def next_runs(part, what, ns=NS):
    n = next(NEXT)
    r = ctr_run(ns, SHIM_RUNTIME, "--rm", WASM, f"next-{n}")
    part.check(r.rc == 0 and "hello from wasm" in r.out, f"{what}: the next container runs (shim)", r.brief())
    r = ctr_run(ns, RUNC_RUNTIME, "--rm", WASM, f"next-runc-{n}")
    part.check(r.rc == 0 and "hello from wasm" in r.out, f"{what}: the next container runs (runc shim)", r.brief())


def fault_cache_full(part):
    what = "cache on a full tmpfs"
    fs = f"{DIR}/cachefs"
    os.makedirs(fs, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", fs], check=True)
    try:
        with open(f"{fs}/fill", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        st = os.statvfs(fs)
        part.check(st.f_bavail == 0, f"{what}: the tmpfs is full", st)
        cache = f"{fs}/cache"
        env = {"RUNWASM_CACHE_DIR": cache}
        # the CLI: a warning that names the cause, the container runs uncached
        b = f"{DIR}/faults/cache-bundle"
        bundle(f"{FIXTURES}/wasm-rootfs", b, ["/probe.wasm", "hello"], "f-cache")
        r = cli("--log-level", "warn", "run", "-b", b, "f-cache", env=env)
        part.data["cache_full_cli"] = r.err.strip().splitlines()[:1]
        part.check(r.rc == 0 and "hello from wasm" in r.out, f"{what}: runwasm run still runs", r.brief())
        part.check("No space left on device" in r.err and "running uncached" in r.err,
                   f"{what}: runwasm warns that the module runs uncached, naming ENOSPC", r.err[-500:])
        cli_clean(part, "f-cache", what)
        # the shim and runwasm under the runc shim, with containerd's environment
        containerd_kill()
        containerd_start(env)
        for name, runtime in (("shim", SHIM_RUNTIME), ("runc shim", RUNC_RUNTIME)):
            r = ctr_run(NS, runtime, "--rm", WASM, f"f-cache-{name.replace(' ', '-')}")
            part.check(r.rc == 0 and "hello from wasm" in r.out,
                       f"{what}: ctr run --rm through the {name} still runs", r.brief())
        files = [os.path.join(d, f) for d, _, fs_ in os.walk(cache) for f in fs_]
        part.check(not files, f"{what}: no partial artifact or temporary file in the cache", files)
    finally:
        containerd_kill()
        umount_under(fs)
        containerd_start()
    left = sorted(footprint(NS))
    part.check(not left, f"{what}: nothing left in the namespace", left[:20])
    next_runs(part, what)


def fault_state_ro(part):
    what = "read-only state root"
    ro = f"{DIR}/faults/ro-root"
    shim_root = f"{SHIM_ROOT}/{NS_RO}"
    runc_root = f"{RUNC_ROOT}/{NS_RO}"
    for d in (ro, shim_root, runc_root):
        os.makedirs(d, exist_ok=True)
        subprocess.run(["mount", "--bind", d, d], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", d, d], check=True)
    errors = {}
    try:
        b = f"{DIR}/faults/ro-bundle"
        bundle(f"{FIXTURES}/wasm-rootfs", b, ["/probe.wasm", "hello"], "f-ro")
        r = sh([RUNWASM, "--root", ro, "run", "-b", b, "f-ro"])
        errors["cli"] = r.err.strip().splitlines()[-1:] if r.err.strip() else []
        part.check(r.rc != 0 and "Read-only file system" in r.err,
                   f"{what}: runwasm run fails naming EROFS", r.brief())
        cli_clean(part, "f-ro", what)
        for name, runtime in (("shim", SHIM_RUNTIME), ("runc shim", RUNC_RUNTIME)):
            cid = f"f-ro-{name.replace(' ', '-')}"
            r = ctr_run(NS_RO, runtime, "--rm", WASM, cid)
            errors[name] = r.err.strip().splitlines()[-1:]
            part.check(r.rc != 0 and "Read-only file system" in r.err,
                       f"{what}: ctr run through the {name} fails naming EROFS", r.brief())
            ctr(NS_RO, "c", "rm", cid)
    finally:
        for d in (ro, shim_root, runc_root):
            umount_under(d)
    part.data["state_ro_errors"] = errors
    left = sorted(footprint(NS_RO))
    part.check(not left, f"{what}: nothing left in the namespace", left[:20])
    next_runs(part, what, NS_RO)


FORKER = ('sh -c "while :; do sleep 300 & done" 2>/dev/null; '
          'sleep 300 & exec sleep 300')


def pids_full(cid, limit, timeout=20):
    path = f"/sys/fs/cgroup/pids/{NS}/{cid}"
    if not os.path.isdir(path):
        path = f"/sys/fs/cgroup/{NS}/{cid}"           # cgroup v2
    deadline = time.time() + timeout
    current = None
    while time.time() < deadline:
        current = (read(f"{path}/pids.current") or "").strip()
        if current == str(limit):
            return True, current
        time.sleep(0.2)
    return False, current


def fault_pids(part):
    what = "pids cgroup at its limit"
    limit = 12
    # the CLI: runwasm run -d, then runwasm exec
    b = f"{DIR}/faults/pids-bundle"
    bundle(f"{FIXTURES}/busybox-rootfs", b, ["/bin/sh", "-c", FORKER], "f-pids", pids={"limit": limit})
    r = cli("run", "-d", "-b", b, "f-pids")
    part.check(r.rc == 0, f"{what}: runwasm run -d of a container that forks to its limit", r.brief())
    full, current = pids_full("f-pids", limit)
    part.check(full, f"{what}: its pids cgroup reaches the limit {limit}", current)
    files_before = listdir(f"{CLI_ROOT}/f-pids")
    r = cli("exec", "f-pids", "/bin/echo", "exec-ok")
    part.data["pids_cli_error"] = r.err.strip().splitlines()[-1:]
    part.check(r.rc != 0 and "exec-ok" not in r.out, f"{what}: runwasm exec fails", r.brief())
    part.check("pids" in r.err or "Resource temporarily unavailable" in r.err,
               f"{what}: runwasm exec's error names the cause (the pids limit, EAGAIN)", r.err[-600:])
    st = cli("state", "f-pids")
    part.check('"running"' in st.out, f"{what}: the container still runs after the failed exec", st.brief())
    part.check(listdir(f"{CLI_ROOT}/f-pids") == files_before,
               f"{what}: a failed exec leaves no file in the container's state dir",
               sorted(set(listdir(f"{CLI_ROOT}/f-pids")) - set(files_before)))
    r = cli("kill", "--all", "f-pids", "KILL")
    part.check(r.rc == 0, f"{what}: runwasm kill --all", r.brief())
    time.sleep(0.5)
    r = cli("delete", "--force", "f-pids")
    part.check(r.rc == 0, f"{what}: runwasm delete", r.brief())
    cli_clean(part, "f-pids", what)
    # the shim: the same spec as ctr run --config (rootfs given as an absolute path)
    sb = f"{DIR}/faults/pids-shim"
    spec = bundle(f"{FIXTURES}/busybox-rootfs", sb, ["/bin/sh", "-c", FORKER], "f-pids-shim",
                  pids={"limit": limit})
    spec["root"]["path"] = f"{sb}/rootfs"
    json.dump(spec, open(f"{sb}/config.json", "w"))
    r = ctr_run(NS, SHIM_RUNTIME, "-d", "--config", f"{sb}/config.json", "f-pids-shim")
    part.check(r.rc == 0, f"{what}: ctr run -d --config (shim) of a container that forks to its limit", r.brief())
    full, current = pids_full("f-pids-shim", limit)
    part.check(full, f"{what}: (shim) its pids cgroup reaches the limit {limit}", current)
    files_before = listdir(f"{SHIM_ROOT}/{NS}/f-pids-shim")
    r = ctr(NS, "t", "exec", "--exec-id", "x1", "f-pids-shim", "/bin/echo", "exec-ok")
    part.data["pids_shim_error"] = r.err.strip().splitlines()[-1:]
    part.check(r.rc != 0 and "exec-ok" not in r.out, f"{what}: ctr task exec (shim) fails", r.brief())
    part.check("pids" in r.err or "Resource temporarily unavailable" in r.err,
               f"{what}: ctr task exec's error names the cause (the pids limit, EAGAIN)", r.err[-600:])
    part.check(task_states(NS)[1].get("f-pids-shim") == "RUNNING",
               f"{what}: (shim) the task still runs after the failed exec")
    part.check(listdir(f"{SHIM_ROOT}/{NS}/f-pids-shim") == files_before,
               f"{what}: (shim) a failed exec leaves no file in the container's state dir",
               sorted(set(listdir(f"{SHIM_ROOT}/{NS}/f-pids-shim")) - set(files_before)))
    r = ctr(NS, "t", "rm", "-f", "f-pids-shim")
    r2 = ctr(NS, "c", "rm", "f-pids-shim")
    part.check(r.rc == 0 and r2.rc == 0, f"{what}: (shim) task and container deleted", r.brief() + r2.brief())
    left = sorted(footprint(NS, ids=["f-pids-shim"]))
    part.check(not left, f"{what}: nothing left in the namespace", left[:20])
    next_runs(part, what)


def fault_memory(part):
    what = "memory limit exhausted while instantiating"
    limit = 32 << 20
    # the shim: exit 137 and TaskOOM
    events = subprocess.Popen([CTR, "-a", SOCK, "-n", NS, "events"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    time.sleep(0.5)
    r = ctr_run(NS, SHIM_RUNTIME, "--rm", "--memory-limit", str(limit), MEMHOG, "f-mem")
    part.data["memory_shim"] = f"exit {r.rc}"
    part.check(r.rc == 137, f"{what}: ctr run --rm (shim) exits 137 (OOM kill)", r.brief())
    time.sleep(1)
    events.terminate()
    out = events.communicate(timeout=10)[0]
    oom = [l for l in out.splitlines() if "/tasks/oom" in l]
    part.check(oom, f"{what}: containerd gets a TaskOOM event", out[-500:])
    r = ctr_run(NS, RUNC_RUNTIME, "--rm", "--memory-limit", str(limit), MEMHOG, "f-mem-runc")
    part.check(r.rc == 137, f"{what}: ctr run --rm (runc shim) exits 137 (OOM kill)", r.brief())
    # the CLI
    b = f"{DIR}/faults/mem-bundle"
    bundle(f"{FIXTURES}/memhog-rootfs", b, ["/memhog.wasm"], "f-mem-cli", memory={"limit": limit})
    r = cli("run", "-b", b, "f-mem-cli")
    part.check(r.rc == 137, f"{what}: runwasm run exits 137 (OOM kill)", r.brief())
    cli_clean(part, "f-mem-cli", what)
    # without a limit the same module runs (the fixture is not broken)
    r = ctr_run(NS, SHIM_RUNTIME, "--rm", MEMHOG, "f-mem-nolimit")
    part.check(r.rc == 0, f"{what}: the module runs without a memory limit", r.brief())
    left = sorted(footprint(NS, ids=["f-mem", "f-mem-nolimit"]))
    part.check(not left, f"{what}: nothing left in the namespace", left[:20])
    next_runs(part, what)


def runwasm_exec_in_flight(root, timeout=10):
    """The first `runwasm ... exec` process under state root `root` (not a container process
    that still has its command line): (pid, pidfd), or None."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for pid in pids():
            args = cmdline(pid)
            if ("exec" in args and flag(args, "--root") == root
                    and args.index("exec") > args.index("--root")
                    and not (read(f"/proc/{pid}/comm") or "").startswith("youki:")):
                try:
                    return pid, os.pidfd_open(pid)
                except OSError:
                    continue
        time.sleep(0.001)
    return None


def fault_killed_exec(part, tries=10):
    """The deterministic form of a chaos finding: `runwasm exec` SIGKILLed as soon as the shim
    started it. The client's `ctr task exec` must come back (with an error), and the half-made
    exec process must not stay in the container."""
    what = "runwasm exec SIGKILLed in flight"
    r = ctr_run(NS, SHIM_RUNTIME, "-d", WASM, "f-exec-kill", "/probe.wasm", "sleep", "360000")
    if not part.check(r.rc == 0, f"{what}: a container to exec into", r.brief()):
        return
    init = None
    for line in ctr(NS, "t", "ls").out.splitlines()[1:]:
        if line.split()[0] == "f-exec-kill":
            init = int(line.split()[1])
    killed = hung = 0
    strays = []
    for i in range(tries):
        p = subprocess.Popen([CTR, "-a", SOCK, "-n", NS, "t", "exec", "--exec-id", f"k{i}",
                              "f-exec-kill", "/probe.wasm", "cat", "/etc/greeting.txt"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        hit = runwasm_exec_in_flight(f"{SHIM_ROOT}/{NS}")
        if hit:
            try:
                signal.pidfd_send_signal(hit[1], signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
            os.close(hit[1])
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            hung += 1
            p.kill()
            p.wait()
        time.sleep(0.3)
        # every process in the container but its init is a stray of a killed exec
        cg = f"/sys/fs/cgroup/pids/{NS}/f-exec-kill/cgroup.procs"
        if not os.path.exists(cg):
            cg = f"/sys/fs/cgroup/{NS}/f-exec-kill/cgroup.procs"
        left = [int(x) for x in (read(cg) or "").split() if int(x) != init]
        strays += [x for x in left if x not in strays]
    part.data["killed_exec"] = {"tries": tries, "killed": killed, "hung": hung, "strays": len(strays)}
    part.check(killed > 0, f"{what}: runwasm exec caught and killed {killed} of {tries} times")
    part.check(hung == 0, f"{what}: ctr task exec came back every time (hung {hung} of {killed})")
    part.check(not strays, f"{what}: no half-made exec process left in the container "
               f"({len(strays)} left)", strays[:10])
    r = ctr(NS, "t", "exec", "--exec-id", "after", "f-exec-kill", "/probe.wasm", "cat", "/etc/greeting.txt")
    part.check(r.rc == 0 and "hello from the rootfs" in r.out, f"{what}: the next exec works", r.brief())
    r = ctr(NS, "t", "rm", "-f", "f-exec-kill")
    r2 = ctr(NS, "c", "rm", "f-exec-kill")
    part.check(r.rc == 0 and r2.rc == 0, f"{what}: the container is deleted", r.brief() + r2.brief())
    for d in listdir(fifo_dir(NS)):    # ctr's fifos of the execs it gave up on
        shutil.rmtree(f"{fifo_dir(NS)}/{d}", ignore_errors=True)
    left = sorted(footprint(NS, ids=["f-exec-kill"]))
    part.check(not left, f"{what}: nothing left in the namespace", left[:20])


def faults(sizes):
    part = Part("faults")
    for name, fn in (("cache_full", fault_cache_full), ("state_ro", fault_state_ro),
                     ("pids", fault_pids), ("memory", fault_memory),
                     ("killed_exec", fault_killed_exec)):
        log(f"faults: {name}")
        n = len(part.checks)
        try:
            fn(part)
        except Exception as e:       # a broken case is a failed case; the others still run
            part.check(False, f"{name}: raised {type(e).__name__}", e)
        part.data.setdefault("cases", {})[name] = {
            "ok": all(c["ok"] for c in part.checks[n:]), "checks": len(part.checks) - n}
    return part.result()


# --- report --------------------------------------------------------------------------------------

def machine():
    mem = int(open("/proc/meminfo").readline().split()[1]) // 1024 // 1024
    cg = "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else (
        "v1 hybrid" if os.path.isdir("/sys/fs/cgroup/unified") else "v1")
    version = ctr("default", "version").out
    server = version.split("Server:")[-1].split("Version:")[-1].split()[0] if "Server:" in version else "?"
    head = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).out.strip()
    return {"cores": os.cpu_count(), "memory_gib": mem, "kernel": platform.release(),
            "cgroups": cg, "containerd": f"{ENGINE} ({server})",
            "git_head": os.environ.get("STRESS_BUILT_FROM", head),
            "load_average": os.getloadavg()}


def plot(results, png):
    """The soak samples as a PNG, drawn by Debian's python3-matplotlib (/usr/bin/python3)."""
    code = r'''
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
r = json.load(open(sys.argv[1]))["parts"]["soak"]
phases = [(k, r[k]) for k in ("ctr", "cri") if k in r]
fig, axes = plt.subplots(2, len(phases), figsize=(6 * len(phases), 6.5), squeeze=False)
for col, (name, p) in enumerate(phases):
    s = p["samples"]
    x = [v["runs"] for v in s]
    unit = "ctr run --rm" if name == "ctr" else "CRI pod cycles"
    ax = axes[0][col]
    ax.plot(x, [v["containerd_pss_kb"] / 1024 for v in s], "o-", label="containerd")
    ax.plot(x, [v["shim_pss_kb"] / 1024 for v in s], "s-", label="long-lived shim")
    ax.set_title(f"Pss (MiB) over {unit}"); ax.set_ylim(bottom=0); ax.legend(); ax.grid(alpha=.3)
    ax = axes[1][col]
    ax.plot(x, [v["containerd_fds"] for v in s], "o-", label="containerd fds")
    ax.plot(x, [v["shim_fds"] for v in s], "s-", label="long-lived shim fds")
    ax.plot(x, [v["state_files"] for v in s], "^-", label="runtime state files")
    ax.set_title(f"open fds, state files over {unit}"); ax.set_ylim(bottom=0); ax.legend(); ax.grid(alpha=.3)
    ax.set_xlabel(unit)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=90)
'''
    with tempfile.NamedTemporaryFile("w", suffix=".json") as tmp:
        json.dump(results, tmp)
        tmp.flush()
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        r = sh([python, "-c", code, tmp.name, png])
    if r.rc != 0:
        raise SystemExit(f"plot failed (python3-matplotlib, scripts/install-deps.sh): {r.err[-500:]}")


def leftover_table(items):
    """Leftovers counted by kind (and the runtime a chaos container ran on), with the
    containers they belong to (first few) and one example each."""
    groups = collections.OrderedDict()
    for item in sorted(items):
        runtime = item.rsplit("[", 1)[1].rstrip("]") if item.endswith("]") else ""
        key = (item.split()[0], runtime)
        m = (re.search(r"\(([^)]+)\)", item)     # a socket names its container in brackets
             or re.search(r"\b(c\d+-\d+|soak-\d+|shim-\d+|runc-shim-\d+|[0-9a-f]{64})\b", item))
        g = groups.setdefault(key, {"n": 0, "ids": [], "example": item})
        g["n"] += 1
        if m and m.group(1) not in g["ids"]:
            g["ids"].append(m.group(1))
    rows = ["| kind | runtime | items | containers | example |", "|---|---|---|---|---|"]
    for (kind, runtime), g in groups.items():
        ids = ", ".join(i[:12] for i in g["ids"][:8]) + (" ..." if len(g["ids"]) > 8 else "")
        rows.append(f"| {kind} | {runtime or '-'} | {g['n']} | {len(g['ids'])}: {ids} | "
                    f"`{g['example'][:150]}` |")
    return rows


def fmt_mib(kb):
    return f"{kb / 1024:.1f}" if kb is not None else "-"


def report(results, md_path, png_path):
    m = results["machine"]
    parts = results["parts"]
    L = ["# Reliability", "",
         f"Measured {results['date']} by `{results['command']}` (`make stress`; parts alone: "
         "`scripts/stress.py soak|load|chaos|faults`, CI's short sizes: `--short`, "
         "test/e2e/stress.sh). Every figure below is from that run.",
         f"Machine: {m['cores']} cores, {m['memory_gib']} GiB, kernel {m['kernel']}, Debian 12, "
         f"cgroup {m['cgroups']}; {m['containerd']}; runwasm at {m['git_head']} "
         f"(binaries runwasm {results['binaries']['runwasm']}, shim "
         f"{results['binaries']['containerd-shim-runwasm-v1']}, sha256 prefixes); load average "
         f"at the start {m['load_average'][0]:.2f} (other work shared the cores).",
         f"Sizes: {', '.join(f'{k}={v}' for k, v in results['sizes'].items())}.", "",
         "| part | runs | failures | leaks | checks failed | minutes |", "|---|---|---|---|---|---|"]

    def row(name, runs, failures, leaks, checks, minutes):
        bad = sum(not c["ok"] for c in checks)
        L.append(f"| {name} | {runs} | {failures} | {leaks} | {bad} of {len(checks)} | {minutes:.1f} |")

    def checks_of(part, *words):
        return [c for c in part["checks"] if any(w in c["what"] for w in words)]
    if "soak" in parts:
        s = parts["soak"]
        if "ctr" in s:
            p = s["ctr"]
            row("soak: `ctr run --rm` (shim)", p["runs"], p["failures"] + p["exec_failures"],
                len(p["leaks"]), checks_of(s, "ctr", "long-lived container"), p["samples"][-1]["seconds"] / 60)
        if "cri" in s:
            p = s["cri"]
            row("soak: CRI pods (Wasm + busybox sidecar)", p["cycles"], p["failures"] + p["exec_failures"],
                len(p["leaks"]), checks_of(s, "CRI", "pod"), p["samples"][-1]["seconds"] / 60)
    if "load" in parts:
        p = parts["load"]
        for n in ("shim", "runc-shim"):
            if n in p:
                row(f"load: concurrent `ctr run --rm` ({n})", p[n]["runs"], p[n]["failures"],
                    len(p[n]["leaks"]), checks_of(p, f"the {n}"), p[n]["seconds"] / 60)
    if "chaos" in parts:
        p = parts["chaos"]
        row("chaos (client calls)", sum(p["ops"].values()), len(p["problems"]) + len(p["hung"]),
            len(p["leaks"]), p["checks"], p["seconds"] / 60)
    if "faults" in parts:
        p = parts["faults"]
        row("resource faults (cases)", len(p.get("cases", {})),
            sum(not c["ok"] for c in p.get("cases", {}).values()), "-", p["checks"], p["seconds"] / 60)
    L += ["", "Failures count a run or call that did not give the expected exit status and output; "
          "leaks count what is left after the part (processes, cgroups of every v1 controller and "
          "the unified hierarchy, mounts, runtime state dirs, task bundles, fifos, shims and shim "
          "sockets, containerd records, active snapshots; for CRI also the plugin's dirs and IP "
          "leases). A chaos \"run\" is one client call."]
    if "soak" in parts:
        s = parts["soak"]
        L += ["", "## Soak", "",
              "Sequential `ctr run --rm` of the Wasm hello through `io.containerd.runwasm.v1`, beside a "
              "long-lived Wasm container of the same namespace (its own shim) that gets a `ctr task exec` "
              f"every {results['sizes']['EXEC_EVERY']} runs; then CRI pods through test/cri's "
              "`cri-e2e pod-up`/`pod-down` (runtime handler `runwasm`, pod network by CNI, a Wasm "
              "container and a busybox sidecar, StopContainer with a 10 s grace), beside a long-lived "
              "pod of the same kind that gets one exec per cycle (its Wasm container and its sidecar in "
              "turn). \"state files\" counts the entries of the long-lived containers' runtime state dirs.",
              "", f"Growth rule: {GROWTH_RULE}.", "", f"![soak samples]({os.path.basename(png_path)})", ""]
        for name in ("ctr", "cri"):
            if name not in s:
                continue
            p = s[name]
            unit = "runs" if name == "ctr" else "pods"
            L += [f"### {'`ctr run --rm`' if name == 'ctr' else 'CRI pods'}: samples", "",
                  f"| {unit} | s | containerd Pss MiB | containerd fds | shim Pss MiB | shim fds | state files | leftovers |",
                  "|---|---|---|---|---|---|---|---|"]
            for v in p["samples"]:
                L.append(f"| {v['runs']} | {v['seconds']:.0f} | {fmt_mib(v['containerd_pss_kb'])} | "
                         f"{v['containerd_fds']} | {fmt_mib(v['shim_pss_kb'])} | {v['shim_fds']} | "
                         f"{v['state_files']} | {v['leftovers']} |")
            L += ["", "| series | base | end | growth | limit | verdict |", "|---|---|---|---|---|---|"]
            for series, g in p["growth"].items():
                if "base" not in g:
                    L.append(f"| {series} | | | | | fail: {g.get('reason')} |")
                    continue
                conv = (lambda v: f"{v / 1024:.2f} MiB") if series.endswith("_kb") else (lambda v: f"{v:g}")
                L.append(f"| {series} | {conv(g['base'])} | {conv(g['end'])} | {conv(g['growth'])} | "
                         f"{conv(g['limit'])} | {'ok' if g['ok'] else '**grew**'} |")
            L += ["", f"Runs {p.get('runs', p.get('cycles'))}, failures {p['failures']}, execs {p['execs']}, "
                  f"exec failures {p['exec_failures']}, leaks {len(p['leaks'])}."]
            if p["errors"]:
                L += ["", "First errors:", ""] + [f"- `{e[:300]}`" for e in p["errors"][:5]]
            if p["leaks"]:
                L += ["", "Left:", ""] + leftover_table(p["leaks"])
            L.append("")
    if "load" in parts:
        p = parts["load"]
        L += ["## Load", "", "All at once, each a `ctr run --rm` of the Wasm hello; the output of each "
              "is checked.", "", "| through | concurrent | failures | seconds | leaks |", "|---|---|---|---|---|"]
        for n in ("shim", "runc-shim"):
            if n in p:
                L.append(f"| {n} | {p[n]['runs']} | {p[n]['failures']} | {p[n]['seconds']} | {len(p[n]['leaks'])} |")
        for n in ("shim", "runc-shim"):
            for e in p.get(n, {}).get("errors", [])[:5]:
                L.append(f"- {n}: `{e[:300]}`")
        L.append("")
    if "chaos" in parts:
        p = parts["chaos"]
        L += ["## Chaos", "",
              f"{p['containers']} container slots, {p['clients']} clients, {p['seconds_run']} s, seed "
              f"{p['seed']}. Each client picks one of its slots at random: an empty slot gets `ctr run -d` "
              "(three in four through the shim, the rest through the runc shim with `--runc-binary "
              "runwasm`; three in four Wasm, the rest busybox), a running one a `ctr task exec` (60 %) "
              "or `ctr task rm -f` + `ctr c rm`. A failed call's container is deleted when it can be. "
              "Every 0.5-2.5 s one SIGKILL, kinds in shuffled rounds of ten (3 shim daemons, 3 `runwasm "
              "create`, 3 `runwasm exec`, 1 containerd, restarted at once by scripts/containerd.sh); a "
              "create or exec is caught in flight by polling /proc (not the container process that "
              "still has its command line) and killed at once or up to 30 ms later.", "",
              "| SIGKILL | count |", "|---|---|"]
        for k, v in sorted(p["kills"].items()):
            L.append(f"| {k} | {v} |")
        L += ["", f"containerd came back in {p['containerd_restart_s']} s (median, kill to socket answering).",
              "", "| client call | count |", "|---|---|"]
        for k, v in sorted(p["ops"].items()):
            L.append(f"| {k} | {v} |")
        L += ["", "Calls fail while their shim, their `runwasm` or containerd is killed: that is the fault "
              "injected, not a finding. What is checked afterwards, for each container left:", "",
              "| outcome | containers |", "|---|---|"]
        for k, v in sorted(p["final"].items()):
            L.append(f"| {k} | {v} |")
        cl = p["client_leftovers"]
        orph = p["orphaned_by_containerd"]
        L += ["", "Cleanup after the check, and what it had to remove besides the containers:", "",
              f"- left by ctr, the client, when containerd or a shim died under its call (no runtime "
              f"can remove these): {cl['ctr leases']} leases (holding {cl['snapshots freed with the leases']} "
              f"snapshots), {cl['ctr fifo dirs']} stdio fifo dirs of tasks whose shim died;",
              f"- tasks containerd lost when it was killed in the middle of their create or delete "
              f"(their shim still running, unknown to the restarted containerd): {orph['tasks']}, "
              f"with {len(orph['items'])} items (shim, bundle, socket, container) removed by the harness;",
              f"- sockets in /run/containerd/s of shims that were SIGKILLed (or that containerd started "
              f"as it died): {len(p['dead_shim_sockets'])} (containerd 1.6 removes none, and neither "
              f"shim's `delete` does: containerd's runc shim leaves the same), removed by the harness;",
              f"- bundles containerd had renamed to `.ID` to delete them when it was killed (a "
              f"restarted containerd skips them): {len(p.get('renamed_bundles', []))}, removed by the harness;",
              "", f"Neither controllable nor deletable: {len(p['problems'])}."]
        for e in p["problems"][:10]:
            L.append(f"- `{e[:300]}`")
        L += ["", f"Client calls that hung (no answer in 120 s): {len(p['hung'])}.", ""]
        for e in p["hung"][:5]:
            L.append(f"- `{e[:300]}`")
        if len(p["hung"]) > 5:
            L.append(f"- ... {len(p['hung']) - 5} more")
        L += ["", f"Left after cleanup (with the runtime each container ran on): {len(p['leaks'])} items.",
              ""] + leftover_table(p["leaks"])
        L.append("")
    if "faults" in parts:
        p = parts["faults"]
        L += ["## Resource faults", "", "| check | result |", "|---|---|"]
        for c in p["checks"]:
            L.append(f"| {c['what']} | {'ok' if c['ok'] else 'FAILED: ' + c['detail'][:200].replace('|', '/')} |")
        L += ["", "Errors as the caller sees them:", ""]
        for key in ("cache_full_cli", "state_ro_errors", "pids_cli_error", "pids_shim_error", "memory_shim",
                    "killed_exec"):
            if key in p:
                L.append(f"- {key}: `{json.dumps(p[key])[:400]}`")
        L.append("")
    failed = [(name, c) for name, part in parts.items() for c in part["checks"] if not c["ok"]]
    L += ["## Failed checks", ""]
    L += [f"- {name}: {c['what']}: `{c['detail'][:300]}`" for name, c in failed] or ["None."]
    with open(md_path, "w") as f:
        f.write("\n".join(L) + "\n")
    plot(results, png_path)


# --- main ----------------------------------------------------------------------------------------

def main():
    if sys.argv[1:2] == ["plot"]:                 # scripts/stress.py plot RESULTS.json PNG
        plot(json.load(open(sys.argv[2])), sys.argv[3])
        return 0
    if sys.argv[1:2] == ["report"]:               # scripts/stress.py report RESULTS.json [MD]
        md = sys.argv[3] if len(sys.argv) > 3 else f"{ROOT}/docs/reliability.md"
        report(json.load(open(sys.argv[2])), md,
               os.path.join(os.path.dirname(md), "reliability-soak.png"))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("parts", nargs="*", default=["all"])
    ap.add_argument("--short", action="store_true", help="CI sizes")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--report", action="store_true", help="write docs/reliability.md and its PNG")
    a = ap.parse_args()
    order = ["soak", "load", "chaos", "faults"]
    chosen = order if "all" in a.parts else a.parts
    bad = [p for p in chosen if p not in order]
    if bad:
        ap.error(f"unknown part {bad}: choose from {order} or all")
    if os.geteuid() != 0:
        raise SystemExit("stress needs root (containers, cgroups, mounts)")
    sizes = dict(SIZES["short" if a.short else "long"])
    for k in sizes:
        if k in os.environ:
            sizes[k] = int(os.environ[k])
    results = {"command": "scripts/stress.py " + " ".join(sys.argv[1:]),
               "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "sizes": sizes, "parts": {}}
    t0 = time.time()
    setup()
    try:
        results["machine"] = machine()
        results["binaries"] = binaries()
        for name in [p for p in order if p in chosen]:
            results["parts"][name] = globals()[name](sizes)
            log(f"{name}: {'ok' if results['parts'][name]['ok'] else 'FAILED'} "
                f"in {results['parts'][name]['seconds']} s")
            if a.json:
                json.dump(results, open(a.json, "w"), indent=1)
    finally:
        teardown()
    results["seconds"] = round(time.time() - t0)
    results["ok"] = all(p["ok"] for p in results["parts"].values())
    if a.json:
        json.dump(results, open(a.json, "w"), indent=1)
    if a.report:
        report(results, f"{ROOT}/docs/reliability.md", f"{ROOT}/docs/reliability-soak.png")
        log("wrote docs/reliability.md and docs/reliability-soak.png")
    for name, part in results["parts"].items():
        bad = [c for c in part["checks"] if not c["ok"]]
        log(f"== {name}: {len(part['checks']) - len(bad)} checks passed, {len(bad)} failed")
        for c in bad:
            log(f"   FAILED {c['what']}: {c['detail'][:300]}")
    log(f"stress {'passed' if results['ok'] else 'FAILED'} in {results['seconds']} s")
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
