#!/usr/bin/env bash
# Runs every end-to-end suite against the real clients; fails if any suite fails or cannot run.
# SUITES="a b" runs a subset (names of test/e2e/*.sh without .sh).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "end-to-end tests need root (containers, cgroups, mounts)"; exit 1; }
SUITES=${SUITES:-cli containerd-runc-shim containerd-shim cri podman conmon-crio dockerd security}
failed=()
for suite in $SUITES; do
  echo "=== suite $suite"
  "$HERE/$suite.sh" || failed+=("$suite")
done
if [ ${#failed[@]} -gt 0 ]; then echo "FAILED suites: ${failed[*]}"; exit 1; fi
echo "all suites passed: $SUITES"
