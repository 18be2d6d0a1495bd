# Shared helpers of the end-to-end suites: assertions that count failures, and the
# "nothing left behind" check. Sourced by each suite; the suite sets E2E_DIR.
set -uo pipefail
ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUNWASM=${RUNWASM:-$ROOT_DIR/target/release/runwasm}
FIXTURES=${FIXTURES:-$ROOT_DIR/target/fixtures}
PASSED=0 FAILED=0 FAILURES=()

_fail() { FAILED=$((FAILED + 1)); FAILURES+=("$CURRENT: $*"); echo "  FAIL: $*"; }
_pass() { PASSED=$((PASSED + 1)); }

# test NAME: starts a test case (assertions after it are reported under NAME)
test_case() { CURRENT=$1; echo "--- $1"; }

# run CMD...: runs it, keeping stdout in $OUT, stderr in $ERR and the status in $RC
run() {
  local o e; o=$(mktemp) e=$(mktemp)
  "$@" >"$o" 2>"$e"; RC=$?
  OUT=$(cat "$o"); ERR=$(cat "$e"); rm -f "$o" "$e"
}
# field KEY [SUB]: the last word of the line `KEY [SUB] ... VALUE` of $OUT (as http-client.py
# prints its counts)
field() { awk -v k="$1" -v s="${2:-}" '$1 == k && (s == "" || $2 == s) {print $NF}' <<<"$OUT"; }

assert_rc() {  # assert_rc EXPECTED [what]
  if [ "$RC" = "$1" ]; then _pass; else _fail "${2:-command}: exit status $RC, want $1 (stdout: ${OUT:0:300}) (stderr: ${ERR:0:500})"; fi
}
assert_rc_not() {
  if [ "$RC" != "$1" ]; then _pass; else _fail "${2:-command}: exit status $RC, want anything else (stderr: ${ERR:0:300})"; fi
}
assert_contains() {  # assert_contains HAYSTACK NEEDLE [what]
  if grep -qF -- "$2" <<<"$1"; then _pass; else _fail "${3:-output} lacks '$2': '${1:0:600}'"; fi
}
assert_not_contains() {
  if ! grep -qF -- "$2" <<<"$1"; then _pass; else _fail "${3:-output} has '$2': '${1:0:600}'"; fi
}
assert_eq() {  # assert_eq GOT WANT [what]
  if [ "$1" = "$2" ]; then _pass; else _fail "${3:-value}: got '$1', want '$2'"; fi
}

# assert_clean ID [STATE_ROOT...]: no process, cgroup, mount or state dir of container ID
assert_clean() {
  local id=$1; shift
  local left=""
  for root in "$@"; do [ -e "$root/$id" ] && left+=" state:$root/$id"; done
  local cg
  cg=$(find /sys/fs/cgroup -mindepth 2 -maxdepth 6 -type d -name "$id" 2>/dev/null | head -5)
  [ -n "$cg" ] && left+=" cgroups:$(tr '\n' ' ' <<<"$cg")"
  grep -q "/$id/" /proc/mounts && left+=" mounts:$(grep "/$id/" /proc/mounts | awk '{print $2}' | tr '\n' ' ')"
  local procs
  procs=$(grep -l -- "/$id\$" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 | tr '\n' ' ')
  [ -n "$procs" ] && left+=" processes:$procs"
  if [ -z "$left" ]; then _pass; else _fail "container $id left behind:$left"; fi
}

# wait_for CMD...: retries CMD for up to 10 s
wait_for() {
  for _ in $(seq 1 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# assert_no_snapshots WHAT ID...: the namespace's snapshots (listed with the suite's ctr_)
# hold the images' layers and nothing keyed by one of the IDs (deleted containers, pods)
assert_no_snapshots() {
  local what=$1; shift
  run ctr_ snapshots ls
  assert_rc 0 "ctr snapshots ls"
  # the listing is real: the images' unpacked layers are in it
  assert_contains "$OUT" "Committed" "ctr snapshots ls (the images' layers)"
  local keys left="" id
  keys=$(awk 'NR > 1 {print $1}' <<<"$OUT")
  for id in "$@"; do grep -qxF -- "$id" <<<"$keys" && left+=" $id"; done
  assert_eq "$left" "" "snapshots of the $# $what"
}

# cri_lock "$0" "$@": containerd's CRI plugin always works in the namespace k8s.io, so on
# every engine the shim keeps its state in /run/containerd/runwasm/k8s.io and the pods'
# cgroups are /k8s.io/...: a suite with CRI pods reruns itself under this lock (one at a time)
cri_lock() {
  local lock=/run/lock/runwasm-e2e-cri.lock rc
  [ "${RUNWASM_E2E_CRI_LOCK:-}" = "$lock" ] && return 0
  # -o: the lock stays with flock itself, not with containerd or a shim started below
  RUNWASM_E2E_CRI_LOCK=$lock flock -o -w 1800 -E 75 "$lock" "$@"; rc=$?
  [ "$rc" = 75 ] && echo "another cri run held $lock for 30 minutes"
  exit "$rc"
}

summary() {
  echo "=== $1: $PASSED assertions passed, $FAILED failed"
  for f in "${FAILURES[@]}"; do echo "  FAILED $f"; done
  [ "$FAILED" = 0 ]
}
