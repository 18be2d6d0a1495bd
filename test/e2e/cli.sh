#!/usr/bin/env bash
# runwasm's runc command line, case by case against Debian's runc 1.1: every command line is
# run by both (each with its own --root, from its own directory so that relative bundle paths
# name each one's bundles), and their exit status and `level=error` lines must agree.
source "$(dirname "$0")/lib.sh"
E2E_DIR=${E2E_DIR:-/tmp/runwasm-e2e}/cli
RUNC=${RUNC:-/usr/sbin/runc}
STATE=/run/runwasm-e2e/cli
# two names of one length: runc's table widths depend on the bundle paths
W_DIR="$E2E_DIR/rw" R_DIR="$E2E_DIR/rc" W_ROOT="$STATE/rw" R_ROOT="$STATE/rc"
[ -x "$RUNC" ] || { echo "no runc at $RUNC"; exit 1; }

cleanup() {
  for id in $(ls "$W_ROOT" 2>/dev/null); do "$RUNWASM" --root "$W_ROOT" delete --force "$id" >/dev/null 2>&1; done
  for id in $(ls "$R_ROOT" 2>/dev/null); do "$RUNC" --root "$R_ROOT" delete --force "$id" >/dev/null 2>&1; done
  [ -n "${bg_pids:-}" ] && kill $bg_pids 2>/dev/null
  # the parents of the containers' cgroups, empty once the containers are gone
  find /sys/fs/cgroup -maxdepth 4 -depth -type d -path '*/runwasm-e2e-cli*' -exec rmdir {} + 2>/dev/null
  return 0
}
trap cleanup EXIT
cleanup
rm -rf "$E2E_DIR" "$STATE"; mkdir -p "$W_DIR" "$R_DIR" "$W_ROOT" "$R_ROOT"

# bundle NAME ROOTFS ARGS_JSON: the bundle NAME in both directories, each in its own cgroup
bundle() {
  local name=$1 rootfs=$2 args=$3
  python3 "$ROOT_DIR/test/e2e/mk-bundle.py" "$rootfs" "$W_DIR/$name" "$args" \
      --cgroups-path "/runwasm-e2e-cli/rw/$name" >/dev/null
  python3 "$ROOT_DIR/test/e2e/mk-bundle.py" "$rootfs" "$R_DIR/$name" "$args" \
      --cgroups-path "/runwasm-e2e-cli/rc/$name" >/dev/null
}

# both ARGS...: runs `runwasm --root W ARGS` in W_DIR and `runc --root R ARGS` in R_DIR;
# keeps W_OUT W_ERR W_RC and R_OUT R_ERR R_RC
both() {
  cd "$W_DIR" && run "$RUNWASM" --root "$W_ROOT" "$@"; W_OUT=$OUT W_ERR=$ERR W_RC=$RC
  cd "$R_DIR" && run "$RUNC" --root "$R_ROOT" "$@"; R_OUT=$OUT R_ERR=$ERR R_RC=$RC
  cd "$E2E_DIR" || exit 1
}

# same_failure WHAT: both failed, with one exit status, each with a logrus error line on stderr
same_failure() {
  [ "$R_RC" != 0 ] && _pass || _fail "$1: runc succeeded, so the case shows nothing (stderr: $R_ERR)"
  assert_eq "$W_RC" "$R_RC" "$1: runwasm's exit status (runc's is the want; runwasm stderr: ${W_ERR:0:300})"
  assert_contains "$W_ERR" "level=error" "$1: runwasm's stderr"
  assert_contains "$R_ERR" "level=error" "$1: runc's stderr"
}

# same_success WHAT: both exited 0 with no error line
same_success() {
  assert_eq "$R_RC" 0 "$1: runc's exit status (stderr: ${R_ERR:0:300})"
  assert_eq "$W_RC" 0 "$1: runwasm's exit status (stderr: ${W_ERR:0:300})"
  assert_not_contains "$W_ERR" "level=error" "$1: runwasm's stderr"
  assert_not_contains "$R_ERR" "level=error" "$1: runc's stderr"
}

json_get() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]); print(eval("v"+sys.argv[2]))' "$1" "$2"; }

