#!/usr/bin/env bash
# bench/import.sh - imports of the old pipeline's folder beside HTTP uploads (target in brackets)
#
#   bash bench/import.sh [FILES] [WRITERS]        (defaults: 10000 8)
#
# Builds ingestd (Release) and bench/importgen, generates FILES distinct
# repos-lock.csv files of 10 rows, then, each on a fresh embedded PostgreSQL
# (durable commits: fsync and synchronous_commit on), one after the other:
#   - http:   POSTs every file to /api/v1/events from WRITERS keep-alive clients
#             (INGESTD_DB_POOL=8, as bench/merge.sh);
#   - import: WRITERS threads copy every file into INGESTD_IMPORTS's pending/
#             (open, write, close: what cp does), timed from the first write until
#             GET /api/v1/imports counts every file accepted and pending/ is empty
#             (stored, committed and moved to processed/)  [>= 0.5 x the http rate]
# and prints the two rates side by side with their ratio, and ingestd's peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${1:-10000}
WRITERS=${2:-8}
POOL=${INGESTD_DB_POOL:-8}

cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DINGESTD_TESTS=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" --target ingestd >/dev/null
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread -o build-bench/importgen bench/importgen.c -lcurl

work=$(mktemp -d /tmp/ingestd-import-bench.XXXXXX)
chmod 711 "$work"
cleanup() {
  [ -n "${ingestd_pid:-}" ] && kill "$ingestd_pid" 2>/dev/null && wait "$ingestd_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/src" "$work/loc"
./build-bench/importgen gen "$work/src" "$FILES"

# start MODE [ENV...]: ingestd on a fresh embedded PostgreSQL; sets base and ingestd_pid
start() {
  local mode=$1 port=""
  shift
  env "$@" INGESTD_DATA_DIR="$work/data-$mode" INGESTD_LISTEN=127.0.0.1:0 \
    INGESTD_DB_POOL="$POOL" ./build-bench/ingestd serve 2>"$work/ingestd-$mode.log" &
  ingestd_pid=$!
  for _ in $(seq 1 600); do
    port=$(grep -o '"msg":"listening".*"port":[0-9]*' "$work/ingestd-$mode.log" 2>/dev/null | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "ingestd did not start"; cat "$work/ingestd-$mode.log"; exit 1; }
  base=http://127.0.0.1:$port
}
stop() {
  echo "rss_kb $(awk '/^VmHWM/ { print $2 }' "/proc/$ingestd_pid/status") kB" >>"$1"
  kill "$ingestd_pid" && wait "$ingestd_pid" 2>/dev/null || true
  ingestd_pid=""
}

start http
./build-bench/importgen post "$base" "$work/src" "$WRITERS" >"$work/http.out"
stop "$work/http.out"

start import INGESTD_IMPORTS="$work/loc" INGESTD_IMPORT_RESCAN=60
./build-bench/importgen drop "$base" "$work/src" "$work/loc" "$WRITERS" >"$work/import.out"
moved=$(find "$work/loc/processed" -type f | wc -l)
stop "$work/import.out"
[ "$moved" = "$FILES" ] || { echo "processed/ holds $moved files, want $FILES"; exit 1; }

val() { awk -v k="$2" '$1 == k { print $2 }' "$work/$1.out"; }
http=$(val http post_rate)
imp=$(val import import_rate)
printf '\n%-44s %12s %22s\n' "figure" "ingestd" "baseline / target"
printf '%-44s %12s %22s\n' "HTTP POST /api/v1/events ($WRITERS clients)" "$http files/s" "-"
printf '%-44s %12s %22s\n' "import folder, end to end ($WRITERS writers)" "$imp files/s" \
  "$(awk -v a="$imp" -v b="$http" 'BEGIN { printf "%.2f x HTTP; >= 0.5", a / b }')"
printf '%-44s %12s\n' "  of which writing the files" "$(val import drop_written_seconds) s"
printf '%-44s %12s\n' "  end to end ($FILES files)" "$(val import import_seconds) s"
printf '%-44s %12s %12s\n' "ingestd peak RSS (http / import)" "$(( $(val http rss_kb) / 1024 )) MiB" \
  "$(( $(val import rss_kb) / 1024 )) MiB"
