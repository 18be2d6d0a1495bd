#!/usr/bin/env bash
# Isolation you can bet a node on: adversarial end-to-end tests of a container against its
# node, through the three ways a container reaches runwasm (containerd with runwasm's shim,
# containerd's runc shim with `--runc-binary runwasm`, podman with `--runtime runwasm`) and
# through the runwasm CLI itself. Every binary under attack is a COPY of the build's
# (under $E2E_DIR/containerd/bin and $E2E_DIR/cve-*), so an attack that works cannot damage
# the build.
#
# What each case proves (a case FAILS when the attack works, and when the attack could not be
# attempted at all: the probes print one line per route and a closing count):
#  1 Wasm sandbox
#    escape (shim, runc shim, podman; p1 module and p2 component; init and exec'd module):
#      no route from a module reaches procfs, sysfs, cgroupfs or mqueue: /proc/self/mem
#      (rewriting the runtime's own native code), /proc/self/maps through `/./`, `/tmp/../`,
#      `/etc/../proc/1/root`, relative and absolute symlinks in the rootfs, listings of /proc,
#      /sys, /sys/fs/cgroup, /dev/mqueue, top-level links to the root and to /dev: the probe
#      prints 25 `refused` lines, no `ESCAPED`.
#    ro mount: writing into a `ro` bind mount by its own preopen and through the writable `/`
#      (`/tmp/../ro/x`, `/./ro/x`, ...) fails, and the host directory is unchanged.
#    devices: a Wasm container asking for a block device (the host's disk), or for /dev/mem
#      in a spec given to the CLI, fails to create with an error naming the device;
#      null/zero/full/random/urandom/tty stay allowed, and a Linux container keeps the disk;
#      device nodes shipped in the rootfs (the disk, mem, kmsg) cannot be read by a module.
#    a Wasm module exec'd into a Linux container (whose /proc is real) is fenced in the same way.
#  2 Sealed binary (CVE-2019-5736 class)
#    an attacker as a Linux container's init catches the runtime entering the container
#      (`ctr task exec`/`podman exec` of a `#!/proc/self/exe` script), reopens its
#      /proc/PID/exe for writing: it catches the runtime, never overwrites it, and the
#      sha256 of the runtime binary is unchanged (runwasm's shim, runc shim and podman).
#    a Linux process exec'd into a Wasm container cannot open /proc/1/exe for writing nor
#      read /proc/1/mem of the Wasm init; nor can a podman sidecar sharing its PID namespace
#      (controls: the same attacks on a Linux container's init succeed).
#  3 Compile cache (RUNWASM_CACHE_DIR)
#    a flipped byte in a cached artifact is never loaded: the next start recompiles, the
#      output is right and the artifact is replaced by a correct one;
#    a root process in the container cannot open the artifact for writing (/proc/1/fd,
#      /proc/1/map_files, the cache path);
#    RUNWASM_CACHE_MAX keeps at most the quota on disk (least recently used evicted);
#    an artifact planted (with a matching digest) in a cache directory or entry that others
#      can write, or that is a symlink, is never run (control: in a root-only one it is);
#    a full or read-only cache filesystem: the container still runs, uncached.
#  4 Entrypoint
#    a host loop swapping /app/x.wasm between a module and symlinks to a host module that
#      prints a secret, during 300 `runwasm exec`s and 60 `runwasm run`s: it never shows;
#    RUNWASM_MODULE_MAX (and the 256 MiB default) refuse a larger module ("larger than");
#      a character device or a FIFO as the module fails with "not a regular file" in time,
#      and sniffing a FIFO entrypoint (no annotation) does not hang create;
#    a text file forced to Wasm fails create without quoting its content.
#  5 Compile limits: a large module with a 16 MiB memory limit fails with "memory" (shim,
#    podman) and leaves nothing; the same module runs without the limit.
#  6 Zombies: a double fork from a Linux process exec'd into a Wasm container leaves no
#    zombie in the container (shim, runc shim), after seeing the orphan reparented to init.
source "$(dirname "$0")/lib.sh"
E2E_DIR=${E2E_DIR:-/tmp/runwasm-e2e}/security
CTRD="$E2E_DIR/containerd"
NS=runwasm-security-e2e
SOCK="$CTRD/containerd.sock"
BIN="$CTRD/bin"                      # copies of runwasm and the shim: what containerd runs
SHIM_ROOT=/run/containerd/runwasm/$NS
RROOT="$E2E_DIR/runwasm-root"        # runc shim's --runc-root
DROOT="$E2E_DIR/direct-root"         # the CLI's --root
PODDIR="$E2E_DIR/podman"
RUNDIR=/run/runwasm-e2e/security-podman
POD_ROOT=/run/runwasm                # podman passes no --root
P="$PODDIR/bin/podman"
CACHE="$E2E_DIR/cache"               # RUNWASM_CACHE_DIR of the containerd here
PCACHE="$E2E_DIR/cache-podman"       # and of podman (conmon_env_vars)
# a memory cgroup of this suite's own (`bounded`), on a cgroup v1/hybrid or a unified host
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  MEMCG=/sys/fs/cgroup/runwasm-security-e2e MEMCG_LIMIT=memory.max
else
  MEMCG=/sys/fs/cgroup/memory/runwasm-security-e2e MEMCG_LIMIT=memory.limit_in_bytes
fi
WASM=docker.io/runwasm-test/wasm:latest
BUSYBOX=docker.io/runwasm-test/busybox:latest
ATTACKER=docker.io/runwasm-test/attacker:latest
HOSTBIN="$FIXTURES/hostbin"          # static busybox + attacker, bind-mounted at /hostbin
ESC_ROUTES=25                        # routes `probe escape` tries
RO_ROUTES=6                          # routes `probe ro-write` tries
NONCE=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')

ctr_() { ctr -a "$SOCK" -n "$NS" "$@"; }
srun() { ctr_ run --runtime io.containerd.runwasm.v1 --fifo-dir "$CTRD/fifo" "$@"; }
rrun() { ctr_ run --runtime io.containerd.runc.v2 --runc-binary "$BIN/runwasm" \
           --runc-root "$RROOT" --fifo-dir "$CTRD/fifo" "$@"; }
pod() { "$P" --runtime "$BIN/runwasm" "$@"; }
rw() { "$BIN/runwasm" --root "$DROOT" "$@"; }
task_status() { ctr_ t ls 2>/dev/null | awk -v id="$1" '$1 == id {print $3}'; }
task_pid() { ctr_ t ls 2>/dev/null | awk -v id="$1" '$1 == id {print $2}'; }
wait_running() { wait_for sh -c "ctr -a '$SOCK' -n $NS t ls | awk '\$1==\"$1\" && \$3==\"RUNNING\"' | grep -q ." \
                   && _pass || _fail "$1 not RUNNING"; }
