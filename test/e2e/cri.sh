#!/usr/bin/env bash
# The Kubernetes path: containerd's CRI plugin driven by test/cri (a CRI client calling it as
# the kubelet does), for the runtime handler "runwasm" (the shim v2) and "runwasm-runc"
# (containerd's runc shim with BinaryName = runwasm).
# CONTAINERD_ENGINE picks the containerd (containerd-1.6, the default, containerd-1.7 or
# containerd-2.1: scripts/engines.sh; config version 2 for 1.x, 3 for 2.x); the same cases
# run on each.
source "$(dirname "$0")/lib.sh"
export CONTAINERD_ENGINE=${CONTAINERD_ENGINE:-containerd-1.6}
ENGINE=$CONTAINERD_ENGINE
# the checks below look in k8s.io's shared state and cgroups: one cri run at a time
cri_lock "$0" "$@"
E2E_DIR=${E2E_DIR:-/tmp/runwasm-e2e}/cri-$ENGINE
CTRD="$E2E_DIR/containerd"
SOCK="$CTRD/containerd.sock"
CTR="$CTRD/bin/ctr"   # the engine's own ctr, linked there by containerd.sh start
SHIM=${SHIM:-$ROOT_DIR/target/release/containerd-shim-runwasm-v1}
CRI_E2E=${CRI_E2E:-$ROOT_DIR/target/release/cri-e2e}
SHIM_ROOT=/run/containerd/runwasm/k8s.io   # the shim's state root for the CRI namespace
RUNC_ROOT="$CTRD/runwasm-cri/k8s.io"        # runwasm's under the runc shim (its Root option)
WASM=docker.io/runwasm-test/wasm:latest
BUSYBOX=docker.io/runwasm-test/busybox:latest
ctr_() { "$CTR" -a "$SOCK" -n k8s.io "$@"; }
cleanup() { "$ROOT_DIR/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1; }
trap cleanup EXIT

"$ROOT_DIR/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1   # an aborted earlier run
rm -rf "$E2E_DIR"; mkdir -p "$CTRD/bin"
ln -sf "$SHIM" "$CTRD/bin/containerd-shim-runwasm-v1"
ln -sf "$RUNWASM" "$CTRD/bin/runwasm"
RUNWASM_BIN=$RUNWASM "$ROOT_DIR/scripts/containerd.sh" start "$CTRD" || exit 1
[ -x "$CTR" ] || { echo "no $CTR after containerd.sh start"; exit 1; }
for img in pause wasm busybox; do
  ctr_ image import "$FIXTURES/$img.tar" >/dev/null || exit 1
done

# every sandbox and container the CRI made (their ids are containerd container ids and the
# keys of their rootfs snapshots)
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
  assert_eq "$(grep -c " $CTRD/.*/rootfs " /proc/mounts)" "0" "rootfs mounts left after the pod"
  run ctr_ c ls -q
  assert_rc 0 "ctr c ls"; assert_eq "$OUT" "" "containerd containers left after the pod"
  run ctr_ snapshots ls
  assert_rc 0 "ctr snapshots ls"
  left=""
  for id in "$@"; do awk 'NR > 1 {print $1}' <<<"$OUT" | grep -qxF -- "$id" && left+=" $id"; done
  assert_eq "$left" "" "snapshots of the removed sandbox and containers"
}
# ids_of OUTPUT: IDS = the ids of its `pod-id:` and `container-id:` lines, each 64 hex digits
# (without them nothing could find the pod's leftovers)
ids_of() {
  IDS=$(sed -n 's/^\(pod\|container\)-id: //p' <<<"$1" | tr '\n' ' ')
  local bad=""
  for id in $IDS; do [[ "$id" =~ ^[0-9a-f]{64}$ ]] || bad+=" '$id'"; done
  [ -n "$IDS" ] && [ -z "$bad" ] && _pass || _fail "no pod-id line or not ids in cri-e2e's output:$bad"
}

