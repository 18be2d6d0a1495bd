#!/usr/bin/env bash
# Builds the test programs in test/ (Rust for wasm32-wasip1/-wasip2, WAT, C) and packs them
# into image tarballs under OUT (default target/fixtures):
#   wasm.tar     runwasm-test/wasm:latest   Wasm programs + a rootfs file, entrypoint /probe.wasm
#   busybox.tar  runwasm-test/busybox:latest  static busybox (the Linux comparator)
#   pause.tar    runwasm-test/pause:latest    a static pause for pod sandboxes
# Wasm image contents: /probe.wasm (p1 module), /probe-p2.wasm (p2 component), /hello.wasm
# (from WAT), /reactor.wasm (valid, not a command), /bad.wasm (invalid), /large.wasm (a few
# MB, generated), /etc/greeting.txt.
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
"$HERE/scripts/mk-oci-image.py" "$W" runwasm-test/wasm:latest "$OUT/wasm.tar" \
    --entrypoint '["/probe.wasm"]' --cmd '["hello"]' --platform "$PLATFORM"

B="$OUT/busybox-rootfs"; rm -rf "$B"; mkdir -p "$B"/{bin,dev,proc,sys,tmp,etc}
cp /bin/busybox "$B/bin/busybox"
for a in sh ls cat echo id hostname sleep ps true false env mount; do ln -sf busybox "$B/bin/$a"; done
echo 'root:x:0:0:root:/:/bin/sh' > "$B/etc/passwd"; echo 'root:x:0:' > "$B/etc/group"
"$HERE/scripts/mk-oci-image.py" "$B" runwasm-test/busybox:latest "$OUT/busybox.tar" --cmd '["/bin/sh"]'

P="$OUT/pause-rootfs"; rm -rf "$P"; mkdir -p "$P"
gcc -static -Os -s -o "$P/pause" "$HERE/test/images/pause.c"
"$HERE/scripts/mk-oci-image.py" "$P" runwasm-test/pause:latest "$OUT/pause.tar" --entrypoint '["/pause"]'
