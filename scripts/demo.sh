#!/usr/bin/env bash
# The README's demo: a private containerd, then a Wasm container and a Linux container run
# side by side through runwasm (containerd's runc shim with runwasm as its runtime binary).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
RUNWASM=${RUNWASM:-$HERE/target/release/runwasm}
FIXTURES=${FIXTURES:-$HERE/target/fixtures}
DIR=${DEMO_DIR:-/tmp/runwasm-demo}
CTRD="$DIR/containerd"
ctr_() { ctr -a "$CTRD/containerd.sock" -n demo "$@"; }
trap '"$HERE/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1' EXIT

"$HERE/scripts/containerd.sh" start "$CTRD"
ctr_ image import "$FIXTURES/wasm.tar" >/dev/null
ctr_ image import "$FIXTURES/busybox.tar" >/dev/null
run_() { ctr_ run --rm --runtime io.containerd.runc.v2 --runc-binary "$RUNWASM" \
           --runc-root "$DIR/runwasm-root" --fifo-dir "$CTRD/fifo" "$@"; }

echo "== a Wasm container and a Linux container, side by side, both via $RUNWASM"
run_ docker.io/runwasm-test/wasm:latest demo-wasm /probe.wasm args "I am WebAssembly" \
    > "$DIR/wasm.out" 2>&1 & wasm_pid=$!
run_ docker.io/runwasm-test/busybox:latest demo-linux /bin/sh -c 'echo "I am Linux: $(uname -s) $(busybox | head -1)"' \
    > "$DIR/linux.out" 2>&1 & linux_pid=$!
wait $wasm_pid; wasm_rc=$?
wait $linux_pid; linux_rc=$?
echo "[wasm  exit $wasm_rc] $(cat "$DIR/wasm.out")"
echo "[linux exit $linux_rc] $(cat "$DIR/linux.out")"
[ $wasm_rc = 0 ] && [ $linux_rc = 0 ]