# ctr_gone ID: kills and removes a ctr task and container
ctr_gone() {
  ctr_ task kill -s SIGKILL "$1" >/dev/null 2>&1
  for _ in $(seq 1 50); do [ "$(task_status "$1")" = RUNNING ] || break; sleep 0.1; done
  ctr_ task rm -f "$1" >/dev/null 2>&1; ctr_ c rm "$1" >/dev/null 2>&1
}
# a bundle of the Wasm rootfs for the CLI: direct_bundle NAME ARGS_JSON [mk-bundle options]
direct_bundle() { local name=$1 args=$2; shift 2; python3 "$ROOT_DIR/test/e2e/mk-bundle.py" "$FIXTURES/wasm-rootfs" "$E2E_DIR/b-$name" "$args" "$@" >/dev/null; echo "$E2E_DIR/b-$name"; }
cwasms() { find "$1" -name '*.cwasm' 2>/dev/null | sort; }
pod_id() { "$P" inspect --format '{{.Id}}' "$1" 2>/dev/null; }
# pod_gone NAME: removes a podman container, then checks nothing of it is left
pod_gone() { local id; id=$(pod_id "$1"); pod rm -f -t 0 "$1" >/dev/null 2>&1; [ -n "$id" ] && assert_clean "$id" "$POD_ROOT"; }

assert_contains_i() {  # case-insensitive assert_contains
  if grep -qiF -- "$2" <<<"$1"; then _pass; else _fail "${3:-output} lacks '$2' (any case): '${1:0:600}'"; fi
}
# assert_routes OUTPUT N WHAT: the probe's report: no ESCAPED line, exactly N refused lines
assert_routes() {
  local escaped; escaped=$(grep '^ESCAPED' <<<"$1")
  assert_eq "$(grep -c '^ESCAPED' <<<"$1")" 0 "$3: routes that ESCAPED [$(head -c 900 <<<"$escaped" | tr '\n' '|')]"
  assert_eq "$(grep -c '^refused' <<<"$1")" "$2" "$3: refused routes (of $2; output: ${1:0:300})"
}
# assert_escape WHAT: $RC/$OUT of `probe escape` (or its component twin)
assert_escape() { assert_rc 0 "$1"; assert_routes "$OUT" "$ESC_ROUTES" "$1"; assert_contains "$OUT" "escape: $ESC_ROUTES routes" "$1"; }
# assert_ro WHAT: $OUT of `probe ro-write /ro`, and the host directory as it was
assert_ro() {
  assert_routes "$OUT" "$RO_ROUTES" "$1"; assert_contains "$OUT" "ro-write: $RO_ROUTES routes" "$1"
  # every route reaches the mount (refused for being read-only, not for a wrong path)
  assert_not_contains "$OUT" "No such file" "$1: a route that missed the mount"
  assert_eq "$(cd "$RO" && ls -A | tr '\n' ' ')" "marker.txt " "$1: files in the ro host dir"
  assert_eq "$(cat "$RO/marker.txt")" "ro-$NONCE" "$1: the ro marker file on the host"
}
# assert_attacker OUTPUT MODE WHAT: an attacker mode's report: no ESCAPED line, ran to the end
assert_attacker() {
  assert_eq "$(grep -c '^ESCAPED' <<<"$1")" 0 "$3: attacks that worked [$(grep '^ESCAPED' <<<"$1" | head -c 900 | tr '\n' '|')]"
  assert_contains "$1" "$2: done" "$3: attacker output"
  [ "$(grep -c '^refused' <<<"$1")" -ge 1 ] && _pass || _fail "$3: no refused attempt at all: '${1:0:300}'"
}
# bounded CMD...: runs CMD in a 1 GiB memory cgroup of its own, killed after 20 s, so a
# runtime that reads an endless file or waits on a FIFO fails the test and not the node
bounded() {
  timeout -s KILL 20 sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$MEMCG" "$@"
}
# procs_in_cgroup_of PID: every process (zombies included) whose cgroups are PID's
procs_in_cgroup_of() {
  local want p; want=$(cat "/proc/$1/cgroup" 2>/dev/null) || return 0
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/cgroup" 2>/dev/null)" = "$want" ] && echo "${p#/proc/}"
  done
}
# pstate PID: the state letter of PID (R, S, Z...)
pstate() { sed -E 's/^[0-9]+ \(.*\) ([A-Z]) .*/\1/' "/proc/$1/stat" 2>/dev/null; }
ppid_of() { sed -E 's/^[0-9]+ \(.*\) [A-Z] ([0-9]+) .*/\1/' "/proc/$1/stat" 2>/dev/null; }

