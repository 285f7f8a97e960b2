#!/usr/bin/env bash
# tests/reliability/pg_faults.sh [BUILD_DIR] - PostgreSQL connections cut under load, figures printed
#
#   tests/reliability/pg_faults.sh build             FAULT_SCALE=5 (default here)
#   FAULT_SCALE=20 tests/reliability/pg_faults.sh build
#
# Runs the integration test test_pg_faults (built in BUILD_DIR, default ./build:
# cmake --build build --target test_pg_faults): ingestd reaches PostgreSQL through a
# fault-injection proxy of the test (tests/integration/harness_proxy.c) that resets every
# connection at random moments while 4 clients upload events and post S3 event batches,
# cuts uploads after a random byte count (mid-COPY), resets merges while they run, and
# partitions the database for 1.5 s; then checks from PostgreSQL that every 2xx'd event
# and S3 record is stored exactly once, batches are all or nothing and no merge is half
# applied. ctest runs it at FAULT_SCALE=1 (about 30 s); FAULT_SCALE multiplies the counts.
# Prints one line of figures per scenario; exits non-zero when an invariant failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
[ -d "$BUILD" ] && BUILD=$(cd "$BUILD" && pwd)
export FAULT_SCALE=${FAULT_SCALE:-5}
[ -x "$BUILD/tests/test_pg_faults" ] || {
  echo "pg_faults.sh: build first: cmake --build $BUILD --target test_pg_faults" >&2
  exit 2
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
echo "== test_pg_faults (FAULT_SCALE=$FAULT_SCALE)"
if (cd "$work" && "$BUILD/tests/test_pg_faults") >"$work/log" 2>&1; then r=passed; s=0; else r=FAILED; s=1; fi
grep -vE '^\[ *(RUN|OK|PASSED|=+) ' "$work/log" || true
echo "== test_pg_faults: $r in $(( $(date +%s) - start )) s"
exit $s