bundle bb "$FIXTURES/busybox-rootfs" '["sleep", "3600"]'
bundle bad-module "$FIXTURES/wasm-rootfs" '["/bad.wasm"]'
bundle no-entry "$FIXTURES/wasm-rootfs" '["/nope.wasm"]'
bundle no-entry-linux "$FIXTURES/busybox-rootfs" '["/bin/nope"]'
mkdir -p "$W_DIR/no-config" "$R_DIR/no-config"
for d in "$W_DIR" "$R_DIR"; do
  mkdir -p "$d/bad-json/rootfs"; echo '{"ociVersion": "1.0.2", "process": ' > "$d/bad-json/config.json"
done

test_case "cli: commands on a container that does not exist"
for cmd in "state" "start" "kill" "kill --all" "delete" "pause" "resume" "ps"; do
  # shellcheck disable=SC2086
  both $cmd cli-nope
  same_failure "$cmd of a missing container"
  assert_contains "$W_ERR" "does not exist" "$cmd: runwasm's message"
done
both exec cli-nope true
same_failure "exec into a missing container"
assert_contains "$W_ERR" "exec failed" "exec: runwasm's message"
both delete --force cli-nope
same_success "delete --force of a missing container"

test_case "cli: with --log FILE the error line goes to the file, the bare message to stderr"
for rt in rw rc; do
  if [ $rt = rw ]; then bin=$RUNWASM root=$W_ROOT; else bin=$RUNC root=$R_ROOT; fi
  "$bin" --root "$root" --log "$E2E_DIR/$rt.log" --log-format json state cli-nope 2>"$E2E_DIR/$rt.err"
  eval "${rt}_rc=$?"
  err=$(cat "$E2E_DIR/$rt.err")
  assert_contains "$err" "does not exist" "$rt stderr with --log"
  assert_not_contains "$err" "level=error" "$rt stderr with --log"
  log=$(tail -1 "$E2E_DIR/$rt.log" 2>/dev/null)
  assert_eq "$(json_get "$log" '["level"]' 2>&1)" "error" "$rt --log line's level"
  assert_contains "$(json_get "$log" '["msg"]' 2>&1)" "does not exist" "$rt --log line's msg"
done
assert_eq "$rw_rc" "$rc_rc" "exit status with --log (runwasm vs runc)"

test_case "cli: invalid container ids are refused before any work"
for id in "a/b" ".." "." "a b" "x:y"; do
  both state "$id"
  same_failure "state '$id'"
  both create --bundle bb "$id"
  same_failure "create '$id'"
  assert_contains "$W_ERR" "invalid container ID format" "runwasm's message for '$id'"
  assert_contains "$R_ERR" "invalid container ID format" "runc's message for '$id'"
done
# the id is checked before the module is: an invalid module is not what is reported
both create --bundle bad-module "../escape"
same_failure "create '../escape' of an invalid module"
assert_contains "$W_ERR" "invalid container ID format" "runwasm's message"
assert_not_contains "$W_ERR" "invalid Wasm module" "runwasm's message"
both exec "a/b" true
same_failure "exec 'a/b'"
assert_eq "$(ls -A "$STATE" | sort | tr '\n' ' ')" "rc rw " "entries beside the state roots"
assert_eq "$(ls -A "$W_ROOT")" "" "entries in runwasm's root"

test_case "cli: create with a missing bundle, no config.json, invalid JSON"
for b in missing-bundle no-config bad-json; do
  both create --bundle "$b" "cli-$b"
  same_failure "create --bundle $b"
  assert_clean "cli-$b" "$W_ROOT" "$R_ROOT"
done

test_case "cli: run that fails to start leaves nothing"
for b in bad-module no-entry no-entry-linux; do
  both run --bundle "$b" "cli-run-$b"
  same_failure "run of $b"
  assert_clean "cli-run-$b" "$W_ROOT" "$R_ROOT"
done
assert_contains "$W_ERR" "/bin/nope" "runwasm's message for a missing program"
both run --bundle bad-module -d "cli-run-bad-d"
same_failure "run -d of an invalid module"
assert_clean "cli-run-bad-d" "$W_ROOT" "$R_ROOT"
# a failed create, too
both create --bundle bad-module "cli-create-bad"
same_failure "create of an invalid module"
assert_clean "cli-create-bad" "$W_ROOT" "$R_ROOT"
# a run whose id is taken fails without touching the container that has it
both create --bundle bb cli-taken
same_success "create cli-taken"
both run --bundle bb cli-taken
same_failure "run with a taken id"
both state cli-taken
same_success "state of the container whose id a failed run reused"
assert_eq "$(json_get "$W_OUT" '["status"]')" "created" "runwasm's cli-taken after the failed run"
both delete --force cli-taken
same_success "delete --force cli-taken"
assert_clean cli-taken "$W_ROOT" "$R_ROOT"

