#!/usr/bin/env bash
# Builds the test programs in test/ (Rust for wasm32-wasip1/-wasip2, WAT, C) and packs them
# into image tarballs under OUT (default target/fixtures):
#   wasm.tar     runwasm-test/wasm:latest   Wasm programs + a rootfs file, entrypoint /probe.wasm
#   wasm-wasi.tar runwasm-test/wasm:wasi    the same, platform wasi/wasm (Docker >= 24)
#   http.tar     runwasm-test/http:latest   the wasi:http component of test/wasm/http (exports
#                wasi:http/incoming-handler only), entrypoint /http.wasm (test/e2e/http.sh)
#   http-wasi.tar runwasm-test/http:wasi    the same, platform wasi/wasm (Docker)
#   artifact-oci.tar  runwasm-test/artifact:oci   OCI Wasm artifact: probe.wasm as an
#                application/wasm layer, /etc/greeting.txt in a tar layer, OCI image config
#   artifact-wasm.tar runwasm-test/artifact:wasm  the CNCF layout (config
#                application/vnd.wasm.config.v0+json, one application/wasm layer)
#   artifact-pre.tar  runwasm-test/artifact:pre   artifact-oci with a precompiled layer
#   artifact-hello-pre.tar                        hello.wasm as an artifact, precompiled
#   artifact-large.tar, artifact-large-pre.tar    large.wasm as an artifact, plain and
#                precompiled (scripts/bench.py: first start with a precompiled layer)
#   artifact-bad.tar  runwasm-test/artifact:bad   an artifact of /bad.wasm
#   memhog.tar   runwasm-test/memhog:latest   test/wasm/memhog.wat: its start function writes its
#                128 MiB initial memory while it is instantiated (scripts/stress.py faults)
#   busybox.tar  runwasm-test/busybox:latest  static busybox (the Linux comparator)
#   pause.tar    runwasm-test/pause:latest    a static pause for pod sandboxes
#   attacker.tar runwasm-test/attacker:latest the CVE-2019-5736 attacker (test/images/attacker.c)
#                as init, /exploit.sh (`#!/proc/self/exe`) to exec, static busybox, glibc
#   hostbin/     static busybox and attacker, to bind-mount into a Wasm container
# Wasm image contents: /probe.wasm (p1 module), /probe-p2.wasm (p2 component), /hello.wasm
# (from WAT), /reactor.wasm (valid, not a command), /bad.wasm (invalid), /large.wasm (a few
# MB, generated), /etc/greeting.txt; for test/e2e/security.sh: /link-proc -> proc/self and
# /abs-proc -> /proc/self, /rootlink -> . and /devlink -> dev (routes to procfs, the root and
# /dev through the rootfs), /ro and /hostbin (mount points).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${1:-$HERE/target/fixtures}")
PLATFORM=${WASM_IMAGE_PLATFORM:-linux/amd64}
mkdir -p "$OUT"

probe="$HERE/test/wasm/probe"
for target in wasm32-wasip1 wasm32-wasip2; do
  cargo build -q --release --target "$target" --manifest-path "$probe/Cargo.toml" \
      --target-dir "$HERE/test/wasm/target"
done
# the wasi:http component (a cdylib: no wasi:cli/run, only wasi:http/incoming-handler)
cargo build -q --release --target wasm32-wasip2 --manifest-path "$HERE/test/wasm/http/Cargo.toml" \
    --target-dir "$HERE/test/wasm/target"

W="$OUT/wasm-rootfs"; rm -rf "$W"; mkdir -p "$W"/{etc,data,tmp}
cp "$HERE/test/wasm/target/wasm32-wasip1/release/probe.wasm" "$W/probe.wasm"
cp "$HERE/test/wasm/target/wasm32-wasip2/release/probe.wasm" "$W/probe-p2.wasm"
wat2wasm "$HERE/test/wasm/hello.wat" -o "$W/hello.wasm"
wat2wasm "$HERE/test/wasm/reactor.wat" -o "$W/reactor.wasm"
# the magic and version of a module, then bytes that are no section at all
printf '\0asm\001\0\0\0\377\377\377\377' > "$W/bad.wasm"
# a module of a few MB for the compile-cache benchmark
"$HERE/test/wasm/gen-large.py" "$OUT/large.wat"
wat2wasm "$OUT/large.wat" -o "$W/large.wasm"
echo "hello from the rootfs" > "$W/etc/greeting.txt"
ln -s proc/self "$W/link-proc"
ln -s /proc/self "$W/abs-proc"
ln -s . "$W/rootlink"
ln -s dev "$W/devlink"
mkdir -p "$W/ro" "$W/hostbin"
# the Wasm images are packed by runwasm itself (`runwasm image build`, docs/images.md)
RUNWASM=${RUNWASM:-$HERE/target/release/runwasm}
[ -x "$RUNWASM" ] || { echo "build runwasm first (make build): $RUNWASM" >&2; exit 1; }
"$RUNWASM" image build "$W/probe.wasm" --file "$W:/" --platform "$PLATFORM" \
    -t runwasm-test/wasm:latest -o "$OUT/wasm.tar" -- hello
# the same image as Docker documents Wasm images: platform wasi/wasm
"$RUNWASM" image build "$W/probe.wasm" --file "$W:/" --platform wasi/wasm \
    -t runwasm-test/wasm:wasi -o "$OUT/wasm-wasi.tar" -- hello
