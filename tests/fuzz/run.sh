#!/usr/bin/env bash
# tests/fuzz/run.sh [TARGET...] - fuzzing campaigns with libFuzzer + ASan + UBSan
#
#   tests/fuzz/run.sh                     every tests/fuzz/fuzz_*.c, 60 s each
#   SECONDS_PER_TARGET=600 tests/fuzz/run.sh gzip_decoder
#   RUNS=10000000 tests/fuzz/run.sh       stop each target after 10,000,000 executions
#   JOBS=2 ...                            libFuzzer workers per target (default 1)
#
# Builds the targets with clang (-DINGESTD_FUZZ=ON) in build-fuzz/, starts each
# from its committed corpus tests/fuzz/corpus/<target>/ (read only: new inputs
# go to build-fuzz/corpus/<target>/), with tests/fuzz/<target>.dict when there
# is one, and prints one line per target: executions, seconds, result. A
# crash, leak or sanitizer report leaves its input in build-fuzz/findings/
# and fails the script; a finding is fixed, then kept as a file in the
# target's corpus so ctest's fuzz/replay_<target> replays it forever.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET=${SECONDS_PER_TARGET:-60}
RUNS=${RUNS:-}
JOBS=${JOBS:-1}

command -v clang >/dev/null || { echo "run.sh: clang is needed (apt-get install clang libclang-rt-dev)"; exit 2; }
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DINGESTD_FUZZ=ON -DINGESTD_TESTS=OFF >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do n=$(basename "$f" .c); targets+=("${n#fuzz_}"); done
fi
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null

mkdir -p build-fuzz/findings
printf '%-22s %14s %9s  %s\n' target executions seconds result
status=0
for t in "${targets[@]}"; do
  work=build-fuzz/corpus/$t
  mkdir -p "$work"
  args=(-print_final_stats=1 -artifact_prefix="build-fuzz/findings/$t-" -jobs="$JOBS"
        -workers="$JOBS")
  if [ -n "$RUNS" ]; then args+=(-runs="$RUNS"); else args+=(-max_total_time="$SECONDS_PER_TARGET"); fi
  [ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
  log=build-fuzz/$t.log
  start=$(date +%s)
  if [ "$JOBS" -gt 1 ]; then
    (cd build-fuzz && ./fuzz_"$t" "${args[@]/#-artifact_prefix=build-fuzz\//-artifact_prefix=}" \
      "corpus/$t" "../tests/fuzz/corpus/$t") >"$log" 2>&1 && rc=0 || rc=$?
    execs=$(cat build-fuzz/fuzz-*.log 2>/dev/null | awk '/stat::number_of_executed_units/ { s += $2 } END { print s + 0 }')
    rm -f build-fuzz/fuzz-*.log
  else
    ./build-fuzz/fuzz_"$t" "${args[@]}" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1 && rc=0 || rc=$?
    execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
  fi
  secs=$(($(date +%s) - start))
  if [ "$rc" -eq 0 ]; then result="no finding"; else result="FINDING (see $log)"; status=1; fi
  printf '%-22s %14s %9s  %s\n' "$t" "${execs:-?}" "$secs" "$result"
done
exit $status