test_case "cli: spec writes runc's starter config, then refuses to overwrite it"
mkdir -p "$W_DIR/spec" "$R_DIR/spec"
both spec --bundle spec
same_success "spec --bundle DIR"
# same_spec DIR: runwasm's DIR/config.json is runc's but for the hostname (mount options
# compared as sets)
same_spec() {
  python3 - "$W_DIR/$1/config.json" "$R_DIR/$1/config.json" <<'PY'
import json, sys
w, r = (json.load(open(p)) for p in sys.argv[1:3])
for d in (w, r):
    d.pop("hostname")
    for m in d["mounts"]:
        m.get("options", []).sort()
print("same" if w == r else json.dumps([w, r]))
PY
}
w_spec=$(cat "$W_DIR/spec/config.json" 2>/dev/null)
assert_eq "$(same_spec spec 2>&1)" "same" "runwasm's config.json vs runc's"
assert_eq "$(head -c 3 "$W_DIR/spec/config.json" | od -An -c | tr -d ' ')" '{\n\t' "indentation (runc's tabs)"
both spec --bundle spec
same_failure "spec over an existing config.json"
assert_contains "$W_ERR" "File config.json exists. Remove it first" "runwasm's message"
assert_eq "$(cat "$W_DIR/spec/config.json")" "$w_spec" "config.json after the refused spec"
cd "$W_DIR/spec" && run "$RUNWASM" spec; cd "$E2E_DIR" || exit 1
assert_rc 1 "spec in a directory that has config.json"; assert_contains "$ERR" "level=error"
mkdir -p "$W_DIR/spec-rootless" "$R_DIR/spec-rootless"
both spec --rootless --bundle spec-rootless
same_success "spec --rootless"
assert_eq "$(same_spec spec-rootless 2>&1)" "same" "runwasm's rootless config.json vs runc's"
both spec --bundle missing-dir
same_failure "spec --bundle of a missing directory"

test_case "cli: spec --wasm writes a config that runs a module"
B="$W_DIR/spec-wasm"; mkdir -p "$B"; cp -a "$FIXTURES/wasm-rootfs" "$B/rootfs"
run "$RUNWASM" spec --wasm /probe.wasm --bundle "$B"
assert_rc 0 "spec --wasm"
assert_eq "$(json_get "$(cat "$B/config.json")" '["process"]["args"]')" "['/probe.wasm']" "args"
assert_eq "$(json_get "$(cat "$B/config.json")" '["annotations"]["module.wasm.image/variant"]')" "compat" "annotation"
run "$RUNWASM" --root "$W_ROOT" run --bundle "$B" cli-spec-wasm
assert_rc 0 "run of the spec --wasm bundle"; assert_contains "$OUT" "hello from wasm"
assert_clean cli-spec-wasm "$W_ROOT"

test_case "cli: list (ls), runc's table and JSON"
both list
same_success "list of an empty root"
assert_eq "$W_OUT" "$R_OUT" "table of an empty root"
run "$RUNWASM" --root "$W_ROOT" list --format json
assert_rc 0; assert_eq "$OUT" "[]" "JSON of an empty root (runc prints null)"
both create --bundle bb cli-list
same_success "create cli-list"
# entries that are no container are skipped
mkdir -p "$W_ROOT/not-a-container"; touch "$W_ROOT/a-file"
both list
same_success "list"
assert_eq "$(wc -l <<<"$W_OUT")" 2 "table lines (header, one container)"
w_row=$(sed -n 2p <<<"$W_OUT") r_row=$(sed -n 2p <<<"$R_OUT")
# runc's table up to CREATED; the times differ in length (Go drops trailing zeros of the
# nanoseconds), so OWNER is checked against the time's own width
assert_eq "$(head -1 <<<"$W_OUT" | sed 's/CREATED.*/CREATED/')" "$(head -1 <<<"$R_OUT" | sed 's/CREATED.*/CREATED/')" "table header"
for t in W R; do
  out_var=${t}_OUT row_var=${t,,}_row
  created=$(awk '{print $5}' <<<"${!row_var}")
  at=$(head -1 <<<"${!out_var}" | grep -bo CREATED | cut -d: -f1)
  assert_eq "$(head -1 <<<"${!out_var}" | grep -bo OWNER | cut -d: -f1)" "$((at + ${#created} + 3))" "$t: OWNER after a CREATED of ${#created} characters"
