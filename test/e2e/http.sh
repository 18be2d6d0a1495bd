#!/usr/bin/env bash
# wasi:http serving (docs/wasi-http.md): the component of test/wasm/http (image
# runwasm-test/http, exporting wasi:http/incoming-handler only) served by the container's init
# process, driven from the host over HTTP/1.1 (keep-alive) and h2c: routes, traps, outgoing
# calls, the access log, the listen address (env, annotation, default), the settings and their
# validation, the concurrency limit, SIGTERM under load (graceful), idle and half-sent
# connections at SIGTERM/SIGINT, the grace period, SIGKILL, and the refusal of outgoing
# requests in a container without network (entered with nsenter).
# Clients: `ctr run --runtime io.containerd.runwasm.v1` on CONTAINERD_ENGINE (containerd-1.6,
# the default, or containerd-1.7 / containerd-2.1), podman with runwasm as its runtime, and
# Docker 28 with the shim. HTTP_CLIENTS picks them: "ctr podman docker" on the default engine,
# "ctr" on another (podman and Docker do not depend on CONTAINERD_ENGINE).
# Helpers: test/e2e/http-client.py (keep-alive load, concurrent requests, streaming, idle and
# half-sent requests), test/e2e/http-h2c.py (h2c streams on one connection, an idle h2c
# connection). A python http.server on the host is the upstream of /call.
source "$(dirname "$0")/lib.sh"
export CONTAINERD_ENGINE=${CONTAINERD_ENGINE:-containerd-1.6}
ENGINE=$CONTAINERD_ENGINE
if [ "$ENGINE" = containerd-1.6 ]; then CLIENTS=${HTTP_CLIENTS:-ctr podman docker}; else CLIENTS=${HTTP_CLIENTS:-ctr}; fi
E2E_DIR=${E2E_DIR:-/tmp/runwasm-e2e}/http-$ENGINE
CTRD="$E2E_DIR/containerd"
NS=runwasm-http-e2e-$ENGINE
SHIM=${SHIM:-$ROOT_DIR/target/release/containerd-shim-runwasm-v1}
STATE_ROOT=/run/containerd/runwasm/$NS
HTTP=docker.io/runwasm-test/http:latest
SOCK="$CTRD/containerd.sock"
CTR="$CTRD/bin/ctr"   # the engine's own ctr, linked there by containerd.sh start
# podman's and dockerd's private directories
PDIR="$E2E_DIR/podman" PRUN=/run/runwasm-e2e/http-podman
DDIR="$E2E_DIR/docker-28" DRUN=/run/runwasm-e2e/http-docker-28
CLIENT=(python3 "$ROOT_DIR/test/e2e/http-client.py")
H2C=(python3 "$ROOT_DIR/test/e2e/http-h2c.py")   # h2c streams on one connection (curl 7.88 cannot)
ADDR_ENV=WASMTIME_HTTP_PROXY_SOCKET_ADDR

ctr_() { "$CTR" -a "$SOCK" -n "$NS" "$@"; }
srun() { ctr_ run --runtime io.containerd.runwasm.v1 --fifo-dir "$CTRD/fifo" "$@"; }
task_pid() { ctr_ t ls 2>/dev/null | awk -v id="$1" '$1 == id {print $2}'; }
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
# background processes of this suite (ctr run, clients, the upstream server): ended by PID
BG=()
cleanup() {
  local pid
  for pid in "${BG[@]}"; do kill "$pid" 2>/dev/null; done
  "$ROOT_DIR/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1
  [ -d "$PDIR" ] && "$ROOT_DIR/scripts/podman.sh" stop "$PDIR" "$PRUN" >/dev/null 2>&1
  [ -d "$DDIR" ] && "$ROOT_DIR/scripts/dockerd.sh" stop "$DDIR" "$DRUN" >/dev/null 2>&1
}
trap cleanup EXIT

