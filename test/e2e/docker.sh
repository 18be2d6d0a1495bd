#!/usr/bin/env bash
# runwasm under Docker 26 or 28 on the containerd image store: dockerd on a private
# containerd (1.7 for docker-26, 2.1 for docker-28) that finds containerd-shim-runwasm-v1 on
# its PATH; `docker run --runtime io.containerd.runwasm.v1 --platform wasi/wasm`, the runtimes
# daemon.json names (by shim name, by shim path, and runwasm as a runc-compatible binary),
# and `docker compose` with the engine's own compose plugin.
# DOCKER_ENGINE=docker-26|docker-28 picks the engine; unset, the suite runs for both.
source "$(dirname "$0")/lib.sh"
# run-all.sh may name the engine as CONTAINERD_ENGINE=docker-N; containerd.sh must not see it
if [ -z "${DOCKER_ENGINE:-}" ] && [[ ${CONTAINERD_ENGINE:-} == docker-* ]]; then DOCKER_ENGINE=$CONTAINERD_ENGINE; fi
[[ ${CONTAINERD_ENGINE:-} == docker-* ]] && unset CONTAINERD_ENGINE
if [ -z "${DOCKER_ENGINE:-}" ]; then
  rc=0
  for engine in docker-26 docker-28; do
    echo "=== $0 with DOCKER_ENGINE=$engine"
    DOCKER_ENGINE=$engine "$0" || rc=1
  done
  exit $rc
fi
case $DOCKER_ENGINE in
docker-26|docker-28) ;;
*) echo "DOCKER_ENGINE=$DOCKER_ENGINE: this suite is for docker-26 and docker-28 (test/e2e/dockerd.sh is docker-20.10's)"; exit 1 ;;
esac
export DOCKER_ENGINE
E2E_DIR=${E2E_DIR:-/tmp/runwasm-e2e}/$DOCKER_ENGINE
RUNDIR=/run/runwasm-e2e/$DOCKER_ENGINE
INST="$E2E_DIR/inst"
CTRD="$INST/containerd"
SHIM=${SHIM:-$ROOT_DIR/target/release/containerd-shim-runwasm-v1}
COMPOSE_FILE="$ROOT_DIR/test/e2e/compose/compose.yaml"
COMPOSE_PROJECT=runwasm-e2e-$DOCKER_ENGINE
WASM=runwasm-test/wasm:wasi
BUSYBOX=runwasm-test/busybox:latest
SHIM_RT=(--runtime io.containerd.runwasm.v1)
WASM_RT=(--runtime io.containerd.runwasm.v1 --platform wasi/wasm)
# where each runtime keeps its containers' state: the shim's root (containerd namespace
# "moby"), the --root dockerd gives containerd's runc shim for a runtimes.path entry,
# containerd's bundles, and dockerd's fifo directories
SHIM_STATE=/run/containerd/runwasm/moby
PATH_STATE="$RUNDIR/exec/runtime-runc/moby"
STATE_ROOTS=("$SHIM_STATE" "$PATH_STATE" "$CTRD/state/io.containerd.runtime.v2.task/moby" "$RUNDIR/exec/containerd")

cleanup() { "$ROOT_DIR/scripts/dockerd.sh" stop "$INST" "$RUNDIR" >/dev/null 2>&1; }
trap cleanup EXIT
cleanup   # an aborted earlier run of this engine
rm -rf "$E2E_DIR"; mkdir -p "$E2E_DIR"/{rw,ro}
RUNWASM_BIN=$RUNWASM SHIM_BIN=$SHIM "$ROOT_DIR/scripts/dockerd.sh" start "$INST" "$RUNDIR" || exit 1
eval "$("$ROOT_DIR/scripts/dockerd.sh" env "$INST" "$RUNDIR")"   # DOCKER_HOST, DOCKER_CONFIG, DOCKER
D() { "$DOCKER" "$@"; }
ctr_() { "$CTRD/bin/ctr" -a "$CTRD/containerd.sock" -n moby "$@"; }
SUITE_START=$(date +%s)
D load -q -i "$FIXTURES/wasm-wasi.tar" >/dev/null || exit 1
D load -q -i "$FIXTURES/busybox.tar" >/dev/null || exit 1