cleanup() {
  "$ROOT_DIR/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1
  "$ROOT_DIR/scripts/podman.sh" stop "$PODDIR" "$RUNDIR" >/dev/null 2>&1
  for id in $(ls "$DROOT" 2>/dev/null); do rw delete --force "$id" >/dev/null 2>&1; done
  for m in $(awk -v d="$E2E_DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null; done
  rmdir "$MEMCG" 2>/dev/null
  rm -f /tmp/secret-"$NONCE".wasm
  rm -rf "$E2E_DIR"/b-*   # bundles: copies of the Wasm rootfs and a 300 MiB sparse module
}
trap cleanup EXIT

for f in wasm.tar busybox.tar attacker.tar hostbin/busybox hostbin/attacker wasm-rootfs/probe.wasm wasm-rootfs/link-proc; do
  [ -e "$FIXTURES/$f" ] || [ -L "$FIXTURES/$f" ] || { echo "missing fixture $FIXTURES/$f: run scripts/build-fixtures.sh"; exit 1; }
done
# what an aborted earlier run left
"$ROOT_DIR/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1
for id in $(ls "$SHIM_ROOT" 2>/dev/null); do "$RUNWASM" --root "$SHIM_ROOT" delete --force "$id" >/dev/null 2>&1; done
for root in "$RROOT/$NS" "$DROOT"; do
  for id in $(ls "$root" 2>/dev/null); do "$RUNWASM" --root "$root" delete --force "$id" >/dev/null 2>&1; done
done
[ -x "$P" ] && "$ROOT_DIR/scripts/podman.sh" stop "$PODDIR" "$RUNDIR" >/dev/null 2>&1
for m in $(awk -v d="$E2E_DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m"; done
rm -rf "$E2E_DIR"; mkdir -p "$BIN" "$CACHE" "$PCACHE" "$DROOT"
chmod 700 "$CACHE" "$PCACHE"
cp "$RUNWASM" "$BIN/runwasm"; cp "$RUNWASM" "$E2E_DIR/runwasm.pristine"
cp "${SHIM:-$ROOT_DIR/target/release/containerd-shim-runwasm-v1}" "$BIN/containerd-shim-runwasm-v1"
mkdir -p "$MEMCG" && echo $((1 << 30)) > "$MEMCG/$MEMCG_LIMIT" || { echo "cannot make the memory cgroup $MEMCG"; exit 1; }

RUNWASM_CACHE_DIR="$CACHE" "$ROOT_DIR/scripts/containerd.sh" start "$CTRD" || exit 1
for image in wasm busybox attacker; do ctr_ image import "$FIXTURES/$image.tar" >/dev/null || exit 1; done
RUNWASM_BIN="$BIN/runwasm" "$ROOT_DIR/scripts/podman.sh" config "$PODDIR" "$RUNDIR" || exit 1
# conmon runs `runwasm create/exec` with this environment only
sed -i "/^\[engine\]\$/a conmon_env_vars = [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", \"RUNWASM_CACHE_DIR=$PCACHE\"]" "$PODDIR/containers.conf"
export RUNWASM_CACHE_DIR="$PCACHE"
for image in wasm busybox attacker; do "$P" load -q -i "$FIXTURES/$image.tar" >/dev/null || exit 1; done

# a read-only host directory for the `ro` mount cases
RO="$E2E_DIR/ro-host"; mkdir -p "$RO"; echo "ro-$NONCE" > "$RO/marker.txt"
# the host's disk, for the device cases
DISK=""
for b in /sys/block/*; do
  case ${b##*/} in loop*|ram*|zram*|nbd*|sr*|dm-*|md*) continue ;; esac
  [ -b "/dev/${b##*/}" ] && { DISK=/dev/${b##*/}; break; }
done

############################################################################ 1 Wasm sandbox
test_case "sandbox: escape routes of a module, through runwasm's shim (p1, p2, exec)"
run srun --rm "$WASM" sb-esc /probe.wasm escape
assert_escape "shim p1 escape"
assert_clean sb-esc "$SHIM_ROOT"
run srun --rm "$WASM" sb-esc2 /probe-p2.wasm escape
assert_escape "shim p2 escape"
assert_clean sb-esc2 "$SHIM_ROOT"
run srun -d "$WASM" sb-escx /probe.wasm sleep 3600
assert_rc 0; wait_running sb-escx
run ctr_ task exec --exec-id e1 sb-escx /probe.wasm escape
assert_escape "shim: escape from an exec'd module"
run ctr_ task exec --exec-id e2 sb-escx /probe-p2.wasm escape
assert_escape "shim: escape from an exec'd component"
ctr_gone sb-escx
assert_clean sb-escx "$SHIM_ROOT"

test_case "sandbox: escape routes through containerd's runc shim (p1, p2, exec)"
run rrun --rm "$WASM" sb-resc /probe.wasm escape
assert_escape "runc shim p1 escape"
assert_clean sb-resc "$RROOT/$NS"
run rrun --rm "$WASM" sb-resc2 /probe-p2.wasm escape
assert_escape "runc shim p2 escape"
assert_clean sb-resc2 "$RROOT/$NS"
run rrun -d "$WASM" sb-rescx /probe.wasm sleep 3600
assert_rc 0; wait_running sb-rescx
run ctr_ task exec --exec-id e1 sb-rescx /probe.wasm escape
assert_escape "runc shim: escape from an exec'd module"
ctr_gone sb-rescx
assert_clean sb-rescx "$RROOT/$NS"

test_case "sandbox: escape routes through podman (p1, p2, exec)"
run pod run --name sb-pesc "$WASM" escape
assert_escape "podman p1 escape"
# the cache podman's runwasm uses is this suite's (the compile-limit case depends on it)
[ -n "$(cwasms "$PCACHE")" ] && _pass || _fail "podman's runwasm did not use RUNWASM_CACHE_DIR=$PCACHE"
pod_gone sb-pesc
run pod run --name sb-pesc2 --entrypoint /probe-p2.wasm "$WASM" escape
assert_escape "podman p2 escape"
pod_gone sb-pesc2
run pod run -d --name sb-pescx "$WASM" sleep 3600
assert_rc 0
run pod exec sb-pescx /probe.wasm escape
assert_escape "podman: escape from an exec'd module"
pod_gone sb-pescx

test_case "sandbox: a ro bind mount stays read-only through every route"
run srun --rm --mount "type=bind,src=$RO,dst=/ro,options=rbind:ro" "$WASM" sb-ro /probe.wasm ro-write /ro
assert_ro "shim ro-write"
run srun --rm --mount "type=bind,src=$RO,dst=/ro,options=rbind:ro" "$WASM" sb-ro2 /probe-p2.wasm ro-write /ro
assert_ro "shim p2 ro-write"
run rrun --rm --mount "type=bind,src=$RO,dst=/ro,options=rbind:ro" "$WASM" sb-rro /probe.wasm ro-write /ro
assert_ro "runc shim ro-write"
run pod run --name sb-pro -v "$RO:/ro:ro" "$WASM" ro-write /ro
assert_ro "podman ro-write"
pod_gone sb-pro
assert_clean sb-ro "$SHIM_ROOT"; assert_clean sb-ro2 "$SHIM_ROOT"; assert_clean sb-rro "$RROOT/$NS"

test_case "sandbox: a Wasm container gets no device beyond null, zero, full, random, urandom, tty"
[ -n "$DISK" ] && _pass || _fail "no block device found in /sys/block to request"
run srun --rm --device "$DISK" "$WASM" sb-dev /probe.wasm ls /dev
assert_rc_not 0 "shim: a Wasm container with $DISK"; assert_contains_i "$ERR" "device" "shim: error for $DISK"
assert_not_contains "$OUT" "${DISK#/dev/}" "shim: /dev of a Wasm container given $DISK"
ctr_ c rm sb-dev >/dev/null 2>&1; assert_clean sb-dev "$SHIM_ROOT"
run rrun --rm --device "$DISK" "$WASM" sb-rdev /probe.wasm ls /dev
assert_rc_not 0 "runc shim: a Wasm container with $DISK"; assert_contains_i "$ERR" "device" "runc shim: error for $DISK"
ctr_ c rm sb-rdev >/dev/null 2>&1; assert_clean sb-rdev "$RROOT/$NS"
run pod run --name sb-pdev --device "$DISK" "$WASM" ls /dev
assert_rc_not 0 "podman: a Wasm container with $DISK"; assert_contains_i "$ERR" "device" "podman: error for $DISK"
assert_not_contains "$OUT" "${DISK#/dev/}" "podman: /dev of a Wasm container given $DISK"
pod_gone sb-pdev
# a spec that lists /dev/mem (the CLI, as CRI-O or any caller writes one)
BM=$(direct_bundle devmem '["/probe.wasm","ls","/dev"]')
python3 - "$BM/config.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["linux"]["devices"] = [{"path": "/dev/mem", "type": "c", "major": 1, "minor": 1, "fileMode": 0o640, "uid": 0, "gid": 0}]
spec["linux"]["resources"]["devices"].append({"allow": True, "type": "c", "major": 1, "minor": 1, "access": "rwm"})
json.dump(spec, open(sys.argv[1], "w"))
PY
run rw run --bundle "$BM" sb-devmem
assert_rc_not 0 "CLI: a Wasm container with /dev/mem"; assert_contains_i "$ERR" "device" "CLI: error for /dev/mem"
assert_not_contains "$OUT" "mem" "CLI: /dev of a Wasm container given /dev/mem"
rw delete --force sb-devmem >/dev/null 2>&1; assert_clean sb-devmem "$DROOT"
# device nodes an image ships in its rootfs (a tar layer may hold any): the module reads none
BN=$(direct_bundle devnodes '["/probe.wasm","read-raw","/nodes/disk","/nodes/mem","/nodes/kmsg"]')
mkdir -p "$BN/rootfs/nodes"
if [ -n "$DISK" ]; then
  read -r dmaj dmin < <(stat -c '%t %T' "$DISK")
  mknod "$BN/rootfs/nodes/disk" b $((16#$dmaj)) $((16#$dmin))
fi
mknod "$BN/rootfs/nodes/mem" c 1 1; mknod "$BN/rootfs/nodes/kmsg" c 1 11
run bounded "$BIN/runwasm" --root "$DROOT" run --bundle "$BN" sb-nodes
assert_routes "$OUT" 3 "device nodes in the rootfs ($DISK, mem, kmsg)"; assert_contains "$OUT" "read-raw: 3 routes"
rw delete --force sb-nodes >/dev/null 2>&1; assert_clean sb-nodes "$DROOT"
# the allowed ones still are
# (writing /dev/full: the real device answers ENOSPC)
run pod run --name sb-pfull --device /dev/full "$WASM" write /dev/full x
assert_rc 1 "podman: a Wasm container with /dev/full writing it"; assert_contains_i "$ERR" "no space left" "podman: writing /dev/full"
pod_gone sb-pfull
run srun --rm "$WASM" sb-null /probe.wasm write /dev/null x
assert_rc 0 "shim: a Wasm container writing /dev/null"; assert_contains "$OUT" "wrote /dev/null"
assert_clean sb-null "$SHIM_ROOT"
# a Linux container may still have it
run pod run --name sb-pldev --device "$DISK" "$BUSYBOX" ls "$DISK"
assert_rc 0 "podman: a Linux container with $DISK"
pod_gone sb-pldev

test_case "sandbox: a Wasm module exec'd into a Linux container is fenced in the same way"
# the Linux container's /proc and /sys are real (its processes need them); the module's own
# Landlock confinement must refuse every route all the same
run srun -d --mount "type=bind,src=$FIXTURES/wasm-rootfs,dst=/w,options=rbind:ro" "$BUSYBOX" sb-lin sleep 3600
assert_rc 0; wait_running sb-lin
run ctr_ task exec --exec-id w1 sb-lin /w/probe.wasm escape
assert_escape "shim: a module exec'd into a Linux container"
run ctr_ task exec --exec-id l1 sb-lin cat /proc/self/status
assert_rc 0 "shim: the Linux container keeps its /proc"; assert_contains "$OUT" "State:"
ctr_gone sb-lin; assert_clean sb-lin "$SHIM_ROOT"
run rrun -d --mount "type=bind,src=$FIXTURES/wasm-rootfs,dst=/w,options=rbind:ro" "$BUSYBOX" sb-rlin sleep 3600
assert_rc 0; wait_running sb-rlin
run ctr_ task exec --exec-id w1 sb-rlin /w/probe.wasm escape
assert_escape "runc shim: a module exec'd into a Linux container"
ctr_gone sb-rlin; assert_clean sb-rlin "$RROOT/$NS"
run pod run -d --name sb-plin -v "$FIXTURES/wasm-rootfs:/w:ro" "$BUSYBOX" sleep 3600
assert_rc 0
run pod exec sb-plin /w/probe.wasm escape
assert_escape "podman: a module exec'd into a Linux container"
pod_gone sb-plin

###################################################################### 2 Sealed binary
# cve_attack LOG BINARY EXEC...: runs `EXEC N` (an exec of /exploit.sh) until the attacker
# reports a result, then waits for every attempt it started to end
cve_attack() {
  local log=$1 bin=$2; shift 2
  wait_for grep -q "watching for the runtime" "$log" || { _fail "the attacker did not start: $(cat "$log" 2>&1)"; return; }
  for i in $(seq 1 60); do
    "$@" "$i" >/dev/null 2>&1
    grep -q '^result:' "$log" && break
    sleep 0.1
  done
  for _ in $(seq 1 100); do
    [ "$(grep -c 'opened exe of pid' "$log")" = "$(grep -c '^result:' "$log")" ] && break; sleep 0.1
  done
  local text; text=$(cat "$log")
  assert_contains "$text" "opened exe of pid" "attack log (the attacker must catch the runtime)"
  assert_contains "$text" "result:" "attack log (the attacker must try to write)"
  assert_not_contains "$text" "OVERWROTE" "attack log"
  assert_eq "$(sha256sum < "$bin")" "$SUM" "sha256 of the runtime binary after the attack"
  echo "  attack log: $(grep -m3 -E 'opened exe|result:' "$log" | tr '\n' '|')"
}
# a fresh copy of the runtime for an attack; restore_copy puts it back if the attack worked
cve_copy() { mkdir -p "$(dirname "$1")"; rm -f "$1"; cp "$E2E_DIR/runwasm.pristine" "$1"; SUM=$(sha256sum < "$1"); }
restore_copy() { [ "$(sha256sum < "$1")" = "$SUM" ] || { rm -f "$1"; cp "$E2E_DIR/runwasm.pristine" "$1"; }; }

test_case "sealed binary: CVE-2019-5736 against runwasm under containerd's runc shim"
CVE_BIN="$E2E_DIR/cve-runc/runwasm"; cve_copy "$CVE_BIN"
mkdir -p "$E2E_DIR/cve-runc/out"
run ctr_ run -d --runtime io.containerd.runc.v2 --runc-binary "$CVE_BIN" --runc-root "$RROOT" \
    --fifo-dir "$CTRD/fifo" --mount "type=bind,src=$E2E_DIR/cve-runc/out,dst=/out,options=rbind:rw" "$ATTACKER" cv-runc
assert_rc 0 "attacker container"
cve_attack "$E2E_DIR/cve-runc/out/attack.log" "$CVE_BIN" sh -c 'ctr -a "$0" -n "$1" task exec --exec-id x"$2" cv-runc /exploit.sh' "$SOCK" "$NS"
restore_copy "$CVE_BIN"
ctr_gone cv-runc; assert_clean cv-runc "$RROOT/$NS"

test_case "sealed binary: CVE-2019-5736 against runwasm under podman"
PCVE_BIN="$E2E_DIR/cve-podman/runwasm"; cve_copy "$PCVE_BIN"
mkdir -p "$E2E_DIR/cve-podman/out"
pcve() { "$P" --runtime "$PCVE_BIN" "$@"; }
run pcve run -d --name cv-pod -v "$E2E_DIR/cve-podman/out:/out" "$ATTACKER"
assert_rc 0 "attacker container"
cve_attack "$E2E_DIR/cve-podman/out/attack.log" "$PCVE_BIN" sh -c '"$0" --runtime "$1" exec cv-pod /exploit.sh' "$P" "$PCVE_BIN"
restore_copy "$PCVE_BIN"
id=$(pod_id cv-pod); pcve rm -f -t 0 cv-pod >/dev/null 2>&1; [ -n "$id" ] && assert_clean "$id" "$POD_ROOT"

test_case "sealed binary: CVE-2019-5736 against runwasm under its own shim"
# the shim runs the runwasm beside it ($BIN/runwasm, this suite's copy); the shim itself
# never enters a container, and must come out unchanged too
SHIM_SUM=$(sha256sum < "$BIN/containerd-shim-runwasm-v1"); SUM=$(sha256sum < "$BIN/runwasm")
mkdir -p "$E2E_DIR/cve-shim/out"
run srun -d --mount "type=bind,src=$E2E_DIR/cve-shim/out,dst=/out,options=rbind:rw" "$ATTACKER" cv-shim
assert_rc 0 "attacker container"
cve_attack "$E2E_DIR/cve-shim/out/attack.log" "$BIN/runwasm" sh -c 'ctr -a "$0" -n "$1" task exec --exec-id x"$2" cv-shim /exploit.sh' "$SOCK" "$NS"
assert_eq "$(sha256sum < "$BIN/containerd-shim-runwasm-v1")" "$SHIM_SUM" "sha256 of the shim after the attack"
restore_copy "$BIN/runwasm"
ctr_gone cv-shim; assert_clean cv-shim "$SHIM_ROOT"

test_case "sealed binary: a Linux process in a Wasm container cannot reach the Wasm init's exe or memory"
run srun -d --mount "type=bind,src=$HOSTBIN,dst=/hostbin,options=rbind:ro" "$WASM" sb-init /probe.wasm sleep 3600
assert_rc 0; wait_running sb-init
run ctr_ task exec --exec-id a1 sb-init /hostbin/attacker exe 1
assert_rc 0 "attacker exe"; assert_attacker "$OUT" exe "shim: open /proc/1/exe for writing"
run ctr_ task exec --exec-id a2 sb-init /hostbin/attacker mem 1
assert_rc 0 "attacker mem"; assert_attacker "$OUT" mem "shim: /proc/1/mem of the Wasm init"
ctr_gone sb-init; assert_clean sb-init "$SHIM_ROOT"
# the control: the same attack on a Linux container's init works (what the Wasm init is spared)
run srun -d --mount "type=bind,src=$HOSTBIN,dst=/hostbin,options=rbind:ro" "$BUSYBOX" sb-linit sleep 3600
assert_rc 0; wait_running sb-linit
run ctr_ task exec --exec-id a1 sb-linit /hostbin/attacker mem 1
assert_contains "$OUT" "ESCAPED read /proc/1/mem" "control: attacker mem on a Linux container's init"
ctr_gone sb-linit; assert_clean sb-linit "$SHIM_ROOT"
run rrun -d --mount "type=bind,src=$HOSTBIN,dst=/hostbin,options=rbind:ro" "$WASM" sb-rinit /probe.wasm sleep 3600
assert_rc 0; wait_running sb-rinit
run ctr_ task exec --exec-id a1 sb-rinit /hostbin/attacker exe 1
assert_attacker "$OUT" exe "runc shim: open /proc/1/exe for writing"
run ctr_ task exec --exec-id a2 sb-rinit /hostbin/attacker mem 1
assert_attacker "$OUT" mem "runc shim: /proc/1/mem of the Wasm init"
ctr_gone sb-rinit; assert_clean sb-rinit "$RROOT/$NS"
run pod run -d --name sb-pinit -v "$HOSTBIN:/hostbin:ro" "$WASM" sleep 3600
assert_rc 0
run pod exec sb-pinit /hostbin/attacker mem 1
assert_attacker "$OUT" mem "podman: /proc/1/mem of the Wasm init"
run pod exec sb-pinit /hostbin/attacker exe 1
assert_attacker "$OUT" exe "podman: open /proc/1/exe for writing"
# a Linux sidecar sharing the Wasm container's PID namespace (its own, unmasked /proc)
run pod run --name sb-side1 --pid container:sb-pinit -v "$HOSTBIN:/hostbin:ro" "$BUSYBOX" /hostbin/attacker mem 1
assert_rc 0 "sidecar attacker mem"; assert_attacker "$OUT" mem "podman sidecar (--pid container:): /proc/1/mem of the Wasm init"
pod_gone sb-side1
run pod run --name sb-side2 --pid container:sb-pinit -v "$HOSTBIN:/hostbin:ro" "$BUSYBOX" /hostbin/attacker fds 1
assert_rc 0 "sidecar attacker fds"
assert_eq "$(grep -c '^ESCAPED' <<<"$OUT")" 0 "podman sidecar: files of the Wasm init opened for writing [$(grep '^ESCAPED' <<<"$OUT" | tr '\n' '|')]"
assert_contains "$OUT" "fds: done" "podman sidecar: attacker fds"
pod_gone sb-side2
pod_gone sb-pinit
# the control: a sidecar of a Linux container reads its init's memory
run pod run -d --name sb-plinit "$BUSYBOX" sleep 3600
assert_rc 0
run pod run --name sb-side3 --pid container:sb-plinit -v "$HOSTBIN:/hostbin:ro" "$BUSYBOX" /hostbin/attacker mem 1
assert_contains "$OUT" "ESCAPED read /proc/1/mem" "control: a sidecar's attacker mem on a Linux container's init"
pod_gone sb-side3; pod_gone sb-plinit

###################################################################### 3 Compile cache
# a module no cache has seen: prints its nonce
unique_module() {  # unique_module DIR NAME TEXT: DIR/NAME.wasm printing TEXT
  mkdir -p "$1"
  cat > "$1/$2.wat" <<WAT
(module
 (import "wasi_snapshot_preview1" "fd_write" (func \$w (param i32 i32 i32 i32) (result i32)))
 (memory (export "memory") 1)
 (data (i32.const 64) "$3\n")
 (func (export "_start")
  (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const $(( ${#3} + 1 ))))
  (drop (call \$w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
WAT
  wat2wasm "$1/$2.wat" -o "$1/$2.wasm"
}

test_case "cache: a flipped byte in a cached artifact is recompiled, never loaded (shim)"
# /hello.wasm runs nowhere else in this suite: its artifact is the new one
before=$(cwasms "$CACHE")
run srun --rm "$WASM" ca-flip1 /hello.wasm
assert_rc 0 "first run"; assert_contains "$OUT" "hello from wat"
assert_clean ca-flip1 "$SHIM_ROOT"
art=$(comm -13 <(echo "$before") <(cwasms "$CACHE") | head -1)
[ -n "$art" ] && [ -f "${art%.cwasm}.b3" ] && _pass || _fail "no new artifact with its .b3 in $CACHE (layout DIR/<engine>/<blake3>-m.cwasm)"
if [ -n "$art" ]; then
  cp "$art" "$E2E_DIR/flip.orig"; digest=$(cat "${art%.cwasm}.b3")
  python3 - "$art" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
data[len(data) // 2] ^= 0xFF
open(path, "r+b").write(data)
PY
  cmp -s "$art" "$E2E_DIR/flip.orig" && _fail "the byte flip did not change $art" || _pass
  run srun --rm "$WASM" ca-flip2 /hello.wasm
  assert_rc 0 "run after the flip"; assert_contains "$OUT" "hello from wat"
  # compiling is deterministic: the recompiled artifact is the original, which .b3 describes
  cmp -s "$art" "$E2E_DIR/flip.orig" && _pass || _fail "the corrupt artifact was not replaced by a recompiled one"
  assert_eq "$(cat "${art%.cwasm}.b3" 2>&1)" "$digest" ".b3 digest after the recompile"
fi
assert_clean ca-flip2 "$SHIM_ROOT"

test_case "cache: a root process in a Wasm container cannot write the artifact"
run srun -d --mount "type=bind,src=$HOSTBIN,dst=/hostbin,options=rbind:ro" "$WASM" ca-art /probe.wasm sleep 3600
assert_rc 0; wait_running ca-art
arts=$(cwasms "$CACHE"); sums_before=$(for a in $arts; do sha256sum "$a"; done)
[ -n "$arts" ] && _pass || _fail "no artifact in $CACHE while a module runs"
run ctr_ task exec --exec-id f1 ca-art /hostbin/attacker fds 1
assert_rc 0 "attacker fds"
assert_eq "$(grep -c '^ESCAPED' <<<"$OUT")" 0 "files of the Wasm init opened for writing [$(grep '^ESCAPED' <<<"$OUT" | tr '\n' '|')]"
assert_contains "$OUT" "fds: done" "attacker fds"
# shellcheck disable=SC2086
run ctr_ task exec --exec-id f2 ca-art /hostbin/attacker openw $arts
assert_attacker "$OUT" openw "the cache's own paths from the container"
assert_eq "$(for a in $arts; do sha256sum "$a"; done)" "$sums_before" "artifacts after the attacks"
ctr_gone ca-art; assert_clean ca-art "$SHIM_ROOT"

cache_bytes() { find "$1" -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}'; }

test_case "cache: RUNWASM_CACHE_MAX keeps the cache within its quota (LRU)"
BA=$(direct_bundle qa '["/probe.wasm","hello"]'); BB=$(direct_bundle qb '["/probe-p2.wasm","hello"]')
mkdir -m 700 "$E2E_DIR/cache-measure" "$E2E_DIR/cache-quota"
RUNWASM_CACHE_DIR="$E2E_DIR/cache-measure" rw run --bundle "$BA" qa-m1 >/dev/null 2>&1
size_a=$(cache_bytes "$E2E_DIR/cache-measure"); art_a=$(cwasms "$E2E_DIR/cache-measure")
RUNWASM_CACHE_DIR="$E2E_DIR/cache-measure" rw run --bundle "$BB" qa-m2 >/dev/null 2>&1
assert_clean qa-m1 "$DROOT"; assert_clean qa-m2 "$DROOT"
size_b=$(( $(cache_bytes "$E2E_DIR/cache-measure") - size_a )); art_b=$(comm -13 <(echo "$art_a") <(cwasms "$E2E_DIR/cache-measure"))
[ "$size_a" -gt 0 ] && [ "$size_b" -gt 0 ] && _pass || _fail "cannot measure artifacts ($size_a, $size_b bytes)"
big=$(( size_a > size_b ? size_a : size_b )); small=$(( size_a > size_b ? size_b : size_a ))
quota_k=$(( (big + small / 2) / 1024 ))
echo "  artifacts: $size_a and $size_b bytes; RUNWASM_CACHE_MAX=${quota_k}K"
run env RUNWASM_CACHE_DIR="$E2E_DIR/cache-quota" RUNWASM_CACHE_MAX="${quota_k}K" "$BIN/runwasm" --root "$DROOT" run --bundle "$BA" qa-1
assert_rc 0 "first module under the quota"; assert_contains "$OUT" "hello from wasm"
run env RUNWASM_CACHE_DIR="$E2E_DIR/cache-quota" RUNWASM_CACHE_MAX="${quota_k}K" "$BIN/runwasm" --root "$DROOT" run --bundle "$BB" qa-2
assert_rc 0 "second module under the quota"; assert_contains "$OUT" "hello from wasm"
on_disk=$(cache_bytes "$E2E_DIR/cache-quota")
[ "$on_disk" -le $(( quota_k * 1024 )) ] && _pass || _fail "cache holds $on_disk bytes, quota $(( quota_k * 1024 ))"
[ -n "$art_b" ] && [ -f "$E2E_DIR/cache-quota/${art_b#"$E2E_DIR/cache-measure/"}" ] && _pass \
  || _fail "the most recently used artifact is not in the cache: $(cwasms "$E2E_DIR/cache-quota" | tr '\n' ' ')"
assert_clean qa-1 "$DROOT"; assert_clean qa-2 "$DROOT"

test_case "cache: an artifact planted in a cache directory others can write is never run"
# the artifact of /hello.wasm, planted under the key of /probe.wasm with its own (matching)
# digest: a runtime that trusted the directory would run hello's code for the probe
BH=$(direct_bundle hello '["/hello.wasm"]')
art_m=$(cwasms "$E2E_DIR/cache-measure")
RUNWASM_CACHE_DIR="$E2E_DIR/cache-measure" rw run --bundle "$BH" qa-m3 >/dev/null 2>&1
art_hello=$(comm -13 <(echo "$art_m") <(cwasms "$E2E_DIR/cache-measure") | head -1)
engine=$(basename "$(dirname "$art_a")"); key_probe=$(basename "$art_a" .cwasm)
[ -n "$art_hello" ] && [ -n "$art_a" ] && _pass || _fail "no artifacts to plant (probe: '$art_a', hello: '$art_hello')"
BP=$(direct_bundle poison '["/probe.wasm","args","unpoisoned"]')
# plant DIR: hello's artifact and digest as the probe's entry in DIR/<engine>
plant() {
  mkdir -p "$1/$engine"
  cp "$art_hello" "$1/$engine/$key_probe.cwasm"; cp "${art_hello%.cwasm}.b3" "$1/$engine/$key_probe.b3"
}
# the control: in a directory only root can write, the planted entry is what runs (so the
# planting itself is sound and the cases below test the trust check)
plant "$E2E_DIR/poison-trusted"; chmod 700 "$E2E_DIR/poison-trusted" "$E2E_DIR/poison-trusted/$engine"
run env RUNWASM_CACHE_DIR="$E2E_DIR/poison-trusted" "$BIN/runwasm" --root "$DROOT" run --bundle "$BP" po-ctl
assert_contains "$OUT" "hello from wat" "control: the planted artifact in a root-only cache runs instead of the probe"
assert_clean po-ctl "$DROOT"
for how in world-writable-base foreign-owner-base world-writable-engine foreign-owner-artifact symlinked-artifact; do
  d="$E2E_DIR/poison-$how"; plant "$d"; chmod 700 "$d" "$d/$engine"
  case $how in
    world-writable-base)    chmod 777 "$d" ;;
    foreign-owner-base)     chown -R 1000:1000 "$d"; chmod 755 "$d" ;;
    world-writable-engine)  chmod 777 "$d/$engine" ;;
    foreign-owner-artifact) chown 1000:1000 "$d/$engine/$key_probe.cwasm" "$d/$engine/$key_probe.b3" ;;
    symlinked-artifact)     mv "$d/$engine/$key_probe.cwasm" "$d/planted.cwasm"; ln -s "$d/planted.cwasm" "$d/$engine/$key_probe.cwasm" ;;
  esac
  run env RUNWASM_CACHE_DIR="$d" "$BIN/runwasm" --root "$DROOT" run --bundle "$BP" "po-$how"
  assert_rc 0 "$how: the probe"; assert_contains "$OUT" "args: /probe.wasm args unpoisoned" "$how: output"
  assert_not_contains "$OUT" "hello from wat" "$how: output (the planted artifact ran)"
  assert_clean "po-$how" "$DROOT"
done

test_case "cache: a full or read-only cache filesystem still runs the module (uncached)"
BF=$(direct_bundle full '["/probe.wasm","hello"]')
mkdir -p "$E2E_DIR/cache-full" "$E2E_DIR/cache-ro"
mount -t tmpfs -o size=128k,mode=700 tmpfs "$E2E_DIR/cache-full" && _pass || _fail "cannot mount a tmpfs"
dd if=/dev/zero of="$E2E_DIR/cache-full/filler" bs=4k >/dev/null 2>&1
[ "$(df --output=avail "$E2E_DIR/cache-full" | tail -1)" -eq 0 ] && _pass || _fail "the cache filesystem is not full"
run env RUNWASM_CACHE_DIR="$E2E_DIR/cache-full" "$BIN/runwasm" --root "$DROOT" run --bundle "$BF" cf-full
assert_rc 0 "run with a full cache filesystem"; assert_contains "$OUT" "hello from wasm"
assert_clean cf-full "$DROOT"
mount -t tmpfs -o ro,mode=700 tmpfs "$E2E_DIR/cache-ro" && _pass || _fail "cannot mount a read-only tmpfs"
run env RUNWASM_CACHE_DIR="$E2E_DIR/cache-ro" "$BIN/runwasm" --root "$DROOT" run --bundle "$BF" cf-ro
assert_rc 0 "run with a read-only cache filesystem"; assert_contains "$OUT" "hello from wasm"
assert_clean cf-ro "$DROOT"
umount "$E2E_DIR/cache-full" "$E2E_DIR/cache-ro"

########################################################################## 4 Entrypoint
test_case "entrypoint: symlink swaps during 300 execs never reach a host file"
SECRET=/tmp/secret-$NONCE.wasm
# start_swapper APP: until $E2E_DIR/race.stop exists, swaps APP/x.wasm between the module
# APP/real.wasm and symlinks to the host's $SECRET (relative, absolute, via /proc/self/root);
# its pid is in $swapper
start_swapper() {
  python3 - "$1" "$SECRET" "$E2E_DIR/race.stop" <<'PY' &
import os, sys
app, secret, stop = sys.argv[1:]
targets = ["../../../../../../" + secret.lstrip("/"), secret, "/proc/self/root" + secret]
i = 0
while not os.path.exists(stop):
    os.link(f"{app}/real.wasm", f"{app}/.real"); os.rename(f"{app}/.real", f"{app}/x.wasm")
    os.symlink(targets[i % len(targets)], f"{app}/.lnk"); os.rename(f"{app}/.lnk", f"{app}/x.wasm")
    i += 1
PY
  swapper=$!
}
unique_module "$E2E_DIR/secret" secret "HOST-SECRET-$NONCE"; cp "$E2E_DIR/secret/secret.wasm" "$SECRET"
BR=$(direct_bundle race '["/probe.wasm","sleep","3600"]')
mkdir -p "$BR/rootfs/app"; cp "$FIXTURES/wasm-rootfs/hello.wasm" "$BR/rootfs/app/real.wasm"
cp "$BR/rootfs/app/real.wasm" "$BR/rootfs/app/x.wasm"
rw create --bundle "$BR" en-race >"$E2E_DIR/race-init.log" 2>&1 </dev/null; rc_create=$?
rw start en-race >/dev/null 2>&1
assert_eq "$rc_create" 0 "create of the race container"
start_swapper "$BR/rootfs/app"
: > "$E2E_DIR/race.out"; ok=0; bad=0
for i in $(seq 1 300); do
  if rw exec en-race /app/x.wasm >>"$E2E_DIR/race.out" 2>&1; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
done
touch "$E2E_DIR/race.stop"; wait "$swapper"
echo "  300 execs: $ok ran the module, $bad failed"
assert_not_contains "$(cat "$E2E_DIR/race.out")" "HOST-SECRET-$NONCE" "output of the execs"
assert_not_contains "$(cat "$E2E_DIR/race.out")" "$SECRET" "errors of the execs"
[ "$ok" -gt 0 ] && _pass || _fail "no exec ran the real module: $(tail -3 "$E2E_DIR/race.out")"
[ "$bad" -gt 0 ] && _pass || _fail "no exec saw the symlink (the swap did not race)"
rw kill en-race KILL >/dev/null 2>&1; sleep 0.3; rw delete --force en-race >/dev/null 2>&1
assert_clean en-race "$DROOT"

test_case "entrypoint: symlink swaps during 60 creates never reach a host file"
BC=$(direct_bundle crace '["/app/x.wasm"]')
mkdir -p "$BC/rootfs/app"; cp "$FIXTURES/wasm-rootfs/hello.wasm" "$BC/rootfs/app/real.wasm"
cp "$BC/rootfs/app/real.wasm" "$BC/rootfs/app/x.wasm"
rm -f "$E2E_DIR/race.stop"
start_swapper "$BC/rootfs/app"
: > "$E2E_DIR/crace.out"; ok=0; bad=0
for i in $(seq 1 60); do
  if rw run --bundle "$BC" "en-crace-$i" >>"$E2E_DIR/crace.out" 2>&1 </dev/null; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
  rw delete --force "en-crace-$i" >/dev/null 2>&1
done
touch "$E2E_DIR/race.stop"; wait "$swapper"
echo "  60 creates: $ok ran the module, $bad failed"
assert_not_contains "$(cat "$E2E_DIR/crace.out")" "HOST-SECRET-$NONCE" "output of the creates"
[ "$ok" -gt 0 ] && _pass || _fail "no create ran the real module: $(tail -3 "$E2E_DIR/crace.out")"
[ "$bad" -gt 0 ] && _pass || _fail "no create saw the symlink (the swap did not race)"
assert_clean en-crace-60 "$DROOT"; assert_eq "$(ls "$DROOT" | grep -c en-crace)" 0 "state of the race containers"

test_case "entrypoint: RUNWASM_MODULE_MAX and the 256 MiB default"
BL=$(direct_bundle large '["/large.wasm"]')
run env RUNWASM_MODULE_MAX=1M "$BIN/runwasm" --root "$DROOT" create --bundle "$BL" en-max
assert_rc_not 0 "create of a module over RUNWASM_MODULE_MAX"; assert_contains_i "$ERR" "larger than"
rw delete --force en-max >/dev/null 2>&1; assert_clean en-max "$DROOT"
BH=$(direct_bundle huge '["/huge.wasm"]')
printf '\0asm\001\0\0\0' > "$BH/rootfs/huge.wasm"; truncate -s 300M "$BH/rootfs/huge.wasm"
run bounded "$BIN/runwasm" --root "$DROOT" create --bundle "$BH" en-huge
assert_rc_not 0 "create of a 300 MiB module"; assert_contains_i "$ERR" "larger than"
rw delete --force en-huge >/dev/null 2>&1; assert_clean en-huge "$DROOT"

test_case "entrypoint: a device or a FIFO as the module fails at once"
COMPAT=(--annotation module.wasm.image/variant=compat)
for kind in zero fifo devzero; do
  case $kind in
    zero)    BD=$(direct_bundle "$kind" '["/app/zero.wasm"]' "${COMPAT[@]}"); mkdir -p "$BD/rootfs/app"; mknod "$BD/rootfs/app/zero.wasm" c 1 5 ;;
    fifo)    BD=$(direct_bundle "$kind" '["/app/fifo.wasm"]' "${COMPAT[@]}"); mkdir -p "$BD/rootfs/app"; mkfifo "$BD/rootfs/app/fifo.wasm" ;;
    devzero) BD=$(direct_bundle "$kind" '["/dev/zero"]' "${COMPAT[@]}"); mkdir -p "$BD/rootfs/dev"; mknod "$BD/rootfs/dev/zero" c 1 5 ;;
  esac
  start=$(date +%s)
  run bounded "$BIN/runwasm" --root "$DROOT" create --bundle "$BD" "en-$kind"
  assert_rc_not 0 "create with a $kind module"; assert_contains_i "$ERR" "not a regular file" "error for a $kind module"
  [ "$RC" != 137 ] && _pass || _fail "create with a $kind module hung or ran out of memory (killed after $(( $(date +%s) - start )) s)"
  rw delete --force "en-$kind" >/dev/null 2>&1; assert_clean "en-$kind" "$DROOT"
done
# without an annotation the runtime sniffs the entrypoint's first bytes: a FIFO must not
# block it (Linux or Wasm, create answers within the time limit)
BD=$(direct_bundle fifo-sniff '["/app/fifo.wasm"]'); mkdir -p "$BD/rootfs/app"; mkfifo "$BD/rootfs/app/fifo.wasm"
run bounded "$BIN/runwasm" --root "$DROOT" create --bundle "$BD" en-fifo-sniff
[ "$RC" != 137 ] && _pass || _fail "create sniffing a FIFO entrypoint hung (killed after 20 s)"
rw delete --force en-fifo-sniff >/dev/null 2>&1; assert_clean en-fifo-sniff "$DROOT"

test_case "entrypoint: the error for a text file forced to Wasm quotes none of it"
BT=$(direct_bundle text '["/app/passwd.wasm"]' --annotation module.wasm.image/variant=compat)
mkdir -p "$BT/rootfs/app"
printf 'root:x:0:0:TEXT-MARKER-%s:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n' "$NONCE" > "$BT/rootfs/app/passwd.wasm"
run rw create --bundle "$BT" en-text
assert_rc_not 0 "create with a text file as the module"
assert_not_contains "$ERR$OUT" "TEXT-MARKER-$NONCE" "the create error"
assert_not_contains "$ERR$OUT" "root:x:0:0" "the create error"
rw delete --force en-text >/dev/null 2>&1; assert_clean en-text "$DROOT"

###################################################################### 5 Compile limits
# /large.wasm runs nowhere else in this suite and each caller has its own cache: the limited
# run is a cold compile
test_case "compile limits: a large module under a 16 MiB memory limit fails with 'memory' (shim)"
run srun --rm --memory-limit 16777216 "$WASM" cl-lim /large.wasm
assert_rc_not 0 "a large module compiled under 16 MiB"; assert_contains_i "$ERR" "memory" "error of a compile over the limit"
assert_not_contains "$OUT" "large module ran" "output of a module that must not compile"
ctr_ c rm cl-lim >/dev/null 2>&1; assert_clean cl-lim "$SHIM_ROOT"
assert_eq "$(pgrep -f "^$BIN/runwasm" | tr '\n' ' ')" "" "runwasm processes (a compile) left after the failed create"
start=$(date +%s)
run srun --rm "$WASM" cl-free /large.wasm
assert_rc 0 "the same module without a limit"; assert_contains "$OUT" "large module ran"
echo "  compile and run of large.wasm without a limit: $(( $(date +%s) - start )) s"
assert_clean cl-free "$SHIM_ROOT"

test_case "compile limits: the same through podman --memory 16m"
run pod run --name cl-plim --memory 16m --entrypoint /large.wasm "$WASM"
assert_rc_not 0 "podman: a large module compiled under 16 MiB"; assert_contains_i "$ERR" "memory" "podman: error of a compile over the limit"
assert_not_contains "$OUT" "large module ran" "podman: output of a module that must not compile"
pod_gone cl-plim
assert_eq "$(pgrep -f "^$BIN/runwasm" | tr '\n' ' ')" "" "podman: runwasm processes (a compile) left after the failed create"

########################################################################## 6 Zombies
# zombie_case ID ROOT RUNNER...: a double fork in a Wasm container leaves no zombie
zombie_case() {
  local id=$1 root=$2; shift 2
  run "$@" -d --mount "type=bind,src=$HOSTBIN,dst=/hostbin,options=rbind:ro" "$WASM" "$id" /probe.wasm sleep 60
  assert_rc 0; wait_running "$id"
  local init; init=$(task_pid "$id")
  # (the orphan lets go of ctr's stdio, or ctr would wait for it to exit)
  run ctr_ task exec --exec-id z1 "$id" /hostbin/busybox sh -c '(/hostbin/busybox sleep 3 </dev/null >/dev/null 2>&1 &) ; exit 0'
  assert_rc 0 "the double fork"
  # the orphan is reparented to the Wasm init: the check below sees the container's processes
  local orphans=""
  for _ in $(seq 1 10); do
    for p in $(procs_in_cgroup_of "$init"); do
      [ "$(ppid_of "$p")" = "$init" ] && orphans+="$p:$(pstate "$p") "
    done
    [ -n "$orphans" ] && break; sleep 0.1
  done
  [ -n "$orphans" ] && _pass || _fail "$id: the orphaned sleep was not seen under the Wasm init (pid $init)"
  sleep 4
  local zombies=""
  for p in $(procs_in_cgroup_of "$init"); do [ "$(pstate "$p")" = Z ] && zombies+="$p "; done
  for p in /proc/[0-9]*; do
    p=${p#/proc/}; [ "$(ppid_of "$p")" = "$init" ] && [ "$(pstate "$p")" = Z ] && ! grep -qw "$p" <<<"$zombies" && zombies+="$p "
  done
  assert_eq "$zombies" "" "$id: zombies in the container after the orphan exited (orphans seen: $orphans)"
  ctr_gone "$id"; assert_clean "$id" "$root"
}
test_case "zombies: orphans of a Linux process in a Wasm container are reaped (shim)"
zombie_case zb-shim "$SHIM_ROOT" srun
test_case "zombies: orphans of a Linux process in a Wasm container are reaped (runc shim)"
zombie_case zb-runc "$RROOT/$NS" rrun

summary "security (isolation of a container from its node)"
