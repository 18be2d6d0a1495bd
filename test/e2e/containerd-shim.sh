#!/usr/bin/env bash
# The shim v2: `ctr run --runtime io.containerd.runwasm.v1`, containerd finding
# containerd-shim-runwasm-v1 (and runwasm beside it) on its PATH.
# CONTAINERD_ENGINE picks the containerd (containerd-1.6, the default, containerd-1.7 or
# containerd-2.1: scripts/engines.sh); the same cases run on each, with that engine's ctr.
source "$(dirname "$0")/lib.sh"
export CONTAINERD_ENGINE=${CONTAINERD_ENGINE:-containerd-1.6}
ENGINE=$CONTAINERD_ENGINE
# directory, namespace and shim state root of this engine's run: two engines never share one
E2E_DIR=${E2E_DIR:-/tmp/runwasm-e2e}/containerd-shim-$ENGINE
CTRD="$E2E_DIR/containerd"
NS=runwasm-shim-e2e-$ENGINE
SHIM=${SHIM:-$ROOT_DIR/target/release/containerd-shim-runwasm-v1}
STATE_ROOT=/run/containerd/runwasm/$NS
WASM=docker.io/runwasm-test/wasm:latest
BUSYBOX=docker.io/runwasm-test/busybox:latest
SOCK="$CTRD/containerd.sock"
CTR="$CTRD/bin/ctr"   # the engine's own ctr, linked there by containerd.sh start