cid() { D inspect --format '{{.Id}}' "$1" 2>/dev/null; }
# assert_gone ID: nothing left of the container: process, cgroup, mount, runtime state,
# containerd container, snapshot (ID and ID-init), shim; an empty id (a failed inspect) fails
assert_gone() {
  local id=$1
  if [ -z "$id" ]; then _fail "no container id"; return; fi
  assert_clean "$id" "${STATE_ROOTS[@]}"
  local left=""
  # dockerd mounts a snapshot at DATA/rootfs/overlayfs/ID (no "/ID/" for assert_clean to see)
  local mounts; mounts=$(awk -v id="$id" 'index($2, id) {print $2}' /proc/mounts | tr '\n' ' ')
  [ -n "$mounts" ] && left+=" mounts:$mounts"
  ctr_ containers ls -q 2>/dev/null | grep -q "^$id\$" && left+=" containerd-container"
  local snaps; snaps=$(ctr_ snapshots ls 2>/dev/null | awk -v id="$id" '$1 ~ "^" id {print $1}' | tr '\n' ' ')
  [ -n "$snaps" ] && left+=" snapshots:$snaps"
  local shims; shims=$(pgrep -f -- "containerd-shim-.* -id $id" | tr '\n' ' ')
  [ -n "$shims" ] && left+=" shim:$shims"
  if [ -z "$left" ]; then _pass; else _fail "container $id left behind:$left"; fi
}
# rm_gone NAME: docker rm NAME, then assert_gone on its id
rm_gone() { local id; id=$(cid "$1"); D rm "$1" >/dev/null; assert_gone "$id"; }
# the id a `docker run --rm --cidfile F` wrote, once docker has removed the container
rm_done() {  # rm_done CIDFILE
  local id; id=$(cat "$1" 2>/dev/null)
  wait_for bash -c "! '$DOCKER' inspect '$id'" || _fail "container $id still there after --rm"
  assert_gone "$id"
}
piped() { printf 'piped text\n' | D "$@"; }
# under_tty CMD...: CMD with a pseudo-terminal as stdin/stdout (script), its status kept
under_tty() { script -qec "$(printf '%q ' "$@")" /dev/null </dev/null; }

test_case "$DOCKER_ENGINE: wasm hello, args, env, exit code (--runtime io.containerd.runwasm.v1)"
run D run --rm --cidfile "$E2E_DIR/c1" "${WASM_RT[@]}" "$WASM"
assert_rc 0; assert_eq "$OUT" "hello from wasm" "stdout"
rm_done "$E2E_DIR/c1"
run D run --rm "${WASM_RT[@]}" --network none "$WASM" args a 'b c'
assert_rc 0; assert_eq "$OUT" "args: /probe.wasm args a b c" "args after the image replace CMD"
run D run --rm "${WASM_RT[@]}" -e FOO=bar -e EMPTY= "$WASM" env FOO EMPTY UNSET_VAR
assert_rc 0; assert_eq "$OUT" $'FOO=bar\nEMPTY=\nUNSET_VAR=<unset>' "environment from -e"
run D run --name w-exit "${WASM_RT[@]}" "$WASM" exit 7
assert_rc 7 "docker run of proc_exit(7)"
assert_eq "$(D inspect --format '{{.State.Status}} {{.State.ExitCode}}' w-exit)" "exited 7" "inspect after exit"
rm_gone w-exit

test_case "$DOCKER_ENGINE: wasm bind mounts (-v rw, and :ro stays read-only)"
echo original > "$E2E_DIR/ro/marker.txt"
run D run --rm --cidfile "$E2E_DIR/c2" "${WASM_RT[@]}" -v "$E2E_DIR/rw:/data" "$WASM" write /data/d.txt from-docker
assert_rc 0; assert_eq "$OUT" "wrote /data/d.txt"
assert_eq "$(cat "$E2E_DIR/rw/d.txt" 2>&1)" "from-docker" "host file written by the module"
rm_done "$E2E_DIR/c2"
run D run --rm "${WASM_RT[@]}" -v "$E2E_DIR/ro:/ro:ro" "$WASM" cat /ro/marker.txt
assert_rc 0; assert_eq "$OUT" "original" "read-only mount readable"
run D run --rm "${WASM_RT[@]}" -v "$E2E_DIR/ro:/ro:ro" "$WASM" write /ro/marker.txt changed
assert_rc 1 "write into a read-only bind mount"; assert_contains "$ERR" "probe: cannot write /ro/marker.txt"
run D run --rm "${WASM_RT[@]}" -v "$E2E_DIR/ro:/ro:ro" "$WASM" ro-write /ro
assert_rc 0; assert_contains "$OUT" "ro-write: 6 routes"; assert_not_contains "$OUT" "ESCAPED"
assert_eq "$(cat "$E2E_DIR/ro/marker.txt")" "original" "read-only host file unchanged"
assert_eq "$(ls "$E2E_DIR/ro")" "marker.txt" "read-only host dir unchanged"

