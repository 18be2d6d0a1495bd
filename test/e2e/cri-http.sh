#!/usr/bin/env bash
# Kubernetes pod networking with a wasi:http component: containerd's CRI plugin driven by
# test/cri (cri-e2e, calling it as the kubelet does) makes a pod with a network namespace of
# its own, set up by CNI (scripts/cni.sh, started by containerd.sh: Debian's bridge +
# host-local + loopback plugins, a bridge and a subnet of this containerd's own). In it: the
# component of runwasm-test/http (served by runwasm, docs/wasi-http.md) and a Linux sidecar
# (busybox) that reaches it on localhost. From the host, as the kubelet's httpGet probe and a
# Service's traffic reach a pod: the pod IP; from the pod, /call reaches a server on the
# host's end of the bridge. Deleting the pod as the kubelet does (StopContainer with a grace
# period, StopPodSandbox, RemovePodSandbox) stops the server gracefully and leaves nothing:
# no veth, no IP held by host-local, no NAT rule, no netns, no container, state or snapshot.
# For each runtime handler: runwasm (the shim v2) and runwasm-runc (containerd's runc shim).
# CONTAINERD_ENGINE picks the containerd (containerd-1.6, the default, containerd-1.7 or
# containerd-2.1). Needs the CNI plugins (apt package containernetworking-plugins).
source "$(dirname "$0")/lib.sh"
export CONTAINERD_ENGINE=${CONTAINERD_ENGINE:-containerd-1.6}
ENGINE=$CONTAINERD_ENGINE
# the checks below look in k8s.io's shared state and cgroups: one cri run at a time
cri_lock "$0" "$@"
E2E_DIR=${E2E_DIR:-/tmp/runwasm-e2e}/cri-http-$ENGINE
CTRD="$E2E_DIR/containerd"
SOCK="$CTRD/containerd.sock"
CTR="$CTRD/bin/ctr"   # the engine's own ctr, linked there by containerd.sh start
SHIM=${SHIM:-$ROOT_DIR/target/release/containerd-shim-runwasm-v1}
CRI_E2E=${CRI_E2E:-$ROOT_DIR/target/release/cri-e2e}
SHIM_ROOT=/run/containerd/runwasm/k8s.io   # the shim's state root for the CRI namespace
RUNC_ROOT="$CTRD/runwasm-cri/k8s.io"        # runwasm's under the runc shim (its Root option)
HTTP=docker.io/runwasm-test/http:latest
BUSYBOX=docker.io/runwasm-test/busybox:latest
CLIENT=(python3 "$ROOT_DIR/test/e2e/http-client.py")
ctr_() { "$CTR" -a "$SOCK" -n k8s.io "$@"; }
POD="" UPSTREAM_PID=""
cleanup() {
  # a pod of a failed case, then the upstream server (by its PID), then containerd (which
  # takes its bridge and subnet away)
  [ -n "$POD" ] && CRI_E2E_GRACE=1 "$CRI_E2E" pod-down "$SOCK" "$POD" >/dev/null 2>&1
  [ -n "$UPSTREAM_PID" ] && kill "$UPSTREAM_PID" 2>/dev/null
  "$ROOT_DIR/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1
}
trap cleanup EXIT

"$ROOT_DIR/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1   # an aborted earlier run
rm -rf "$E2E_DIR"; mkdir -p "$CTRD/bin" "$E2E_DIR/www"
for img in pause http busybox; do
  [ -f "$FIXTURES/$img.tar" ] || { echo "no $FIXTURES/$img.tar: scripts/build-fixtures.sh"; exit 1; }
done
ln -sf "$SHIM" "$CTRD/bin/containerd-shim-runwasm-v1"
ln -sf "$RUNWASM" "$CTRD/bin/runwasm"
RUNWASM_BIN=$RUNWASM "$ROOT_DIR/scripts/containerd.sh" start "$CTRD" || exit 1
[ -x "$CTR" ] || { echo "no $CTR after containerd.sh start"; exit 1; }
[ -f "$CTRD/cni/env" ] || { echo "no pod network (containerd.sh start wrote no $CTRD/cni/env): apt-get install containernetworking-plugins"; exit 1; }
# CNI_INDEX, CNI_BRIDGE, CNI_SUBNET, CNI_GATEWAY, CNI_IPAM_DIR of this containerd
source "$CTRD/cni/env"
echo "pod network: bridge $CNI_BRIDGE, subnet $CNI_SUBNET, gateway $CNI_GATEWAY"
for img in pause http busybox; do
  ctr_ image import "$FIXTURES/$img.tar" >/dev/null || exit 1
