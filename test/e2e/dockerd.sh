#!/usr/bin/env bash
# runwasm under dockerd 20.10 (`runtimes` in daemon.json, `docker run --runtime runwasm`).
# This dockerd cannot load wasi/wasm images, so the Wasm image is labelled linux/amd64.
source "$(dirname "$0")/lib.sh"
E2E_DIR=${E2E_DIR:-/tmp/runwasm-e2e}/dockerd
RUNDIR=/run/runwasm-e2e/docker
D() { DOCKER_CONFIG="$E2E_DIR/inst/client" /usr/bin/docker -H "unix://$RUNDIR/docker.sock" "$@"; }
cleanup() { "$ROOT_DIR/scripts/dockerd.sh" stop "$E2E_DIR/inst" "$RUNDIR" >/dev/null 2>&1; }
trap cleanup EXIT
rm -rf "$E2E_DIR"; mkdir -p "$E2E_DIR/rw"
RUNWASM_BIN=$RUNWASM "$ROOT_DIR/scripts/dockerd.sh" start "$E2E_DIR/inst" "$RUNDIR" || exit 1
STATE_ROOT="$RUNDIR/exec/runtime-runc/moby"   # the --root dockerd 20.10 passes to every runtime
# assert_clean_id ID: nothing left of the container; an empty id (a failed inspect) fails
assert_clean_id() { if [ -n "$1" ]; then assert_clean "$1" "$STATE_ROOT"; else _fail "no container id from docker inspect"; fi; }
D load -q -i "$FIXTURES/wasm.tar" >/dev/null || exit 1
D load -q -i "$FIXTURES/busybox.tar" >/dev/null || exit 1

test_case "docker: wasm hello, args, exit code"
run D run --rm --runtime runwasm --network none runwasm-test/wasm:latest
assert_rc 0; assert_contains "$OUT" "hello from wasm"
run D run --rm --runtime runwasm --network none runwasm-test/wasm:latest args a b
assert_rc 0; assert_contains "$OUT" "args: /probe.wasm args a b"
run D run --rm --runtime runwasm --network none runwasm-test/wasm:latest exit 7
assert_rc 7 "docker run of proc_exit(7)"

test_case "docker: wasm writes a volume"
run D run --rm --runtime runwasm --network none -v "$E2E_DIR/rw:/data" runwasm-test/wasm:latest write /data/d.txt from-docker
assert_rc 0; assert_eq "$(cat "$E2E_DIR/rw/d.txt" 2>/dev/null)" "from-docker" "file written through docker"

test_case "docker: linux container with the same runtime"
run D run --name d-linux --runtime runwasm --network none runwasm-test/busybox:latest sh -c 'echo linux via docker'
assert_rc 0; assert_contains "$OUT" "linux via docker"
id=$(D inspect --format '{{.Id}}' d-linux); D rm d-linux >/dev/null
assert_clean_id "$id"

test_case "docker: detached wasm, exec, stop"
run D run -d --name d-long --runtime runwasm --network none runwasm-test/wasm:latest sleep 3600
assert_rc 0
id=$(D inspect --format '{{.Id}}' d-long)
[ -n "$id" ] && [ -d "$STATE_ROOT/$id" ] && _pass || _fail "no runwasm state at $STATE_ROOT/$id while running"
run D exec d-long /probe.wasm cat /etc/greeting.txt
assert_rc 0 "docker exec (wasm)"; assert_contains "$OUT" "hello from the rootfs"
run D stop -t 5 d-long
assert_rc 0
assert_eq "$(D inspect --format '{{.State.ExitCode}}' d-long)" "143" "exit code after docker stop"
D rm d-long >/dev/null
assert_clean_id "$id"

test_case "docker: invalid module"
run D run --name d-bad --runtime runwasm --network none --entrypoint /bad.wasm runwasm-test/wasm:latest
assert_rc_not 0; assert_contains "$ERR" "invalid Wasm module /bad.wasm"
id=$(D inspect --format '{{.Id}}' d-bad 2>/dev/null); D rm -f d-bad >/dev/null 2>&1
# the container exists (created, never started): without its id nothing could be checked
assert_clean_id "$id"

summary "dockerd + runwasm"