test_case "$DOCKER_ENGINE: wasm stdin (-i) and a terminal (-t)"
run piped run --rm -i --cidfile "$E2E_DIR/c3" "${WASM_RT[@]}" "$WASM" stdin
assert_rc 0; assert_eq "$OUT" "stdin: piped text" "stdin through docker run -i"
rm_done "$E2E_DIR/c3"
# with -t both streams reach the container's terminal, which turns \n into \r\n (and the
# outer terminal of `script` once more); without -t only the outer one does
run under_tty "$DOCKER" run --rm -t "${WASM_RT[@]}" "$WASM" both
assert_rc 0 "docker run -t under script"
assert_contains "$OUT" $'to stdout\r\r' "-t stdout through the container's terminal"
assert_contains "$OUT" $'to stderr\r\r' "-t stderr through the container's terminal"
run under_tty "$DOCKER" run --rm "${WASM_RT[@]}" "$WASM" both
assert_rc 0; assert_not_contains "$OUT" $'\r\r' "output without -t (no container terminal)"
run under_tty "$DOCKER" run --rm -t "${WASM_RT[@]}" "$WASM" exit 5
assert_rc 5 "exit status through docker run -t"

test_case "$DOCKER_ENGINE: detached wasm: exec, logs, stats, stop (SIGTERM)"
run D run -d --name w-long "${WASM_RT[@]}" "$WASM" sleep 3600
assert_rc 0
id=$(cid w-long)
[ -n "$id" ] && [ -d "$SHIM_STATE/$id" ] && _pass || _fail "no runwasm state at $SHIM_STATE/$id while running"
pgrep -f -- "containerd-shim-runwasm-v1 .*-id $id" >/dev/null && _pass || _fail "no containerd-shim-runwasm-v1 for $id"
wait_for bash -c "'$DOCKER' logs w-long | grep -q sleeping" || true
run D logs w-long
assert_rc 0; assert_eq "$OUT" "sleeping 3600s" "docker logs"
run D exec w-long /probe.wasm cat /etc/greeting.txt
assert_rc 0 "docker exec (wasm)"; assert_contains "$OUT" "hello from the rootfs"
run D exec w-long /probe.wasm exit 3
assert_rc 3 "docker exec exit status"
run piped exec -i w-long /probe.wasm stdin
assert_rc 0; assert_eq "$OUT" "stdin: piped text" "docker exec -i"
run D stats --no-stream --format '{{.MemUsage}}' w-long
assert_rc 0 "docker stats"
[[ "$OUT" =~ ^[0-9.]*[1-9][0-9.]*[KMGT]?i?B\ / ]] && _pass || _fail "docker stats memory usage is not a non-zero size: '$OUT'"
start=$(date +%s)
run D stop -t 20 w-long
assert_rc 0; took=$(( $(date +%s) - start ))
# SIGTERM ends a module at once (143); a SIGKILL after the 20 s grace period would be 137
assert_eq "$(D inspect --format '{{.State.ExitCode}}' w-long)" "143" "exit code after docker stop"
[ "$took" -lt 10 ] && _pass || _fail "docker stop took ${took}s: SIGTERM did not end the module"
rm_gone w-long

test_case "$DOCKER_ENGINE: docker logs keeps stdout and stderr apart"
run D run -d --name w-both "${WASM_RT[@]}" "$WASM" both
assert_rc 0
run D wait w-both
assert_eq "$OUT" "0" "docker wait"
run D logs w-both
assert_rc 0; assert_eq "$OUT" "to stdout" "docker logs stdout"; assert_eq "$ERR" "to stderr" "docker logs stderr"
rm_gone w-both

test_case "$DOCKER_ENGINE: docker stats of a busy wasm container under --memory 64m: usage, limit, CPU"
run D run -d --name w-stats "${WASM_RT[@]}" --memory 64m "$WASM" loop
assert_rc 0
sleep 2   # docker stats --no-stream computes CPU % between two samples of a running container
run D stats --no-stream --format '{{.MemUsage}} | {{.CPUPerc}}' w-stats
assert_rc 0 "docker stats"
usage=0 limit="" cpu=0
if [[ "$OUT" =~ ^([0-9.]+)[KMGT]?i?B\ /\ ([^ ]+)\ \|\ ([0-9.]+)%$ ]]; then
  usage=${BASH_REMATCH[1]} limit=${BASH_REMATCH[2]} cpu=${BASH_REMATCH[3]}; _pass
