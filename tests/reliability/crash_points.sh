#!/usr/bin/env bash
# tests/reliability/crash_points.sh [BUILD_DIR] - kill -9 at every named step, figures printed
#
#   tests/reliability/crash_points.sh build              CRASH_ROUNDS=5 (default here)
#   CRASH_ROUNDS=20 tests/reliability/crash_points.sh build
#
# Runs the integration test test_crash_points (built in BUILD_DIR, default ./build:
# cmake --build build --target ingestd test_crash_points): for every crash point
# (core/crashpoint.h; INGESTD_TEST_CRASH_AT) it starts ingestd on a database of its own,
# drives a merge, an inventory job, an import, an export or a webhook delivery until the
# process SIGKILLs itself at that step, restarts it without the variable and checks from
# PostgreSQL and the file system that every 2xx'd event is stored once, no merge is half
# applied, no inventory job succeeded without its records, imported files are stored once
# and moved, export targets hold a whole, then the newest, generation, and a webhook is
# delivered (again with the same id after a crash between the 2xx and the commit).
# ctest runs one round per point (about 40 s); CRASH_ROUNDS repeats each point.
# Prints one line of figures per point; exits non-zero when an invariant failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
[ -d "$BUILD" ] && BUILD=$(cd "$BUILD" && pwd)
export CRASH_ROUNDS=${CRASH_ROUNDS:-5}
[ -x "$BUILD/tests/test_crash_points" ] || {
  echo "crash_points.sh: build first: cmake --build $BUILD --target ingestd test_crash_points" >&2
  exit 2
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
echo "== test_crash_points (CRASH_ROUNDS=$CRASH_ROUNDS)"
if (cd "$work" && "$BUILD/tests/test_crash_points") >"$work/log" 2>&1; then r=passed; s=0; else r=FAILED; s=1; fi
grep -vE '^\[ *(RUN|OK|PASSED|=+) ' "$work/log" || true
echo "== test_crash_points: $r in $(( $(date +%s) - start )) s"
exit $s
