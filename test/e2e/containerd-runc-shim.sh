#!/usr/bin/env bash
# runwasm under containerd 1.6's runc shim: `ctr run --runtime io.containerd.runc.v2
# --runc-binary runwasm`, the path of a containerd `BinaryName` runtime.
source "$(dirname "$0")/lib.sh"
E2E_DIR=${E2E_DIR:-/tmp/runwasm-e2e}/containerd-runc
CTRD="$E2E_DIR/containerd"
NS=runwasm-e2e
STATE_ROOT="$E2E_DIR/runwasm-root"
WASM=docker.io/runwasm-test/wasm:latest
BUSYBOX=docker.io/runwasm-test/busybox:latest
# a marker with content unique to this run, in host places a broken sandbox would reach
MARKER_TEXT="runwasm-marker-$$-$RANDOM$RANDOM"
HOST_MARKER="/tmp/runwasm-e2e-marker-$$.txt"
BUNDLES="$CTRD/state/io.containerd.runtime.v2.task/$NS"   # a task's bundle is BUNDLES/ID

ctr_() { ctr -a "$CTRD/containerd.sock" -n "$NS" "$@"; }
# ctr run with runwasm as the runc binary; state under STATE_ROOT
crun_() { ctr_ run --runtime io.containerd.runc.v2 --runc-binary "$RUNWASM" \
            --runc-root "$STATE_ROOT" --fifo-dir "$CTRD/fifo" "$@"; }