else _fail "docker stats output: '$OUT'"; fi
[[ "$usage" =~ [1-9] ]] && _pass || _fail "docker stats memory usage is zero: '$OUT'"
assert_eq "$limit" "64MiB" "docker stats memory limit of a --memory 64m container ('$OUT')"
[[ "$cpu" =~ [1-9] ]] && _pass || _fail "docker stats CPU % of a module in a busy loop is zero: '$OUT'"
id=$(cid w-stats); D rm -f w-stats >/dev/null; assert_gone "$id"

test_case "$DOCKER_ENGINE: --memory: a module allocating past it is OOM-killed"
run D run --name w-oom "${WASM_RT[@]}" --memory 64m "$WASM" alloc 256
assert_rc 137 "module allocating 256 MiB under --memory 64m"
assert_not_contains "$OUT" "allocated"
assert_eq "$(D inspect --format '{{.State.ExitCode}} {{.State.OOMKilled}}' w-oom)" "137 true" "exit code, OOMKilled"
rm_gone w-oom
run D run --rm "${WASM_RT[@]}" --memory 64m "$WASM" alloc 16
assert_rc 0 "16 MiB under --memory 64m"; assert_eq "$OUT" "allocated 16 MiB"

test_case "$DOCKER_ENGINE: docker kill"
run D run -d --name w-kill "${WASM_RT[@]}" "$WASM" loop
assert_rc 0
run D kill w-kill
assert_rc 0
run D wait w-kill
assert_eq "$OUT" "137" "exit code after docker kill (SIGKILL)"
rm_gone w-kill

test_case "$DOCKER_ENGINE: linux container through the same runtime"
run D run --name l-run "${SHIM_RT[@]}" "$BUSYBOX" sh -c 'echo linux via the shim; cat /proc/1/cmdline | tr "\0" " "; exit 4'
assert_rc 4; assert_contains "$OUT" "linux via the shim"; assert_contains "$OUT" "sh -c echo linux"
rm_gone l-run
run D run -d --name l-long "${SHIM_RT[@]}" "$BUSYBOX" sleep 3600
assert_rc 0
run D exec l-long sh -c 'echo exec in linux; exit 6'
assert_rc 6 "docker exec (linux)"; assert_contains "$OUT" "exec in linux"
run D stats --no-stream --format '{{.MemUsage}}' l-long
assert_rc 0; [[ "$OUT" =~ ^[0-9.]*[1-9][0-9.]*[KMGT]?i?B\ / ]] && _pass || _fail "docker stats memory usage of a linux container: '$OUT'"
# sleep as pid 1 ignores SIGTERM: docker stop kills it after the grace period
run D stop -t 1 l-long
assert_rc 0; assert_eq "$(D inspect --format '{{.State.ExitCode}}' l-long)" "137" "exit code after docker stop"
rm_gone l-long
run piped run --rm -i --cidfile "$E2E_DIR/c4" "${SHIM_RT[@]}" "$BUSYBOX" cat
assert_rc 0; assert_eq "$OUT" "piped text" "docker run -i (linux)"
rm_done "$E2E_DIR/c4"
run under_tty "$DOCKER" run --rm -t "${SHIM_RT[@]}" "$BUSYBOX" sh -c tty
assert_rc 0; assert_contains "$OUT" "/dev/pts/" "docker run -t (linux)"

test_case "$DOCKER_ENGINE: user-defined network: linux containers through the shim reach each other by name"
run D network create rw-net
assert_rc 0
run D run -d --name l-srv --network rw-net "${SHIM_RT[@]}" "$BUSYBOX" sh -c 'echo served > /tmp/i; exec httpd -f -p 8080 -h /tmp'
assert_rc 0
run D run --rm --network rw-net "${SHIM_RT[@]}" "$BUSYBOX" sh -c \
  'for i in $(seq 50); do wget -qO- http://l-srv:8080/i 2>/dev/null && exit 0; sleep 0.1; done; exit 1'
assert_rc 0 "wget from l-srv"; assert_eq "$OUT" "served"
id=$(cid l-srv); D rm -f l-srv >/dev/null; assert_gone "$id"
run D network rm rw-net
assert_rc 0

