#!/usr/bin/env bash
# A private dockerd with runwasm; all state under DIR and RUNDIR, no iptables, no bridge.
# usage: dockerd.sh {start|stop|env} DIR [RUNDIR]
#   start: writes DIR/daemon.json, starts dockerd (and for docker-26/28 its containerd first),
#          waits for RUNDIR/docker.sock
#   stop:  removes its containers, stops dockerd and its containerd by PID, unmounts what is
#          left under DIR/RUNDIR
#   env:   prints `export DOCKER_HOST=... DOCKER_CONFIG=... DOCKER=CLIENT` for eval
# Env: DOCKER_ENGINE  docker-20.10 (Debian 12's, the default): dockerd starts its own
#                     containerd 1.6; runwasm is the runc-compatible runtime "runwasm"
#                     (runtimes.path). docker-26 / docker-28 (scripts/engines.sh): a private
#                     containerd 1.7 / 2.1 under DIR/containerd with containerd-shim-runwasm-v1
#                     and runwasm on its PATH, dockerd on the containerd image store, runtimes
#                     "runwasm" (runtimes.path), "runwasm-shim" (runtimeType by name) and
#                     "runwasm-shim-path" (runtimeType as the shim's path); `--runtime
#                     io.containerd.runwasm.v1` needs no entry.
#      RUNWASM_BIN (default /usr/local/bin/runwasm), SHIM_BIN (default
#      /usr/local/bin/containerd-shim-runwasm-v1).
# After start: eval "$(dockerd.sh env DIR RUNDIR)"; "$DOCKER" run ... ($DOCKER is /usr/bin/docker
# for 20.10, else the engine's own client; its docker-compose plugin is linked into
# DIR/client/cli-plugins, so "$DOCKER" compose is the engine's compose).
set -euo pipefail
cmd=${1:?usage: dockerd.sh start|stop|env DIR [RUNDIR]}; DIR=$(realpath -m "${2:?DIR}")
RUN=${3:-/run/runwasm-e2e/docker}
HERE=$(cd "$(dirname "$0")" && pwd)
# stop and env use the engine that start recorded
[ -z "${DOCKER_ENGINE:-}" ] && [ -f "$DIR/engine" ] && DOCKER_ENGINE=$(cat "$DIR/engine")
ENGINE=${DOCKER_ENGINE:-docker-20.10}
case $ENGINE in
docker-20.10) CTRD_ENGINE= ; DOCKERD=dockerd; DOCKER=/usr/bin/docker; CGROUP_PARENT=runwasm-e2e-docker ;;
docker-26)    CTRD_ENGINE=containerd-1.7; CGROUP_PARENT=runwasm-e2e-$ENGINE ;;
docker-28)    CTRD_ENGINE=containerd-2.1; CGROUP_PARENT=runwasm-e2e-$ENGINE ;;
*) echo "unknown DOCKER_ENGINE '$ENGINE' (docker-20.10, docker-26, docker-28)" >&2; exit 2 ;;
esac
if [ -n "$CTRD_ENGINE" ]; then
  ENGINE_BIN=$("$HERE/engines.sh" bin "$ENGINE")
  [ -x "$ENGINE_BIN/dockerd" ] || { echo "$ENGINE is not installed: run scripts/engines.sh fetch (make deps)" >&2; exit 1; }
  DOCKERD=$ENGINE_BIN/dockerd DOCKER=$ENGINE_BIN/docker
  PLUGINS=$(dirname "$ENGINE_BIN")/cli-plugins
fi
CTRD="$DIR/containerd"
D() { DOCKER_CONFIG="$DIR/client" "$DOCKER" -H "unix://$RUN/docker.sock" "$@"; }
# alive PID: running and not a zombie (a reparented process may wait long to be reaped)
alive() { [ -n "$1" ] && [ -n "$(ps -o stat= -p "$1" 2>/dev/null | grep -v Z)" ]; }

# the daemon.json keys every engine gets: private paths, no networking set up by dockerd
# (DOCKER_USERLAND_PROXY=true lets `-p` publish ports through docker-proxy, without iptables)
common_json() {
  cat <<JSON
  "data-root": "$DIR/data",
  "exec-root": "$RUN/exec",
  "pidfile": "$RUN/docker.pid",
  "hosts": ["unix://$RUN/docker.sock"],
  "iptables": false,
  "ip6tables": false,
  "ip-masq": false,
  "bridge": "none",
  "userland-proxy": ${DOCKER_USERLAND_PROXY:-false},
  "exec-opts": ["native.cgroupdriver=cgroupfs"],
  "cgroup-parent": "/$CGROUP_PARENT",
JSON
}

