#!/usr/bin/env bash
# OCI Wasm artifacts built by `runwasm image build --artifact`, through the shim on containerd
# 1.7 or 2.x (CONTAINERD_ENGINE, default containerd-2.1): `ctr run` of an artifact with an OCI
# image config, and CRI pods of both artifact shapes (the CNCF config too). The module layer
# is read from containerd's content store, never unpacked into the rootfs.
source "$(dirname "$0")/lib.sh"
export CONTAINERD_ENGINE=${CONTAINERD_ENGINE:-containerd-2.1}
# its CRI pods share k8s.io's state with cri.sh: the same lock
cri_lock "$0" "$@"
E2E_DIR=${E2E_DIR:-/tmp/runwasm-e2e}/artifact-$CONTAINERD_ENGINE
CTRD="$E2E_DIR/containerd"
SOCK="$CTRD/containerd.sock"
NS=runwasm-artifact-${CONTAINERD_ENGINE//./-}
SHIM=${SHIM:-$ROOT_DIR/target/release/containerd-shim-runwasm-v1}
CRI_E2E=${CRI_E2E:-$ROOT_DIR/target/release/cri-e2e}
STATE_ROOT=/run/containerd/runwasm/$NS
CRI_STATE_ROOT=/run/containerd/runwasm/k8s.io
ART=docker.io/runwasm-test/artifact
ctr_() { "$CTRD/bin/ctr" -a "$SOCK" -n "$NS" "$@"; }
srun() { ctr_ run --runtime io.containerd.runwasm.v1 --fifo-dir "$CTRD/fifo" "$@"; }
cleanup() { "$ROOT_DIR/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1; }
trap cleanup EXIT

rm -rf "$E2E_DIR"; mkdir -p "$CTRD/bin"
for id in $(ls "$STATE_ROOT" 2>/dev/null); do "$RUNWASM" --root "$STATE_ROOT" delete --force "$id"; done
ln -sf "$SHIM" "$CTRD/bin/containerd-shim-runwasm-v1"
ln -sf "$RUNWASM" "$CTRD/bin/runwasm"
# a private compile cache, and images' precompiled layers trusted (shims inherit containerd's
# environment); the last case restarts containerd without the trust
CACHE="$E2E_DIR/cache"; mkdir -m 700 "$CACHE"
export RUNWASM_CACHE_DIR=$CACHE
RUNWASM_TRUST_PRECOMPILED=1 RUNWASM_BIN=$RUNWASM "$ROOT_DIR/scripts/containerd.sh" start "$CTRD" || exit 1
python3 "$ROOT_DIR/test/e2e/forge-precompiled.py" "$FIXTURES/artifact-pre.tar" \
  "$FIXTURES/artifact-hello-pre.tar" "$ART:forged" "$E2E_DIR/forged.tar" || exit 1
ctr_ image import --all-platforms "$E2E_DIR/forged.tar" >/dev/null || exit 1
for ns in "$NS" k8s.io; do
  for img in artifact-oci artifact-wasm artifact-bad artifact-pre; do
    # an artifact's platform is wasip1/wasm: ctr imports it only when asked for every platform
    "$CTRD/bin/ctr" -a "$SOCK" -n "$ns" image import --all-platforms "$FIXTURES/$img.tar" >/dev/null || exit 1
  done
done
"$CTRD/bin/ctr" -a "$SOCK" -n k8s.io image import "$FIXTURES/pause.tar" >/dev/null || exit 1

# no_snapshot ID: the snapshot of a deleted container is gone too
no_snapshot() { assert_no_snapshots "deleted container $1" "$1"; }

test_case "artifact layout: what runwasm image build wrote (skopeo reads the archives)"
run skopeo inspect --raw "oci-archive:$FIXTURES/artifact-oci.tar"
assert_rc 0 "skopeo inspect of the artifact"
assert_contains "$OUT" '"mediaType":"application/wasm"'
assert_contains "$OUT" '"mediaType":"application/vnd.oci.image.layer.v1.tar"'
run skopeo inspect --raw "oci-archive:$FIXTURES/artifact-wasm.tar"
assert_rc 0; assert_contains "$OUT" '"mediaType":"application/vnd.wasm.config.v0+json"'
assert_not_contains "$OUT" "image.layer" "the CNCF artifact's layers"
run skopeo inspect "oci-archive:$FIXTURES/wasm-wasi.tar"
assert_rc 0; assert_contains "$OUT" '"Architecture": "wasm"'; assert_contains "$OUT" '"Os": "wasi"'

test_case "ctr run of an artifact ($CONTAINERD_ENGINE): hello, args, exit code"
run srun --rm "$ART:oci" a-hello
assert_rc 0; assert_contains "$OUT" "hello from wasm"
assert_clean a-hello "$STATE_ROOT"; no_snapshot a-hello
run srun --rm "$ART:oci" a-args /probe.wasm args one two
assert_rc 0; assert_contains "$OUT" "args: /probe.wasm args one two"
run srun --rm "$ART:oci" a-exit /probe.wasm exit 7
assert_rc 7 "exit status of an artifact's module"
assert_clean a-exit "$STATE_ROOT"; no_snapshot a-exit

test_case "ctr run of an artifact: the data layer is the rootfs, the module layer is not in it"
run srun --rm "$ART:oci" a-data /probe.wasm cat /etc/greeting.txt
assert_rc 0; assert_contains "$OUT" "hello from an artifact layer"
run srun --rm "$ART:oci" a-nomodule /probe.wasm cat /probe.wasm
assert_rc_not 0 "reading the module's path in the rootfs"
assert_contains "$OUT$ERR" "cannot read /probe.wasm"
assert_clean a-nomodule "$STATE_ROOT"; no_snapshot a-nomodule

test_case "ctr run -d of an artifact: the module beside config.json, not in the rootfs; kill, delete"
run srun -d "$ART:oci" a-long /probe.wasm sleep 3600
assert_rc 0
wait_for sh -c "'$CTRD/bin/ctr' -a '$SOCK' -n $NS t ls | grep -q 'a-long.*RUNNING'" && _pass || _fail "a-long not RUNNING"
bundle=$(find "$CTRD/state" -maxdepth 4 -type d -name a-long | head -1)
[ -n "$bundle" ] && [ -f "$bundle/wasm-layers/module.wasm" ] && _pass || _fail "no module beside config.json in the bundle ($bundle)"
assert_eq "$(sha256sum < "$bundle/wasm-layers/module.wasm" | cut -d' ' -f1)" \
  "$(sha256sum < "$FIXTURES/wasm-rootfs/probe.wasm" | cut -d' ' -f1)" "module in the bundle"
[ -f "$bundle/rootfs/etc/greeting.txt" ] && _pass || _fail "the data layer is not in the rootfs"
[ ! -e "$bundle/rootfs/probe.wasm" ] && _pass || _fail "the module layer was unpacked into the rootfs"
ctr_ task kill -s SIGKILL a-long >/dev/null
wait_for sh -c "'$CTRD/bin/ctr' -a '$SOCK' -n $NS t ls | grep -q 'a-long.*STOPPED'" && _pass || _fail "a-long not STOPPED"
ctr_ task rm a-long >/dev/null 2>&1; ctr_ c rm a-long >/dev/null 2>&1
assert_clean a-long "$STATE_ROOT"; no_snapshot a-long
[ -e "$bundle" ] && _fail "bundle $bundle left" || _pass

test_case "ctr run of an artifact with an invalid module names it and leaves nothing"
run srun --rm "$ART:bad" a-bad
assert_rc_not 0; assert_contains "$ERR" "invalid Wasm module /bad.wasm"
ctr_ c rm a-bad >/dev/null 2>&1
assert_clean a-bad "$STATE_ROOT"; no_snapshot a-bad

test_case "ctr run of the CNCF layout: containerd's ctr refuses the config (documented limit)"
# ctr's WithImageConfig accepts only OCI and Docker image configs, before any runtime is asked
run srun --rm "$ART:wasm" a-cncf /probe.wasm
assert_rc_not 0; assert_contains "$ERR" "unknown image config media type application/vnd.wasm.config.v0+json"

# CRI pods: the CNCF config has no entrypoint, so the pod names the module as its command
# (cri-e2e run-one takes the first argument as the command when the image has none)
for case in "oci:args pod oci" "wasm:/probe.wasm args pod wasm"; do
  variant=${case%%:*}
  test_case "CRI pod of the $variant artifact ($CONTAINERD_ENGINE, runtime_handler=runwasm)"
  # shellcheck disable=SC2086
  run "$CRI_E2E" run-one "$SOCK" runwasm "$E2E_DIR/logs-$variant" "$ART:$variant" ${case#*:}
  assert_rc 0 "cri-e2e run-one ($variant)"
  assert_contains "$OUT" "exit-code: 0"
  assert_contains "$OUT" "stdout F args: /probe.wasm args pod $variant" "CRI log"
  pod=$(sed -n 's/^pod-id: //p' <<<"$OUT")
  if [[ "$pod" =~ ^[0-9a-f]{64}$ ]]; then _pass; assert_clean "$pod" "$CRI_STATE_ROOT"; else _fail "no pod id: '$pod'"; fi
  # the k8s.io state root is shared by every containerd on the host: look at ours only
  left=$(grep -ls "\"bundle\":\"$CTRD/" "$CRI_STATE_ROOT"/*/state.json 2>/dev/null)
  assert_eq "$left" "" "runwasm state of this containerd's pods left after the $variant pod"
done

test_case "runwasm (CLI, as CRI-O/podman call it): a module the caller put beside config.json"
# the contract for any caller of the runwasm binary that reads artifacts itself (docs/images.md)
mkdir -p "$E2E_DIR/empty-rootfs/etc"; echo "from the caller's rootfs" > "$E2E_DIR/empty-rootfs/etc/note"
python3 "$ROOT_DIR/test/e2e/mk-bundle.py" "$E2E_DIR/empty-rootfs" "$E2E_DIR/cli-bundle" '["/app.wasm","cat","/etc/note"]' >/dev/null
mkdir -m 700 "$E2E_DIR/cli-bundle/wasm-layers"
cp "$FIXTURES/wasm-rootfs/probe.wasm" "$E2E_DIR/cli-bundle/wasm-layers/module.wasm"
run "$RUNWASM" --root "$E2E_DIR/cli-root" run --bundle "$E2E_DIR/cli-bundle" a-cli
assert_rc 0 "runwasm run of a bundle with a supplied module"; assert_contains "$OUT" "from the caller's rootfs"
assert_clean a-cli "$E2E_DIR/cli-root"
ln -sf /etc/hostname "$E2E_DIR/cli-bundle/wasm-layers/module.wasm"
run "$RUNWASM" --root "$E2E_DIR/cli-root" run --bundle "$E2E_DIR/cli-bundle" a-cli-link
assert_rc_not 0 "a supplied module that is a symlink"; assert_contains "$ERR" "wasm-layers/module.wasm"
assert_clean a-cli-link "$E2E_DIR/cli-root"

# the layer's blob in the image tarball, by its media type
precompiled_blob() {
  python3 - "$1" <<'PY'
import json, sys, tarfile
t = tarfile.open(sys.argv[1]); f = lambda n: t.extractfile(n).read()
m = json.loads(f("blobs/sha256/" + json.loads(f("index.json"))["manifests"][0]["digest"][7:]))
d = next(l["digest"] for l in m["layers"] if l["mediaType"].endswith("precompiled.v1"))
sys.stdout.buffer.write(f("blobs/sha256/" + d[7:]))
PY
}

test_case "precompiled layer, trusted: a compile-cache miss stores the image's artifact"
rm -rf "${CACHE:?}"/*
run srun --rm "$ART:pre" a-pre
assert_rc 0; assert_contains "$OUT" "hello from wasm"
cached=$(find "$CACHE" -name '*.cwasm' | head -1)
[ -n "$cached" ] && _pass || _fail "nothing in the compile cache after the first start"
assert_eq "$(sha256sum < "$cached" | cut -d' ' -f1)" \
  "$(precompiled_blob "$FIXTURES/artifact-pre.tar" | sha256sum | cut -d' ' -f1)" "cached artifact"
run srun --rm "$ART:pre" a-pre2 /probe.wasm exit 4
assert_rc 4 "a later start (cache hit)"
assert_clean a-pre "$STATE_ROOT"; no_snapshot a-pre

test_case "precompiled layer, trusted: its native code is what runs (why trust is opt-in)"
# a forged image: probe.wasm's module with hello.wasm's precompiled layer, annotated as probe's
rm -rf "${CACHE:?}"/*
run srun --rm "$ART:forged" a-forged
assert_rc 0; assert_contains "$OUT" "hello from wat" "output of the forged image"
assert_not_contains "$OUT" "hello from wasm" "output of the forged image"

test_case "precompiled layer, not trusted (default): ignored, the module is compiled"
"$ROOT_DIR/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1
RUNWASM_BIN=$RUNWASM "$ROOT_DIR/scripts/containerd.sh" start "$CTRD" >/dev/null || _fail "containerd did not restart"
rm -rf "${CACHE:?}"/*
run srun --rm "$ART:forged" a-untrusted
assert_rc 0; assert_contains "$OUT" "hello from wasm" "output of the forged image, untrusted"
assert_not_contains "$OUT" "hello from wat" "output of the forged image, untrusted"
assert_clean a-untrusted "$STATE_ROOT"; no_snapshot a-untrusted

test_case "an artifact's module layer over RUNWASM_MODULE_MAX is refused before it is read"
"$ROOT_DIR/scripts/containerd.sh" stop "$CTRD" >/dev/null 2>&1
RUNWASM_MODULE_MAX=4096 RUNWASM_BIN=$RUNWASM "$ROOT_DIR/scripts/containerd.sh" start "$CTRD" >/dev/null \
  || _fail "containerd did not restart"
run srun --rm "$ART:oci" a-toobig
assert_rc_not 0 "an artifact whose module is larger than the limit"
assert_contains "$ERR" "larger than the limit of 4096 bytes"
ctr_ c rm a-toobig >/dev/null 2>&1
assert_clean a-toobig "$STATE_ROOT"; no_snapshot a-toobig

summary "OCI Wasm artifacts on $CONTAINERD_ENGINE"
