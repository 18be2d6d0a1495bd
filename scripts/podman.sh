#!/usr/bin/env bash
# A private podman (Debian's 4.3) setup: storage, run dirs and config under DIR/RUNDIR.
# usage: podman.sh {config|stop} DIR [RUNDIR]
#   config: writes DIR/containers.conf, storage.conf, registries.conf and the wrapper
#           DIR/bin/podman that passes them; then: DIR/bin/podman --runtime runwasm run ...
#   stop:   removes every container of this setup and unmounts its storage
set -euo pipefail
cmd=${1:?usage: podman.sh config|stop DIR [RUNDIR]}; DIR=$(realpath -m "${2:?DIR}")
RUN=${3:-/run/runwasm-e2e/podman}
case "$cmd" in
config)
  mkdir -p "$DIR"/{storage,networks,bin,log} "$RUN"/{runroot,tmp}
  cat > "$DIR/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$DIR/storage"
runroot = "$RUN/runroot"
CONF
  # podman's default rlimits (nofile/nproc 1048576) exceed the hard limit on hosts without
  # CAP_SYS_RESOURCE; use the current hard limits instead
  nofile=$(ulimit -Hn); nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] && nproc=32768
  [ "$nproc" -gt 32768 ] && nproc=32768
  cat > "$DIR/containers.conf" <<CONF
[containers]
netns = "none"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$DIR/log/events.log"
tmp_dir = "$RUN/tmp"
[engine.runtimes]
runwasm = ["${RUNWASM_BIN:-/usr/local/bin/runwasm}"]
[network]
network_config_dir = "$DIR/networks"
CONF
  printf '[registries.search]\nregistries = []\n' > "$DIR/registries.conf"
  cat > "$DIR/bin/podman" <<WRAP
#!/bin/sh
export CONTAINERS_CONF="$DIR/containers.conf" CONTAINERS_STORAGE_CONF="$DIR/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$DIR/registries.conf"
exec podman --root "$DIR/storage" --runroot "$RUN/runroot" --tmpdir "$RUN/tmp" \\
    --cgroup-manager cgroupfs --events-backend file "\$@"
WRAP
  chmod +x "$DIR/bin/podman"
  ;;
stop)
  [ -x "$DIR/bin/podman" ] && { "$DIR/bin/podman" rm -af -t 0 >/dev/null 2>&1 || true; }
  awk -v d="$DIR/" -v r="$RUN/" 'index($2, d) == 1 || index($2, r) == 1 {print $2}' /proc/mounts \
    | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  ;;
*) sed -n 2,8p "$0"; exit 2 ;;
esac
