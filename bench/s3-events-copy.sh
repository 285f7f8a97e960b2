#!/usr/bin/env bash
# bench/s3-events-copy.sh - S3 event ingestion against PostgreSQL's own COPY, on a large catalog
#
#   bash bench/s3-events-copy.sh [RECORDS] [BATCHES] [BATCH] [CLIENTS] [PREFILL]
#                                       (defaults: 10000000 20 1000 16 100000)
#   BUILD=/tmp/build-rel ...   build directory (default build-bench)
#   DATA=/tmp/dir ...          keep the database in DATA; a later run reuses its catalog
#                              (the one bench/s3-filters.sh builds: same shape, same DATA)
#
# Builds ingestd (Release) and bench/s3load, starts ingestd on a private
# embedded PostgreSQL (durable commits, INGESTD_DB_POOL=8), and makes sure
# the catalog holds RECORDS inventory records (built in SQL as
# bench/s3-filters.sh does; reused with DATA). Then, in one run:
#   1. s3load prefills PREFILL event records (batches of 1000), then CLIENTS
#      keep-alive clients post BATCHES batches each of BATCH S3 notifications
#      (creates, overwrites, deletes, repeat deliveries, events without a
#      sequencer) to POST /api/v1/s3/events: records/s = (ingested +
#      duplicates) / wall seconds;
#   2. the measured phase's fresh records, as ingestd stores them (in buckets
#      "<bucket>-copy", current flags and generated sequencers set), go
#      through `psql \copy` into s3_objects_events - the same table with the
#      same indexes - in one transaction, rolled back afterwards: records/s;
#   3. the ratio of the two (target >= 0.7);
#   4. p50/p99 of a 1,000-row list page (key prefix over 2,500 current
#      records, and the unfiltered first page) and of /count, 50 runs each
#      on one keep-alive connection (target <= 50 ms p99 for the page).
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${1:-10000000}
BATCHES=${2:-20}
BATCH=${3:-1000}
CLIENTS=${4:-16}
PREFILL=${5:-100000}
LIST_RUNS=50
POOL=${INGESTD_DB_POOL:-8}
BUILD=${BUILD:-build-bench}

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DINGESTD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target ingestd >/dev/null
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o "$BUILD/s3load" bench/s3load.c -lcurl

work=$(mktemp -d /tmp/ingestd-s3copy.XXXXXX)
chmod 711 "$work"
cleanup() {
  [ -n "${ingestd_pid:-}" ] && kill "$ingestd_pid" 2>/dev/null && wait "$ingestd_pid" 2>/dev/null || true
  rm -rf "$work"
}
data=${DATA:-$work/data}
trap cleanup EXIT
trap 'exit 130' INT TERM

INGESTD_DATA_DIR=$data INGESTD_LISTEN=127.0.0.1:0 INGESTD_DB_POOL=$POOL \
  "$BUILD/ingestd" serve 2>"$work/ingestd.log" &
ingestd_pid=$!
for _ in $(seq 1 6000); do # migrations may build indexes on a kept catalog
  port=$(grep -o '"msg":"listening".*"port":[0-9]*' "$work/ingestd.log" 2>/dev/null | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "ingestd did not start"; cat "$work/ingestd.log"; exit 1; }
base=http://127.0.0.1:$port
psql_cmd=(psql -h "$data/run" -U postgres -d ingestd -XAtq -v ON_ERROR_STOP=1)

have=$("${psql_cmd[@]}" -c "SELECT count(*) FROM s3_objects WHERE source = 'inventory'")
if [ "$have" = "$RECORDS" ]; then
  echo "reusing the catalog of $have inventory records in $data"
else
  echo "building a catalog of $RECORDS records in SQL ..."
  part=$("${psql_cmd[@]}" -c "SELECT nextval('s3_objects_part')")
  t=s3_objects_inv_$part
  "${psql_cmd[@]}" <<SQL
SET maintenance_work_mem = '512MB';
BEGIN;
CREATE TABLE $t (LIKE s3_objects INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
                 CONSTRAINT ${t}_part CHECK (part = $part));
INSERT INTO $t (id, bucket, key, version_id, event_type, event_time, size, etag, storage_class,
                last_modified, sequencer, is_delete_marker, is_current, reason, source, part,
                attributes)
SELECT gen_random_uuid(), 'bench-' || (i % 4),
       'run' || lpad((i / 10000)::text, 5, '0') || '/sample' || lpad(i::text, 8, '0') || '.bam',
       'null', 'Created', NULL, i, '"' || md5(i::text) || '"', 'STANDARD',
       timestamptz '2026-01-01' + make_interval(secs => i), '-00000000000000000001', false, true,
       'Crawl', 'inventory', $part,
       CASE WHEN i % 100 = 0 THEN jsonb_build_object(
           'project', 'P' || ((i / 100) % 100),
           'portalRunId', '2024' || lpad((i / 100)::text, 6, '0')) END