done

# every sandbox and container the CRI made
REMOVED=()
# pod_gone POD_ID CONTAINER_ID...: nothing of the pod is left: cgroups, mounts and processes
# named after it or its containers, runwasm state, containerd records, snapshots
pod_gone() {
  local id left
  for id in "$@"; do
    REMOVED+=("$id")
    assert_clean "$id" "$SHIM_ROOT" "$RUNC_ROOT"
  done
  left=$(find "$SHIM_ROOT" "$RUNC_ROOT" -mindepth 1 -maxdepth 1 2>/dev/null)
  assert_eq "$left" "" "runwasm state directories left after the pod"
  left=$(find /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/k8s.io -mindepth 1 -type d 2>/dev/null | head -3)
  assert_eq "$left" "" "pod cgroups left after the pod"
  left=$(grep -l ":/k8s.io/" /proc/[0-9]*/cgroup 2>/dev/null | head -3)
  assert_eq "$left" "" "pod processes left after the pod"
  assert_eq "$(awk -v d="$CTRD/" 'index($2, d) == 1' /proc/mounts)" "" "mounts (rootfs, shm, netns) left under $CTRD after the pod"
  run ctr_ c ls -q
  assert_rc 0 "ctr c ls"; assert_eq "$OUT" "" "containerd containers left after the pod"
  run ctr_ snapshots ls
  assert_rc 0 "ctr snapshots ls"
  left=""
  for id in "$@"; do awk 'NR > 1 {print $1}' <<<"$OUT" | grep -qxF -- "$id" && left+=" $id"; done
  assert_eq "$left" "" "snapshots of the removed sandbox and containers"
}
# ids_of OUTPUT: IDS = the ids of its `pod-id:` and `container-id:` lines, each 64 hex digits
ids_of() {
  IDS=$(sed -n 's/^\(pod\|container\)-id: //p' <<<"$1" | tr '\n' ' ')
  local bad=""
  for id in $IDS; do [[ "$id" =~ ^[0-9a-f]{64}$ ]] || bad+=" '$id'"; done
  [ -n "$IDS" ] && [ -z "$bad" ] && _pass || _fail "no pod-id line or not ids in cri-e2e's output:$bad"
}
# probe URL: the kubelet's httpGet readiness probe, from the host: a new connection each
# time (Connection: close, User-Agent kube-probe), 1 s timeout, every 0.2 s for up to 30 s,
# until a status in 200..399; prints `status S` and the body
probe() {
  python3 - "$1" <<'PY'
import http.client, sys, time, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
target = (u.path or "/") + ("?" + u.query if u.query else "")
deadline, last = time.monotonic() + 30, "no attempt"
while time.monotonic() < deadline:
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=1)
    try:
        conn.request("GET", target, headers={"User-Agent": "kube-probe/1.30", "Accept": "*/*", "Connection": "close"})
        resp = conn.getresponse()
        body = resp.read()
        if 200 <= resp.status < 400:
            print(f"status {resp.status}")
            sys.stdout.write(body.decode(errors="replace"))
            sys.exit(0)
        last = f"status {resp.status}"
    except OSError as e:
        last = repr(e)
    finally:
        conn.close()
    time.sleep(0.2)
print(f"not ready within 30 s: {last}")
sys.exit(1)
PY
}
# get URL: one GET with curl: CODE (000 for none) and BODY
get() {
  CODE=$(curl -sS -m 10 -o "$E2E_DIR/body" -w '%{http_code}' "$1" 2>"$E2E_DIR/curl.err")
  BODY=$(cat "$E2E_DIR/body" 2>/dev/null; echo .); BODY=${BODY%.}
}
# CRI log lines: `<RFC 3339 time> stdout|stderr F <line>`; an access-log line: RFC 3339 UTC
# time with ms, method, target, status, duration in us
TS='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
logged() {  # logged FILE 'METHOD TARGET STATUS': how many access-log lines there are of it
  local re; re=$(sed 's/[.?*+^$()|{}\\[]/\\&/g' <<<"$2")
  grep -cE "^[^ ]+ stdout F $TS $re [0-9]+us\$" "$1"
}
# the sidecar: reaches the component on the pod's localhost, then waits for SIGTERM
SIDECAR='trap "echo sidecar: SIGTERM; exit 0" TERM
i=0
until wget -q -O /tmp/got http://127.0.0.1:8080/; do i=$((i + 1)); [ $i -ge 100 ] && break; sleep 0.1; done
echo "sidecar got: $(cat /tmp/got)"
sleep 3600 & wait'