# the wasi:http component: no arguments, served on the container's network
HW="$OUT/http-rootfs"; rm -rf "$HW"; mkdir -p "$HW"
cp "$HERE/test/wasm/target/wasm32-wasip2/release/http_probe.wasm" "$HW/http.wasm"
"$RUNWASM" image build "$HW/http.wasm" --platform "$PLATFORM" \
    -t runwasm-test/http:latest -o "$OUT/http.tar"
"$RUNWASM" image build "$HW/http.wasm" --platform wasi/wasm \
    -t runwasm-test/http:wasi -o "$OUT/http-wasi.tar"
# OCI Wasm artifacts: the module as an application/wasm layer plus a layer of data files,
# with an OCI image config (any containerd client) or the CNCF config (CRI only)
D="$OUT/artifact-data"; rm -rf "$D"; mkdir -p "$D"
echo "hello from an artifact layer" > "$D/greeting.txt"
"$RUNWASM" image build "$W/probe.wasm" --artifact --file "$D:/etc" \
    -t runwasm-test/artifact:oci -o "$OUT/artifact-oci.tar" -- hello
"$RUNWASM" image build "$W/probe.wasm" --artifact --artifact-config wasm \
    -t runwasm-test/artifact:wasm -o "$OUT/artifact-wasm.tar"
# with the module compiled ahead of time for this runwasm's engine (a precompiled layer), and
# hello.wasm's precompiled layer (for test/e2e/artifact.sh's forged image)
"$RUNWASM" image build "$W/probe.wasm" --artifact --precompile \
    -t runwasm-test/artifact:pre -o "$OUT/artifact-pre.tar" -- hello
"$RUNWASM" image build "$W/hello.wasm" --artifact --precompile \
    -t runwasm-test/artifact:hello-pre -o "$OUT/artifact-hello-pre.tar"
# the large module (compile-cache benchmark) as an artifact, plain and precompiled
"$RUNWASM" image build "$W/large.wasm" --artifact -t runwasm-test/artifact:large -o "$OUT/artifact-large.tar"
"$RUNWASM" image build "$W/large.wasm" --artifact --precompile \
    -t runwasm-test/artifact:large-pre -o "$OUT/artifact-large-pre.tar"
# an artifact whose module has a Wasm header and nothing valid after it
"$RUNWASM" image build "$W/bad.wasm" --artifact -t runwasm-test/artifact:bad -o "$OUT/artifact-bad.tar"

# a module that exhausts a memory limit while it is instantiated
MH="$OUT/memhog-rootfs"; rm -rf "$MH"; mkdir -p "$MH"
wat2wasm "$HERE/test/wasm/memhog.wat" -o "$MH/memhog.wasm"
"$RUNWASM" image build "$MH/memhog.wasm" --platform "$PLATFORM" \
    -t runwasm-test/memhog:latest -o "$OUT/memhog.tar"

B="$OUT/busybox-rootfs"; rm -rf "$B"; mkdir -p "$B"/{bin,dev,proc,sys,tmp,etc}
cp /bin/busybox "$B/bin/busybox"
for a in sh ls cat echo id hostname sleep ps true false env mount; do ln -sf busybox "$B/bin/$a"; done
echo 'root:x:0:0:root:/:/bin/sh' > "$B/etc/passwd"; echo 'root:x:0:' > "$B/etc/group"
"$HERE/scripts/mk-oci-image.py" "$B" runwasm-test/busybox:latest "$OUT/busybox.tar" --cmd '["/bin/sh"]'

P="$OUT/pause-rootfs"; rm -rf "$P"; mkdir -p "$P"
gcc -static -Os -s -o "$P/pause" "$HERE/test/images/pause.c"
"$HERE/scripts/mk-oci-image.py" "$P" runwasm-test/pause:latest "$OUT/pause.tar" --entrypoint '["/pause"]'

A="$OUT/attacker-rootfs"; rm -rf "$A"; mkdir -p "$A"/{bin,dev,proc,sys,tmp,etc,out}
gcc -static -O2 -s -o "$A/attacker" "$HERE/test/images/attacker.c"
cp /bin/busybox "$A/bin/busybox"
for a in sh ls cat echo sleep; do ln -sf busybox "$A/bin/$a"; done
# a glibc userland, as a distro image has: the runtime (dynamically linked) can then run in it
mkdir -p "$A/lib64" "$A/lib/x86_64-linux-gnu"
cp -L /lib64/ld-linux-x86-64.so.2 "$A/lib64/"
for lib in libc.so.6 libm.so.6 libgcc_s.so.1 libseccomp.so.2; do
  cp -L "/lib/x86_64-linux-gnu/$lib" "$A/lib/x86_64-linux-gnu/"
done
# what `ctr task exec`/`podman exec` runs: the kernel starts the exec'ing process's own binary
printf '#!/proc/self/exe\n' > "$A/exploit.sh"; chmod 0755 "$A/exploit.sh"
"$HERE/scripts/mk-oci-image.py" "$A" runwasm-test/attacker:latest "$OUT/attacker.tar" \
    --entrypoint '["/attacker","watch","/out/attack.log"]'

H="$OUT/hostbin"; rm -rf "$H"; mkdir -p "$H"
cp /bin/busybox "$A/attacker" "$H/"