cleanup() { "$ROOT_DIR/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1; rm -f "$HOST_MARKER"; }
# dir_state DIR: names, sizes, modes, mtimes and contents of everything under DIR
dir_state() { (cd "$1" && find . -printf '%p %s %m %T@\n' | sort && find . -type f -exec sha256sum {} + | sort); }
trap cleanup EXIT

rm -rf "$E2E_DIR"; mkdir -p "$E2E_DIR"/{rw,ro}
echo "$MARKER_TEXT" > "$HOST_MARKER"
echo "read me" > "$E2E_DIR/ro/file.txt"
"$ROOT_DIR/scripts/containerd.sh" start "$CTRD" || exit 1
ctr_ image import "$FIXTURES/wasm.tar" >/dev/null || exit 1
ctr_ image import "$FIXTURES/busybox.tar" >/dev/null || exit 1

test_case "wasm hello"
run crun_ --rm "$WASM" w-hello
assert_rc 0; assert_contains "$OUT" "hello from wasm"
assert_clean w-hello "$STATE_ROOT/$NS"

test_case "wasm args"
run crun_ --rm "$WASM" w-args /probe.wasm args one "two words"
assert_rc 0; assert_contains "$OUT" "args: /probe.wasm args one two words"
assert_clean w-args "$STATE_ROOT/$NS"

test_case "wasm env"
run crun_ --rm --env GREETING=bonjour "$WASM" w-env /probe.wasm env GREETING PATH
assert_rc 0; assert_contains "$OUT" "GREETING=bonjour"
assert_contains "$OUT" "PATH=/usr/local/sbin"

test_case "wasm exit code 7"
run crun_ --rm "$WASM" w-exit /probe.wasm exit 7
assert_rc 7 "ctr run of proc_exit(7)"
assert_clean w-exit "$STATE_ROOT/$NS"

test_case "wasm reads a rootfs file"
run crun_ --rm "$WASM" w-cat /probe.wasm cat /etc/greeting.txt
assert_rc 0; assert_contains "$OUT" "hello from the rootfs"

test_case "wasm writes to a rw bind mount"
run crun_ --rm --mount "type=bind,src=$E2E_DIR/rw,dst=/data,options=rbind:rw" \
    "$WASM" w-rw /probe.wasm write /data/out.txt written-by-wasm
assert_rc 0; assert_contains "$OUT" "wrote /data/out.txt"
assert_eq "$(cat "$E2E_DIR/rw/out.txt" 2>/dev/null)" "written-by-wasm" "host copy of /data/out.txt"

test_case "wasm cannot write to a ro bind mount"
before=$(dir_state "$E2E_DIR/ro")
run crun_ --rm --mount "type=bind,src=$E2E_DIR/ro,dst=/config,options=rbind:ro" \
    "$WASM" w-ro /probe.wasm write /config/file.txt overwritten
assert_rc 1; assert_contains "$ERR$OUT" "cannot write /config/file.txt"
run crun_ --rm --mount "type=bind,src=$E2E_DIR/ro,dst=/config,options=rbind:ro" \
    "$WASM" w-ro-new /probe.wasm write /config/new.txt created
assert_rc 1; assert_contains "$ERR$OUT" "cannot write /config/new.txt"
assert_eq "$(cat "$E2E_DIR/ro/file.txt")" "read me" "ro file on the host"
# nothing of the host directory changed: no new file, no content, mode or mtime change
assert_eq "$(dir_state "$E2E_DIR/ro")" "$before" "host source of the ro mount"
run crun_ --rm --mount "type=bind,src=$E2E_DIR/ro,dst=/config,options=rbind:ro" \
    "$WASM" w-ro2 /probe.wasm cat /config/file.txt
assert_rc 0; assert_contains "$OUT" "read me"

test_case "wasm cannot read a host path"
# control: mounted into the container, the marker is read and printed
run crun_ --rm --mount "type=bind,src=$HOST_MARKER,dst=/marker.txt,options=rbind:ro" \
    "$WASM" w-host0 /probe.wasm cat /marker.txt
assert_rc 0 "reading the marker through a mount"; assert_contains "$OUT" "$MARKER_TEXT"
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
done
rm -f "$BUNDLES/marker.txt"
assert_clean w-host "$STATE_ROOT/$NS"

test_case "wasm p2 component"
run crun_ --rm "$WASM" w-p2 /probe-p2.wasm args from-a-component
assert_rc 0; assert_contains "$OUT" "args: /probe-p2.wasm args from-a-component"
# WASI 0.2's wasi:cli/exit carries only ok/err: any failure status of a component is 1
run crun_ --rm "$WASM" w-p2exit /probe-p2.wasm exit 5
assert_rc 1 "component exit code"
run crun_ --rm "$WASM" w-p2cat /probe-p2.wasm cat /etc/greeting.txt
assert_rc 0; assert_contains "$OUT" "hello from the rootfs"

test_case "wasm from WAT"
run crun_ --rm "$WASM" w-wat /hello.wasm
assert_rc 0; assert_contains "$OUT" "hello from wat"

test_case "wasm trap"
run crun_ --rm "$WASM" w-trap /probe.wasm trap
assert_rc 134; assert_contains "$ERR$OUT" "wasm trap"
assert_clean w-trap "$STATE_ROOT/$NS"

test_case "linux busybox side by side"
run crun_ --rm "$BUSYBOX" l-echo /bin/sh -c 'echo hello from linux; exit 3'
assert_rc 3; assert_contains "$OUT" "hello from linux"
assert_clean l-echo "$STATE_ROOT/$NS"

test_case "exec into a running wasm container, then kill it"
run crun_ -d "$WASM" w-long /probe.wasm sleep 3600
assert_rc 0 "ctr run -d"
wait_for sh -c "ctr -a '$CTRD/containerd.sock' -n $NS t ls | grep -q 'w-long.*RUNNING'"
[ -d "$STATE_ROOT/$NS/w-long" ] && _pass || _fail "no runwasm state at $STATE_ROOT/$NS/w-long while running"
run ctr_ task exec --exec-id e1 w-long /probe.wasm cat /etc/greeting.txt
assert_rc 0 "ctr task exec (wasm)"; assert_contains "$OUT" "hello from the rootfs"
run ctr_ task exec --exec-id e2 w-long /probe.wasm exit 4
assert_rc 4 "exit status of a wasm exec"
run ctr_ task ps w-long
assert_rc 0 "ctr task ps"
run ctr_ task kill w-long
assert_rc 0 "ctr task kill (SIGTERM)"
wait_for sh -c "ctr -a '$CTRD/containerd.sock' -n $NS t ls | grep -q 'w-long.*STOPPED'" \
  && _pass || _fail "w-long did not stop after SIGTERM"
ctr_ task rm w-long >/dev/null 2>&1; ctr_ c rm w-long >/dev/null 2>&1
assert_clean w-long "$STATE_ROOT/$NS"

test_case "kill a busy-looping module"
run crun_ -d "$WASM" w-loop /probe.wasm loop
assert_rc 0
wait_for sh -c "ctr -a '$CTRD/containerd.sock' -n $NS t ls | grep -q 'w-loop.*RUNNING'"
sleep 0.3
run ctr_ task kill -s SIGKILL w-loop
assert_rc 0
wait_for sh -c "ctr -a '$CTRD/containerd.sock' -n $NS t ls | grep -q 'w-loop.*STOPPED'" \
  && _pass || _fail "w-loop did not stop after SIGKILL"
ctr_ task rm w-loop >/dev/null 2>&1; ctr_ c rm w-loop >/dev/null 2>&1
assert_clean w-loop "$STATE_ROOT/$NS"

test_case "exec into a running linux container"
run crun_ -d "$BUSYBOX" l-long sleep 3600
assert_rc 0
wait_for sh -c "ctr -a '$CTRD/containerd.sock' -n $NS t ls | grep -q 'l-long.*RUNNING'"
run ctr_ task exec --exec-id e1 l-long /bin/sh -c 'echo exec in linux; exit 2'
assert_rc 2; assert_contains "$OUT" "exec in linux"
ctr_ task kill -s SIGKILL l-long >/dev/null; sleep 0.3
ctr_ task rm l-long >/dev/null 2>&1; ctr_ c rm l-long >/dev/null 2>&1
assert_clean l-long "$STATE_ROOT/$NS"

test_case "invalid module"
run crun_ --rm "$WASM" w-bad /bad.wasm
assert_rc_not 0; assert_contains "$ERR" "invalid Wasm module /bad.wasm"
ctr_ c rm w-bad >/dev/null 2>&1
assert_clean w-bad "$STATE_ROOT/$NS"

test_case "module that is not a command"
run crun_ --rm "$WASM" w-reactor /reactor.wasm
assert_rc_not 0; assert_contains "$ERR" "not a WASI command"
ctr_ c rm w-reactor >/dev/null 2>&1
assert_clean w-reactor "$STATE_ROOT/$NS"

test_case "missing entrypoint"
run crun_ --rm "$WASM" w-missing /nope.wasm
assert_rc_not 0; assert_contains "$ERR" "/nope.wasm"
ctr_ c rm w-missing >/dev/null 2>&1
assert_clean w-missing "$STATE_ROOT/$NS"

summary "containerd + runc shim + runwasm"