write_config() {
  local runwasm=${RUNWASM_BIN:-/usr/local/bin/runwasm}
  local shim=${SHIM_BIN:-/usr/local/bin/containerd-shim-runwasm-v1}
  if [ -z "$CTRD_ENGINE" ]; then
    cat > "$DIR/daemon.json" <<JSON
{
$(common_json)
  "storage-driver": "overlay2",
  "features": {"buildkit": false},
  "runtimes": {
    "runwasm": {"path": "$runwasm"}
  }
}
JSON
  else
    cat > "$DIR/daemon.json" <<JSON
{
$(common_json)
  "containerd": "$CTRD/containerd.sock",
  "features": {"containerd-snapshotter": true, "buildkit": false},
  "runtimes": {
    "runwasm": {"path": "$runwasm"},
    "runwasm-shim": {"runtimeType": "io.containerd.runwasm.v1"},
    "runwasm-shim-path": {"runtimeType": "$shim"}
  }
}
JSON
  fi
}

case "$cmd" in
start)
  mkdir -p "$DIR"/{data,client,log} "$RUN"
  write_config
  echo "$ENGINE" > "$DIR/engine"
  if [ -f "$RUN/docker.pid" ] && alive "$(cat "$RUN/docker.pid")"; then
    echo "dockerd already running (pid $(cat "$RUN/docker.pid"))"; exit 0
  fi
  if [ -n "$CTRD_ENGINE" ]; then
    # the same client and compose plugin as the daemon
    mkdir -p "$DIR/client/cli-plugins"
    ln -sf "$PLUGINS/docker-compose" "$DIR/client/cli-plugins/docker-compose"
    # containerd finds the shim (and the shim runwasm) on its PATH: DIR/containerd/bin
    mkdir -p "$CTRD/bin"
    ln -sf "${SHIM_BIN:-/usr/local/bin/containerd-shim-runwasm-v1}" "$CTRD/bin/containerd-shim-runwasm-v1"
    ln -sf "${RUNWASM_BIN:-/usr/local/bin/runwasm}" "$CTRD/bin/runwasm"
    CONTAINERD_ENGINE=$CTRD_ENGINE RUNWASM_BIN=${RUNWASM_BIN:-/usr/local/bin/runwasm} \
      "$HERE/containerd.sh" start "$CTRD"
  fi
  # the engine's own binaries (docker-init, docker-proxy) first; Debian 12's runc after them
  PATH="${ENGINE_BIN:+$ENGINE_BIN:$(dirname "$ENGINE_BIN")/root/usr/bin:}$PATH" \
    setsid "$DOCKERD" --config-file "$DIR/daemon.json" >"$DIR/log/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 150); do D version >/dev/null 2>&1 && break; sleep 0.2; done
  D version --format "$ENGINE: dockerd {{.Server.Version}} (API {{.Server.APIVersion}}) pid $(cat "$RUN/docker.pid" 2>/dev/null)" \
    || { tail -20 "$DIR/log/dockerd.log"; exit 1; }
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
  if [ -n "$CTRD_ENGINE" ]; then
    [ ! -d "$CTRD" ] || CONTAINERD_ENGINE=$CTRD_ENGINE "$HERE/containerd.sh" stop "$CTRD"
  else
    # the containerd dockerd 20.10 started itself
    for p in $(pgrep -f "containerd --config $RUN/exec/containerd" || true); do kill "$p" 2>/dev/null || true; done
  fi
  awk -v d="$DIR/" -v r="$RUN/" 'index($2, d) == 1 || index($2, r) == 1 {print $2}' /proc/mounts \
    | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  # the containers' parent cgroups, empty once the containers are gone
  find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -depth -type d -name "$CGROUP_PARENT" -exec rmdir {} + 2>/dev/null || true
  ;;
env)
  echo "export DOCKER_HOST=unix://$RUN/docker.sock DOCKER_CONFIG=$DIR/client DOCKER=$DOCKER"
  ;;
*) sed -n 2,22p "$0"; exit 2 ;;
esac