free_port() { "${CLIENT[@]}" free-port; }
# get URL [CURL_ARGS...]: one request with curl: CODE (the status, 000 for none), BODY (exact,
# trailing newlines kept, NULs dropped), HEADERS, VERSION (the HTTP version), CURL_RC (curl's
# exit status: 7 is "could not connect")
get() {
  local url=$1 w; shift
  rm -f "$E2E_DIR/body" "$E2E_DIR/headers"
  w=$(curl -sS --max-time 10 -D "$E2E_DIR/headers" -o "$E2E_DIR/body" -w '%{http_code} %{http_version}' "$@" "$url" 2>"$E2E_DIR/curl.err")
  CURL_RC=$?
  CODE=${w%% *} VERSION=${w#* }
  BODY=$(tr -d '\0' 2>/dev/null <"$E2E_DIR/body"; echo x); BODY=${BODY%x}
  HEADERS=$(tr -d '\r' 2>/dev/null <"$E2E_DIR/headers")
}
# wait_line FILE TEXT PID: up to 30 s for TEXT in FILE; gives up at once when PID has ended
wait_line() {
  for _ in $(seq 1 300); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { grep -qF -- "$2" "$1" 2>/dev/null; return; }
    sleep 0.1
  done
  return 1
}
# serve NAME CTR_RUN_OPTIONS...: `ctr run --rm` of the http image in the background as
# container NAME, stdout (the access log) in $E2E_DIR/NAME.out, stderr in NAME.err; $SERVED
# is the pid of that ctr run, which exits with the task's status
serve() {
  local name=$1; shift
  srun --rm "$@" "$HTTP" "$name" >"$E2E_DIR/$name.out" 2>"$E2E_DIR/$name.err" </dev/null &
  SERVED=$!; BG+=("$SERVED")
}
# serving NAME ADDR: the lifecycle line of a server listening on ADDR, within 30 s
serving() {
  wait_line "$E2E_DIR/$1.err" "runwasm: serving wasi:http on http://$2" "$SERVED" && _pass \
    || _fail "$1: no 'runwasm: serving wasi:http on http://$2' on stderr: $(head -c 1500 "$E2E_DIR/$1.err")"
}
# finish PID SECONDS: waits up to SECONDS for background PID; RC is its status ("timeout" if
# it still runs, then it is killed)
finish() {
  for _ in $(seq 1 $(($2 * 10))); do
    kill -0 "$1" 2>/dev/null || { wait "$1"; RC=$?; return 0; }
    sleep 0.1
  done
  RC=timeout; kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null
}
# stop_task NAME: SIGTERM to the task, then its ctr run ends with 0 within 15 s
stop_task() {
  run ctr_ task kill -s SIGTERM "$1"; assert_rc 0 "ctr task kill -s SIGTERM $1"
  finish "$SERVED" 15; assert_eq "$RC" 0 "exit status of $1 after SIGTERM (stderr: $(tail -c 600 "$E2E_DIR/$1.err"))"
}
# access-log line: RFC 3339 UTC time with ms, method, target, status, duration in us
TS='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
logged() {  # logged FILE 'METHOD TARGET STATUS': how many access-log lines there are of it
  local re; re=$(sed 's/[.?*+^$()|{}\\[]/\\&/g' <<<"$2")
  grep -cE "^$TS $re [0-9]+us\$" "$1"
}
stream_body() { seq 1 "$1" | sed 's/^/chunk /'; }   # the body of /stream?n=N (no last \n)
# fails_then_serves NAME PID BASE PATH LINE: GET BASE/PATH is answered 500, LINE shows on
# NAME's stderr, and the server (PID: its ctr run) goes on serving GET /
fails_then_serves() {
  local name=$1 pid=$2 base=$3 path=$4 line=$5
  get "$base$path"
  assert_eq "$CODE" 500 "GET $path"; assert_eq "$BODY" $'internal server error\n' "body of GET $path"
  wait_line "$E2E_DIR/$name.err" "$line" "$pid" && _pass \
    || _fail "no '$line' on stderr: $(tail -c 1000 "$E2E_DIR/$name.err")"
  get "$base/"
  assert_eq "$CODE" 200 "GET / after $path"; assert_eq "$BODY" $'hello from wasi:http\n' "body after $path"
  kill -0 "$pid" 2>/dev/null && _pass || _fail "$name ended after GET $path"
}
# memory_limit PID: the limit of its memory cgroup (v1 memory.limit_in_bytes, else v2 memory.max)
memory_limit() {
  local v1; v1=$(awk -F: '$2 == "memory" {print $3}' "/proc/$1/cgroup")
  if [ -n "$v1" ]; then cat "/sys/fs/cgroup/memory$v1/memory.limit_in_bytes"
  else cat "/sys/fs/cgroup$(awk -F: '$1 == 0 {print $3}' "/proc/$1/cgroup")/memory.max"; fi
}
# the cache's files by inode and name (a store writes new files; a hit only touches the mtime)
cache_files() { find "$CACHE" -type f -printf '%i %P\n' | sort; }
# resident_percent PID FILE: how much of PID's mappings of FILE is resident, in percent
resident_percent() {
  awk -v f="$2" '/^[0-9a-f]+-[0-9a-f]+ /{m = ($NF == f)} m && /^Size:/{s += $2} m && /^Rss:/{r += $2}
    END {print (s ? int(100 * r / s) : "none")}' "/proc/$1/smaps"
}
status_field() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$2/status"; }   # KEY PID

# leftovers of an aborted earlier run of this suite
cleanup
for id in $(ls "$STATE_ROOT" 2>/dev/null); do "$RUNWASM" --root "$STATE_ROOT" delete --force "$id"; done
rm -rf "$E2E_DIR"; mkdir -p "$CTRD/bin" "$E2E_DIR/www"
[ -f "$FIXTURES/http.tar" ] || { echo "no $FIXTURES/http.tar: scripts/build-fixtures.sh"; exit 1; }

# an upstream server on the host for /call
echo "from the host" > "$E2E_DIR/www/x"
UP=$(free_port)
python3 -m http.server "$UP" --bind 127.0.0.1 --directory "$E2E_DIR/www" >"$E2E_DIR/upstream.log" 2>&1 &
BG+=($!)
wait_for curl -sf -o /dev/null "http://127.0.0.1:$UP/x" || { echo "the upstream http.server on $UP did not start"; exit 1; }
CLOSED=$(free_port)   # nothing listens there

if [[ " $CLIENTS " == *" ctr "* ]]; then
ln -sf "$SHIM" "$CTRD/bin/containerd-shim-runwasm-v1"
ln -sf "$RUNWASM" "$CTRD/bin/runwasm"
# a compile cache of this suite's own (the shims inherit containerd's environment)
CACHE="$E2E_DIR/cache"; mkdir -m 700 "$CACHE"
RUNWASM_CACHE_DIR=$CACHE "$ROOT_DIR/scripts/containerd.sh" start "$CTRD" || exit 1
[ -x "$CTR" ] || { echo "no $CTR after containerd.sh start"; exit 1; }
ctr_ image import "$FIXTURES/http.tar" >/dev/null || exit 1

test_case "http: ctr run --net-host, address from $ADDR_ENV: listening, served by the task's init process"
P=$(free_port); BASE=http://127.0.0.1:$P
serve h-main --net-host --env "$ADDR_ENV=127.0.0.1:$P"
MAIN=$SERVED
serving h-main "127.0.0.1:$P"
pid=$(task_pid h-main)
[[ "$pid" =~ ^[1-9][0-9]*$ ]] && _pass || _fail "no task pid of h-main: '$pid'"
# the listening socket is the init process's own (no helper process serves)
listener=$(ss -Hltnp "sport = :$P" 2>&1)
assert_contains "$listener" "pid=$pid," "the listener on :$P"
assert_eq "$(ctr_ task ps h-main 2>/dev/null | awk 'NR > 1' | wc -l)" "1" "processes of h-main (ctr task ps)"
# the shim let go of the code that set the task up (it maps back what it uses later)
shim=$(awk '{print $4}' "/proc/$pid/stat")
share=$(resident_percent "$shim" "$(realpath "$SHIM")")
[ "$share" != none ] && [ "$share" -lt 50 ] && _pass \
  || _fail "the shim ($shim) has ${share}% of its binary's mappings resident after start, want < 50"
# the first start compiled the component into the (empty) cache
COMPILED=$(cache_files)
assert_eq "$(grep -c '\.cwasm$' <<<"$COMPILED")" 1 "compiled artifacts in the cache after the first start ($COMPILED)"
# the server is confined as the container: its cgroup, capabilities (ctr's default spec:
# containerd's 14 default capabilities) and no_new_privs (Docker's case below: seccomp)
assert_contains "$(cat "/proc/$pid/cgroup")" "/$NS/h-main" "cgroups of the serving process"
assert_eq "$(status_field CapEff "$pid")" 00000000a80425fb "CapEff of the serving process"
assert_eq "$(status_field NoNewPrivs "$pid")" 1 "NoNewPrivs of the serving process"

test_case "http: GET / over HTTP/1.1, 404 for another path"
get "$BASE/"
assert_eq "$CODE" 200 "GET /"; assert_eq "$BODY" $'hello from wasi:http\n' "body of GET /"
assert_eq "$VERSION" "1.1" "HTTP version"
get "$BASE/nope"
assert_eq "$CODE" 404 "GET /nope"; assert_eq "$BODY" $'not found\n' "body of GET /nope"

test_case "http: POST /echo: method, target, headers and a 100 kB body come back"
head -c 100000 /dev/urandom > "$E2E_DIR/big.bin"
get "$BASE/echo?x=1&y=two" -X POST -H 'X-Probe: forty-two' -H 'Content-Type: application/octet-stream' --data-binary @"$E2E_DIR/big.bin"
assert_eq "$CODE" 200 "POST /echo"
assert_eq "$(head -1 "$E2E_DIR/body")" "POST /echo?x=1&y=two" "first line of the echo"
echoed_headers=$(sed -n '2,/^$/p' "$E2E_DIR/body" | head -c 4000 | tr -d '\0')
assert_contains "$echoed_headers" "x-probe: forty-two" "echoed headers"
assert_contains "$echoed_headers" "content-length: 100000" "echoed headers"
tail -c 100000 "$E2E_DIR/body" | cmp -s - "$E2E_DIR/big.bin" && _pass || _fail "the echoed body is not the 100000 bytes sent"
assert_eq "$(stat -c %s "$E2E_DIR/body")" "$(( $(sed -n '1,/^$/p' "$E2E_DIR/body" | wc -c) + 100000 ))" "echo size: its head, then exactly the body"

test_case "http: /stream?n=5&delay_ms=50: five chunks, each flushed as it is written"
run "${CLIENT[@]}" stream "$BASE/stream?n=5&delay_ms=50" "$E2E_DIR/stream.body"
assert_rc 0 "stream client"; assert_eq "$(field status)" 200 "status of /stream"
assert_eq "$(cat "$E2E_DIR/stream.body")" "$(stream_body 5)" "body of /stream"
reads=$(field reads) spread=$(field spread_ms)
[ "${reads:-0}" -ge 5 ] && _pass || _fail "/stream body came in ${reads:-?} pieces, want 5 (each chunk flushed): $OUT"
[ "${spread:-0}" -ge 150 ] && _pass || _fail "first to last chunk ${spread:-?} ms, want >= 150 (4 delays of 50 ms): $OUT"

test_case "http: /trap: 500, the trap on stderr, the server goes on"
fails_then_serves h-main "$MAIN" "$BASE" /trap "runwasm: GET /trap: wasm trap:"

test_case "http: /forget: a handler that returns without a response: 500, the server goes on"
fails_then_serves h-main "$MAIN" "$BASE" /forget "runwasm: GET /forget: the handler returned without setting a response"

test_case "http: /call: an outgoing request from a host-network container"
get "$BASE/call?url=http://127.0.0.1:$UP/x"
assert_eq "$CODE" 200 "GET /call of the host's server"; assert_eq "$BODY" $'upstream 200\nfrom the host\n' "body of /call"
assert_contains "$(cat "$E2E_DIR/upstream.log")" '"GET /x HTTP/1.1" 200' "the upstream server's log"
get "$BASE/call?url=http://127.0.0.1:$UP/missing"
assert_eq "$CODE" 200 "GET /call of a missing upstream path"; assert_contains "$BODY" "upstream 404" "body of /call (404 upstream)"
get "$BASE/call?url=http://127.0.0.1:$CLOSED/"
assert_eq "$CODE" 502 "GET /call of a closed port"; assert_contains "$BODY" "call failed: " "body of /call (closed port)"
assert_not_contains "$BODY" "HttpRequestDenied" "body of /call (closed port) on the host network"

test_case "http: without a memory limit an instance grows past 64 MiB"
get "$BASE/grow?mb=128"
assert_eq "$CODE" 200 "GET /grow?mb=128 without a limit"; assert_eq "$BODY" $'grew 128 MiB\n' "body of /grow?mb=128"

test_case "http: 1000 requests over one keep-alive connection"
run "${CLIENT[@]}" load 1000 "$BASE/?load" --expect-body $'hello from wasi:http\n'
assert_rc 0 "load client"
assert_eq "$(field ok)" 1000 "200s with the expected body of 1000 requests ($OUT)"; assert_eq "$(field errors)" 0 "errors of 1000 requests ($OUT)"
assert_eq "$(field connections)" 1 "connections for 1000 requests (keep-alive)"

test_case "http: a fresh instance per request: a global of the component is 1 on every request"
run "${CLIENT[@]}" load 50 "$BASE/count" --expect-body $'count 1\n'
assert_eq "$(field ok)" 50 "GET /count answered 'count 1' (50 requests, one connection; $OUT)"
run "${CLIENT[@]}" concurrent 20 "$BASE/count" --expect-body $'count 1\n'
assert_eq "$(field matched)" 20 "'count 1' of 20 concurrent requests ($OUT)"

test_case "http: 100 requests at once (past the default max-concurrency of 64, within its queue); HTTP/1.0"
run "${CLIENT[@]}" concurrent 100 "$BASE/?many" --expect-body $'hello from wasi:http\n'
assert_rc 0 "concurrent client"
assert_eq "$(field status 200)" 100 "200s of 100 concurrent requests ($OUT)"
assert_eq "$(field matched)" 100 "bodies of 100 concurrent requests"; assert_eq "$(field errors)" 0 "errors of 100 concurrent requests"
get "$BASE/" --http1.0
assert_eq "$CODE" 200 "GET / over HTTP/1.0"; assert_eq "$BODY" $'hello from wasi:http\n' "body over HTTP/1.0"

test_case "http: HTTP/2 with prior knowledge (h2c)"
get "$BASE/" --http2-prior-knowledge
assert_eq "$CODE" 200 "GET / over h2c"; assert_eq "$VERSION" 2 "HTTP version with --http2-prior-knowledge"
assert_eq "$BODY" $'hello from wasi:http\n' "body over h2c"
get "$BASE/echo?h2" --http2-prior-knowledge -X POST -H 'X-Probe: h2' --data-binary 'over h2'
assert_eq "$CODE" 200 "POST /echo over h2c"; assert_eq "$VERSION" 2 "HTTP version of the POST"
assert_eq "$(head -1 "$E2E_DIR/body")" "POST /echo?h2" "first line of the h2 echo"
assert_contains "$BODY" "x-probe: h2" "h2 echoed headers"; assert_eq "${BODY##*$'\n'}" "over h2" "h2 echoed body"
# ten 500 ms streams at once on one connection: about 500 ms in all, not 5 s
run "${H2C[@]}" multiplex "127.0.0.1:$P" "/stream?n=5&delay_ms=100" 10 "$(stream_body 5)"$'\n'
assert_rc 0 "h2c client"
assert_eq "$(field ok)" 10 "complete 200 streams of 10 on one h2c connection ($OUT)"
ms=$(field total_ms)
[ "${ms:-99999}" -lt 2000 ] && _pass || _fail "10 concurrent h2c streams of 500 ms took ${ms:-?} ms (not served concurrently?)"

test_case "http: the access log on the task's stdout"
sleep 0.3   # flushed within 100 ms
LOG="$E2E_DIR/h-main.out"
assert_eq "$(grep -cvE "^$TS [A-Z]+ [^ ]+ [0-9]{3} [0-9]+us\$" "$LOG")" 0 "stdout lines not in the access-log format ($(grep -vE "^$TS " "$LOG" | head -3))"
assert_eq "$(logged "$LOG" 'GET /?load 200')" 1000 "access-log lines of the 1000 keep-alive requests"
assert_eq "$(logged "$LOG" 'POST /echo?x=1&y=two 200')" 1 "access-log line of the echo"
assert_eq "$(logged "$LOG" 'GET /stream?n=5&delay_ms=50 200')" 1 "access-log line of the stream"
assert_eq "$(logged "$LOG" 'GET /trap 500')" 1 "access-log line of the trap"
assert_eq "$(logged "$LOG" 'GET /nope 404')" 1 "access-log line of the 404"
assert_eq "$(logged "$LOG" 'POST /echo?h2 200')" 1 "access-log line of the h2 echo"
assert_eq "$(logged "$LOG" 'GET /stream?n=5&delay_ms=100 200')" 10 "access-log lines of the 10 h2c streams"
last_ts=$(tail -1 "$LOG" | cut -d' ' -f1)
age=$(( $(date +%s) - $(date -u -d "$last_ts" +%s 2>/dev/null || echo 0) ))
[ "$age" -ge 0 ] && [ "$age" -lt 60 ] && _pass || _fail "the last access-log time '$last_ts' is not now (UTC): ${age}s off"

test_case "http: a client leaving mid-stream ends its request"
run "${CLIENT[@]}" disconnect "$BASE/stream?n=100&delay_ms=100"
assert_rc 0 "disconnecting client"; assert_eq "$(field status)" 200 "status before the client left"
# its next chunk cannot be written: the handler returns, the request is no longer in flight
# (the SIGTERM below counts exactly its own 20 requests and does not wait for this one)
sleep 1
kill -0 "$MAIN" 2>/dev/null && _pass || _fail "h-main ended after a client left"

test_case "http: SIGTERM under load: in-flight requests complete, no new ones, exit 0"
"${CLIENT[@]}" concurrent 20 "$BASE/stream?n=10&delay_ms=100" --expect-body "$(stream_body 10)"$'\n' \
    --ready "$E2E_DIR/term.ready" >"$E2E_DIR/term.out" 2>&1 &
load=$!; BG+=("$load")
wait_for test -e "$E2E_DIR/term.ready" && _pass || _fail "the 20 slow requests were not all answered: $(cat "$E2E_DIR/term.out")"
term_start=$(date +%s%N)
run ctr_ task kill -s SIGTERM h-main; assert_rc 0 "ctr task kill -s SIGTERM"
sleep 0.3
get "$BASE/" --max-time 3
assert_eq "$CODE" 000 "a new request 0.3 s after SIGTERM (stop accepting)"
finish "$load" 30; assert_eq "$RC" 0 "the concurrent client"
OUT=$(cat "$E2E_DIR/term.out")
assert_eq "$(field status 200)" 20 "200s of the 20 in-flight requests ($OUT)"
assert_eq "$(field matched)" 20 "complete bodies of the 20 in-flight requests"
assert_eq "$(field errors)" 0 "errors of the 20 in-flight requests"
finish "$MAIN" 20; took=$(( ($(date +%s%N) - term_start) / 1000000 ))
assert_eq "$RC" 0 "exit status of h-main after SIGTERM"
# the in-flight requests needed at most 1 s more: nothing else kept the server to its grace
[ "$took" -lt 4000 ] && _pass || _fail "h-main ended ${took} ms after SIGTERM, want < 4000 (its requests took 1 s)"
ERRLOG=$(cat "$E2E_DIR/h-main.err")
assert_contains "$ERRLOG" "runwasm: SIGTERM: stop accepting, 20 requests in flight" "h-main stderr"
assert_contains "$ERRLOG" "runwasm: stopped" "h-main stderr"
[ "$(grep -n 'runwasm: stopped' <<<"$ERRLOG" | cut -d: -f1 | head -1)" -gt "$(grep -n 'runwasm: SIGTERM' <<<"$ERRLOG" | cut -d: -f1 | head -1)" ] 2>/dev/null \
  && _pass || _fail "'runwasm: stopped' not after the SIGTERM line: $ERRLOG"
assert_eq "$(logged "$E2E_DIR/h-main.out" 'GET /stream?n=10&delay_ms=100 200')" 20 "access-log lines of the in-flight requests"
get "$BASE/" --max-time 3
assert_eq "$CODE" 000 "a request after the exit"
assert_eq "$CURL_RC" 7 "curl's status after the exit: could not connect (the listener is closed; $(cat "$E2E_DIR/curl.err"))"
gone h-main

test_case "http: SIGKILL ends the server at once (137)"
P=$(free_port); BASE=http://127.0.0.1:$P
serve h-kill --net-host --env "$ADDR_ENV=127.0.0.1:$P"
KILLED=$SERVED
serving h-kill "127.0.0.1:$P"
# a warm start maps the cached artifact: nothing compiled or written again
assert_eq "$(cache_files)" "$COMPILED" "the cache's files after a later start of the same image (inode, name)"
"${CLIENT[@]}" concurrent 1 "$BASE/stream?n=100&delay_ms=100" --ready "$E2E_DIR/kill.ready" >"$E2E_DIR/kill.out" 2>&1 &
load=$!; BG+=("$load")
wait_for test -e "$E2E_DIR/kill.ready" && _pass || _fail "the slow request was not answered"
start=$(date +%s%N)
run ctr_ task kill -s SIGKILL h-kill; assert_rc 0 "ctr task kill -s SIGKILL"
finish "$KILLED" 10; took=$(( ($(date +%s%N) - start) / 1000000 ))
assert_eq "$RC" 137 "exit status of h-kill after SIGKILL"
[ "$took" -lt 2000 ] && _pass || _fail "h-kill took ${took} ms to end after SIGKILL"
finish "$load" 10; OUT=$(cat "$E2E_DIR/kill.out")
assert_eq "$(field errors)" 1 "the slow request cut by SIGKILL ($OUT)"
assert_not_contains "$(cat "$E2E_DIR/h-kill.err")" "runwasm: stopped" "h-kill stderr"
gone h-kill

test_case "http: SIGHUP ends the server at once (129)"
P=$(free_port)
serve h-hup --net-host --env "$ADDR_ENV=127.0.0.1:$P"
HUP=$SERVED
serving h-hup "127.0.0.1:$P"
run ctr_ task kill -s SIGHUP h-hup; assert_rc 0 "ctr task kill -s SIGHUP"
finish "$HUP" 10; assert_eq "$RC" 129 "exit status of h-hup after SIGHUP"
assert_not_contains "$(cat "$E2E_DIR/h-hup.err")" "runwasm: stopped" "h-hup stderr (no drain)"
gone h-hup

test_case "http: address from the annotation run.runwasm.http.address; access-log=off; SIGINT with idle connections"
PA=$(free_port)
serve h-annot --net-host --annotation "run.runwasm.http.address=127.0.0.1:$PA" --annotation run.runwasm.http.access-log=off
ANNOT=$SERVED
serving h-annot "127.0.0.1:$PA"
get "http://127.0.0.1:$PA/"
assert_eq "$CODE" 200 "GET / on the annotation's address"
get "http://127.0.0.1:$PA/nope"
assert_eq "$CODE" 404 "GET /nope on the annotation's address"
# an idle HTTP/1.1 keep-alive connection and an idle h2c connection do not hold the server
"${CLIENT[@]}" idle "http://127.0.0.1:$PA/" 10 "$E2E_DIR/idle1.ready" >"$E2E_DIR/idle1.out" 2>&1 &
idle1=$!; BG+=("$idle1")
"${H2C[@]}" idle "127.0.0.1:$PA" 10 "$E2E_DIR/idle2.ready" >"$E2E_DIR/idle2.out" 2>&1 &
idle2=$!; BG+=("$idle2")
wait_for test -e "$E2E_DIR/idle1.ready" -a -e "$E2E_DIR/idle2.ready" && _pass || _fail "the idle clients got no answer"
sleep 0.3
start=$(date +%s%N)
run ctr_ task kill -s SIGINT h-annot; assert_rc 0 "ctr task kill -s SIGINT h-annot"
finish "$ANNOT" 15; took=$(( ($(date +%s%N) - start) / 1000000 ))
assert_eq "$RC" 0 "exit status of h-annot after SIGINT"
[ "$took" -lt 2000 ] && _pass || _fail "h-annot ended ${took} ms after SIGINT with only idle connections, want < 2000"
assert_contains "$(cat "$E2E_DIR/h-annot.err")" "runwasm: stopped" "h-annot stderr"
finish "$idle1" 10; OUT=$(cat "$E2E_DIR/idle1.out")
assert_eq "$OUT" $'status 200\nclosed' "the idle HTTP/1.1 connection (answered, then closed by the server)"
finish "$idle2" 10; OUT=$(cat "$E2E_DIR/idle2.out")
assert_contains "$OUT" "status 200" "the idle h2c connection"
assert_contains "$OUT" "goaway 0" "the idle h2c connection (a GOAWAY, NO_ERROR)"
assert_eq "$(tail -1 <<<"$OUT")" "closed" "the idle h2c connection's end"
assert_eq "$(cat "$E2E_DIR/h-annot.out")" "" "stdout with access-log=off"
gone h-annot

test_case "http: $ADDR_ENV wins over the annotation; a connection with half a request does not hold SIGTERM"
PA=$(free_port) PE=$(free_port)
serve h-both --net-host --env "$ADDR_ENV=127.0.0.1:$PE" --annotation "run.runwasm.http.address=127.0.0.1:$PA"
BOTH=$SERVED
serving h-both "127.0.0.1:$PE"
get "http://127.0.0.1:$PE/"
assert_eq "$CODE" 200 "GET / on the env's address"
get "http://127.0.0.1:$PA/" --max-time 3
assert_eq "$CODE" 000 "GET / on the annotation's address (the env's wins)"
# a client that sent part of a request head (no request is being handled): at SIGTERM the
# server has 0 requests in flight and must not wait its grace period (10 s) for it
"${CLIENT[@]}" partial "http://127.0.0.1:$PE/" 15 "$E2E_DIR/partial.ready" >"$E2E_DIR/partial.out" 2>&1 &
part=$!; BG+=("$part")
wait_for test -e "$E2E_DIR/partial.ready" && _pass || _fail "the partial request was not sent"
sleep 0.3
start=$(date +%s%N)
run ctr_ task kill -s SIGTERM h-both; assert_rc 0 "ctr task kill -s SIGTERM h-both"
finish "$BOTH" 15; took=$(( ($(date +%s%N) - start) / 1000000 ))
assert_eq "$RC" 0 "exit status of h-both after SIGTERM with a half-sent request open (stderr: $(tail -c 300 "$E2E_DIR/h-both.err"))"
[ "$took" -lt 2000 ] && _pass || _fail "h-both ended ${took} ms after SIGTERM with only a half-sent request open, want < 2000"
assert_contains "$(cat "$E2E_DIR/h-both.err")" "runwasm: SIGTERM: stop accepting, 0 requests in flight" "h-both stderr"
finish "$part" 20; assert_eq "$(cat "$E2E_DIR/partial.out")" "closed" "the half-sent request's connection"
gone h-both

test_case "http: an address in use: the container fails, naming it"
serve h-busy --net-host --env "$ADDR_ENV=127.0.0.1:$UP"   # the upstream http.server's port
finish "$SERVED" 30
assert_rc_not 0 "ctr run of a server whose address is in use"; assert_rc_not timeout "ctr run of a server whose address is in use"
assert_contains "$(cat "$E2E_DIR/h-busy.err")" "127.0.0.1:$UP" "h-busy stderr"
ctr_ c rm h-busy >/dev/null 2>&1
gone h-busy

test_case "http: an invalid setting is refused at create, naming the annotation"
run srun --rm --net-host --annotation run.runwasm.http.max-concurrency=lots "$HTTP" h-invalid
assert_rc_not 0 "ctr run with max-concurrency=lots"
assert_contains "$ERR" 'run.runwasm.http.max-concurrency "lots"' "ctr run's error"
ctr_ c rm h-invalid >/dev/null 2>&1
gone h-invalid

test_case "http: grace-period=1: a request longer than the grace is cut, exit 1"
P=$(free_port); BASE=http://127.0.0.1:$P
serve h-grace --net-host --env "$ADDR_ENV=127.0.0.1:$P" --annotation run.runwasm.http.grace-period=1
GRACE=$SERVED
serving h-grace "127.0.0.1:$P"
"${CLIENT[@]}" concurrent 1 "$BASE/stream?n=50&delay_ms=100" --ready "$E2E_DIR/grace.ready" >"$E2E_DIR/grace.out" 2>&1 &
load=$!; BG+=("$load")
wait_for test -e "$E2E_DIR/grace.ready" && _pass || _fail "the slow request was not answered"
start=$(date +%s%N)
run ctr_ task kill -s SIGTERM h-grace; assert_rc 0 "ctr task kill -s SIGTERM"
finish "$GRACE" 15; took=$(( ($(date +%s%N) - start) / 1000000 ))
assert_eq "$RC" 1 "exit status of h-grace when the grace ran out"
[ "$took" -ge 900 ] && [ "$took" -lt 3500 ] && _pass || _fail "h-grace ended ${took} ms after SIGTERM, want about 1000 (grace-period=1, a 5 s request)"
finish "$load" 10; OUT=$(cat "$E2E_DIR/grace.out")
assert_eq "$(field errors)" 1 "the request cut at the end of the grace ($OUT)"
assert_contains "$(cat "$E2E_DIR/h-grace.err")" "runwasm: SIGTERM: stop accepting, 1 request" "h-grace stderr"
gone h-grace

test_case "http: max-concurrency=2, queue-timeout-ms=200: 503 + Retry-After past the queue"
P=$(free_port); BASE=http://127.0.0.1:$P
serve h-conc --net-host --env "$ADDR_ENV=127.0.0.1:$P" \
    --annotation run.runwasm.http.max-concurrency=2 --annotation run.runwasm.http.queue-timeout-ms=200
serving h-conc "127.0.0.1:$P"
run "${CLIENT[@]}" concurrent 6 "$BASE/stream?n=5&delay_ms=100" --expect-body "$(stream_body 5)"$'\n'
assert_rc 0 "concurrent client"
assert_eq "$(field status 200)" 2 "200s of 6 concurrent 500 ms requests ($OUT)"
assert_eq "$(field status 503)" 4 "503s of 6 concurrent 500 ms requests"
assert_eq "$(field retry-after 1)" 4 "Retry-After: 1 of the 503s"
assert_eq "$(field matched)" 2 "complete bodies"; assert_eq "$(field errors)" 0 "errors"
# the 503s waited in the queue for about its timeout
min503=$(awk '$1 == "ms" && $2 == 503 {print $3}' <<<"$OUT")
[ "${min503:-0}" -ge 150 ] && [ "${min503:-0}" -lt 450 ] && _pass || _fail "the first 503 came after ${min503:-?} ms, want about 200 (queue-timeout-ms)"
# a request queued for less than the timeout is served
run "${CLIENT[@]}" concurrent 3 "$BASE/stream?n=1&delay_ms=50" --expect-body $'chunk 1\n'
assert_eq "$(field status 200)" 3 "200s of 3 concurrent 50 ms requests (one queued briefly) ($OUT)"
get "$BASE/"
assert_eq "$CODE" 200 "GET / after the 503s"
stop_task h-conc
gone h-conc

test_case "http: SIGTERM with requests waiting for a slot: they are served too, then exit 0"
P=$(free_port); BASE=http://127.0.0.1:$P
serve h-queue --net-host --env "$ADDR_ENV=127.0.0.1:$P" \
    --annotation run.runwasm.http.max-concurrency=2 --annotation run.runwasm.http.queue-timeout-ms=5000
QUEUED=$SERVED
serving h-queue "127.0.0.1:$P"
# 6 requests of 500 ms with 2 slots: SIGTERM once 2 are answered, while 4 wait for a slot
"${CLIENT[@]}" concurrent 6 "$BASE/stream?n=5&delay_ms=100" --expect-body "$(stream_body 5)"$'\n' \
    --ready "$E2E_DIR/queue.ready" --ready-count 2 >"$E2E_DIR/queue.out" 2>&1 &
load=$!; BG+=("$load")
wait_for test -e "$E2E_DIR/queue.ready" && _pass || _fail "no 2 requests answered: $(cat "$E2E_DIR/queue.out")"
run ctr_ task kill -s SIGTERM h-queue; assert_rc 0 "ctr task kill -s SIGTERM h-queue"
finish "$load" 30; assert_eq "$RC" 0 "the concurrent client"
OUT=$(cat "$E2E_DIR/queue.out")
assert_eq "$(field status 200)" 6 "200s of the 6 requests, 4 of them queued at SIGTERM ($OUT)"
assert_eq "$(field matched)" 6 "complete bodies of the 6 requests"
finish "$QUEUED" 20; assert_eq "$RC" 0 "exit status of h-queue after SIGTERM"
assert_contains "$(cat "$E2E_DIR/h-queue.err")" "runwasm: SIGTERM: stop accepting, 6 requests in flight" "h-queue stderr"
gone h-queue

test_case "http: a memory limit bounds each instance; a request past it traps (500), the server goes on"
P=$(free_port); BASE=http://127.0.0.1:$P
serve h-mem --net-host --env "$ADDR_ENV=127.0.0.1:$P" --memory-limit $((64 << 20))
MEM=$SERVED
serving h-mem "127.0.0.1:$P"
pid=$(task_pid h-mem)
assert_eq "$(memory_limit "$pid" 2>&1)" $((64 << 20)) "the memory limit of the server's cgroup"
get "$BASE/grow?mb=16"
assert_eq "$CODE" 200 "GET /grow?mb=16 under a 64 MiB limit"; assert_eq "$BODY" $'grew 16 MiB\n' "body of /grow?mb=16"
fails_then_serves h-mem "$MEM" "$BASE" "/grow?mb=128" "runwasm: GET /grow?mb=128: wasm trap:"
stop_task h-mem
gone h-mem

test_case "http: no network (ctr run without --net-host): served in its netns, outgoing requests refused"
serve h-nonet
NONET=$SERVED
serving h-nonet "0.0.0.0:8080"
pid=$(task_pid h-nonet)
[[ "$pid" =~ ^[1-9][0-9]*$ ]] && _pass || _fail "no task pid of h-nonet: '$pid'"
netns=$(readlink "/proc/$pid/ns/net" 2>&1)
[ -n "$netns" ] && [ "$netns" != "$(readlink /proc/self/ns/net)" ] && _pass || _fail "h-nonet is not in a netns of its own: '$netns'"
in_ns() { nsenter --net="/proc/$pid/ns/net" "$@"; }
run in_ns ip link set lo up; assert_rc 0 "ip link set lo up in the container's netns"
run in_ns curl -sS --max-time 10 -w ' %{http_code}' http://127.0.0.1:8080/
assert_rc 0 "curl in the netns"; assert_eq "$OUT" $'hello from wasi:http\n 200' "GET / in the container's netns"
run in_ns curl -sS --max-time 10 -w ' %{http_code}' "http://127.0.0.1:8080/call?url=http://127.0.0.1:8080/"
assert_rc 0 "curl /call in the netns"
assert_contains "$OUT" "call failed: " "/call without network"; assert_contains "$OUT" "HttpRequestDenied" "/call without network"
assert_eq "${OUT##* }" 502 "status of /call without network"
# the listener of the default address is in the container's netns, not on the host
run in_ns ss -Hltn "sport = :8080"; assert_contains "$OUT" "0.0.0.0:8080" "listener in the netns"
stop_task h-nonet
assert_contains "$(cat "$E2E_DIR/h-nonet.out")" "GET /call?url=http://127.0.0.1:8080/ 502" "access log of the refused call"
gone h-nonet

test_case "http: no container or snapshot of a deleted container is left"
run ctr_ c ls -q
assert_rc 0 "ctr c ls"; assert_eq "$OUT" "" "containers left in $NS"
assert_no_snapshots "deleted containers" "${CONTAINERS[@]}"
"$ROOT_DIR/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1
fi

if [[ " $CLIENTS " == *" podman "* ]]; then
test_case "podman: wasi:http with --network host: hello, echo, a trap (500), 1000 keep-alive requests, podman stop (graceful)"
STATE=/run/runwasm   # podman passes no --root
RUNWASM_BIN=$RUNWASM "$ROOT_DIR/scripts/podman.sh" config "$PDIR" "$PRUN" || exit 1
PM="$PDIR/bin/podman"
pod() { "$PM" --runtime "$RUNWASM" "$@"; }
"$PM" load -q -i "$FIXTURES/http.tar" >/dev/null || exit 1
P=$(free_port); BASE=http://127.0.0.1:$P
run pod run -d --name hp --network host -e "$ADDR_ENV=127.0.0.1:$P" "$HTTP"
assert_rc 0 "podman run -d"
id=$("$PM" inspect --format '{{.Id}}' hp 2>/dev/null)
wait_for curl -sf -o /dev/null "$BASE/" && _pass || _fail "podman: nothing serves on :$P ($("$PM" logs hp 2>&1 | tail -5))"
get "$BASE/"
assert_eq "$CODE" 200 "GET /"; assert_eq "$BODY" $'hello from wasi:http\n' "body of GET /"
get "$BASE/echo" -X POST -H 'X-Probe: podman' --data-binary 'from podman'
assert_eq "$CODE" 200 "POST /echo"; assert_contains "$BODY" "x-probe: podman" "echoed headers"
assert_eq "${BODY##*$'\n'}" "from podman" "echoed body"
get "$BASE/trap"
assert_eq "$CODE" 500 "GET /trap"
run "${CLIENT[@]}" load 1000 "$BASE/?load" --expect-body $'hello from wasi:http\n'
assert_eq "$(field ok)" 1000 "200s with the expected body of 1000 requests after the trap ($OUT)"
assert_eq "$(field errors)" 0 "errors of 1000 requests"
sleep 0.3
start=$(date +%s)
run pod stop -t 10 hp
assert_rc 0 "podman stop"; took=$(( $(date +%s) - start ))
[ "$took" -lt 8 ] && _pass || _fail "podman stop took ${took}s (SIGTERM not graceful?)"
assert_eq "$("$PM" inspect --format '{{.State.Status}} {{.State.ExitCode}}' hp 2>&1)" "exited 0" "state after podman stop"
run "$PM" logs hp
LOGS="$OUT"$'\n'"$ERR"
assert_contains "$LOGS" "runwasm: serving wasi:http on http://127.0.0.1:$P" "podman logs"
assert_contains "$LOGS" "runwasm: stopped" "podman logs"
assert_eq "$(grep -cE "^$TS GET /\\?load 200 [0-9]+us\$" <<<"$OUT")" 1000 "access-log lines in podman logs' stdout"
assert_eq "$(grep -cE "^$TS GET /trap 500 [0-9]+us\$" <<<"$OUT")" 1 "access-log line of /trap in podman logs' stdout"
assert_contains "$LOGS" "runwasm: GET /trap: wasm trap:" "podman logs"
"$PM" rm hp >/dev/null
if [ -n "$id" ]; then assert_clean "$id" "$STATE"; else _fail "no container id from podman inspect"; fi

test_case "podman: --network none (a netns of its own, no path in the spec): outgoing requests refused"
run pod run -d --name hn --network none "$HTTP"
assert_rc 0 "podman run -d --network none"
id=$("$PM" inspect --format '{{.Id}}' hn 2>/dev/null)
pid=$("$PM" inspect --format '{{.State.Pid}}' hn 2>/dev/null)
[[ "$pid" =~ ^[1-9][0-9]*$ ]] && _pass || _fail "no pid of hn: '$pid'"
in_ns() { nsenter --net="/proc/$pid/ns/net" "$@"; }
in_ns ip link set lo up
wait_for in_ns curl -sf -o /dev/null http://127.0.0.1:8080/ && _pass || _fail "podman --network none: nothing serves on :8080 in its netns"
run in_ns curl -sS --max-time 10 -w ' %{http_code}' "http://127.0.0.1:8080/call?url=http://127.0.0.1:8080/"
assert_contains "$OUT" "HttpRequestDenied" "/call in podman's --network none"; assert_eq "${OUT##* }" 502 "status of /call in podman's --network none"
run pod stop -t 10 hn
assert_rc 0 "podman stop"
assert_eq "$("$PM" inspect --format '{{.State.ExitCode}}' hn 2>&1)" 0 "exit code after podman stop"
"$PM" rm hn >/dev/null
if [ -n "$id" ]; then assert_clean "$id" "$STATE"; else _fail "no container id from podman inspect"; fi
"$ROOT_DIR/scripts/podman.sh" stop "$PDIR" "$PRUN" >/dev/null 2>&1
fi

if [[ " $CLIENTS " == *" docker "* ]]; then
test_case "docker-28: wasi:http on a bridge network, published with -p: hello, trap, 1000 requests, seccomp and capabilities, outgoing, docker stop (exit 0), docker logs"
# -p through docker-proxy (the test daemons run without iptables)
RUNWASM_BIN=$RUNWASM SHIM_BIN=$SHIM DOCKER_ENGINE=docker-28 DOCKER_USERLAND_PROXY=true \
  "$ROOT_DIR/scripts/dockerd.sh" start "$DDIR" "$DRUN" || exit 1
eval "$("$ROOT_DIR/scripts/dockerd.sh" env "$DDIR" "$DRUN")"   # DOCKER_HOST, DOCKER_CONFIG, DOCKER
D() { "$DOCKER" "$@"; }
dctr() { "$DDIR/containerd/bin/ctr" -a "$DDIR/containerd/containerd.sock" -n moby "$@"; }
D load -q -i "$FIXTURES/http-wasi.tar" >/dev/null || exit 1
P=$(free_port); BASE=http://127.0.0.1:$P
D network create rwhttp >/dev/null || exit 1
# the component listens on its default 0.0.0.0:8080 inside the container's own netns
run D run -d --name hd --runtime io.containerd.runwasm.v1 --platform wasi/wasm --network rwhttp \
    -p "127.0.0.1:$P:8080" runwasm-test/http:wasi
assert_rc 0 "docker run -d"
id=$(D inspect --format '{{.Id}}' hd 2>/dev/null)
wait_for curl -sf -o /dev/null "$BASE/" && _pass || _fail "docker: nothing serves on :$P ($(D logs hd 2>&1 | tail -5))"
get "$BASE/"
assert_eq "$CODE" 200 "GET /"; assert_eq "$BODY" $'hello from wasi:http\n' "body of GET /"
get "$BASE/trap"
assert_eq "$CODE" 500 "GET /trap"
get "$BASE/"
assert_eq "$CODE" 200 "GET / after the trap"
run "${CLIENT[@]}" load 1000 "$BASE/?load" --expect-body $'hello from wasi:http\n'
assert_eq "$(field ok)" 1000 "200s with the expected body of 1000 requests through -p ($OUT)"
assert_eq "$(field errors)" 0 "errors of 1000 requests through -p"
# Docker's defaults apply to the server: its seccomp profile, its capabilities, its cgroup
pid=$(D inspect --format '{{.State.Pid}}' hd 2>/dev/null)
assert_eq "$(status_field Seccomp "$pid")" 2 "Seccomp mode of the serving process (2: Docker's default profile)"
assert_eq "$(status_field CapEff "$pid")" 00000000a80425fb "CapEff of the serving process"
assert_contains "$(cat "/proc/$pid/cgroup")" "$id" "cgroups of the serving process"
# Docker sets up the new netns between create and start: outgoing requests are allowed (a
# closed port on the network's gateway refuses the connection; nothing denies the request)
GW=$(D network inspect rwhttp --format '{{(index .IPAM.Config 0).Gateway}}')
get "$BASE/call?url=http://$GW:1/"
assert_eq "$CODE" 502 "GET /call of a closed port on the gateway $GW"
assert_contains "$BODY" "ConnectionRefused" "body of /call"
sleep 0.3
start=$(date +%s)
run D stop -t 10 hd
assert_rc 0 "docker stop"; took=$(( $(date +%s) - start ))
[ "$took" -lt 8 ] && _pass || _fail "docker stop took ${took}s (SIGTERM not graceful?)"
assert_eq "$(D inspect --format '{{.State.ExitCode}}' hd 2>&1)" 0 "exit code after docker stop"
run D logs hd
assert_rc 0 "docker logs"
assert_eq "$(grep -cE "^$TS GET /trap 500 [0-9]+us\$" <<<"$OUT")" 1 "access-log line of /trap in docker logs' stdout"
[ "$(grep -cE "^$TS GET / 200 [0-9]+us\$" <<<"$OUT")" -ge 2 ] && _pass || _fail "access-log lines of GET / in docker logs' stdout: $OUT"
assert_contains "$ERR" "runwasm: serving wasi:http on http://0.0.0.0:8080" "docker logs' stderr"
assert_contains "$ERR" "runwasm: GET /trap: wasm trap:" "docker logs' stderr"
assert_contains "$ERR" "runwasm: stopped" "docker logs' stderr"
D rm hd >/dev/null
if [ -n "$id" ]; then
  assert_clean "$id" /run/containerd/runwasm/moby "$DDIR/containerd/state/io.containerd.runtime.v2.task/moby"
  assert_eq "$(dctr containers ls -q 2>&1 | grep -xF -- "$id")" "" "containerd record of $id"
  assert_eq "$(dctr snapshots ls 2>&1 | awk -v id="$id" 'index($1, id) == 1 {print $1}')" "" "snapshots of $id"
  assert_eq "$(pgrep -f -- "containerd-shim-.* -id $id")" "" "shim of $id"
else _fail "no container id from docker inspect"; fi
assert_eq "$(D ps -aq)" "" "docker ps -a"
D network rm rwhttp >/dev/null
"$ROOT_DIR/scripts/dockerd.sh" stop "$DDIR" "$DRUN" >/dev/null 2>&1
fi

summary "wasi:http ($CLIENTS; $ENGINE)"
