#!/usr/bin/env bash
# Fuzzing, short (docs/fuzzing.md): every cargo-fuzz target for FUZZ_SECONDS (30 s here;
# `make fuzz` runs 300 s each) through scripts/fuzz.sh, which installs cargo-fuzz if it is
# missing and builds the targets. Fails if cargo-fuzz cannot be installed, a target does not
# build, crashes, or runs no input; and first shows that a crash does fail the script.
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
. "$E2E_DIR/lib.sh"
FUZZ=$ROOT_DIR/scripts/fuzz.sh
SECONDS_PER_TARGET=${FUZZ_SECONDS:-30}
work=$(mktemp -d /tmp/runwasm-e2e-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

test_case "every target fuzzed ${SECONDS_PER_TARGET}s without a crash"
start=$(date +%s)
FUZZ_SECONDS=$SECONDS_PER_TARGET FUZZ_SUMMARY=$work/summary "$FUZZ" 2>&1 | tee "$work/log"
RC=${PIPESTATUS[0]} OUT=$(cat "$work/log") ERR=""
assert_rc 0 "scripts/fuzz.sh"
echo "fuzz step: $(( $(date +%s) - start ))s in all"
targets=$(cd "$ROOT_DIR/fuzz" && cargo fuzz list 2>/dev/null)
assert_contains "$targets" classify "cargo fuzz list"
for t in $targets; do
  row=$(awk -v t="$t" '$1 == t' "$work/summary" 2>/dev/null)
  assert_contains "$row" " ok" "summary row of $t"
  # it really ran: inputs executed, coverage reached
  execs=$(awk '{print $3}' <<<"$row") cov=$(awk '{print $5}' <<<"$row")
  if [ "${execs:-0}" -gt 100 ] 2>/dev/null; then _pass; else _fail "$t ran ${execs:-no} inputs"; fi
  if [ "${cov:-0}" -gt 100 ] 2>/dev/null; then _pass; else _fail "$t reached coverage ${cov:-none}"; fi
done

test_case "a crash fails the fuzz step (a deliberate panic in one target)"
run env FUZZ_TARGETS=bootstrap FUZZ_SECONDS=5 FUZZ_ARTIFACTS=$work/artifacts \
  RUNWASM_FUZZ_SELFTEST_CRASH=1 "$FUZZ"
assert_rc 1 "scripts/fuzz.sh with a crashing target"
assert_contains "$OUT" "FAILED: bootstrap" "its summary"
assert_contains "$OUT" "deliberate crash" "its log of the panic"
crashes=$(find "$work/artifacts/bootstrap" -name 'crash-*' 2>/dev/null | wc -l)
if [ "$crashes" -ge 1 ]; then _pass; else _fail "no crash-* input written"; fi

summary fuzz
