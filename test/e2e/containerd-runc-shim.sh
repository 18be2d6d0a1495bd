#!/usr/bin/env bash
# runwasm under containerd's runc shim: `ctr run --runtime io.containerd.runc.v2
# --runc-binary runwasm`, the path of a containerd `BinaryName` runtime.
# CONTAINERD_ENGINE picks the containerd (containerd-1.6, the default, containerd-1.7 or
# containerd-2.1: scripts/engines.sh); the same cases run on each, with that engine's ctr and
# runc shim.
source "$(dirname "$0")/lib.sh"
export CONTAINERD_ENGINE=${CONTAINERD_ENGINE:-containerd-1.6}
ENGINE=$CONTAINERD_ENGINE
# directory, namespace and runwasm state root of this engine's run: two engines never share one
E2E_DIR=${E2E_DIR:-/tmp/runwasm-e2e}/containerd-runc-$ENGINE
CTRD="$E2E_DIR/containerd"
CTR="$CTRD/bin/ctr"   # the engine's own ctr, linked there by containerd.sh start
NS=runwasm-e2e-$ENGINE
STATE_ROOT="$E2E_DIR/runwasm-root"
WASM=docker.io/runwasm-test/wasm:latest
BUSYBOX=docker.io/runwasm-test/busybox:latest
# a marker with content unique to this run, in host places a broken sandbox would reach
MARKER_TEXT="runwasm-marker-$$-$RANDOM$RANDOM"
HOST_MARKER="/tmp/runwasm-e2e-marker-$$.txt"
BUNDLES="$CTRD/state/io.containerd.runtime.v2.task/$NS"   # a task's bundle is BUNDLES/ID

ctr_() { "$CTR" -a "$CTRD/containerd.sock" -n "$NS" "$@"; }
# ctr run with runwasm as the runc binary; state under STATE_ROOT
crun_() { ctr_ run --runtime io.containerd.runc.v2 --runc-binary "$RUNWASM" \
            --runc-root "$STATE_ROOT" --fifo-dir "$CTRD/fifo" "$@"; }

