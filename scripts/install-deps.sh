#!/usr/bin/env bash
# Installs what building and testing runwasm needs on Debian 12, idempotently:
# the clients the end-to-end tests drive (containerd + runc, podman + conmon, dockerd, the CNI
# plugins for pods with a network of their own),
# the Wasm toolchain for the test fixtures, the build's C dependencies, wrk for the benchmark.
set -euo pipefail
PKGS=(containerd runc busybox-static podman conmon crun docker.io
      wabt clang lld wasi-libc libclang-rt-14-dev-wasm32
      protobuf-compiler libseccomp-dev pkg-config gcc libc6-dev
      python3 iproute2 procps psmisc skopeo
      containernetworking-plugins iptables    # CNI bridge, host-local, loopback; ipMasq
      wrk                                      # load for the wasi:http benchmark (scripts/bench.py)
      g++                                      # libFuzzer's C++ for the fuzz targets (make fuzz)
      python3-matplotlib)                      # the soak plot of make stress (scripts/stress.py)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  # keep postinst scripts from starting the distro's services (PID 1 may not be an init)
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; created_policy=1
  fi
  trap '[ $created_policy = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 -q update
  apt-get -o DPkg::Lock::Timeout=600 -y -q install --no-install-recommends "${missing[@]}"
fi
installed=$(rustup target list --installed)
for t in wasm32-wasip1 wasm32-wasip2; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done
# today's engines (containerd 1.7 / 2.1, Docker 26 / 28) beside Debian 12's, cached in .deps
"$(dirname "$0")/engines.sh" fetch
