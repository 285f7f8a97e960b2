#!/usr/bin/env bash
# tests/fuzz/run.sh [TARGET...] - fuzzing campaigns with libFuzzer + ASan + UBSan
#
#   tests/fuzz/run.sh                     every tests/fuzz/fuzz_*.c, 60 s each
#   SECONDS_PER_TARGET=600 tests/fuzz/run.sh gzip_decoder
#   RUNS=10000000 tests/fuzz/run.sh       stop each target after 10,000,000 executions
#   JOBS=2 ...                            libFuzzer workers per target (default 1)
#   BUILD_DIR=/tmp/fuzz ...               build and work there (default build-fuzz)
#   SUMMARY=/tmp/fuzz/summary.txt ...     also append each target's line there as it ends
#   MAX_LEN=65536 ...                     libFuzzer -max_len (default: tests/fuzz/<t>.options
#                                         when it sets max_len, else libFuzzer's own)
#
# Builds the targets with clang (-DINGESTD_FUZZ=ON) in BUILD_DIR, starts each
# from its committed corpus tests/fuzz/corpus/<target>/ (read only: new inputs
# go to BUILD_DIR/corpus/<target>/), with tests/fuzz/<target>.dict when there
# is one, and prints one line per target: executions, seconds, executions per
# second, result. A crash, leak, timeout or sanitizer report leaves its input
# in BUILD_DIR/findings/, ends that target only (the next one starts) and
# makes the script fail at the end; a finding is fixed, then kept as a file in
# the target's corpus so ctest's fuzz/replay_<target> replays it forever, and
# becomes a unit test.
#
# The whole script is one block, read before it runs: editing the checkout
# while a long campaign runs does not change the campaign.
{
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET=${SECONDS_PER_TARGET:-60}
RUNS=${RUNS:-}
JOBS=${JOBS:-1}
BUILD_DIR=${BUILD_DIR:-build-fuzz}
SUMMARY=${SUMMARY:-}
MAX_LEN=${MAX_LEN:-}
src=$(pwd)
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$src/$BUILD_DIR ;; esac

command -v clang >/dev/null || { echo "run.sh: clang is needed (apt-get install clang libclang-rt-dev)"; exit 2; }
cmake -S . -B "$BUILD_DIR" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DINGESTD_FUZZ=ON -DINGESTD_TESTS=OFF >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do n=$(basename "$f" .c); targets+=("${n#fuzz_}"); done
fi
cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null

mkdir -p "$BUILD_DIR/findings"
[ -z "$SUMMARY" ] || mkdir -p "$(dirname "$SUMMARY")"
line() { printf '%-22s %14s %9s %9s  %s\n' "$@"; }
line target executions seconds exec/s result
[ -z "$SUMMARY" ] || [ -s "$SUMMARY" ] || line target executions seconds exec/s result >"$SUMMARY"
status=0
for t in "${targets[@]}"; do
  work=$BUILD_DIR/corpus/$t
  mkdir -p "$work"
  args=(-print_final_stats=1 -artifact_prefix="$BUILD_DIR/findings/$t-" -timeout=60)
  if [ -n "$RUNS" ]; then args+=(-runs="$RUNS"); else args+=(-max_total_time="$SECONDS_PER_TARGET"); fi
  [ -f "tests/fuzz/$t.dict" ] && args+=(-dict="$src/tests/fuzz/$t.dict")
  len=$MAX_LEN
  [ -n "$len" ] || len=$(sed -n 's/^max_len *= *\([0-9]*\)$/\1/p' "tests/fuzz/$t.options" 2>/dev/null || true)
  [ -z "$len" ] || args+=(-max_len="$len")
  log=$BUILD_DIR/$t.log
  start=$(date +%s)
  if [ "$JOBS" -gt 1 ]; then
    (cd "$BUILD_DIR" && rm -f fuzz-*.log && ./fuzz_"$t" "${args[@]}" -jobs="$JOBS" -workers="$JOBS" \
      "$work" "$src/tests/fuzz/corpus/$t") >"$log" 2>&1 && rc=0 || rc=$?
    execs=$(cat "$BUILD_DIR"/fuzz-*.log 2>/dev/null | awk '/stat::number_of_executed_units/ { s += $2 } END { print s + 0 }')
    rm -f "$BUILD_DIR"/fuzz-*.log
  else
    "$BUILD_DIR/fuzz_$t" "${args[@]}" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1 && rc=0 || rc=$?
    execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
  fi
  secs=$(($(date +%s) - start))
  rate=$(( ${execs:-0} / (secs > 0 ? secs : 1) ))
  if [ "$rc" -eq 0 ]; then result="no finding"; else result="FINDING (see $log)"; status=1; fi
  line "$t" "${execs:-?}" "$secs" "$rate" "$result"
  [ -z "$SUMMARY" ] || line "$t" "${execs:-?}" "$secs" "$rate" "$result" >>"$SUMMARY"
done
exit $status
}
