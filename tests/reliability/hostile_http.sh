#!/usr/bin/env bash
# tests/reliability/hostile_http.sh [BUILD_DIR] - hostile HTTP at scale, figures printed
#
#   tests/reliability/hostile_http.sh build            HOSTILE_SCALE=3 (default here)
#   HOSTILE_SCALE=10 tests/reliability/hostile_http.sh build
#
# Runs the integration tests test_hostile_scale (smuggling, oversized and NUL-laden
# requests, pipelining, HEAD/OPTIONS everywhere, slowloris, idle keep-alive connections,
# connection caps, slow 60 MB uploads, hostile JSON; RSS checked after each) and
# test_starvation (the long lane held full while a normal client keeps its latency), both
# built in BUILD_DIR (default ./build: cmake --build build --target test_hostile_scale
# test_starvation). ctest runs them at HOSTILE_SCALE=1 (about a minute); here
# HOSTILE_SCALE multiplies the connection counts and durations: 300 x N slowloris
# connections for 6 x N s, 2,000 x N idle keep-alive connections, 300 x N pipelined
# requests, uploads at 8/N MB/s. Prints each table (attack, count, outcome) and exits
# non-zero when an assertion failed. RLIMIT_NOFILE is raised to the hard limit by the
# test; counts that do not fit are lowered and said so.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
[ -d "$BUILD" ] && BUILD=$(cd "$BUILD" && pwd)
export HOSTILE_SCALE=${HOSTILE_SCALE:-3}
[ -x "$BUILD/tests/test_hostile_scale" ] && [ -x "$BUILD/tests/test_starvation" ] || {
  echo "hostile_http.sh: build first: cmake --build $BUILD --target test_hostile_scale test_starvation" >&2
  exit 2
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for t in test_hostile_scale test_starvation; do
  echo "== $t (HOSTILE_SCALE=$HOSTILE_SCALE)"
  start=$(date +%s)
  if (cd "$work" && "$BUILD/tests/$t") >"$work/$t.log" 2>&1; then r=passed; else r=FAILED; status=1; fi
  grep -E '^\||^  |long lane|normal client|ERROR|lowered' "$work/$t.log" || true
  echo "== $t: $r in $(( $(date +%s) - start )) s"
done
exit $status
