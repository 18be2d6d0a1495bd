#!/usr/bin/env bash
# Fuzzes runwasm's parsers with cargo-fuzz (libFuzzer): the classifier, the shim's bootstrap
# decoder, config.json -> WASI plan, the CLI's argument parser and the compile cache's reader
# (fuzz/, docs/fuzzing.md). Installs cargo-fuzz if it is missing, builds every target once,
# runs each for FUZZ_SECONDS, prints a summary (execs, coverage, crashes per target) and
# fails if any target crashed, timed out, ran out of memory or did not run.
#
#   FUZZ_SECONDS=300       time budget per target (make fuzz: 300; CI's e2e suite: 30)
#   FUZZ_TARGETS="a b"     a subset (default: every target of fuzz/Cargo.toml)
#   FUZZ_SANITIZER=none    or address (needs RUSTC_BOOTSTRAP=1, set here; a slower build)
#   FUZZ_ARTIFACTS=DIR     where crashing inputs go (default fuzz/artifacts)
#   FUZZ_SUMMARY=FILE      also write the summary table there
#   FUZZ_BUILD_LOCK=FILE   cargo runs under flock on it (default /tmp/runwasm-build.lock)
# The committed seeds (fuzz/corpus/TARGET) are only read; what a run finds is kept in
# fuzz/corpus-run/TARGET (not committed) and read again by the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECONDS=${FUZZ_SECONDS:-300}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-none}
FUZZ_ARTIFACTS=${FUZZ_ARTIFACTS:-$ROOT/fuzz/artifacts}
FUZZ_BUILD_LOCK=${FUZZ_BUILD_LOCK:-/tmp/runwasm-build.lock}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
BIN_DIR=$ROOT/fuzz/target/$TRIPLE/release
export CARGO_TERM_COLOR=never

# the largest input libFuzzer makes, per target (the seeds are smaller)
declare -A MAX_LEN=([classify]=16384 [bootstrap]=4096 [spec_plan]=32768 [cli_args]=4096
                    [cache_lookup]=8192)

die() { echo "fuzz: $*" >&2; exit 1; }
locked() { flock "$FUZZ_BUILD_LOCK" "$@"; }

# cargo-fuzz, pinned: a version that builds on the stable toolchain
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
  locked cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked \
    || die "cannot install cargo-fuzz $CARGO_FUZZ_VERSION"
  [ "$(cargo fuzz --version 2>/dev/null)" = "cargo-fuzz $CARGO_FUZZ_VERSION" ] \
    || die "cargo-fuzz $CARGO_FUZZ_VERSION was installed but cargo fuzz does not run it"
fi

ALL_TARGETS=$(cd fuzz && cargo fuzz list) || die "cargo fuzz list failed"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}
for t in $TARGETS; do
  grep -qx "$t" <<<"$ALL_TARGETS" || die "no fuzz target $t (targets: $(echo $ALL_TARGETS))"
done

# One build for every target. Sanitizer none: the code fuzzed is safe Rust (a panic, an
# overflow or a failed debug assertion is the crash); 16 codegen units and opt-level 0 for
# the dependencies that are linked but never run (fuzz/Cargo.toml) keep a clean build short.
build_flags=(--sanitizer "$FUZZ_SANITIZER" --codegen-units 16)
[ "$FUZZ_SANITIZER" = none ] || export RUSTC_BOOTSTRAP=1
echo "fuzz: building $(echo $TARGETS) (cargo fuzz build ${build_flags[*]})"
build_start=$(date +%s)
for t in $TARGETS; do
  (cd fuzz && locked cargo fuzz build "${build_flags[@]}" "$t") || die "build of $t failed"
done
build_secs=$(( $(date +%s) - build_start ))
echo "fuzz: built in ${build_secs}s"

results=() failed=()
for t in $TARGETS; do
  bin=$BIN_DIR/$t
  [ -x "$bin" ] || die "no binary $bin after the build"
  seeds=$ROOT/fuzz/corpus/$t run_corpus=$ROOT/fuzz/corpus-run/$t
  mkdir -p "$run_corpus" "$FUZZ_ARTIFACTS/$t"
  [ -d "$seeds" ] || die "no seed corpus $seeds"
  # the names and magic numbers the code compares against (fuzz/dict): built without a
  # sanitizer, libFuzzer does not see memcmp, so it is told them
  dict=() && [ -f "$ROOT/fuzz/dict/$t.dict" ] && dict=(-dict="$ROOT/fuzz/dict/$t.dict")
  log=$(mktemp)
  echo "=== fuzz $t: ${FUZZ_SECONDS}s"
  set +e
  # -timeout: one input taking 20 s is a hang, reported as a crash
  "$bin" "$run_corpus" "$seeds" "${dict[@]}" \
    -max_total_time="$FUZZ_SECONDS" -max_len="${MAX_LEN[$t]:-4096}" -timeout=20 \
    -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$FUZZ_ARTIFACTS/$t/" \
    >"$log" 2>&1
  rc=$?
  set -e
  # libFuzzer's last status line: "#N DONE cov: C ft: F corp: U/S ..."
  status=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  new=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' <<<"$status" | awk '{print $2}' || true)
  ft=$(grep -oE 'ft: [0-9]+' <<<"$status" | awk '{print $2}' || true)
  corp=$(grep -oE 'corp: [0-9]+' <<<"$status" | awk '{print $2}' || true)
  crashes=$(grep -cE '^==[0-9]+== ERROR: libFuzzer|^SUMMARY: libFuzzer|panicked at' "$log" || true)
  crash_files=$(grep -oE "Test unit written to [^ ]+" "$log" | awk '{print $5}' || true)
  if [ "$rc" != 0 ] || [ -z "$execs" ] || [ "${execs:-0}" = 0 ]; then
    failed+=("$t")
    verdict=FAIL
    echo "--- $t: libFuzzer exited $rc"
    grep -m1 -A2 "panicked at" "$log" || true
    echo "--- the end of its log:"
    grep -vE '^ +([0-9]+: |at )' "$log" | tail -25
    for f in $crash_files; do echo "--- crashing input: $f (reproduce: $bin $f)"; done
  else
    verdict=ok
  fi
  results+=("$(printf '%-13s %6s %10s %8s %6s %6s %6s %5s %7s  %s' "$t" "$FUZZ_SECONDS" \
    "${execs:-0}" "${rate:-0}" "${cov:--}" "${ft:--}" "${corp:--}" "${new:-0}" "$((crashes > 0 ? 1 : 0))" "$verdict")")
  rm -f "$log"
done

{
  echo "fuzz summary ($(date -u +%Y-%m-%dT%H:%MZ), build ${build_secs}s, sanitizer $FUZZ_SANITIZER)"
  printf '%-13s %6s %10s %8s %6s %6s %6s %5s %7s  %s\n' target secs execs exec/s cov ft corpus new crashed result
  printf '%s\n' "${results[@]}"
} | tee ${FUZZ_SUMMARY:+"$FUZZ_SUMMARY"}
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $FUZZ_ARTIFACTS)"
  exit 1
fi
echo "fuzz: every target ran ${FUZZ_SECONDS}s without a crash"
