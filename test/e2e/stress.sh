#!/usr/bin/env bash
# Stress at CI sizes: scripts/stress.py --short on a private containerd (CONTAINERD_ENGINE,
# default containerd-1.6): 500 sequential `ctr run --rm` through the shim and 50 CRI pods (a
# Wasm container and a busybox sidecar) with Pss, open fds and runtime state files of containerd
# and a long-lived shim checked for growth; 100 concurrent runs through the shim and 50 through
# runwasm under the runc shim; 2 minutes of chaos (SIGKILLed shims, `runwasm create`/`exec` in
# flight, containerd restarted at once) after which every container must be controllable or
# deletable and nothing may be left; the resource faults (full cache filesystem, read-only
# state root, pids cgroup at its limit, a module exhausting its memory limit while it is
# instantiated, `runwasm exec` SIGKILLed as soon as the shim started it). Every check the
# script makes is asserted here, with the counts. docs/ is left alone: `make stress` runs the
# long sizes and writes docs/reliability.md.
source "$(dirname "$0")/lib.sh"
export CONTAINERD_ENGINE=${CONTAINERD_ENGINE:-containerd-1.6}
ENGINE=$CONTAINERD_ENGINE
# the script's dir (its basename names the containerd namespaces: never another run's)
export STRESS_DIR=${E2E_DIR:-/tmp/runwasm-stress}/ci-$ENGINE
JSON="$STRESS_DIR.json"
LOG="$STRESS_DIR.log"
export RUNWASM FIXTURES
# a CRI phase takes lib.sh's CRI lock itself, for its minutes only

# jget PATH: a value of the results (dotted path; a list or dict prints its length)
jget() {
  python3 - "$JSON" "$1" <<'PY'
import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2].split("."):
    value = value.get(key) if isinstance(value, dict) else None
print(len(value) if isinstance(value, (list, dict)) else value)
PY
}

mkdir -p "$(dirname "$STRESS_DIR")"
docs_before=$(stat -c %Y "$ROOT_DIR/docs/reliability.md" "$ROOT_DIR/docs/reliability-soak.png" 2>/dev/null)
rm -f "$JSON" "$LOG"

test_case "stress --short: all parts"
"$ROOT_DIR/scripts/stress.py" --short --json "$JSON" all 2>&1 | tee "$LOG" | grep -v '^time=' | sed 's/^/    /'
RC=${PIPESTATUS[0]} OUT="" ERR=$(grep -E 'FAIL|Traceback|Error' "$LOG" | tail -20)
assert_rc 0 "scripts/stress.py --short"
[ -s "$JSON" ] && _pass || { _fail "no results in $JSON"; summary "stress"; exit 1; }

test_case "stress --short: every check of the script"
# one assertion per check the script made (a failed one names its detail)
while IFS=$'\t' read -r ok what detail; do
  [ "$ok" = True ] && _pass || _fail "$what: $detail"
done < <(python3 - "$JSON" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for name, part in r["parts"].items():
    for c in part["checks"]:
        print(f"{c['ok']}\t{name}: {c['what']}\t{c['detail'][:400]}".replace("\n", " "))
PY
)
assert_eq "$(jget parts)" "4" "parts that ran"

test_case "stress --short: soak counts"
assert_eq "$(jget parts.soak.ctr.runs)" "500" "sequential ctr runs"
assert_eq "$(jget parts.soak.ctr.failures)" "0" "failed ctr runs"
assert_eq "$(jget parts.soak.ctr.exec_failures)" "0" "failed execs into the long-lived container"
assert_eq "$(jget parts.soak.ctr.leaks)" "0" "leftovers of the ctr runs"
assert_eq "$(jget parts.soak.ctr.samples)" "6" "samples of the ctr soak (start, every 100)"
assert_eq "$(jget parts.soak.cri.cycles)" "50" "CRI pod cycles"
assert_eq "$(jget parts.soak.cri.failures)" "0" "failed CRI pod cycles"
assert_eq "$(jget parts.soak.cri.exec_failures)" "0" "failed execs into the long-lived pod"
assert_eq "$(jget parts.soak.cri.leaks)" "0" "leftovers of the CRI pods"
assert_eq "$(jget parts.soak.cri.samples)" "6" "samples of the CRI soak (start, every 10)"
for phase in ctr cri; do
  for series in containerd_pss_kb containerd_fds shim_pss_kb shim_fds state_files; do
    assert_eq "$(jget parts.soak.$phase.growth.$series.ok)" "True" "$phase soak: $series within noise"
  done
done

test_case "stress --short: load counts"
assert_eq "$(jget parts.load.shim.runs)" "100" "concurrent runs through the shim"
assert_eq "$(jget parts.load.shim.failures)" "0" "failed concurrent runs through the shim"
assert_eq "$(jget parts.load.shim.leaks)" "0" "leftovers of the concurrent shim runs"
assert_eq "$(jget parts.load.runc-shim.runs)" "50" "concurrent runs through the runc shim"
assert_eq "$(jget parts.load.runc-shim.failures)" "0" "failed concurrent runs through the runc shim"
assert_eq "$(jget parts.load.runc-shim.leaks)" "0" "leftovers of the concurrent runc-shim runs"

test_case "stress --short: chaos"
[ "$(jget parts.chaos.seconds_run)" -ge 120 ] && _pass || _fail "chaos ran $(jget parts.chaos.seconds_run) s, want >= 120"
for kind in shim create exec containerd; do
  n=$(jget "parts.chaos.kills.$kind")
  [ "${n:-None}" != None ] && [ "$n" -gt 0 ] && _pass || _fail "no SIGKILL of a $kind during chaos ($n)"
done
[ "$(jget parts.chaos.ops.create\ ok)" -gt 0 ] 2>/dev/null && _pass || _fail "no container created during chaos"
assert_eq "$(jget parts.chaos.problems)" "0" "containers neither controllable nor deletable after chaos"
assert_eq "$(jget parts.chaos.hung)" "0" "client calls that hung during chaos"
assert_eq "$(jget parts.chaos.leaks)" "0" "leftovers after chaos and cleanup"
assert_eq "$(jget parts.chaos.tasks_left)" "0" "tasks left after chaos and cleanup"

test_case "stress --short: resource faults"
for fault in cache_full state_ro pids memory killed_exec; do
  assert_eq "$(jget parts.faults.cases.$fault.ok)" "True" "fault $fault"
done

test_case "stress --short: docs/ left alone"
assert_eq "$(stat -c %Y "$ROOT_DIR/docs/reliability.md" "$ROOT_DIR/docs/reliability-soak.png" 2>/dev/null)" \
  "$docs_before" "mtimes of docs/reliability.md and its plot"

summary "stress (short) on $ENGINE"
