#!/usr/bin/env bash
# The CRI-O path: conmon 2.1 driving runwasm as CRI-O does (sync pipe, exit file, CRI log
# file), then CRI-O's own runtime calls (exec --process, exec --detach, kill, delete --force,
# the runtime's JSON log). CRI-O itself is not installable on Debian 12.
source "$(dirname "$0")/lib.sh"
E2E_DIR=${E2E_DIR:-/tmp/runwasm-e2e}/conmon
ROOT=/run/runwasm-e2e/conmon-root
rt() { "$RUNWASM" --root="$ROOT" "$@"; }
cleanup() {
  for f in "$E2E_DIR"/work/conmon-*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  for id in $(ls "$ROOT" 2>/dev/null); do rt delete --force "$id" >/dev/null 2>&1; done
}
trap cleanup EXIT
rm -rf "$E2E_DIR" "$ROOT"; mkdir -p "$E2E_DIR/work" "$ROOT"
WASM_ROOTFS="$FIXTURES/wasm-rootfs"
CRIO_ANN=(--annotation io.kubernetes.cri-o.ContainerType=container --annotation io.kubernetes.cri-o.SandboxID=sb1)
json_get() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]); print(eval("v"+sys.argv[2]))' "$1" "$2"; }

test_case "conmon: wasm container, CRI log lines and exit file"
B="$E2E_DIR/b-wasm"
"$ROOT_DIR/test/e2e/mk-bundle.py" "$WASM_ROOTFS" "$B" '["/probe.wasm", "both"]' "${CRIO_ANN[@]}"
run "$ROOT_DIR/test/e2e/conmon.py" "$RUNWASM" "$ROOT" "$E2E_DIR/work" "$B" cm-wasm
assert_rc 0 "conmon driver"
assert_eq "$(json_get "$OUT" '["start"]')" "0" "start status"
assert_eq "$(json_get "$OUT" '["exit"]')" "0" "exit file"
assert_contains "$(json_get "$OUT" '["log"]')" "stdout F to stdout" "CRI log"
assert_contains "$(json_get "$OUT" '["log"]')" "stderr F to stderr" "CRI log"
assert_eq "$(json_get "$OUT" '["delete"]')" "0" "delete status"
assert_clean cm-wasm "$ROOT"

test_case "conmon: wasm exit code 7"
B="$E2E_DIR/b-exit"
"$ROOT_DIR/test/e2e/mk-bundle.py" "$WASM_ROOTFS" "$B" '["/probe.wasm", "exit", "7"]' "${CRIO_ANN[@]}"
run "$ROOT_DIR/test/e2e/conmon.py" "$RUNWASM" "$ROOT" "$E2E_DIR/work" "$B" cm-exit
assert_rc 0 "conmon driver"
assert_eq "$(json_get "$OUT" '["start"]')" "0" "start status"
assert_eq "$(json_get "$OUT" '["exit"]')" "7" "exit file"
assert_eq "$(json_get "$OUT" '["delete"]')" "0" "delete status"
assert_clean cm-exit "$ROOT"

test_case "conmon: linux container"
B="$E2E_DIR/b-linux"
"$ROOT_DIR/test/e2e/mk-bundle.py" "$FIXTURES/busybox-rootfs" "$B" '["/bin/sh", "-c", "echo from linux; exit 2"]' "${CRIO_ANN[@]}"
run "$ROOT_DIR/test/e2e/conmon.py" "$RUNWASM" "$ROOT" "$E2E_DIR/work" "$B" cm-linux
assert_rc 0 "conmon driver"
assert_eq "$(json_get "$OUT" '["start"]')" "0" "start status"
assert_eq "$(json_get "$OUT" '["exit"]')" "2" "exit file"
assert_eq "$(json_get "$OUT" '["delete"]')" "0" "delete status"
assert_contains "$(json_get "$OUT" '["log"]')" "stdout F from linux" "CRI log"
assert_clean cm-linux "$ROOT"

test_case "conmon: invalid module fails create with a JSON error line"
B="$E2E_DIR/b-bad"
"$ROOT_DIR/test/e2e/mk-bundle.py" "$WASM_ROOTFS" "$B" '["/bad.wasm"]' "${CRIO_ANN[@]}"
run "$ROOT_DIR/test/e2e/conmon.py" "$RUNWASM" "$ROOT" "$E2E_DIR/work" "$B" cm-bad
assert_rc 0 "conmon driver"
assert_contains "$(json_get "$OUT" '["sync"]')" "invalid Wasm module /bad.wasm" "conmon's sync message"
# create failed: there was nothing to start
assert_eq "$(json_get "$OUT" '.get("start", "none")')" "none" "start after a failed create"
assert_clean cm-bad "$ROOT"

test_case "CRI-O runtime calls on a running wasm container"
B="$E2E_DIR/b-long"
"$ROOT_DIR/test/e2e/mk-bundle.py" "$WASM_ROOTFS" "$B" '["/probe.wasm", "sleep", "3600"]' "${CRIO_ANN[@]}" \
    --cgroups-path /runwasm-e2e/cm-long
