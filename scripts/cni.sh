#!/usr/bin/env bash
# Pod networking for a private containerd (scripts/containerd.sh runs it): Debian's CNI
# plugins (package containernetworking-plugins) bridge + host-local + loopback, with
# everything of the instance under DIR/cni.
# usage: cni.sh {setup|teardown|show} DIR
#   setup:    picks the instance's network number N (0..254), one no other instance on this
#             machine holds: bridge runwasm-cniN, subnet 10.213.N.0/24, gateway 10.213.N.1 on
#             the bridge (isGateway: the host reaches the pods' IPs, the pods reach the host
#             through it; ipMasq for anything beyond the host); links the plugins into
#             DIR/cni/bin and writes DIR/cni/net.d/10-runwasm.conflist (host-local's dataDir
#             DIR/cni/ipam) and DIR/cni/env (CNI_INDEX, CNI_NETWORK, CNI_BRIDGE, CNI_SUBNET,
#             CNI_GATEWAY, CNI_IPAM_DIR: what a test sources). Again on the same DIR: the same
#             network. Without the plugins it says so and writes no conflist (containerd then
#             reports NetworkReady=false; host-network pods still run).
#   teardown: after containerd stopped: deletes the bridge, the NAT rules ipMasq left for pods
#             that were never removed through the CRI, and gives the number back
#   show:     prints DIR/cni/env
# Env: CNI_PLUGIN_DIR (default /usr/lib/cni, Debian's; upstream's is /opt/cni/bin).
set -euo pipefail
cmd=${1:?usage: cni.sh setup|teardown|show DIR}; DIR=$(realpath -m "${2:?DIR}")
CNI="$DIR/cni"
PLUGIN_DIR=${CNI_PLUGIN_DIR:-/usr/lib/cni}
PLUGINS=(bridge host-local loopback)
# which instance holds which number: CLAIMS/N names its DIR (under the lock)
CLAIMS=/run/runwasm-cni
LOCK=/run/lock/runwasm-cni.lock
NETWORK=runwasm

bridge_of() { echo "runwasm-cni$1"; }
subnet_of() { echo "10.213.$1.0/24"; }
# index_in DIR: the number DIR/cni/env records, empty without one
index_in() { sed -n "s/^CNI_INDEX=//p" "$1/cni/env" 2>/dev/null || true; }

# free_bridge N: deletes bridge N of an instance gone without teardown, unless a port is
# still on it
free_bridge() {
  local br; br=$(bridge_of "$1")
  ip link show "$br" >/dev/null 2>&1 || return 0
  [ -z "$(ip -o link show master "$br" 2>/dev/null)" ] && ip link del "$br" 2>/dev/null || true
}

# claim: sets N to a number this DIR holds (its own from an earlier setup, else the first
# that is free or whose holder no longer records it)
claim() {
  mkdir -p "$CLAIMS"
  exec 8>"$LOCK"; flock -w 30 8
  local n owner
  N=$(index_in "$DIR")
  if [ -n "$N" ] && [ "$(cat "$CLAIMS/$N" 2>/dev/null)" = "$DIR" ]; then exec 8>&-; return 0; fi
  for n in $(seq 0 254); do
    owner=$(cat "$CLAIMS/$n" 2>/dev/null || true)
    if [ -n "$owner" ] && [ "$owner" != "$DIR" ] && [ "$(index_in "$owner")" = "$n" ]; then continue; fi
    # a route into the subnet that is not the bridge's: the host uses it, skip it
    if ip -4 route show root "$(subnet_of "$n")" | grep -qv " dev $(bridge_of "$n") "; then continue; fi
    [ -n "$owner" ] && free_bridge "$n"
    echo "$DIR" > "$CLAIMS/$n"; N=$n; exec 8>&-; return 0
  done
  exec 8>&-
  echo "cni.sh: no free network number (all of 10.213.0-254.0/24 held, see $CLAIMS)" >&2
  return 1
}

setup() {
  mkdir -p "$CNI/bin" "$CNI/net.d" "$CNI/ipam"
  local missing="" p
  for p in "${PLUGINS[@]}"; do [ -x "$PLUGIN_DIR/$p" ] || missing+=" $p"; done
  if [ -n "$missing" ]; then
    echo "cni.sh: no CNI plugin$missing in $PLUGIN_DIR (apt-get install containernetworking-plugins):" \
         "pods get no network of their own" >&2
    rm -f "$CNI/net.d/10-runwasm.conflist" "$CNI/env"
    return 0
  fi
  for p in "${PLUGINS[@]}"; do ln -sfn "$PLUGIN_DIR/$p" "$CNI/bin/$p"; done
  claim
  local bridge subnet gateway
  bridge=$(bridge_of "$N") subnet=$(subnet_of "$N") gateway=10.213.$N.1
  cat > "$CNI/net.d/10-runwasm.conflist.tmp" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "$NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$subnet", "gateway": "$gateway" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$CNI/ipam"
      }
    }
  ]
}
JSON
  # containerd watches the directory: the file appears whole
  mv -f "$CNI/net.d/10-runwasm.conflist.tmp" "$CNI/net.d/10-runwasm.conflist"
  cat > "$CNI/env" <<ENV
CNI_INDEX=$N
CNI_NETWORK=$NETWORK
CNI_BRIDGE=$bridge
CNI_SUBNET=$subnet
CNI_GATEWAY=$gateway
CNI_IPAM_DIR=$CNI/ipam/$NETWORK
ENV
}

# nat_leftovers N: removes the POSTROUTING rules of sources in subnet N (ipMasq's, one per
# pod IP) and the chains they jump to
nat_leftovers() {
  command -v iptables >/dev/null || return 0
  local prefix="10.213.$1." rule chain
  { iptables -w -t nat -S POSTROUTING 2>/dev/null || true; } | { grep -F -- "-s $prefix" || true; } |
  while read -r rule; do
    chain=$(sed -n 's/.* -j \(CNI-[^ ]*\).*/\1/p' <<<"$rule")
    eval "iptables -w -t nat ${rule/-A POSTROUTING/-D POSTROUTING}" 2>/dev/null || true
    if [ -n "$chain" ]; then
      iptables -w -t nat -F "$chain" 2>/dev/null || true
      iptables -w -t nat -X "$chain" 2>/dev/null || true
    fi
  done
}

teardown() {
  local n; n=$(index_in "$DIR")
  [ -n "$n" ] || return 0
  ip link del "$(bridge_of "$n")" 2>/dev/null || true
  nat_leftovers "$n"
  mkdir -p "$CLAIMS"
  exec 8>"$LOCK"; flock -w 30 8
  [ "$(cat "$CLAIMS/$n" 2>/dev/null)" = "$DIR" ] && rm -f "$CLAIMS/$n"
  exec 8>&-
  rm -f "$CNI/env"
}

case $cmd in
setup) setup ;;
teardown) teardown ;;
show) cat "$CNI/env" ;;
*) sed -n 2,19p "$0"; exit 2 ;;
esac