done
assert_eq "$(awk '{print $1, $3, $6}' <<<"$w_row")" "$(awk '{print $1, $3, $6}' <<<"$r_row")" "id, status, owner"
assert_eq "$(awk '{print $3}' <<<"$w_row")" "created" "status"
assert_eq "$(awk '{print $4}' <<<"$w_row")" "$W_DIR/bb" "bundle"
assert_eq "$(awk '{print $2}' <<<"$w_row")" "$(json_get "$(cd "$W_DIR" && "$RUNWASM" --root "$W_ROOT" state cli-list)" '["pid"]')" "pid"
# the columns start where runc's start (the bundle paths are of one length)
for col in PID STATUS BUNDLE CREATED; do
  assert_eq "$(head -1 <<<"$W_OUT" | grep -bo "$col" | cut -d: -f1)" "$(head -1 <<<"$R_OUT" | grep -bo "$col" | cut -d: -f1)" "$col column"
done
for word in created /bb; do
  assert_eq "$(grep -bo "$word" <<<"$w_row" | head -1 | cut -d: -f1)" "$(grep -bo "$word" <<<"$r_row" | head -1 | cut -d: -f1)" "where '$word' is in a row"
done
bundle wasm-sleep "$FIXTURES/wasm-rootfs" '["/probe.wasm", "sleep", "3600"]'
run "$RUNWASM" --root "$W_ROOT" create --bundle "$W_DIR/wasm-sleep" cli-list-wasm
assert_rc 0 "create a wasm container"
run "$RUNWASM" --root "$W_ROOT" list
assert_rc 0 "list with a wasm container"
assert_eq "$(awk '{print $1, $3}' <<<"$OUT" | tail -n +2 | tr '\n' ' ')" "cli-list created cli-list-wasm created " "rows"
both ls
assert_eq "$W_RC" 0 "runwasm ls (an alias runc 1.1 lacks)"; assert_eq "$W_OUT" "$(cd "$W_DIR" && "$RUNWASM" --root "$W_ROOT" list)" "ls = list"
both list --format json
same_success "list --format json"
shape=$(python3 - "$W_OUT" "$R_OUT" <<'PY'
import json, sys
from datetime import datetime
w, r = (json.loads(s) for s in sys.argv[1:3])
assert isinstance(w, list) and isinstance(r, list), "not arrays"
keys = {"id", "pid", "status", "bundle", "created", "owner"}
for items in (w, r):
    for i in items:
        assert keys <= set(i), f"missing {keys - set(i)} in {i}"
        assert isinstance(i["pid"], int) and i["pid"] > 0, i
        datetime.strptime(i["created"][:19], "%Y-%m-%dT%H:%M:%S")
wi = {i["id"]: i for i in w}
assert set(wi) == {"cli-list", "cli-list-wasm"}, sorted(wi)
assert set(r[0]) - {"annotations"} <= set(wi["cli-list"]), (set(r[0]), set(wi["cli-list"]))
for k in ("status", "owner"):
    assert wi["cli-list"][k] == r[0][k], (k, wi["cli-list"][k], r[0][k])
print("ok")
PY
)
assert_eq "$shape" "ok" "list --format json shape"
both list -f json -q
same_success "list -q"
assert_eq "$(tr '\n' ' ' <<<"$W_OUT")" "cli-list cli-list-wasm " "runwasm list -q"
assert_eq "$R_OUT" "cli-list" "runc list -q"
both list --format xml
same_failure "list --format xml"
rm -rf "$W_ROOT/not-a-container" "$W_ROOT/a-file"
"$RUNWASM" --root "$W_ROOT" delete --force cli-list-wasm
both delete --force cli-list
same_success "delete --force cli-list"
assert_clean cli-list "$W_ROOT" "$R_ROOT"; assert_clean cli-list-wasm "$W_ROOT"

