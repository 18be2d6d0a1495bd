#!/usr/bin/env bash
# A private dockerd (Debian's docker.io 20.10) with runwasm in its "runtimes"; all state under
# DIR and RUNDIR, no iptables, no bridge.
# usage: dockerd.sh {start|stop} DIR [RUNDIR]
#   start: writes DIR/daemon.json, starts dockerd, waits for RUNDIR/docker.sock
#   stop:  removes its containers, stops dockerd by PID, unmounts what is left under DIR/RUNDIR
# After start: DOCKER_HOST=unix://RUNDIR/docker.sock docker run --runtime runwasm ...
# Env: RUNWASM_BIN (default /usr/local/bin/runwasm).
set -euo pipefail
cmd=${1:?usage: dockerd.sh start|stop DIR [RUNDIR]}; DIR=$(realpath -m "${2:?DIR}")
RUN=${3:-/run/runwasm-e2e/docker}
D() { DOCKER_CONFIG="$DIR/client" /usr/bin/docker -H "unix://$RUN/docker.sock" "$@"; }
# alive PID: running and not a zombie (a reparented process may wait long to be reaped)
alive() { [ -n "$1" ] && [ -n "$(ps -o stat= -p "$1" 2>/dev/null | grep -v Z)" ]; }

case "$cmd" in
start)
  mkdir -p "$DIR"/{data,client,log} "$RUN"
  cat > "$DIR/daemon.json" <<JSON
{
  "data-root": "$DIR/data",
  "exec-root": "$RUN/exec",
  "pidfile": "$RUN/docker.pid",
  "hosts": ["unix://$RUN/docker.sock"],
  "iptables": false,
  "ip6tables": false,
  "ip-masq": false,
  "bridge": "none",
  "userland-proxy": false,
  "storage-driver": "overlay2",
  "exec-opts": ["native.cgroupdriver=cgroupfs"],
  "cgroup-parent": "/runwasm-e2e-docker",
  "features": {"buildkit": false},
  "runtimes": {
    "runwasm": {"path": "${RUNWASM_BIN:-/usr/local/bin/runwasm}"}
  }
}
JSON
  if [ -f "$RUN/docker.pid" ] && alive "$(cat "$RUN/docker.pid")"; then
    echo "dockerd already running (pid $(cat "$RUN/docker.pid"))"; exit 0
  fi
  setsid dockerd --config-file "$DIR/daemon.json" >"$DIR/log/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 150); do D version >/dev/null 2>&1 && break; sleep 0.2; done
  D version --format 'dockerd {{.Server.Version}}' || { tail -20 "$DIR/log/dockerd.log"; exit 1; }
  ;;
stop)
  if [ -S "$RUN/docker.sock" ]; then
    ids=$(D ps -aq 2>/dev/null || true); [ -n "$ids" ] && { D rm -f $ids >/dev/null 2>&1 || true; }
  fi
  if [ -f "$RUN/docker.pid" ]; then
    pid=$(cat "$RUN/docker.pid"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  for p in $(pgrep -f "containerd --config $RUN/exec/containerd" || true); do kill "$p" 2>/dev/null || true; done
  awk -v d="$DIR/" -v r="$RUN/" 'index($2, d) == 1 || index($2, r) == 1 {print $2}' /proc/mounts \
    | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  ;;
*) sed -n 2,9p "$0"; exit 2 ;;
esac
