#!/usr/bin/env bash
# bench/s3-filters.sh - list pages with wildcard and attribute filters on a large catalog
#
#   bash bench/s3-filters.sh [RECORDS] [RUNS] [SLOW_RUNS]   (defaults: 10000000 21 5)
#   BUILD=/tmp/build-rel bash bench/s3-filters.sh    build directory (default build-bench)
#   KEEP=1 ...                                        keep ingestd and its database at the end
#   DATA=/tmp/dir ...                                 keep the database in DATA (not removed at
#                                                     the end); a later run with the same DATA
#                                                     reuses its catalog instead of building it
#
# Builds ingestd (Release), starts it on a private embedded PostgreSQL, and
# builds a catalog of RECORDS current object records in SQL (generate_series
# into a table shaped like an inventory partition, indexed as ingestd indexes
# one, then attached - the way an inventory lands, not through HTTP):
#   bucket  bench-0 .. bench-3 (record i in bench-(i % 4))
#   key     run<i / 10000, 5 digits>/sample<i, 8 digits>.bam
#   1 record in 100 annotated: {"project": "P<(i / 100) % 100>", "portalRunId": "2024<i / 100, 6 digits>"}
# Then times RUNS requests of each list below over HTTP (curl, loopback) and
# prints the p50, beside the unfiltered list of the same page size:
#   - unfiltered, rowsPerPage=1000 (the baseline: the total count reads every current record)
#   - key prefix wildcard        bucket=bench-1&key=run00420/*
#   - key prefix, every bucket   key=run00420/*.bam   (each bucket's key range from the index)
#   - key suffix wildcard        key=*.bam            (every record matches: the first page is near)
#   - key infix wildcard         key=*/sample0042*.bam   (10,000 matches; the key segments'
#                                                         GIN index, built in the background)
#   - the same, case-insensitive key=*/SAMPLE0042*.BAM&caseSensitive=false (the same index)
#   - key infix, no literal after a /   key=*sample0042*.bam   (a full scan: no index serves it)
#   - attribute equality         attributes[project]=P42           (GIN index)
#   - attribute wildcard         attributes[project]=P4*           (annotated-records index)
#   - attribute + key wildcard   attributes[project]=P4*&key=run004*
# Target: a 1,000-row page with attribute and wildcard filters in <= 100 ms p50.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${1:-10000000}
RUNS=${2:-21}
SLOW_RUNS=${3:-5} # for the lists that read every record (the baseline's count, the infix scan)
BUILD=${BUILD:-build-bench}

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DINGESTD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target ingestd >/dev/null

work=$(mktemp -d /tmp/ingestd-filterbench.XXXXXX)
chmod 711 "$work"
cleanup() {
  [ -n "${ingestd_pid:-}" ] && kill "$ingestd_pid" 2>/dev/null && wait "$ingestd_pid" 2>/dev/null || true
  rm -rf "$work"
}
data=${DATA:-$work/data}
trap cleanup EXIT
trap 'exit 130' INT TERM

INGESTD_DATA_DIR=$data INGESTD_LISTEN=127.0.0.1:0 "$BUILD/ingestd" serve 2>"$work/ingestd.log" &
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
  echo "reusing the catalog of $have records in $data"
else
echo "building a catalog of $RECORDS records in SQL ..."
t0=$(date +%s)
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
echo "catalog built in $(( $(date +%s) - t0 )) s"
fi
# the key segments' indexes (migration 0026) are built by ingestd in the background
# (INGESTD_KEY_INDEX_INTERVAL, 10 s by default): wait for them, and say how long it took
. bench/key-index-wait.sh
echo "key segments indexes ready after $(key_index_wait "${psql_cmd[@]}") s of waiting;" \
  "the builds ingestd logged: $(grep -o '"msg":"key index built"[^}]*' "$work/ingestd.log" | tr '\n' ' ')"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# "p50_ms p99_ms count results" of n requests of path (count and results of the last answer;
# p99 is the largest time below 100 runs)
time_list() {
  local path=$1 n=$2 i times=()
  for i in $(seq 1 "$n"); do
    times+=("$(curl -s -o "$work/body.json" -w '%{http_code} %{time_total}' "$base$path")")
  done
  if ! printf '%s\n' "${times[@]}" | awk '$1 != 200 { bad = 1 } END { exit bad }'; then
    echo "bad answer for $path: $(head -c 300 "$work/body.json")" >&2
    exit 1
  fi
  printf '%s\n' "${times[@]}" | awk '{ print $2 * 1000 }' | sort -n |
    awk '{ a[NR] = $1 } END { i = int(NR * 0.99 + 0.999); printf "%.1f %.1f ", a[int((NR + 1) / 2)], a[i] }'
  jq -r '"\(.pagination.count) \(.results | length)"' "$work/body.json"
}

printf '\n%-58s %9s %9s %9s %8s\n' "list (rowsPerPage=1000; runs: $RUNS, * $SLOW_RUNS)" "p50 ms" "p99 ms" "count" "results"
row() {
  local label=$1 path=$2 n=${3:-$RUNS} p50 p99 count results
  read -r p50 p99 count results < <(time_list "$path" "$n")
  printf '%-58s %9s %9s %9s %8s\n' "$label" "$p50" "$p99" "$count" "$results"
}
row "* unfiltered (baseline)" "/api/v1/s3?rowsPerPage=1000" "$SLOW_RUNS"
row "key prefix wildcard: bucket=bench-1&key=run00420/*" "/api/v1/s3?bucket=bench-1&key=run00420/*&rowsPerPage=1000"
row "key prefix wildcard, page 2" "/api/v1/s3?bucket=bench-1&key=run00420/*&rowsPerPage=1000&page=2"
row "key prefix + suffix, every bucket: key=run00420/*.bam" "/api/v1/s3?key=run00420/*.bam&rowsPerPage=1000"
row "key suffix wildcard: key=*.bam (every record matches)" "/api/v1/s3?key=*.bam&rowsPerPage=1000"
row "attribute: attributes[project]=P42" "/api/v1/s3?attributes%5Bproject%5D=P42&rowsPerPage=1000"
row "attribute wildcard: attributes[project]=P4*" "/api/v1/s3?attributes%5Bproject%5D=P4*&rowsPerPage=1000"
row "attribute wildcard + key: ...P4*&key=run004*" "/api/v1/s3?attributes%5Bproject%5D=P4*&key=run004*&rowsPerPage=1000"
row "/api/v1/s3/attributes?project=P42" "/api/v1/s3/attributes?project=P42&rowsPerPage=1000"
row "key infix wildcard: key=*/sample0042*.bam (segments index)" "/api/v1/s3?key=*/sample0042*.bam&rowsPerPage=1000"
row "key infix, caseSensitive=false: key=*/SAMPLE0042*.BAM" "/api/v1/s3?key=*/SAMPLE0042*.BAM&caseSensitive=false&rowsPerPage=1000"
row "* key infix, no literal after a /: key=*sample0042*.bam (full scan)" "/api/v1/s3?key=*sample0042*.bam&rowsPerPage=1000" "$SLOW_RUNS"
size=$("${psql_cmd[@]}" -c "SELECT pg_size_pretty(sum(pg_total_relation_size(relid))) FROM pg_partition_tree('s3_objects')")
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "catalog: $RECORDS records, table + indexes $size; target <= 100 ms p50 for the filtered pages"

if [ "${KEEP:-0}" = 1 ]; then
  echo "KEEP=1: ingestd (pid $ingestd_pid) serves $base; psql -h $data/run -U postgres ingestd"
  while kill -0 "$ingestd_pid" 2>/dev/null; do sleep 1; done
fi
