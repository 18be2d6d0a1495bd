#!/usr/bin/env bash
# A private containerd for tests, demos and benchmarks; all state under DIR.
# usage: containerd.sh {start|stop} DIR
#   start: writes DIR/config.toml, starts containerd with DIR/bin first on its PATH (where
#          containerd-shim-runwasm-v1 is found), waits for its socket, records DIR/containerd.pid
#   stop:  kills every task of the instance, stops containerd by its PID, reaps leftover
#          shims of this instance and unmounts whatever is still mounted under DIR
# After start: ctr -a DIR/containerd.sock ...
# Env: CONTAINERD_ENGINE (containerd-1.6, Debian 12's, the default; containerd-1.7 or
#      containerd-2.1, fetched by scripts/engines.sh: config version 2 for 1.x, 3 for 2.x),
#      RUNWASM_BIN (the runwasm binary, used as the CRI runtime "runwasm-runc"),
#      SANDBOX_IMAGE (default docker.io/runwasm-test/pause:latest).
# Pod networking: scripts/cni.sh setup DIR (Debian's CNI plugins, a bridge and a subnet of
# this instance's own, DIR/cni/env names them), its teardown at stop.
# The engine's binaries (containerd, ctr, its runc shim) are linked into DIR/bin, so
# DIR/bin/ctr is the client that matches the daemon.
set -euo pipefail
cmd=${1:?usage: containerd.sh start|stop DIR}; DIR=$(realpath -m "${2:?DIR}")
SOCK="$DIR/containerd.sock"
# stop uses the engine that start recorded
[ -z "${CONTAINERD_ENGINE:-}" ] && [ -f "$DIR/engine" ] && CONTAINERD_ENGINE=$(cat "$DIR/engine")
ENGINE=${CONTAINERD_ENGINE:-containerd-1.6}
ENGINE_BIN=$("$(dirname "$0")/engines.sh" bin "$ENGINE")
[ -x "$ENGINE_BIN/containerd" ] || { echo "$ENGINE is not installed: run scripts/engines.sh fetch (make deps)" >&2; exit 1; }
ctr() { "$ENGINE_BIN/ctr" "$@"; }

# the runtimes every CRI config offers: runc, runwasm's shim v2, runwasm under the runc shim
# (docs/integrations/kubernetes.md shows the same sections)
cri_runtimes() {  # cri_runtimes SECTION
  cat <<TOML
      [$1.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
      # runwasm's own shim v2, found on containerd's PATH
      [$1.runtimes.runwasm]
        runtime_type = "io.containerd.runwasm.v1"
        pod_annotations = ["module.wasm.image/variant", "run.oci.handler", "run.runwasm.http.*"]
      # runwasm through containerd's runc shim
      [$1.runtimes.runwasm-runc]
        runtime_type = "io.containerd.runc.v2"
        pod_annotations = ["module.wasm.image/variant", "run.oci.handler", "run.runwasm.http.*"]
        [$1.runtimes.runwasm-runc.options]
          BinaryName = "${RUNWASM_BIN:-/usr/local/bin/runwasm}"
          Root = "$DIR/runwasm-cri"
TOML
}

# what every config version says alike: where state lives, the sockets, the log level
daemon_config() {
  cat <<TOML
root = "$DIR/root"
state = "$DIR/state"
oom_score = 0

[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  level = "${CONTAINERD_LOG_LEVEL:-info}"
TOML
}

write_config() {
  mkdir -p "$DIR"/{root,state,opt,bin,log,fifo,runc-cri,cni/bin,cni/net.d}
  "$(dirname "$0")/cni.sh" setup "$DIR"
  local sandbox=${SANDBOX_IMAGE:-docker.io/runwasm-test/pause:latest}
  case $ENGINE in
  containerd-1.*)
    cat > "$DIR/config.toml" <<TOML
version = 2
$(daemon_config)

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$DIR/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$sandbox"
    netns_mounts_under_state_dir = true
    # no CAP_SYS_RESOURCE on some hosts: the pause container's oom_score_adj=-998 would fail
    restrict_oom_score_adj = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "$DIR/cni/bin"
      conf_dir = "$DIR/cni/net.d"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
$(cri_runtimes 'plugins."io.containerd.grpc.v1.cri".containerd')
TOML
    ;;
  *)
    cat > "$DIR/config.toml" <<TOML
version = 3
$(daemon_config)

[plugins]
  [plugins.'io.containerd.internal.v1.opt']
    path = "$DIR/opt"
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "$sandbox"
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
  [plugins.'io.containerd.cri.v1.runtime']
    netns_mounts_under_state_dir = true
    # no CAP_SYS_RESOURCE on some hosts: the pause container's oom_score_adj=-998 would fail
    restrict_oom_score_adj = true
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["$DIR/cni/bin"]
      conf_dir = "$DIR/cni/net.d"
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
$(cri_runtimes "plugins.'io.containerd.cri.v1.runtime'.containerd")
TOML
    ;;
  esac
}

# alive PID: running and not a zombie (a reparented process may wait long to be reaped)
alive() { [ -n "$1" ] && [ -n "$(ps -o stat= -p "$1" 2>/dev/null | grep -v Z)" ]; }

case "$cmd" in
start)
  write_config
  if [ -f "$DIR/containerd.pid" ] && alive "$(cat "$DIR/containerd.pid")"; then
    echo "containerd already running (pid $(cat "$DIR/containerd.pid"))"; exit 0
  fi
  echo "$ENGINE" > "$DIR/engine"
  for f in containerd ctr containerd-shim-runc-v2; do ln -sf "$ENGINE_BIN/$f" "$DIR/bin/$f"; done
  PATH="$DIR/bin:$PATH" setsid "$ENGINE_BIN/containerd" --config "$DIR/config.toml" \
      >"$DIR/log/containerd.log" 2>&1 </dev/null &
  echo $! > "$DIR/containerd.pid"
  for _ in $(seq 1 100); do ctr -a "$SOCK" version >/dev/null 2>&1 && break; sleep 0.1; done
  ctr -a "$SOCK" version >/dev/null || { echo "containerd did not start:"; tail -20 "$DIR/log/containerd.log"; exit 1; }
  echo "$ENGINE: containerd $(ctr -a "$SOCK" version | awk '/Server/{s=1} s&&/Version/{print $2; exit}') pid $(cat "$DIR/containerd.pid") at $SOCK"
  ;;
stop)
  if [ -f "$DIR/containerd.pid" ]; then
    pid=$(cat "$DIR/containerd.pid")
    if alive "$pid"; then
      for ns in $(ctr -a "$SOCK" ns ls -q 2>/dev/null); do
        for t in $(ctr -a "$SOCK" -n "$ns" t ls -q 2>/dev/null); do
          ctr -a "$SOCK" -n "$ns" t kill -s KILL "$t" >/dev/null 2>&1 || true
          for _ in $(seq 1 20); do ctr -a "$SOCK" -n "$ns" t rm "$t" >/dev/null 2>&1 && break; sleep 0.1; done
        done
        for c in $(ctr -a "$SOCK" -n "$ns" c ls -q 2>/dev/null); do
          ctr -a "$SOCK" -n "$ns" c rm "$c" >/dev/null 2>&1 || true
        done
      done
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$DIR/containerd.pid"
  fi
  for p in $(pgrep -f "containerd-shim.* -address $SOCK" || true); do kill -9 "$p" 2>/dev/null || true; done
  awk -v d="$DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  "$(dirname "$0")/cni.sh" teardown "$DIR"
  ;;
*) sed -n 2,16p "$0"; exit 2 ;;
esac