test_case "cli: events --stats prints runc's stats event; events streams until the container stops"
both events --stats cli-events
same_failure "events of a container that does not exist"
both run -d --bundle bb cli-events
same_success "run -d"
both events --stats cli-events
same_success "events --stats"
shape=$(python3 - "$W_OUT" "$R_OUT" <<'PY'
import json, sys
w, r = (json.loads(s) for s in sys.argv[1:3])
assert (w["type"], w["id"]) == (r["type"], r["id"]) == ("stats", "cli-events"), (w["type"], r["type"])
wd, rd = w["data"], r["data"]
# the values runc reports for the same kind of container in the same kind of cgroup
for path in (("cpu", "usage", "total"), ("memory", "usage", "usage"), ("pids", "current")):
    for name, d in (("runwasm", wd), ("runc", rd)):
        v = d
        for k in path: v = v[k]
        assert isinstance(v, int) and v > 0, f"{name} {'.'.join(path)} = {v}"
assert wd["pids"]["current"] == rd["pids"]["current"], (wd["pids"], rd["pids"])
assert set(rd["memory"]["raw"]) <= set(wd["memory"]["raw"]), set(rd["memory"]["raw"]) - set(wd["memory"]["raw"])
assert wd["memory"]["cache"] == wd["memory"]["raw"].get("cache", wd["memory"]["raw"].get("file")), wd["memory"]
print("ok")
PY
)
assert_eq "$shape" "ok" "runwasm's stats event against runc's"
cd "$W_DIR" && { timeout 20 "$RUNWASM" --root "$W_ROOT" events --interval 1 cli-events > "$E2E_DIR/events.out" 2>&1 & events_pid=$!; }; cd "$E2E_DIR"
sleep 2.5
"$RUNWASM" --root "$W_ROOT" kill cli-events KILL
wait $events_pid; events_rc=$?
assert_eq "$events_rc" 0 "events ends by itself when the container stops (124: it did not)"
lines=$(grep -c '"type":"stats"' "$E2E_DIR/events.out")
[ "$lines" -ge 2 ] && _pass || _fail "events printed $lines stats lines in 2.5 s at --interval 1: $(head -c 300 "$E2E_DIR/events.out")"
"$RUNC" --root "$R_ROOT" kill cli-events KILL
sleep 0.3
both events --stats cli-events
same_failure "events --stats of a stopped container"
both delete --force cli-events
same_success "delete"
assert_clean cli-events "$W_ROOT" "$R_ROOT"

test_case "cli: exec into a paused container, refused without --ignore-paused"
both run -d --bundle bb cli-paused
same_success "run -d"
both pause cli-paused
same_success "pause"
both exec cli-paused true
same_failure "exec into a paused container"
assert_contains "$W_ERR" "paused" "runwasm's message"
# with --ignore-paused the process is made and frozen with the container: it ends on resume
bg_pids=""
for rt in rw rc; do
  if [ $rt = rw ]; then bin=$RUNWASM root=$W_ROOT; else bin=$RUNC root=$R_ROOT; fi
  (cd "$E2E_DIR/$rt" && exec "$bin" --root "$root" exec --ignore-paused cli-paused sh -c 'echo ran while paused') \
      >"$E2E_DIR/$rt-exec.out" 2>"$E2E_DIR/$rt-exec.err" &
  eval "${rt}_exec=$!"; bg_pids+=" $!"
done
sleep 2
for rt in rw rc; do
  pid_var=${rt}_exec
  kill -0 "${!pid_var}" 2>/dev/null && _pass || _fail "$rt exec --ignore-paused ended while paused: $(cat "$E2E_DIR/$rt-exec.err")"
  assert_eq "$(cat "$E2E_DIR/$rt-exec.out")" "" "$rt exec output while paused"
done
both resume cli-paused
same_success "resume"
for rt in rw rc; do
  pid_var=${rt}_exec
  wait "${!pid_var}"; assert_eq "$?" 0 "$rt exec --ignore-paused status after resume ($(cat "$E2E_DIR/$rt-exec.err"))"
  assert_eq "$(cat "$E2E_DIR/$rt-exec.out")" "ran while paused" "$rt exec output after resume"
done
bg_pids=""
both kill cli-paused KILL
same_success "kill"
wait_for sh -c "'$RUNWASM' --root '$W_ROOT' state cli-paused | grep -q stopped"
wait_for sh -c "'$RUNC' --root '$R_ROOT' state cli-paused | grep -q stopped"
both delete cli-paused
same_success "delete"
assert_clean cli-paused "$W_ROOT" "$R_ROOT"