test_case "$ENGINE: CRI Status with the CNI config"
run "$CRI_E2E" status "$SOCK"
assert_rc 0 "cri-e2e status"
assert_contains "$OUT" "RuntimeReady: true"
assert_contains "$OUT" "NetworkReady: true"

echo "from the host" > "$E2E_DIR/www/x"
for handler in runwasm runwasm-runc; do
  LOGS="$E2E_DIR/logs-$handler"
  test_case "$ENGINE: pod network, runtime_handler=$handler: the wasi:http component and a sidecar"
  run "$CRI_E2E" pod-up "$SOCK" "$handler" "$LOGS" "http=$HTTP" -- "sidecar=$BUSYBOX" /bin/sh -c "$SIDECAR"
  echo "$OUT" | sed 's/^/    /'
  assert_rc 0 "cri-e2e pod-up ($handler)"
  POD=$(sed -n 's/^pod-id: //p' <<<"$OUT")
  IP=$(sed -n 's/^pod-ip: //p' <<<"$OUT")
  ids_of "$OUT"
  assert_eq "$(wc -w <<<"$IDS")" "3" "ids of the sandbox and the containers"
  assert_contains "$OUT" "running: http"; assert_contains "$OUT" "running: sidecar"
  if [ "$RC" != 0 ] || [ -z "$IP" ]; then
    echo "$ERR" | tail -5
    [ -n "$POD" ] && pod_gone $IDS
    POD=""; continue
  fi
  [[ "$IP" == "${CNI_SUBNET%.0/24}".* ]] && _pass || _fail "pod IP $IP not in $CNI_SUBNET"
  # the pod's end of its veth in its netns (containerd's, under its state dir), the host's on
  # the bridge, its IP recorded by host-local
  NETNS=$(awk -v d="$CTRD/" '$3 == "nsfs" && index($2, d) == 1 {print $2}' /proc/mounts)
  assert_eq "$(wc -l <<<"$NETNS")" 1 "netns mounts under $CTRD ($NETNS)"
  run nsenter --net="$NETNS" ip -o -4 addr show dev eth0
  assert_contains "$OUT" " $IP/24 " "eth0 in the pod's netns"
  VETHS=$(ip -o link show master "$CNI_BRIDGE" | awk -F': ' '{print $2}' | cut -d@ -f1)
  assert_eq "$(wc -w <<<"$VETHS")" 1 "veths on $CNI_BRIDGE ($VETHS)"
  assert_contains "$(cat "$CNI_IPAM_DIR/$IP" 2>&1)" "$POD" "host-local's record of $IP"

  test_case "$ENGINE $handler: the kubelet's httpGet probe of the pod IP from the host"
  run probe "http://$IP:8080/"
  assert_rc 0 "readiness probe of http://$IP:8080/ ($OUT)"
  assert_eq "$OUT" $'status 200\nhello from wasi:http' "probe status and body"

  test_case "$ENGINE $handler: the sidecar reaches the component on the pod's localhost"
  wait_for grep -q "sidecar got:" "$LOGS/sidecar.log"
  assert_contains "$(cat "$LOGS/sidecar.log")" "stdout F sidecar got: hello from wasi:http" "the sidecar's CRI log"

  test_case "$ENGINE $handler: 1000 keep-alive requests to the pod IP"
  run "${CLIENT[@]}" load 1000 "http://$IP:8080/?load" --expect-body $'hello from wasi:http\n'
  assert_rc 0 "http-client.py load"
  assert_eq "$(field ok)" 1000 "200s with the expected body of 1000 requests ($OUT)"
  assert_eq "$(field errors)" 0 "errors of 1000 requests"
  assert_eq "$(field connections)" 1 "connections for 1000 requests (keep-alive)"

  test_case "$ENGINE $handler: outgoing from the pod's netns: /call to the host's end of the bridge"
  if [ -z "$UPSTREAM_PID" ]; then
    # the gateway address is on the bridge once the first pod is attached
    UP=$("${CLIENT[@]}" free-port)
    python3 -m http.server "$UP" --bind "$CNI_GATEWAY" --directory "$E2E_DIR/www" >"$E2E_DIR/upstream.log" 2>&1 &
    UPSTREAM_PID=$!
    wait_for curl -sf -o /dev/null "http://$CNI_GATEWAY:$UP/x" || _fail "the upstream http.server on $CNI_GATEWAY:$UP did not start"
  fi
  get "http://$IP:8080/call?url=http://$CNI_GATEWAY:$UP/x"
  assert_eq "$CODE" 200 "GET /call of the host's server ($(cat "$E2E_DIR/curl.err"))"
  assert_eq "$BODY" $'upstream 200\nfrom the host\n' "body of /call"
  # it came from the pod's address, not the host's
  assert_contains "$(cat "$E2E_DIR/upstream.log")" "$IP - - " "the upstream server's log (source $IP)"

  test_case "$ENGINE $handler: the access log in the CRI log of the container"
  LOG="$LOGS/http.log"
  # the log is written in batches (every 50 ms): wait for the last request's line
  for _ in $(seq 1 50); do
    [ "$(logged "$LOG" "GET /call?url=http://$CNI_GATEWAY:$UP/x 200")" = 1 ] && break; sleep 0.1
  done
  assert_eq "$(logged "$LOG" 'GET /?load 200')" 1000 "access-log lines of the 1000 requests"
  [ "$(logged "$LOG" 'GET / 200')" -ge 2 ] && _pass || _fail "access-log lines of GET / (the probe, the sidecar): $(grep -c ' GET / ' "$LOG")"
  assert_eq "$(logged "$LOG" "GET /call?url=http://$CNI_GATEWAY:$UP/x 200")" 1 "access-log line of /call"
  assert_eq "$(grep -c ' stdout ' "$LOG")" "$(grep -cE "^[^ ]+ stdout F $TS [A-Z]+ [^ ]+ [0-9]{3} [0-9]+us\$" "$LOG")" \
    "stdout lines not in the access-log format ($(grep ' stdout ' "$LOG" | grep -vE " stdout F $TS " | head -3))"
  assert_contains "$(cat "$LOG")" "stderr F runwasm: serving wasi:http on http://0.0.0.0:8080" "the CRI log's stderr"

  test_case "$ENGINE $handler: the pod deleted as the kubelet does; nothing of its network left"
  run "$CRI_E2E" pod-down "$SOCK" "$POD"
  echo "$OUT" | sed 's/^/    /'
  assert_rc 0 "cri-e2e pod-down"
  # SIGTERM, then the component stops gracefully within the grace period
  assert_contains "$OUT" "stopped: http exit-code 0"
  assert_contains "$OUT" "stopped: sidecar exit-code 0"
  assert_contains "$OUT" "removed: $POD"
  assert_contains "$(cat "$LOG")" "stderr F runwasm: stopped" "the CRI log after StopContainer"
  assert_contains "$(cat "$LOGS/sidecar.log")" "stdout F sidecar: SIGTERM" "the sidecar's CRI log after StopContainer"
  for veth in $VETHS; do
    ip link show "$veth" >/dev/null 2>&1 && _fail "veth $veth is still there" || _pass
  done
  assert_eq "$(ip -o link show master "$CNI_BRIDGE")" "" "links on $CNI_BRIDGE after the pod"
  [ -e "$CNI_IPAM_DIR/$IP" ] && _fail "host-local still holds $IP" || _pass
  assert_eq "$(grep -rlF "$POD" "$CNI_IPAM_DIR" 2>/dev/null)" "" "host-local records of the pod"
  assert_eq "$(iptables -w -t nat -S 2>/dev/null | grep -F "$POD")" "" "NAT rules (ipMasq) of the pod"
  [ -e "$NETNS" ] && _fail "the netns file $NETNS is still there" || _pass
  pod_gone $IDS
  POD=""
done

test_case "$ENGINE: no container or snapshot of a removed pod is left"
assert_no_snapshots "removed sandboxes and containers" "${REMOVED[@]}"

summary "$ENGINE CRI pod network + wasi:http"