test_case "$DOCKER_ENGINE: runtimes named in daemon.json"
run D run --rm --runtime runwasm-shim --platform wasi/wasm "$WASM" args by-name
assert_rc 0 "runtimeType io.containerd.runwasm.v1"; assert_eq "$OUT" "args: /probe.wasm args by-name"
run D run --rm --runtime runwasm-shim-path --platform wasi/wasm "$WASM" args by-path
assert_rc 0 "runtimeType $SHIM"; assert_eq "$OUT" "args: /probe.wasm args by-path"
run D run -d --name n-shim --runtime runwasm-shim-path --platform wasi/wasm "$WASM" sleep 3600
assert_rc 0
id=$(cid n-shim)
[ -n "$id" ] && [ -d "$SHIM_STATE/$id" ] && _pass || _fail "no runwasm state at $SHIM_STATE/$id (runtimeType by path)"
pgrep -f -- "containerd-shim-runwasm-v1 .*-id $id" >/dev/null && _pass || _fail "no containerd-shim-runwasm-v1 for $id"
D rm -f n-shim >/dev/null; assert_gone "$id"
# runwasm as a runc-compatible binary (runtimes.path) under containerd's runc shim
run D run --rm --runtime runwasm --platform wasi/wasm "$WASM" exit 9
assert_rc 9 "runtimes.path runwasm: exit status"
run D run -d --name n-path --runtime runwasm --platform wasi/wasm "$WASM" sleep 3600
assert_rc 0
id=$(cid n-path)
[ -n "$id" ] && [ -d "$PATH_STATE/$id" ] && _pass || _fail "no runwasm state at $PATH_STATE/$id (runtimes.path)"
run D exec n-path /probe.wasm cat /etc/greeting.txt
assert_rc 0 "docker exec (runtimes.path)"; assert_contains "$OUT" "hello from the rootfs"
run D stop -t 20 n-path
assert_rc 0; assert_eq "$(D inspect --format '{{.State.ExitCode}}' n-path)" "143" "exit code after docker stop (runtimes.path)"
rm_gone n-path

test_case "$DOCKER_ENGINE: invalid module"
run D run --name w-bad "${WASM_RT[@]}" --entrypoint /bad.wasm "$WASM"
assert_rc 125 "docker run of an invalid module"; assert_contains "$ERR" "invalid Wasm module /bad.wasm"
# the container exists (created, never started): without its id nothing could be checked
id=$(cid w-bad)
assert_eq "$(D inspect --format '{{.State.Status}}' w-bad 2>&1)" "created" "state of the failed container"
assert_contains "$(D inspect --format '{{.State.Error}}' w-bad 2>&1)" "invalid Wasm module /bad.wasm" "State.Error"
D rm -f w-bad >/dev/null 2>&1
assert_gone "$id"
run D run --rm --cidfile "$E2E_DIR/c5" "${WASM_RT[@]}" --entrypoint /bad.wasm "$WASM"
assert_rc 125 "docker run --rm of an invalid module"; assert_contains "$ERR" "invalid Wasm module /bad.wasm"
rm_done "$E2E_DIR/c5"

test_case "$DOCKER_ENGINE: docker compose: a wasm service and a linux service"
DC() { D compose -f "$COMPOSE_FILE" -p "$COMPOSE_PROJECT" "$@"; }
run DC version --short
assert_rc 0 "docker compose plugin of $DOCKER_ENGINE"
run DC up --no-color
assert_rc 0 "docker compose up"
assert_contains "$OUT" "args: /probe.wasm args from compose" "compose up output (wasm)"
assert_contains "$OUT" "linux from compose" "compose up output (linux)"
run DC logs --no-color wasm
assert_rc 0; assert_contains "$OUT" "args: /probe.wasm args from compose" "compose logs wasm"
run DC ps -a --format '{{.Service}} {{.State}} {{.ExitCode}}'
assert_rc 0; assert_contains "$OUT" "wasm exited 0"; assert_contains "$OUT" "linux exited 0"
ids=$(DC ps -aq --no-trunc)
[ "$(wc -w <<<"$ids")" = 2 ] && _pass || _fail "compose ps -aq: '$ids'"
run DC down
assert_rc 0 "docker compose down"
for id in $ids; do assert_gone "$id"; done
assert_eq "$(D ps -aq)" "" "no container after compose down"
assert_eq "$(D network ls -q --filter "name=${COMPOSE_PROJECT}_default")" "" "compose network removed"

test_case "$DOCKER_ENGINE: nothing left of any container this dockerd created"
assert_eq "$(D ps -aq)" "" "docker ps -a"
assert_eq "$(ctr_ containers ls -q)" "" "containerd containers"
all=$(D events --since "$SUITE_START" --until "$(date +%s)" --filter type=container --filter event=create --format '{{.Actor.ID}}' | sort -u)
[ "$(wc -w <<<"$all")" -ge 30 ] && _pass || _fail "docker events listed only $(wc -w <<<"$all") created containers"
for id in $all; do assert_gone "$id"; done

summary "docker ($DOCKER_ENGINE) + runwasm"