run rt create --bundle "$B" --pid-file "$E2E_DIR/long.pid" cm-long
assert_rc 0 "create"
run rt state cm-long
assert_eq "$(json_get "$OUT" '["status"]')" "created" "status after create"
long_pid=$(cat "$E2E_DIR/long.pid" 2>/dev/null)
[[ "$long_pid" =~ ^[1-9][0-9]*$ ]] && _pass || _fail "no pid in the pid file: '$long_pid'"
assert_eq "$(json_get "$OUT" '["pid"]')" "$long_pid" "state pid = pid file"
run rt start cm-long; assert_rc 0 "start"
run rt start cm-long; assert_rc_not 0 "second start"
assert_contains "$ERR" "created"
run rt state cm-long
assert_eq "$(json_get "$OUT" '["status"]')" "running" "status after start"
assert_eq "$(json_get "$OUT" '["annotations"]["io.kubernetes.cri-o.SandboxID"]')" "sb1" "annotations in state"
printf '{"args":["/probe.wasm","cat","/etc/greeting.txt"],"cwd":"/","env":["PATH=/bin"],"user":{"uid":0,"gid":0}}' > "$E2E_DIR/p1.json"
run rt exec --process "$E2E_DIR/p1.json" cm-long
assert_rc 0 "exec --process (foreground)"; assert_contains "$OUT" "hello from the rootfs"
printf '{"args":["/probe.wasm","exit","9"],"cwd":"/","env":[],"user":{"uid":0,"gid":0}}' > "$E2E_DIR/p2.json"
run rt exec --process "$E2E_DIR/p2.json" cm-long
assert_rc 9 "exec exit status"
printf '{"args":["/probe.wasm","sleep","5"],"cwd":"/","env":[],"user":{"uid":0,"gid":0}}' > "$E2E_DIR/p3.json"
run rt exec --pid-file "$E2E_DIR/exec.pid" --process "$E2E_DIR/p3.json" --detach cm-long
assert_rc 0 "exec --detach"
[ -s "$E2E_DIR/exec.pid" ] && kill -0 "$(cat "$E2E_DIR/exec.pid")" 2>/dev/null && _pass || _fail "detached exec not running"
run rt ps --format json cm-long
assert_rc 0 "ps"
assert_eq "$(json_get "$OUT" '.__len__()')" "2" "processes in the container (init + exec)"
run rt pause cm-long; assert_rc 0 "pause"
assert_eq "$(json_get "$(rt state cm-long)" '["status"]')" "paused" "status after pause"
run rt resume cm-long; assert_rc 0 "resume"
assert_eq "$(json_get "$(rt state cm-long)" '["status"]')" "running" "status after resume"
run sh -c "echo '{\"pids\":{\"limit\":42}}' | $RUNWASM --root=$ROOT update --resources - cm-long"
assert_rc 0 "update --resources -"
run sh -c "cat /sys/fs/cgroup/pids/runwasm-e2e/cm-long/pids.max /sys/fs/cgroup/runwasm-e2e/cm-long/pids.max 2>/dev/null"
assert_contains "$OUT" "42" "pids.max after update"
run rt delete cm-long
assert_rc_not 0 "delete of a running container without --force"
run rt kill -a cm-long 9; assert_rc 0 "kill -a ID 9"
wait_for sh -c "$RUNWASM --root=$ROOT state cm-long | grep -q stopped" && _pass || _fail "not stopped after kill"
run rt delete --force cm-long; assert_rc 0 "delete --force"
assert_clean cm-long "$ROOT"

test_case "runtime errors: unknown flag, malformed config.json, unknown container"
run rt create --bogus-flag x
assert_rc_not 0; assert_contains "$ERR" "--bogus-flag"
B="$E2E_DIR/b-malformed"; mkdir -p "$B/rootfs"; echo '{"ociVersion": "1.0.2", "process": ' > "$B/config.json"
run rt --log "$E2E_DIR/log.json" --log-format json create --bundle "$B" cm-malformed
assert_rc_not 0; assert_contains "$ERR" "config.json"
assert_contains "$(tail -1 "$E2E_DIR/log.json")" '"level":"error"' "json log line"
assert_contains "$(tail -1 "$E2E_DIR/log.json")" "config.json" "json log line"
assert_clean cm-malformed "$ROOT"
run rt state no-such-container
assert_rc 1; assert_contains "$ERR" 'does not exist'; assert_contains "$ERR" 'level=error'
run rt delete --force no-such-container
assert_rc 0 "delete --force of a missing container"

test_case "startup calls of CRI-O: --version and features"
run "$RUNWASM" --version
assert_rc 0; assert_contains "$OUT" "runwasm"
run "$RUNWASM" features
assert_rc 0
assert_eq "$(json_get "$OUT" '["annotations"]["run.oci.handler"]')" "supported" "features annotations"
assert_eq "$(json_get "$OUT" '["linux"]["cgroup"]["v1"]')" "True" "features cgroup v1"
assert_contains "$(json_get "$OUT" '["linux"]["capabilities"]')" "CAP_SYS_ADMIN" "features capabilities"

summary "conmon (CRI-O path) + runwasm"