ctr_() { "$CTR" -a "$SOCK" -n "$NS" "$@"; }
srun() { ctr_ run --runtime io.containerd.runwasm.v1 --fifo-dir "$CTRD/fifo" "$@"; }
task_status() { ctr_ t ls 2>/dev/null | awk -v id="$1" '$1 == id {print $3}'; }
task_is() { [ "$(task_status "$1")" = "$2" ]; }   # task_is ID STATUS
# every container this suite made through containerd: none may keep a record or snapshot
CONTAINERS=()
# gone ID: nothing of container ID is left: process, cgroup, mount, shim state, containerd's
# container record, its rootfs snapshot (key = the container id)
gone() {
  CONTAINERS+=("$1")
  assert_clean "$1" "$STATE_ROOT"
  assert_eq "$(ctr_ c ls -q 2>&1 | grep -xF -- "$1")" "" "containerd record of $1"
  assert_eq "$(ctr_ snapshots ls 2>&1 | awk 'NR > 1 {print $1}' | grep -xF -- "$1")" "" "snapshot of $1"
}
cleanup() { "$ROOT_DIR/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1; }
trap cleanup EXIT

# containers of an aborted earlier run of this suite
"$ROOT_DIR/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1
for id in $(ls "$STATE_ROOT" 2>/dev/null); do "$RUNWASM" --root "$STATE_ROOT" delete --force "$id"; done
rm -rf "$E2E_DIR"; mkdir -p "$CTRD/bin"
ln -sf "$SHIM" "$CTRD/bin/containerd-shim-runwasm-v1"
ln -sf "$RUNWASM" "$CTRD/bin/runwasm"
"$ROOT_DIR/scripts/containerd.sh" start "$CTRD" || exit 1
[ -x "$CTR" ] || { echo "no $CTR after containerd.sh start"; exit 1; }
ctr_ image import "$FIXTURES/wasm.tar" >/dev/null || exit 1
ctr_ image import "$FIXTURES/busybox.tar" >/dev/null || exit 1

test_case "shim: -v and -info"
run "$SHIM" -v
assert_rc 0; assert_contains "$OUT" "Runtime: io.containerd.runwasm.v1"
run sh -c "'$SHIM' -info | tr -c '[:print:]' ' '"
assert_rc 0; assert_contains "$OUT" "runtime-spec/1/features/Features"; assert_contains "$OUT" "run.oci.handler"

# shim-client-e2e plays containerd 2.3 itself (namespace runwasm-bootstrap): no containerd
# takes part but for the ttrpc socket the shim publishes its events to, this engine's. These
# cases are the same on every engine; their ids carry the engine name, so that two engines'
# runs do not meet in that namespace.
BOOT_ROOT=/run/containerd/runwasm/runwasm-bootstrap
B=${ENGINE#containerd-}
test_case "shim: containerd 2.3 bootstrap (BootstrapParams on stdin, a task over the address returned)"
SHIM_CLIENT=${SHIM_CLIENT:-$ROOT_DIR/target/release/shim-client-e2e}
for args in hello:'["/probe.wasm","hello"]' exit7:'["/probe.wasm","exit","7"]' edges:'["/probe.wasm","sleep","30"]'; do
  python3 "$ROOT_DIR/test/e2e/mk-bundle.py" "$FIXTURES/wasm-rootfs" "$E2E_DIR/boot-${args%%:*}" "${args#*:}" >/dev/null
done
run "$SHIM_CLIENT" run "$SHIM" "$E2E_DIR/boot-hello" "$SOCK" "s-boot-hello-$B"
assert_rc 0 "bootstrap start, create, start, wait, delete"
assert_contains "$OUT" "BootstrapResult version=2 protocol=ttrpc address=unix://"
assert_contains "$OUT" "exit_status 0"; assert_contains "$OUT" "hello from wasm"
assert_clean "s-boot-hello-$B" "$BOOT_ROOT"
run "$SHIM_CLIENT" run "$SHIM" "$E2E_DIR/boot-exit7" "$SOCK" "s-boot-exit7-$B"
assert_rc 0; assert_contains "$OUT" "exit_status 7"
assert_clean "s-boot-exit7-$B" "$BOOT_ROOT"

test_case "shim: OCI hooks run (poststart, poststop) for a container the shim starts and deletes"
python3 "$ROOT_DIR/test/e2e/mk-bundle.py" "$FIXTURES/wasm-rootfs" "$E2E_DIR/boot-hooks" '["/probe.wasm","hello"]' >/dev/null
python3 - "$E2E_DIR/boot-hooks" <<'PY'
import json, sys
bundle = sys.argv[1]
spec = json.load(open(f"{bundle}/config.json"))
hook = lambda name: {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {bundle}/{name}.state"]}
spec["hooks"] = {"poststart": [hook("poststart")], "poststop": [hook("poststop")]}
json.dump(spec, open(f"{bundle}/config.json", "w"))
PY
run "$SHIM_CLIENT" run "$SHIM" "$E2E_DIR/boot-hooks" "$SOCK" "s-boot-hooks-$B"
assert_rc 0 "a run with hooks"; assert_contains "$OUT" "exit_status 0"
# each hook gets the container state on stdin, as the runtime spec says
assert_contains "$(cat "$E2E_DIR/boot-hooks/poststart.state" 2>&1)" "\"id\":\"s-boot-hooks-$B\"" "poststart hook input"
assert_contains "$(cat "$E2E_DIR/boot-hooks/poststop.state" 2>&1)" "\"id\":\"s-boot-hooks-$B\"" "poststop hook input"
assert_clean "s-boot-hooks-$B" "$BOOT_ROOT"

test_case "shim: task API edge cases (duplicate create, running exec delete, failed exec start, kill after exit)"
run "$SHIM_CLIENT" edges "$SHIM" "$E2E_DIR/boot-edges" "$SOCK" "s-boot-edges-$B"
assert_rc 0 "edge cases"
for check in "a second Create of the id is ALREADY_EXISTS" "a second Start is FAILED_PRECONDITION" \
    "a second Exec of a pending exec id is ALREADY_EXISTS" "the pending exec ran its own command (exit 3)" \
    "a second Exec of a running exec id is ALREADY_EXISTS" \
    "Delete of a running exec is FAILED_PRECONDITION" "killed exec exits 137" \
    "Kill of an exited exec is NOT_FOUND" "Wait on an exec that failed to start returns 255" \
    "killed init exits 137" "Kill of an exited task is NOT_FOUND" "a second Delete is NOT_FOUND"; do
  assert_contains "$OUT" "ok: $check"
done
assert_clean "s-boot-edges-$B" "$BOOT_ROOT"
# the shim's pid, as it reported it over Connect: that process ends on Shutdown
shim_pid=$(sed -n 's/^shim-pid: //p' <<<"$OUT")
[[ "$shim_pid" =~ ^[1-9][0-9]*$ ]] && _pass || _fail "no 'shim-pid: N' line from shim-client-e2e: '$shim_pid'"
wait_for sh -c "! kill -0 '$shim_pid' || grep -q '^State:.*Z' /proc/$shim_pid/status" \
  && _pass || _fail "shim $shim_pid still running after Shutdown"
assert_eq "$(pgrep -f "containerd-shim-runwasm-v1 -namespace runwasm-bootstrap .*-address $SOCK( |\$)")" "" "shims left after Shutdown"

test_case "shim: wasm hello, args, env, exit code"
run srun --rm "$WASM" s-hello
assert_rc 0; assert_contains "$OUT" "hello from wasm"
gone s-hello
run srun --rm --env GREETING=salut "$WASM" s-args /probe.wasm args one two
assert_rc 0; assert_contains "$OUT" "args: /probe.wasm args one two"
gone s-args
run srun --rm --env GREETING=salut "$WASM" s-env /probe.wasm env GREETING
assert_rc 0; assert_contains "$OUT" "GREETING=salut"
gone s-env
run srun --rm "$WASM" s-exit /probe.wasm exit 7
assert_rc 7 "exit status through the shim"
gone s-exit

test_case "shim: stdin with ctr run -i"
run sh -c "echo piped-input | '$CTR' -a '$SOCK' -n $NS run --rm --runtime io.containerd.runwasm.v1 --fifo-dir '$CTRD/fifo' $WASM s-stdin /probe.wasm stdin"
assert_rc 0; assert_contains "$OUT" "stdin: piped-input"
gone s-stdin

test_case "shim: terminal (ctr run -t, under script for a tty)"
run script -qec "'$CTR' -a '$SOCK' -n $NS run -t --rm --runtime io.containerd.runwasm.v1 --fifo-dir '$CTRD/fifo' $WASM s-tty /probe.wasm exit 3" /dev/null
assert_rc 3 "exit status on a tty"
gone s-tty
run script -qec "'$CTR' -a '$SOCK' -n $NS run -t --rm --runtime io.containerd.runwasm.v1 --fifo-dir '$CTRD/fifo' $WASM s-tty2" /dev/null
assert_rc 0; assert_contains "$OUT" "hello from wasm"
gone s-tty2

test_case "shim: rootfs file, stderr, component"
run srun --rm "$WASM" s-cat /probe.wasm cat /etc/greeting.txt
assert_rc 0; assert_contains "$OUT" "hello from the rootfs"
gone s-cat
run srun --rm "$WASM" s-both /probe.wasm both
assert_rc 0; assert_contains "$OUT" "to stdout"; assert_contains "$ERR" "to stderr"
assert_not_contains "$OUT" "to stderr" "stdout"
gone s-both
run srun --rm "$WASM" s-p2 /probe-p2.wasm args p2
assert_rc 0; assert_contains "$OUT" "args: /probe-p2.wasm args p2"
gone s-p2

test_case "shim: linux busybox"
run srun --rm "$BUSYBOX" s-linux /bin/sh -c 'echo linux via shim; exit 3'
assert_rc 3; assert_contains "$OUT" "linux via shim"
gone s-linux

test_case "shim: exec, ps, metrics, pause/resume, SIGKILL of a looping module"
run srun -d "$WASM" s-loop /probe.wasm loop
assert_rc 0
wait_for task_is s-loop RUNNING && _pass || _fail "s-loop not RUNNING"
run ctr_ task exec --exec-id e1 s-loop /probe.wasm cat /etc/greeting.txt
assert_rc 0 "ctr task exec (wasm)"; assert_contains "$OUT" "hello from the rootfs"
run ctr_ task exec --exec-id e2 s-loop /probe.wasm exit 5
assert_rc 5 "wasm exec exit status"
# every check below needs the init pid: an empty one would match anything or list no fds
loop_pid=$(ctr_ t ls | awk '$1=="s-loop"{print $2}')
[[ "$loop_pid" =~ ^[1-9][0-9]*$ ]] && [ -d "/proc/$loop_pid/fd" ] && _pass || _fail "no live init pid for s-loop: '$loop_pid'"
run ctr_ task ps s-loop
assert_rc 0 "ctr task ps"
assert_eq "$(awk -v p="$loop_pid" '$1 == p {print $1}' <<<"$OUT")" "$loop_pid" "ctr task ps lists the init pid"
# no runtime threads beside the module: WASI is driven from a current-thread runtime
assert_eq "$(awk '/^Threads:/{print $2}' "/proc/$loop_pid/status")" "1" "threads of a running wasm container process"
# the runtime's close-on-exec fds are closed as execve would: no host file such as runwasm's log
fds=$(ls -l "/proc/$loop_pid/fd" 2>&1)
assert_contains "$fds" " 1 -> " "fds of the wasm container process (its stdout)"
assert_not_contains "$fds" "log.json" "fds of the wasm container process"
run ctr_ task metrics s-loop
assert_rc 0 "ctr task metrics"; assert_contains "$OUT" "memory" "metrics"
run ctr_ task pause s-loop; assert_rc 0 "pause"
assert_eq "$(task_status s-loop)" "PAUSED" "status after pause"
run ctr_ task resume s-loop; assert_rc 0 "resume"
assert_eq "$(task_status s-loop)" "RUNNING" "status after resume"
start=$(date +%s%N)
run ctr_ task kill -s SIGKILL s-loop; assert_rc 0 "kill"
stopped=""
for _ in $(seq 1 50); do [ "$(task_status s-loop)" = STOPPED ] && { stopped=$(( ($(date +%s%N) - start) / 1000000 )); break; }; sleep 0.02; done
[ -n "$stopped" ] && [ "$stopped" -lt 1000 ] && _pass || _fail "s-loop not STOPPED within 1 s of SIGKILL (${stopped:-never} ms)"
run ctr_ task rm s-loop; assert_rc 0 "ctr task rm"
run ctr_ c rm s-loop; assert_rc 0 "ctr c rm"
gone s-loop

test_case "shim: its log, with the container layer's, reaches containerd's log as the Go shims' do"
# containerd copies the shim's log fifo into its own log: logrus text lines with the
# runtime's name, the container layer's events carrying the id of their span (s-loop above)
shim_lines=$(grep -F 'runtime=io.containerd.runwasm.v1' "$CTRD/log/containerd.log")
started=$(grep -F 'msg="container started"' <<<"$shim_lines" | grep -F ' id=s-loop ')
deleted=$(grep -F 'msg="container deleted"' <<<"$shim_lines" | grep -F ' id=s-loop ')
assert_eq "$(wc -l <<<"$started")" 1 "one 'container started' line for s-loop in containerd's log"
assert_eq "$(wc -l <<<"$deleted")" 1 "one 'container deleted' line for s-loop in containerd's log"
[[ "$started" =~ ^time=\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z\"\ level=info\ msg=\"container\ started\"\ id=s-loop\ pid=[1-9][0-9]*\ runtime=io.containerd.runwasm.v1$ ]] \
  && _pass || _fail "the started line is not a logrus line with id, pid and runtime: '$started'"
assert_not_contains "$shim_lines" "level=error" "no error from the shim in containerd's log"
# a bridged `log` record's metadata is no field; libcgroups' per-delete warnings about the
# controllers a hybrid host lacks are quieted below debug
assert_not_contains "$shim_lines" "log.file=" "shim lines in containerd's log"
assert_not_contains "$shim_lines" "not supported on this system" "shim lines in containerd's log"

test_case "shim: OOM kill reports exit 137 and a TaskOOM event"
ctr_ events > "$E2E_DIR/events.log" 2>&1 & events_pid=$!
sleep 0.3
run srun --rm --memory-limit 33554432 "$WASM" s-oom /probe.wasm alloc 256
assert_rc 137 "exit status of an OOM-killed module"
sleep 0.5; kill $events_pid 2>/dev/null; wait $events_pid 2>/dev/null
assert_contains "$(grep s-oom "$E2E_DIR/events.log")" "/tasks/oom" "containerd events"
gone s-oom

test_case "shim: events in order; kill of an exited task is NOT_FOUND"
ctr_ events > "$E2E_DIR/events-order.log" 2>&1 & events_pid=$!
sleep 0.3
run srun -d "$WASM" s-quick /probe.wasm exit 3
assert_rc 0
wait_for task_is s-quick STOPPED && _pass || _fail "s-quick not STOPPED"
run ctr_ task kill -s SIGKILL s-quick
assert_rc 1 "kill of an exited task"
# the shim answers NOT_FOUND (shim-client-e2e checks the code itself); containerd 1.x's errdefs
# appends the class to the message, containerd 2.x's (errdefs 1.0, errgrpc.ToNative) keeps
# the class in the error but not in its text
case $ENGINE in
  containerd-1.*) assert_eq "$ERR" "ctr: process already finished: not found" "ctr's error" ;;
  *)              assert_eq "$ERR" "ctr: process already finished" "ctr's error" ;;
esac
# the class is NotFound (or FailedPrecondition) on every engine: `ctr task rm -f` sends that
# Kill again (with all) and goes on only for those two
run ctr_ task rm -f s-quick; assert_rc 0 "ctr task rm -f of an exited task"
run ctr_ c rm s-quick; assert_rc 0 "ctr c rm"
sleep 0.3; kill $events_pid 2>/dev/null; wait $events_pid 2>/dev/null
order=$(grep "s-quick" "$E2E_DIR/events-order.log" | grep -oE "/tasks/(create|start|exit|delete)" | tr '\n' ' ')
assert_eq "$order" "/tasks/create /tasks/start /tasks/exit /tasks/delete " "task events of a module that exits at once"
gone s-quick

test_case "shim: exec into a linux container"
run srun -d "$BUSYBOX" s-long sleep 3600
assert_rc 0
wait_for task_is s-long RUNNING && _pass || _fail "s-long not RUNNING"
run ctr_ task exec --exec-id e1 s-long /bin/sh -c 'echo exec in linux; exit 2'
assert_rc 2; assert_contains "$OUT" "exec in linux"
run ctr_ task kill -s SIGKILL s-long; assert_rc 0 "kill"
wait_for task_is s-long STOPPED && _pass || _fail "s-long not STOPPED after SIGKILL"
run ctr_ task rm s-long; assert_rc 0 "ctr task rm"
run ctr_ c rm s-long; assert_rc 0 "ctr c rm"
gone s-long

test_case "shim: bad input names the problem and leaves nothing"
run srun --rm "$WASM" s-bad /bad.wasm
assert_rc_not 0; assert_contains "$ERR" "invalid Wasm module /bad.wasm"
ctr_ c rm s-bad >/dev/null 2>&1
gone s-bad
run srun --rm "$WASM" s-missing /nope.wasm
assert_rc_not 0; assert_contains "$ERR" "/nope.wasm"
ctr_ c rm s-missing >/dev/null 2>&1
gone s-missing

test_case "shim: kill -9 of the shim while a task runs"
run srun -d "$WASM" s-victim /probe.wasm sleep 3600
assert_rc 0
wait_for task_is s-victim RUNNING && _pass || _fail "s-victim not RUNNING"
shim_pid=$(pgrep -f "containerd-shim-runwasm-v1 .*-id s-victim .*-address $SOCK( |\$)" | head -1)
[ -n "$shim_pid" ] && _pass || _fail "no shim process for s-victim"
kill -9 "$shim_pid" 2>/dev/null
# containerd still answers, and no longer lists the task as running
listed_not_running() {
  local out; out=$(ctr_ t ls) || return 1
  ! awk -v id="$1" '$1 == id && $3 == "RUNNING" {f = 1} END {exit !f}' <<<"$out"
}
wait_for listed_not_running s-victim && _pass || _fail "task still RUNNING after its shim died (or ctr t ls failed)"
ctr_ task rm -f s-victim >/dev/null 2>&1
run ctr_ c rm s-victim; assert_rc 0 "ctr c rm after the shim died"
gone s-victim
run srun --rm "$WASM" s-after
assert_rc 0 "ctr run after a shim was killed"; assert_contains "$OUT" "hello from wasm"
gone s-after

test_case "shim: containerd restarted while a wasm task runs"
run srun -d "$WASM" s-survivor /probe.wasm sleep 3600
assert_rc 0
wait_for task_is s-survivor RUNNING && _pass || _fail "s-survivor not RUNNING"
kill "$(cat "$CTRD/containerd.pid")"; sleep 1
"$ROOT_DIR/scripts/containerd.sh" start "$CTRD" >/dev/null || _fail "containerd did not restart"
wait_for task_is s-survivor RUNNING && _pass || _fail "task not listed RUNNING after containerd restart"
ctr_ events > "$E2E_DIR/events-restart.log" 2>&1 & events_pid=$!
sleep 0.3
run ctr_ task kill -s SIGKILL s-survivor; assert_rc 0 "kill after restart"
wait_for task_is s-survivor STOPPED && _pass || _fail "task not STOPPED after kill"
# the shim reconnects to the restarted containerd: its exit event still arrives
wait_for grep -q "/tasks/exit.*s-survivor" "$E2E_DIR/events-restart.log"
kill $events_pid 2>/dev/null; wait $events_pid 2>/dev/null
assert_contains "$(grep s-survivor "$E2E_DIR/events-restart.log")" "/tasks/exit" "events after the containerd restart"
run ctr_ task rm s-survivor; assert_rc 0 "ctr task rm"
run ctr_ c rm s-survivor; assert_rc 0 "ctr c rm"
gone s-survivor

test_case "shim: no container or snapshot of a deleted container is left"
run ctr_ c ls -q
assert_rc 0 "ctr c ls"; assert_eq "$OUT" "" "containers left in $NS"
assert_no_snapshots "deleted containers" "${CONTAINERS[@]}"

summary "$ENGINE + containerd-shim-runwasm-v1"