test_case "cli: exec --ignore-paused into a paused wasm container (runwasm only)"
run "$RUNWASM" --root "$W_ROOT" run -d --bundle "$W_DIR/wasm-sleep" cli-paused-wasm
assert_rc 0 "run -d (wasm)"
run "$RUNWASM" --root "$W_ROOT" pause cli-paused-wasm; assert_rc 0 "pause (wasm)"
run "$RUNWASM" --root "$W_ROOT" exec cli-paused-wasm /probe.wasm hello
assert_rc 255 "exec into a paused wasm container"; assert_contains "$ERR" "level=error"
"$RUNWASM" --root "$W_ROOT" exec --ignore-paused cli-paused-wasm /probe.wasm hello >"$E2E_DIR/wasm-exec.out" 2>&1 &
wasm_exec=$!; bg_pids=$wasm_exec
sleep 1
kill -0 $wasm_exec 2>/dev/null && _pass || _fail "wasm exec --ignore-paused ended while paused: $(cat "$E2E_DIR/wasm-exec.out")"
run "$RUNWASM" --root "$W_ROOT" resume cli-paused-wasm; assert_rc 0 "resume (wasm)"
wait $wasm_exec; assert_eq "$?" 0 "wasm exec --ignore-paused status"; bg_pids=""
assert_contains "$(cat "$E2E_DIR/wasm-exec.out")" "hello from wasm" "wasm exec output after resume"
run "$RUNWASM" --root "$W_ROOT" delete --force cli-paused-wasm; assert_rc 0
assert_clean cli-paused-wasm "$W_ROOT"

