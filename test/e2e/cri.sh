#!/usr/bin/env bash
# The Kubernetes path: containerd 1.6's CRI plugin driven by test/cri (a CRI client calling it
# as the kubelet does), for the runtime handler "runwasm" (the shim v2) and "runwasm-runc"
# (containerd's runc shim with BinaryName = runwasm).
source "$(dirname "$0")/lib.sh"
E2E_DIR=${E2E_DIR:-/tmp/runwasm-e2e}/cri
CTRD="$E2E_DIR/containerd"
SOCK="$CTRD/containerd.sock"
SHIM=${SHIM:-$ROOT_DIR/target/release/containerd-shim-runwasm-v1}
CRI_E2E=${CRI_E2E:-$ROOT_DIR/target/release/cri-e2e}
cleanup() { "$ROOT_DIR/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1; }
trap cleanup EXIT
rm -rf "$E2E_DIR"; mkdir -p "$CTRD/bin"
ln -sf "$SHIM" "$CTRD/bin/containerd-shim-runwasm-v1"
ln -sf "$RUNWASM" "$CTRD/bin/runwasm"
RUNWASM_BIN=$RUNWASM "$ROOT_DIR/scripts/containerd.sh" start "$CTRD" || exit 1
for img in pause wasm busybox; do
  ctr -a "$SOCK" -n k8s.io image import "$FIXTURES/$img.tar" >/dev/null || exit 1
done

for handler in runwasm runwasm-runc; do
  test_case "CRI pod with runtime_handler=$handler"
  # the runtime state root of each handler: the shim's, and the runc shim's Root option
  state_root=/run/containerd/runwasm/k8s.io
  [ "$handler" = runwasm-runc ] && state_root="$CTRD/runwasm-cri/k8s.io"
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
  pod=$(sed -n 's/^pod-id: //p' <<<"$OUT")
  # a sandbox id is 64 hex digits: without one nothing below could find the pod's leftovers
  if [[ "$pod" =~ ^[0-9a-f]{64}$ ]]; then
    _pass
    # the pod's containers: every cgroup, mount and process named after the sandbox or them
    assert_clean "$pod" /run/containerd/runwasm/k8s.io "$CTRD/runwasm-cri/k8s.io"
  else
    _fail "no 'pod-id: <64 hex>' line from cri-e2e ($handler): '$pod'"
  fi
  # cri-e2e saw each of these while the pod ran: now none may be left
  left=$(ls /run/containerd/runwasm/k8s.io "$CTRD/runwasm-cri/k8s.io" 2>/dev/null | grep -v '^/' || true)
  assert_eq "$left" "" "runwasm state directories left after the pod"
  cgroups=$(find /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/k8s.io -mindepth 1 -type d 2>/dev/null | head -3)
  assert_eq "$cgroups" "" "pod cgroups left after the pod"
  procs=$(grep -l ":/k8s.io/" /proc/[0-9]*/cgroup 2>/dev/null | head -3)
  assert_eq "$procs" "" "pod processes left after the pod"
  leftovers=$(grep -c " $CTRD/.*/rootfs " /proc/mounts)
  assert_eq "$leftovers" "0" "rootfs mounts left after the pod"
done

summary "containerd CRI + runwasm"