task_is() { [ "$(ctr_ t ls 2>/dev/null | awk -v id="$1" '$1 == id {print $3}')" = "$2" ]; }  # task_is ID STATUS
# every container this suite made through containerd: none may keep a record or snapshot
CONTAINERS=()
# gone ID: nothing of container ID is left: process, cgroup, mount, runwasm state,
# containerd's container record, its rootfs snapshot (key = the container id)
gone() {
  CONTAINERS+=("$1")
  assert_clean "$1" "$STATE_ROOT/$NS"
  assert_eq "$(ctr_ c ls -q 2>&1 | grep -xF -- "$1")" "" "containerd record of $1"
  assert_eq "$(ctr_ snapshots ls 2>&1 | awk 'NR > 1 {print $1}' | grep -xF -- "$1")" "" "snapshot of $1"
}
cleanup() { "$ROOT_DIR/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1; rm -f "$HOST_MARKER"; }
# dir_state DIR: names, sizes, modes, mtimes and contents of everything under DIR
dir_state() { (cd "$1" && find . -printf '%p %s %m %T@\n' | sort && find . -type f -exec sha256sum {} + | sort); }
trap cleanup EXIT

"$ROOT_DIR/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1   # an aborted earlier run
rm -rf "$E2E_DIR"; mkdir -p "$E2E_DIR"/{rw,ro}
echo "$MARKER_TEXT" > "$HOST_MARKER"
echo "read me" > "$E2E_DIR/ro/file.txt"
"$ROOT_DIR/scripts/containerd.sh" start "$CTRD" || exit 1
[ -x "$CTR" ] || { echo "no $CTR after containerd.sh start"; exit 1; }
ctr_ image import "$FIXTURES/wasm.tar" >/dev/null || exit 1
ctr_ image import "$FIXTURES/busybox.tar" >/dev/null || exit 1

test_case "wasm hello"
run crun_ --rm "$WASM" w-hello
assert_rc 0; assert_contains "$OUT" "hello from wasm"
gone w-hello

test_case "wasm args"
run crun_ --rm "$WASM" w-args /probe.wasm args one "two words"
assert_rc 0; assert_contains "$OUT" "args: /probe.wasm args one two words"
gone w-args

test_case "wasm env"
run crun_ --rm --env GREETING=bonjour "$WASM" w-env /probe.wasm env GREETING PATH
assert_rc 0; assert_contains "$OUT" "GREETING=bonjour"
assert_contains "$OUT" "PATH=/usr/local/sbin"
gone w-env

test_case "wasm exit code 7"
run crun_ --rm "$WASM" w-exit /probe.wasm exit 7
assert_rc 7 "ctr run of proc_exit(7)"
gone w-exit

test_case "wasm reads a rootfs file"
run crun_ --rm "$WASM" w-cat /probe.wasm cat /etc/greeting.txt
assert_rc 0; assert_contains "$OUT" "hello from the rootfs"
gone w-cat

test_case "wasm writes to a rw bind mount"
run crun_ --rm --mount "type=bind,src=$E2E_DIR/rw,dst=/data,options=rbind:rw" \
    "$WASM" w-rw /probe.wasm write /data/out.txt written-by-wasm
assert_rc 0; assert_contains "$OUT" "wrote /data/out.txt"
assert_eq "$(cat "$E2E_DIR/rw/out.txt" 2>/dev/null)" "written-by-wasm" "host copy of /data/out.txt"
gone w-rw

test_case "wasm cannot write to a ro bind mount"
before=$(dir_state "$E2E_DIR/ro")
run crun_ --rm --mount "type=bind,src=$E2E_DIR/ro,dst=/config,options=rbind:ro" \
    "$WASM" w-ro /probe.wasm write /config/file.txt overwritten
assert_rc 1; assert_contains "$ERR$OUT" "cannot write /config/file.txt"
gone w-ro
run crun_ --rm --mount "type=bind,src=$E2E_DIR/ro,dst=/config,options=rbind:ro" \
    "$WASM" w-ro-new /probe.wasm write /config/new.txt created
assert_rc 1; assert_contains "$ERR$OUT" "cannot write /config/new.txt"
gone w-ro-new
assert_eq "$(cat "$E2E_DIR/ro/file.txt")" "read me" "ro file on the host"
# nothing of the host directory changed: no new file, no content, mode or mtime change
assert_eq "$(dir_state "$E2E_DIR/ro")" "$before" "host source of the ro mount"
run crun_ --rm --mount "type=bind,src=$E2E_DIR/ro,dst=/config,options=rbind:ro" \
    "$WASM" w-ro2 /probe.wasm cat /config/file.txt
assert_rc 0; assert_contains "$OUT" "read me"
gone w-ro2

test_case "wasm cannot read a host path"
# control: mounted into the container, the marker is read and printed
run crun_ --rm --mount "type=bind,src=$HOST_MARKER,dst=/marker.txt,options=rbind:ro" \
    "$WASM" w-host0 /probe.wasm cat /marker.txt
assert_rc 0 "reading the marker through a mount"; assert_contains "$OUT" "$MARKER_TEXT"
gone w-host0
# the bundle's parent holds a marker too: one `..` above the bundle that holds the rootfs
[ -d "$BUNDLES" ] && _pass || _fail "no $BUNDLES, where containerd keeps this namespace's bundles"
echo "$MARKER_TEXT" > "$BUNDLES/marker.txt"
for route in "$HOST_MARKER" "/../../../..$HOST_MARKER" "..$HOST_MARKER" "/tmp/../..$HOST_MARKER" \
    /../marker.txt /../../marker.txt ../../marker.txt /../config.json; do
  run crun_ --rm "$WASM" w-host /probe.wasm cat "$route"
  assert_rc 1 "cat $route"
  assert_not_contains "$OUT$ERR" "$MARKER_TEXT" "output of cat $route"
  # the bundle's config.json is on the host right above the rootfs
  assert_not_contains "$OUT" "ociVersion" "output of cat $route"
  gone w-host
done
rm -f "$BUNDLES/marker.txt"

test_case "wasm p2 component"
run crun_ --rm "$WASM" w-p2 /probe-p2.wasm args from-a-component
assert_rc 0; assert_contains "$OUT" "args: /probe-p2.wasm args from-a-component"
gone w-p2
# WASI 0.2's wasi:cli/exit carries only ok/err: any failure status of a component is 1
run crun_ --rm "$WASM" w-p2exit /probe-p2.wasm exit 5
assert_rc 1 "component exit code"
gone w-p2exit
run crun_ --rm "$WASM" w-p2cat /probe-p2.wasm cat /etc/greeting.txt
assert_rc 0; assert_contains "$OUT" "hello from the rootfs"
gone w-p2cat

test_case "wasm from WAT"
run crun_ --rm "$WASM" w-wat /hello.wasm
assert_rc 0; assert_contains "$OUT" "hello from wat"
gone w-wat

test_case "wasm trap"
run crun_ --rm "$WASM" w-trap /probe.wasm trap
assert_rc 134; assert_contains "$ERR$OUT" "wasm trap"
gone w-trap

test_case "linux busybox side by side"
run crun_ --rm "$BUSYBOX" l-echo /bin/sh -c 'echo hello from linux; exit 3'
assert_rc 3; assert_contains "$OUT" "hello from linux"
gone l-echo

test_case "exec into a running wasm container, then kill it"
run crun_ -d "$WASM" w-long /probe.wasm sleep 3600
assert_rc 0 "ctr run -d"
wait_for task_is w-long RUNNING && _pass || _fail "w-long not RUNNING"
[ -d "$STATE_ROOT/$NS/w-long" ] && _pass || _fail "no runwasm state at $STATE_ROOT/$NS/w-long while running"
run ctr_ task exec --exec-id e1 w-long /probe.wasm cat /etc/greeting.txt
assert_rc 0 "ctr task exec (wasm)"; assert_contains "$OUT" "hello from the rootfs"
run ctr_ task exec --exec-id e2 w-long /probe.wasm exit 4
assert_rc 4 "exit status of a wasm exec"
long_pid=$(ctr_ t ls | awk '$1 == "w-long" {print $2}')
[[ "$long_pid" =~ ^[1-9][0-9]*$ ]] && _pass || _fail "no init pid for w-long: '$long_pid'"
run ctr_ task ps w-long
assert_rc 0 "ctr task ps"
assert_eq "$(awk -v p="$long_pid" '$1 == p {print $1}' <<<"$OUT")" "$long_pid" "ctr task ps lists the init pid"
run ctr_ task kill w-long
assert_rc 0 "ctr task kill (SIGTERM)"
wait_for task_is w-long STOPPED && _pass || _fail "w-long did not stop after SIGTERM"
run ctr_ task rm w-long; assert_rc 0 "ctr task rm"
run ctr_ c rm w-long; assert_rc 0 "ctr c rm"
gone w-long

test_case "kill a busy-looping module"
run crun_ -d "$WASM" w-loop /probe.wasm loop
assert_rc 0
wait_for task_is w-loop RUNNING && _pass || _fail "w-loop not RUNNING"
sleep 0.3
run ctr_ task kill -s SIGKILL w-loop
assert_rc 0
wait_for task_is w-loop STOPPED && _pass || _fail "w-loop did not stop after SIGKILL"
run ctr_ task rm w-loop; assert_rc 0 "ctr task rm"
run ctr_ c rm w-loop; assert_rc 0 "ctr c rm"
gone w-loop

test_case "exec into a running linux container"
run crun_ -d "$BUSYBOX" l-long sleep 3600
assert_rc 0
wait_for task_is l-long RUNNING && _pass || _fail "l-long not RUNNING"
run ctr_ task exec --exec-id e1 l-long /bin/sh -c 'echo exec in linux; exit 2'
assert_rc 2; assert_contains "$OUT" "exec in linux"
run ctr_ task kill -s SIGKILL l-long; assert_rc 0 "kill"
wait_for task_is l-long STOPPED && _pass || _fail "l-long did not stop after SIGKILL"
run ctr_ task rm l-long; assert_rc 0 "ctr task rm"
run ctr_ c rm l-long; assert_rc 0 "ctr c rm"
gone l-long

test_case "invalid module"
run crun_ --rm "$WASM" w-bad /bad.wasm
assert_rc_not 0; assert_contains "$ERR" "invalid Wasm module /bad.wasm"
ctr_ c rm w-bad >/dev/null 2>&1
gone w-bad

test_case "module that is not a command"
run crun_ --rm "$WASM" w-reactor /reactor.wasm
assert_rc_not 0; assert_contains "$ERR" "not a WASI command"
ctr_ c rm w-reactor >/dev/null 2>&1
gone w-reactor

test_case "missing entrypoint"
run crun_ --rm "$WASM" w-missing /nope.wasm
assert_rc_not 0; assert_contains "$ERR" "/nope.wasm"
ctr_ c rm w-missing >/dev/null 2>&1
gone w-missing

test_case "no container or snapshot of a deleted container is left"
run ctr_ c ls -q
assert_rc 0 "ctr c ls"; assert_eq "$OUT" "" "containers left in $NS"
assert_no_snapshots "deleted containers" "${CONTAINERS[@]}"

summary "$ENGINE + runc shim + runwasm"