for handler in runwasm runwasm-runc; do
  test_case "$ENGINE: CRI pod with runtime_handler=$handler"
  # the runtime state root of each handler: the shim's, and the runc shim's Root option
  state_root=$SHIM_ROOT
  [ "$handler" = runwasm-runc ] && state_root=$RUNC_ROOT
  run "$CRI_E2E" "$SOCK" "$handler" "$E2E_DIR/logs-$handler" "$state_root"
  echo "$OUT" | sed 's/^/    /'
  assert_rc 0 "cri-e2e ($handler)"; [ "$RC" = 0 ] || echo "$ERR" | tail -5
  for check in "wasm container exit 0, CRI log lines" "wasm container exit code 7" \
      "ExecSync into the wasm container and the linux sidecar" "ContainerStats memory working set" \
      "state, cgroup, rootfs mount and process of the sandbox and running containers" \
      "pod stopped and removed, no shim left"; do
    assert_contains "$OUT" "ok: $check"
  done
  [ "$handler" = runwasm ] && assert_contains "$OUT" "ok: one shim serves the whole pod"
  # the sandbox and its four containers (hello, exit7, server, sidecar)
  ids_of "$OUT"
  assert_eq "$(wc -w <<<"$IDS")" "5" "ids of the sandbox and the containers"
  pod_gone $IDS

  # one image as the one container of a pod, as the kubelet runs a spec with args only
  test_case "$ENGINE: cri-e2e run-one, runtime_handler=$handler"
  # the image's entrypoint (/probe.wasm) gets the args
  run "$CRI_E2E" run-one "$SOCK" "$handler" "$E2E_DIR/one-$handler" "$WASM" args one "two words"
  assert_rc 0 "run-one of the wasm image"
  assert_eq "$(grep -c '^log: ' <<<"$OUT")" "1" "log lines"
  assert_contains "$OUT" "exit-code: 0"
  assert_contains "$(grep '^log: ' <<<"$OUT")" " stdout F args: /probe.wasm args one two words" "log line"
  ids_of "$OUT"; pod_gone $IDS
  # no args: the image's command too (hello)
  run "$CRI_E2E" run-one "$SOCK" "$handler" "$E2E_DIR/one-$handler" "$WASM"
  assert_rc 0 "run-one of the wasm image without args"
  assert_contains "$OUT" "exit-code: 0"; assert_contains "$OUT" " stdout F hello from wasm"
  ids_of "$OUT"; pod_gone $IDS
  run "$CRI_E2E" run-one "$SOCK" "$handler" "$E2E_DIR/one-$handler" "$WASM" both
  assert_rc 0; assert_contains "$OUT" "exit-code: 0"
  assert_contains "$OUT" " stdout F to stdout"; assert_contains "$OUT" " stderr F to stderr"
  ids_of "$OUT"; pod_gone $IDS
  # the container's exit code is printed; cri-e2e itself succeeds
  run "$CRI_E2E" run-one "$SOCK" "$handler" "$E2E_DIR/one-$handler" "$WASM" exit 5
  assert_rc 0 "run-one of a module exiting 5"; assert_contains "$OUT" "exit-code: 5"
  ids_of "$OUT"; pod_gone $IDS
  # an image without an entrypoint: the first arg is the command
  run "$CRI_E2E" run-one "$SOCK" "$handler" "$E2E_DIR/one-$handler" "$BUSYBOX" /bin/sh -c 'echo from busybox; exit 4'
  assert_rc 0 "run-one of busybox"
  assert_contains "$OUT" 'command ["/bin/sh"] args ["-c", "echo from busybox; exit 4"]'
  assert_contains "$OUT" "exit-code: 4"; assert_contains "$OUT" " stdout F from busybox"
  ids_of "$OUT"; pod_gone $IDS
  # a container that cannot start: the CRI call's error, and the pod is removed all the same
  run "$CRI_E2E" run-one "$SOCK" "$handler" "$E2E_DIR/one-$handler" "$BUSYBOX" /nope
  assert_rc 1 "run-one of a missing command"
  assert_contains "$ERR" "StartContainer one"
  ids_of "$OUT"; pod_gone $IDS
  # an image that is not there: no pod at all
  run "$CRI_E2E" run-one "$SOCK" "$handler" "$E2E_DIR/one-$handler" docker.io/runwasm-test/absent:latest
  assert_rc 1 "run-one of an absent image"
  assert_contains "$ERR" "image docker.io/runwasm-test/absent:latest is not in the k8s.io namespace"
  assert_not_contains "$OUT" "pod-id:" "output of run-one of an absent image"
done

test_case "$ENGINE: no container or snapshot of a removed pod is left"
assert_no_snapshots "removed sandboxes and containers" "${REMOVED[@]}"

summary "$ENGINE CRI + runwasm"