FROM generate_series(1, $RECORDS) AS i;
CREATE INDEX ${t}_key ON $t (bucket, key, sequencer);
CREATE INDEX ${t}_id ON $t USING brin (id) WITH (pages_per_range = 32);
CREATE INDEX ${t}_attr ON $t USING gin (attributes jsonb_path_ops) WHERE attributes IS NOT NULL;
CREATE INDEX ${t}_annot ON $t (bucket, key, sequencer) WHERE attributes IS NOT NULL;
CREATE INDEX ${t}_ingest ON $t (ingest_id) WHERE ingest_id IS NOT NULL;
ALTER TABLE s3_objects ATTACH PARTITION $t FOR VALUES IN ($part);
COMMIT;
VACUUM (ANALYZE) $t;
SQL
fi
# ingestd's background key index builds (bench/key-index-wait.sh) done before anything is timed
. bench/key-index-wait.sh
echo "key segments indexes ready after $(key_index_wait "${psql_cmd[@]}") s of waiting"
# events of an earlier run on a kept DATA would come back as repeat deliveries
"${psql_cmd[@]}" -c "TRUNCATE s3_objects_events" -c "VACUUM ANALYZE s3_objects_events"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

status=0
S3LOAD_COPY_FILE=$work/copy.tsv \
S3LOAD_LIST_PATH="/api/v1/s3?bucket=bench-1&key=run00420/*&rowsPerPage=1000" \
S3LOAD_COUNT_PATH="/api/v1/s3/objects/count?bucket=bench-1&key=run0042*" \
  "$BUILD/s3load" "$base" "$PREFILL" "$CLIENTS" "$BATCHES" "$BATCH" "$LIST_RUNS" \
  | tee "$work/s3load.out" || status=$?
val() { awk -v k="$1" '$1 == k { print $2 }' "$work/s3load.out"; }

# the unfiltered first page and the catalog's current count, timed the same way
S3LOAD_LIST_PATH="/api/v1/s3?rowsPerPage=1000" S3LOAD_COUNT_PATH="/api/v1/s3/objects/count" \
  "$BUILD/s3load" "$base" 0 1 0 1 5 2>/dev/null > "$work/s3load2.out" || status=$?
val2() { awk -v k="$1" '$1 == k { print $2 }' "$work/s3load2.out"; }

cols="id, bucket, key, version_id, event_type, event_time, size, etag, storage_class, sequencer, sequencer_raw, is_delete_marker, reason, number_duplicate_events, source, is_current"
copy_ms=$("${psql_cmd[@]}" <<SQL | awk '/^Time:/ { print $2 }'
BEGIN;
\timing on
\copy s3_objects_events ($cols) FROM '$work/copy.tsv'
\timing off
ROLLBACK;
SQL
)
rows=$(val copy_rows)
copy_rate=$(awk -v n="$rows" -v ms="$copy_ms" 'BEGIN { printf "%.0f", n / (ms / 1000) }')
ingest_rate=$(val ingest_rate)
ratio=$(awk -v a="$ingest_rate" -v b="$copy_rate" 'BEGIN { printf "%.2f", a / b }')
size=$("${psql_cmd[@]}" -c "SELECT pg_size_pretty(sum(pg_total_relation_size(relid))) FROM pg_partition_tree('s3_objects')")

printf '\n%-58s %22s %14s\n' "figure" "value" "target"
printf '%-58s %22s %14s\n' "ingestd: $CLIENTS clients x $BATCHES batches of $BATCH, HTTP" "$ingest_rate rec/s" "-"
printf '%-58s %22s %14s\n' "  batch latency p50 / p99" "$(val ingest_p50_ms) / $(val ingest_p99_ms) ms" "-"
printf '%-58s %22s %14s\n' "  ingested / duplicates / failed batches" "$(val ingest_ingested) / $(val ingest_duplicates) / $(val ingest_failed)" "-"
printf '%-58s %22s %14s\n' "psql \\copy of the same $rows records, same table" "$copy_rate rec/s" "-"
printf '%-58s %22s %14s\n' "ratio ingestd / COPY" "$ratio" ">= 0.7"
printf '%-58s %22s %14s\n' "list 1000 of $(val list_count) (bucket=bench-1&key=run00420/*)" "$(val list_p50_ms) / $(val list_p99_ms) ms" "p99 <= 50"
printf '%-58s %22s %14s\n' "count bucket=bench-1&key=run0042* ($(val count_n))" "$(val count_p50_ms) / $(val count_p99_ms) ms" "-"
printf '%-58s %22s %14s\n' "list 1000, unfiltered (of $(val2 list_count))" "$(val2 list_p50_ms) / $(val2 list_p99_ms) ms" "p99 <= 50"
printf '%-58s %22s %14s\n' "count, unfiltered ($(val2 count_n) current; 5 runs)" "$(val2 count_p50_ms) / $(val2 count_p99_ms) ms" "-"
printf '%-58s %22s %14s\n' "catalog: records (current); table + indexes" "$(val catalog_records) ($(val catalog_current))" "$size"
echo "load average before / after: $load_before / $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