# killed_in_flight DELAY_MS COMMAND ARGS...: starts `runwasm COMMAND --pid-file P ARGS` (a
# create or an exec), stops it DELAY_MS after its pid file names the new process (libcontainer
# writes it while the process still sets up), SIGKILLs it, and keeps FORKED (the pid it named)
# and IN_FLIGHT: 1 when it was stopped before it handed the container over (its guard, a child
# named runwasm that lives until the hand-over, was still there)
killed_in_flight() {
  local delay=$1; shift
  local pid_file="$E2E_DIR/in-flight.pid"
  rm -f "$pid_file"
  "$RUNWASM" --root "$W_ROOT" "$1" --pid-file "$pid_file" "${@:2}" >/dev/null 2>&1 &
  local forker=$! t0
  while [ ! -s "$pid_file" ] && kill -0 $forker 2>/dev/null; do :; done
  t0=${EPOCHREALTIME/./}
  while (( ${EPOCHREALTIME/./} - t0 < delay * 1000 )); do :; done
  IN_FLIGHT=0
  if kill -STOP $forker 2>/dev/null; then
    # stopped, the forker sends nothing more: the new process finishes its setup and waits
    sleep 0.3
    # a guard that got the hand-over exits at once (a zombie of the stopped forker)
    for child in $(cat /proc/$forker/task/*/children 2>/dev/null); do
      [ "$(cat /proc/$child/comm 2>/dev/null)" = runwasm ] && runs $child && IN_FLIGHT=1
    done
  fi
  FORKED=$(cat "$pid_file" 2>/dev/null)
  kill -KILL $forker 2>/dev/null; wait $forker 2>/dev/null
}

# runs PID: PID is a live process (not a zombie)
runs() { [ -n "$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != "" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

test_case "cli: create and exec SIGKILLed in flight take their half-made processes along (runwasm only)"
# runc's own children die with it (its init reads a pipe from it); libcontainer's did not:
# an exec's init waited for ever holding the caller's stdio, a create's made its cgroup
# and mounts after the caller cleaned up
caught=0
for delay in 0 0 1 1 3; do
  attempt=$((${attempt:-0} + 1)); id=cli-killed-create-$attempt
  killed_in_flight $delay create --bundle "$W_DIR/bb" $id
  caught=$((caught + IN_FLIGHT))
  [ "$IN_FLIGHT" = 1 ] || { "$RUNWASM" --root "$W_ROOT" delete --force $id >/dev/null 2>&1; continue; }
  for _ in $(seq 20); do runs "$FORKED" || break; sleep 0.1; done
  runs "$FORKED" && _fail "create killed ${delay} ms after its pid file: its init $FORKED still runs" || _pass
  run "$RUNWASM" --root "$W_ROOT" delete --force $id; assert_rc 0 "delete --force after a killed create"
  assert_clean $id "$W_ROOT"
done
[ "$caught" -gt 0 ] && _pass || _fail "no create was caught in flight: the case shows nothing"

run "$RUNWASM" --root "$W_ROOT" run -d --bundle "$W_DIR/bb" cli-killed-exec; assert_rc 0 "run -d"
caught=0
for delay in 0 0 1 1 3; do
  killed_in_flight $delay exec --detach cli-killed-exec sleep 3600
  caught=$((caught + IN_FLIGHT))
  [ "$IN_FLIGHT" = 1 ] || { runs "$FORKED" && kill -KILL "$FORKED"; continue; }
  for _ in $(seq 20); do runs "$FORKED" || break; sleep 0.1; done
  runs "$FORKED" && _fail "exec killed ${delay} ms after its pid file: its process $FORKED still runs" || _pass
done
[ "$caught" -gt 0 ] && _pass || _fail "no exec was caught in flight: the case shows nothing"
run "$RUNWASM" --root "$W_ROOT" exec cli-killed-exec echo still here
assert_rc 0 "the next exec"; assert_contains "$OUT" "still here" "the next exec's output"
assert_eq "$(ls "$W_ROOT/cli-killed-exec" | grep -c 'tenant-notify')" 0 "exec notify sockets left in the state dir"
run "$RUNWASM" --root "$W_ROOT" delete --force cli-killed-exec; assert_rc 0
assert_clean cli-killed-exec "$W_ROOT"

# half_made ID STATE_JSON: the state dir a `runwasm create` killed in flight leaves for ID
half_made() {
  mkdir -p "$W_ROOT/$1"
  printf '%s' "$2" > "$W_ROOT/$1/state.json"
  printf '{"hooks":null,"cgroup_path":"/runwasm-e2e-cli/rw/%s"}' "$1" > "$W_ROOT/$1/youki_config.json"
}

test_case "cli: delete --force removes what a create killed half-way left (runwasm only)"
# found by the stress suite's chaos: a create killed while its process joined the cgroup
# controllers one by one (libcgroups lists pids from devices only), and one killed while it
# saved state.json (rewritten in place)
id=cli-half-joined
half_made $id "{\"ociVersion\":\"1.1.0\",\"id\":\"$id\",\"status\":\"creating\",\"bundle\":\"$W_DIR/bb\",\"annotations\":{},\"useSystemd\":false}"
sleep 3600 & half_pid=$!
if [ -d /sys/fs/cgroup/cpuacct ] && [ -d /sys/fs/cgroup/devices ]; then
  for c in cpuacct devices pids; do mkdir -p /sys/fs/cgroup/$c/runwasm-e2e-cli/rw/$id; done
  echo $half_pid > /sys/fs/cgroup/cpuacct/runwasm-e2e-cli/rw/$id/cgroup.procs   # not devices
else
  mkdir -p /sys/fs/cgroup/runwasm-e2e-cli/rw/$id
  echo $half_pid > /sys/fs/cgroup/runwasm-e2e-cli/rw/$id/cgroup.procs
fi
run "$RUNWASM" --root "$W_ROOT" delete --force $id; assert_rc 0 "delete --force of a half-joined create"
wait $half_pid 2>/dev/null; assert_eq "$?" 137 "the process in one controller only was SIGKILLed"
assert_clean $id "$W_ROOT"

id=cli-state-cut-short
half_made $id '{"ociVersion":"1.1.0","id":"cli-st'
run "$RUNWASM" --root "$W_ROOT" delete $id; assert_rc 1 "delete without --force of a cut-short state"
assert_contains "$ERR" "state file is empty or cut short" "the error names the cut-short state file"
run "$RUNWASM" --root "$W_ROOT" delete --force $id; assert_rc 0 "delete --force of a cut-short state"
assert_clean $id "$W_ROOT"

test_case "cli: usage errors carry an error line too"
both state
same_failure "state without an id"
both create --bogus-flag x
same_failure "an unknown flag"

test_case "cli: features reports the LSMs this host has"
run "$RUNWASM" features
assert_rc 0 "features"
host_apparmor=False host_selinux=False
[ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] && [ -e /sys/kernel/security/apparmor ] && host_apparmor=True
[ -e /sys/fs/selinux/enforce ] && host_selinux=True
echo "    host: apparmor $host_apparmor, selinux $host_selinux"
assert_eq "$(json_get "$OUT" '["linux"]["apparmor"]["enabled"]')" "$host_apparmor" "apparmor.enabled"
assert_eq "$(json_get "$OUT" '["linux"]["selinux"]["enabled"]')" "$host_selinux" "selinux.enabled"

summary "runwasm command line vs runc"
