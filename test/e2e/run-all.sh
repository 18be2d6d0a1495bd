#!/usr/bin/env bash
# Runs every end-to-end suite against the real clients; fails if any suite fails or cannot run.
# SUITES="a b" runs a subset: names of test/e2e/*.sh without .sh, each either SUITE or
# SUITE@ENGINE, which runs SUITE with CONTAINERD_ENGINE=ENGINE (an engine of
# scripts/engines.sh, e.g. containerd-shim@containerd-2.1; docker.sh takes docker-N from it). The containerd suites run the same
# cases on each engine; without @ENGINE they run on containerd-1.6.
# run-all.sh --list prints the entries it would run.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "end-to-end tests need root (containers, cgroups, mounts)"; exit 1; }
CONTAINERD_ENGINES="containerd-1.6 containerd-1.7 containerd-2.1"
DEFAULT_SUITES=(
  cli
  # containerd: ctr with runc's shim and --runc-binary runwasm, ctr with runwasm's shim, and
  # the CRI plugin (both handlers), on each containerd
  $(for suite in containerd-runc-shim containerd-shim cri; do
      for engine in $CONTAINERD_ENGINES; do echo "$suite@$engine"; done
    done)
  podman
  conmon-crio
  dockerd
  # Docker 26 (containerd 1.7) and 28 (containerd 2.1) with the containerd image store
  docker@docker-26
  docker@docker-28
  # OCI Wasm artifacts (containerd 1.6 cannot import them)
  artifact@containerd-1.7
  artifact@containerd-2.1
  # wasi:http serving: ctr, podman and Docker 28 (on containerd-1.6), ctr on containerd 2.1
  http
  http@containerd-2.1
  # wasi:http in a Kubernetes pod with its own network (CNI bridge): CRI on containerd 1.6, 2.1
  cri-http@containerd-1.6
  cri-http@containerd-2.1
  security
  fuzz  # cargo-fuzz targets, 30 s each (make fuzz: 300 s each)
  # soak, load, 2 minutes of chaos and the resource faults at CI sizes (scripts/stress.py
  # --short; make stress: the long sizes, docs/reliability.md)
  stress
)
SUITES=${SUITES:-${DEFAULT_SUITES[*]}}
[ "${1:-}" = --list ] && { printf "%s\n" $SUITES; exit 0; }
failed=() passed=()
for entry in $SUITES; do
  suite=${entry%%@*} engine=${entry#*@}
  [ -x "$HERE/$suite.sh" ] || { echo "=== $entry: no suite $HERE/$suite.sh"; failed+=("$entry"); continue; }
  if [ "$entry" != "$suite" ]; then
    [ -n "$engine" ] || { echo "=== $entry: no engine after @"; failed+=("$entry"); continue; }
    echo "=== suite $suite on $engine"
    CONTAINERD_ENGINE=$engine "$HERE/$suite.sh" && passed+=("$entry") || failed+=("$entry")
  else
    echo "=== suite $suite"
    "$HERE/$suite.sh" && passed+=("$entry") || failed+=("$entry")
  fi
done
echo "passed suites: ${passed[*]:-none}"
if [ ${#failed[@]} -gt 0 ]; then echo "FAILED suites: ${failed[*]}"; exit 1; fi
echo "all suites passed: $SUITES"
