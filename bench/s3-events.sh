#!/usr/bin/env bash
# bench/s3-events.sh - the S3 event ingestion and object list benchmark
#
#   bash bench/s3-events.sh [PREFILL] [BATCHES]        (defaults: 1000000 150)
#   KEEP=1 bash bench/s3-events.sh    keep ingestd and its database running at
#                                     the end (for psql / EXPLAIN ANALYZE) until
#                                     the script is interrupted
#
# Builds ingestd (Release) and bench/s3load, starts ingestd on a private
# embedded PostgreSQL (durable commits) with INGESTD_DB_POOL=8, then:
#   - prefills the catalog to PREFILL object records through
#     POST /api/v1/s3/events (S3 notifications, 1000 records per request);
#   - posts BATCHES batches of exactly 100 records from each of 16 concurrent
#     keep-alive clients (creates, overwrites, deletes, repeat deliveries,
#     events without sequencer)                          [>= 20,000 records/s]
#   - times GET /api/v1/s3/objects?bucket=B&key=<prefix>*&rowsPerPage=1000
#     (a prefix with more than 1000 current records) 50 times on one
#     keep-alive connection                               [p99 <= 50 ms]
#   - reports the catalog size and ingestd's peak RSS.
# The list check needs PREFILL of about 600,000 or more (the prefix must match
# 1000 current records); with less, s3load reports bad list responses.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFILL=${1:-1000000}
BATCHES=${2:-150}
CLIENTS=16
BATCH=100
LIST_RUNS=50
POOL=${INGESTD_DB_POOL:-8}

cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DINGESTD_TESTS=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o build-bench/s3load bench/s3load.c -lcurl

work=$(mktemp -d /tmp/ingestd-s3bench.XXXXXX)
chmod 711 "$work"
cleanup() {
  [ -n "${ingestd_pid:-}" ] && kill "$ingestd_pid" 2>/dev/null && wait "$ingestd_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

INGESTD_DATA_DIR=$work/data INGESTD_LISTEN=127.0.0.1:0 INGESTD_DB_POOL=$POOL \
  ./build-bench/ingestd serve 2>"$work/ingestd.log" &
ingestd_pid=$!
for _ in $(seq 1 600); do
  port=$(grep -o '"msg":"listening".*"port":[0-9]*' "$work/ingestd.log" 2>/dev/null | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "ingestd did not start"; cat "$work/ingestd.log"; exit 1; }
base=http://127.0.0.1:$port
psql_cmd=(psql -h "$work/data/run" -U postgres -d ingestd -XAtq)
# the events partition's key segments index (built in the background) in place first
. bench/key-index-wait.sh
echo "key segments indexes ready after $(key_index_wait "${psql_cmd[@]}") s of waiting"

status=0
./build-bench/s3load "$base" "$PREFILL" "$CLIENTS" "$BATCHES" "$BATCH" "$LIST_RUNS" | tee "$work/s3load.out" || status=$?
val() { awk -v k="$1" '$1 == k { print $2 }' "$work/s3load.out"; }

rss_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$ingestd_pid/status")
table_size=$("${psql_cmd[@]}" -c "SELECT pg_size_pretty(sum(pg_total_relation_size(relid))) FROM pg_partition_tree('s3_objects')" 2>/dev/null || echo "?")

printf '\n%-46s %16s %22s\n' "figure" "ingestd" "baseline / target"
printf '%-46s %16s %22s\n' "prefill ($(val prefill_sent) records, batches of 1000)" "$(val prefill_rate) rec/s" "$(val prefill_seconds) s"
printf '%-46s %16s %22s\n' "ingest ($CLIENTS clients x $BATCHES batches of $BATCH)" "$(val ingest_rate) rec/s" "target >= 20000"
printf '%-46s %16s %22s\n' "  batch latency p50 / p99" "$(val ingest_p50_ms) / $(val ingest_p99_ms) ms" "-"
printf '%-46s %16s %22s\n' "  ingested / duplicates / failed batches" "$(val ingest_ingested) / $(val ingest_duplicates) / $(val ingest_failed)" "-"
printf '%-46s %16s %22s\n' "list 1000 of $(val list_count) current (prefix*)" "$(val list_p50_ms) ms p50" "target <= 50"
printf '%-46s %16s %22s\n' "  p99 / max / first" "$(val list_p99_ms) / $(val list_max_ms) / $(val list_first_ms) ms" "target <= 50"
printf '%-46s %16s %22s\n' "  results per response (bad responses)" "$(val list_results) ($(val list_bad))" "1000 (0)"
printf '%-46s %16s %22s\n' "catalog records (current); table+indexes" "$(val catalog_records) ($(val catalog_current))" "$table_size"
printf '%-46s %16s %22s\n' "ingestd peak RSS" "$((rss_kb / 1024)) MiB" "-"

if [ "${KEEP:-0}" = 1 ]; then
  echo
  echo "KEEP=1: ingestd (pid $ingestd_pid) serves $base; database:"
  echo "  psql -h $work/data/run -U postgres ingestd"
  echo "interrupt this script (Ctrl-C, or kill $$) to stop and clean up"
  while kill -0 "$ingestd_pid" 2>/dev/null; do sleep 1; done
fi
[ "$status" = 0 ] || { echo "s3load reported failures (exit $status)"; exit 1; }
