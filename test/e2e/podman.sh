#!/usr/bin/env bash
# runwasm under podman 4.3: `podman --runtime runwasm` (conmon runs create/exec, podman runs
# start/state/kill/delete).
source "$(dirname "$0")/lib.sh"
E2E_DIR=${E2E_DIR:-/tmp/runwasm-e2e}/podman
RUNDIR=/run/runwasm-e2e/podman
STATE_ROOT=/run/runwasm   # podman passes no --root
# assert_clean_id ID: nothing left of the container; an empty id (a failed inspect) fails
assert_clean_id() { if [ -n "$1" ]; then assert_clean "$1" "$STATE_ROOT"; else _fail "no container id from podman inspect"; fi; }
P="$E2E_DIR/inst/bin/podman"
pod() { "$P" --runtime "$RUNWASM" "$@"; }
cleanup() { "$ROOT_DIR/scripts/podman.sh" stop "$E2E_DIR/inst" "$RUNDIR" >/dev/null 2>&1; }
trap cleanup EXIT

rm -rf "$E2E_DIR"; mkdir -p "$E2E_DIR"/{rw,ro}
echo "read me" > "$E2E_DIR/ro/file.txt"
RUNWASM_BIN=$RUNWASM "$ROOT_DIR/scripts/podman.sh" config "$E2E_DIR/inst" "$RUNDIR" || exit 1
"$P" load -q -i "$FIXTURES/wasm.tar" >/dev/null || exit 1
"$P" load -q -i "$FIXTURES/busybox.tar" >/dev/null || exit 1
WASM=docker.io/runwasm-test/wasm:latest
BUSYBOX=docker.io/runwasm-test/busybox:latest

cid_of() { "$P" inspect --format '{{.Id}}' "$1" 2>/dev/null; }
# dir_state DIR: names, sizes, modes, mtimes and contents of everything under DIR
dir_state() { (cd "$1" && find . -printf '%p %s %m %T@\n' | sort && find . -type f -exec sha256sum {} + | sort); }

test_case "podman: wasm image default command"
run pod run --name p-hello "$WASM"
assert_rc 0; assert_contains "$OUT" "hello from wasm"
id=$(cid_of p-hello); "$P" rm p-hello >/dev/null
assert_clean_id "$id"

test_case "podman: wasm args, env, exit code"
run pod run --rm -e GREETING=hola "$WASM" env GREETING
assert_rc 0; assert_contains "$OUT" "GREETING=hola"
run pod run --rm "$WASM" exit 7
assert_rc 7 "podman run of proc_exit(7)"

test_case "podman: wasm stdout and stderr"
run pod run --rm "$WASM" both
assert_rc 0; assert_contains "$OUT" "to stdout"; assert_contains "$ERR" "to stderr"

test_case "podman: wasm mounts, rw and ro"
run pod run --rm -v "$E2E_DIR/rw:/data" "$WASM" write /data/p.txt from-podman
assert_rc 0; assert_eq "$(cat "$E2E_DIR/rw/p.txt" 2>/dev/null)" "from-podman" "file written through podman"
before=$(dir_state "$E2E_DIR/ro")
run pod run --rm -v "$E2E_DIR/ro:/config:ro" "$WASM" write /config/file.txt changed
assert_rc 1; assert_eq "$(cat "$E2E_DIR/ro/file.txt")" "read me" "ro file"
run pod run --rm -v "$E2E_DIR/ro:/config:ro" "$WASM" write /config/new.txt created
assert_rc 1 "creating a file in a ro mount"
# nothing of the host directory changed: no new file, no content, mode or mtime change
assert_eq "$(dir_state "$E2E_DIR/ro")" "$before" "host source of the ro mount"
run pod run --rm -v "$E2E_DIR/ro:/config:ro" "$WASM" cat /config/file.txt
assert_rc 0 "reading the ro mount"; assert_contains "$OUT" "read me"

test_case "podman: wasm runs as the spec's user"
run pod run --rm --user 1000:1000 "$WASM" write /etc/greeting.txt overwritten
assert_rc 1 "uid 1000 writing a root-owned file"; assert_contains "$ERR" "cannot write /etc/greeting.txt"
run pod run --rm "$WASM" write /etc/greeting.txt overwritten
assert_rc 0 "root writing the same file"

test_case "podman: wasm on a terminal (console socket)"
run pod run --rm -t "$WASM" hello
assert_rc 0; assert_contains "$OUT" $'hello from wasm\r' "tty output (CRLF from the pty)"

test_case "podman: linux image"
run pod run --name p-linux "$BUSYBOX" sh -c 'echo linux via podman; exit 3'
assert_rc 3; assert_contains "$OUT" "linux via podman"
id=$(cid_of p-linux); "$P" rm p-linux >/dev/null
assert_clean_id "$id"

test_case "podman: detached wasm, exec, stop"
run pod run -d --name p-long "$WASM" sleep 3600
assert_rc 0
id=$(cid_of p-long)
[ -n "$id" ] && [ -d "$STATE_ROOT/$id" ] && _pass || _fail "no runwasm state at $STATE_ROOT/$id while running"
run pod exec p-long /probe.wasm cat /etc/greeting.txt
assert_rc 0 "podman exec (wasm)"; assert_contains "$OUT" "hello from the rootfs"
run pod exec -t p-long /probe.wasm hello
assert_rc 0 "podman exec -t (wasm on a tty)"; assert_contains "$OUT" $'hello from wasm\r' "exec tty output"
run pod stop -t 5 p-long
assert_rc 0 "podman stop"
run "$P" inspect --format '{{.State.Status}} {{.State.ExitCode}}' p-long
assert_contains "$OUT" "exited 143" "state after SIGTERM"
"$P" rm p-long >/dev/null
assert_clean_id "$id"

test_case "podman: invalid module"
run pod run --name p-bad --entrypoint /bad.wasm "$WASM"
assert_rc_not 0; assert_contains "$ERR" "invalid Wasm module /bad.wasm"
id=$(cid_of p-bad); "$P" rm -f p-bad >/dev/null 2>&1
# the container exists (created, never started): without its id nothing could be checked
assert_clean_id "$id"

summary "podman + runwasm"
