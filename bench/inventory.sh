#!/usr/bin/env bash
# bench/inventory.sh - the S3 Inventory ingestion benchmark (targets in brackets)
#
#   bash bench/inventory.sh [LINES] [FILES]       (defaults: 5000000 5)
#   FORMAT=all bash bench/inventory.sh            (the default) the same inventory as CSV,
#                                                 Parquet and ORC, one job each, one run
#   FORMAT=parquet|orc bash bench/inventory.sh    CSV and that format
#   FORMAT=csv bash bench/inventory.sh            CSV only
#   SMALL=1 bash bench/inventory.sh               200000 lines in 2 files (a quick check)
#   REPEAT=1 bash bench/inventory.sh ...          then ingest the same CSV inventory again
#                                                 (a new job; a no-op for the catalog), then
#                                                 the next day's: the same inventory with 1 %
#                                                 of its lines changed and 0.1 % of its keys
#                                                 removed (invgen -c 13 -r 1), and print both
#                                                 times over the first ingestion's
#                                                 [unchanged <= 0.5, 1 % changed <= 0.6]
#   BUILD_DIR=DIR bash bench/inventory.sh ...     build in DIR (default build-bench)
#   EVENTS=N bash bench/inventory.sh ...          first POST N S3 events for other keys of the
#                                                 CSV bucket (the inventory then meets records)
#   MD5=0 bash bench/inventory.sh ...             manifests without MD5checksum (Parquet and
#                                                 ORC files are then read once, not twice)
#   PARQUET_ROW_GROUP=N, PARQUET_COMPRESSION=snappy|zstd|gzip|uncompressed (defaults
#   122880, snappy), ORC_STRIPE=N, ORC_COMPRESSION=zlib|snappy|zstd|none (defaults
#   200000, zlib): how the Parquet and ORC files are written
#   KEEP=1 bash bench/inventory.sh ...            keep ingestd, its database and s3rver
#                                                 running at the end until interrupted
#   KEEP=1 STAGING=1 bash bench/inventory.sh ...  also stage the CSV files again into a job
#                                                 that fails on a missing last file, so its
#                                                 staged tables stay for EXPLAIN ANALYZE
#
# Builds ingestd (Release), bench/invgen and bench/orcgen, writes an S3
# Inventory of LINES lines (18 quoted columns like the real sample, sorted
# keys, some keys with several versions, delete markers) as FILES gzip data
# files plus manifest.json, and the same lines, file for file, as Parquet
# (bench/invparquet.mjs: DuckDB from tests/parquet, SNAPPY, row groups of
# 122,880 rows, dictionary pages) and as ORC (bench/orcgen: ZLIB, stripes of
# 200,000 rows, RLE v2, dictionary strings), each with its manifest
# (fileFormat CSV, Parquet, ORC; the files' MD5checksum) and its own bucket
# in the rows (bench-inventory, bench-inventory-parquet, bench-inventory-orc:
# each job is a first ingestion into an empty part of the catalog). Uploads
# them to a private s3rver (SigV4), starts ingestd on a private embedded
# PostgreSQL (durable commits) with INGESTD_DB_POOL=8, then per format, one
# after the other in the same ingestd (CSV first; before each job the
# database's autovacuum is let finish and a CHECKPOINT taken):
#   - times POST /api/v1/s3/inventories?wait=true {bucket, key of manifest.json}
#     end to end                                   [CSV >= 250,000 records/s;
#                                                   Parquet, ORC >= the CSV rate]
#     with its phases (staging of each file, the final apply) from the
#     runner's statements in PostgreSQL's log (all statements are logged with
#     their duration; those >= 200 ms are listed), what the database was doing
#     (pg_stat_activity every 0.5 s), and the CPU seconds ingestd, PostgreSQL
#     and s3rver used;
#   - ingestd's peak RSS during the job: VmHWM, reset before the job (writing
#     5 to /proc/PID/clear_refs), and the max of VmRSS sampled every 0.2 s
#                                                  [< 100 MB]
#   - checks the catalog: current records = keys - delete markers, and for
#     Parquet and ORC: the same records as the CSV job's (count and two sums
#     of hashes of key, version, size, ETag, storage class, times, delete
#     marker, current flag, sequencer);
# then the floor, on the same database: the CSV files through
# gunzip -c | psql \copy into a plain table of 18 text columns, one COPY
# per file                                          [CSV ratio >= 0.5].
# Wall-clock figures depend on what else the machine runs; the CPU seconds
# much less so. The figures of five runs (records/s per format, ratios to
# CSV, peak RSS, CPU seconds) and what they mean are in README.md,
# "Performance"; the end of the output has a summary line per format.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SMALL:-0}" = 1 ]; then
  LINES=${1:-200000}
  FILES=${2:-2}
else
  LINES=${1:-5000000}
  FILES=${2:-5}
fi
FORMAT=${FORMAT:-all}
BUILD=${BUILD_DIR:-build-bench}
case $FORMAT in
  all) FORMATS="csv parquet orc" ;;
  csv) FORMATS=csv ;;
  parquet | orc) FORMATS="csv $FORMAT" ;;
  *) echo "FORMAT is csv, parquet, orc or all" >&2; exit 2 ;;
esac
BUCKET=bench-inventory
POOL=${INGESTD_DB_POOL:-8}
S3RVER_JS=tests/s3rver/node_modules/s3rver/bin/s3rver.js
TCK=$(getconf CLK_TCK)

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
# CPU ticks of a process (its threads) and of its children that ended
ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# ... and of its live children too (PostgreSQL: the postmaster and its backends)
ticks_tree() {
  local t c
  t=$(ticks "$1")
  for c in $(pgrep -P "$1" || true); do t=$((t + $(ticks "$c"))); done
  echo "$t"
}
secs() { awk -v t="$1" -v k="$TCK" 'BEGIN { printf "%.1f", t / k }'; }

[ -f "$S3RVER_JS" ] || (cd tests/s3rver && npm ci --silent >/dev/null)
case " $FORMATS " in *" parquet "*)
  [ -d tests/parquet/node_modules/@duckdb ] || (cd tests/parquet && npm ci --silent >/dev/null) ;;
esac
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DINGESTD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o "$BUILD"/invgen bench/invgen.c -lz -lcrypto
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o "$BUILD"/orcgen bench/orcgen.c -lz -lcrypto \
  -lsnappy -lzstd

work=$(mktemp -d /tmp/ingestd-invbench.XXXXXX)
chmod 711 "$work"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${ingestd_pid:-}" ] && kill "$ingestd_pid" 2>/dev/null && wait "$ingestd_pid" 2>/dev/null || true
  [ -n "${s3_pid:-}" ] && kill "$s3_pid" 2>/dev/null && wait "$s3_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the inventory, as CSV, Parquet and ORC ------------------------------------------------
echo "generating $LINES lines in $FILES files ..."
"$BUILD"/invgen "$work/inv" "$BUCKET" "$LINES" "$FILES" >"$work/invgen.out"
gen() { awk -v k="$1" '$1 == k { print $2 }' "$work/invgen.out"; }
if [ "${REPEAT:-0}" = 1 ]; then
  echo "generating the next day's inventory (1 % of lines changed, 0.1 % of keys removed) ..."
  "$BUILD"/invgen -c 13 -r 1 -p bench-inventory-next -d 1 "$work/inv2" "$BUCKET" "$LINES" \
    "$FILES" >"$work/invgen2.out"
  gen2() { awk -v k="$1" '$1 == k { print $2 }' "$work/invgen2.out"; }
fi
csv_files=$(awk '$1 == "data" { print $2 }' "$work/invgen.out")
# per format: its data lines ("data PATH KEY SIZE MD5 LINES"), the bucket in its rows, its manifest
declare -A bucket_of manifest_of gen_s
bucket_of[csv]=$BUCKET
awk '$1 == "data"' "$work/invgen.out" >"$work/csv.data"
gen_s[csv]=$(gen seconds)
manifest_of[csv]=$(awk '$1 == "manifest" { print $3 }' "$work/invgen.out")
# manifest.json of FORMAT (CSV, Parquet, ORC) for the data lines in $work/NAME.data
write_manifest() {
  local name=$1 format=$2 schema=$3 src=${bucket_of[$1]}
  mkdir -p "$work/$name"
  awk '{ printf "{\"key\":\"%s\",\"size\":%s,\"MD5checksum\":\"%s\"}\n", $3, $4, $5 }' \
    "$work/$name.data" |
    jq -s --arg src "$src" --arg dst "arn:aws:s3:::$BUCKET" --arg format "$format" \
      --arg schema "$schema" --arg md5 "${MD5:-1}" '{sourceBucket: $src, destinationBucket: $dst,
        version: "2016-11-30", creationTimestamp: "1715043600000", fileFormat: $format,
        fileSchema: $schema, files: (if $md5 == "0" then map(del(.MD5checksum)) else . end)}' \
      >"$work/$name/manifest.json"
  manifest_of[$name]=$BUCKET/$name/2024-05-07T01-00Z/manifest.json
}
if [ "${MD5:-1}" = 0 ]; then
  jq 'del(.files[].MD5checksum)' "$work/inv/manifest.json" >"$work/inv/manifest.nomd5"
  mv "$work/inv/manifest.nomd5" "$work/inv/manifest.json"
  md5sum "$work/inv/manifest.json" | cut -d' ' -f1 >"$work/inv/manifest.checksum"
fi
for f in $FORMATS; do
  case $f in
    parquet)
      bucket_of[parquet]=$BUCKET-parquet
      mkdir -p "$work/parquet.files"
      echo "writing them as Parquet (DuckDB) ..."
      # shellcheck disable=SC2086 # the file names have no spaces
      node bench/invparquet.mjs "$work/parquet.files" "${bucket_of[parquet]}" "$BUCKET/parquet" \
        $csv_files >"$work/parquet.out"
      awk '$1 == "data"' "$work/parquet.out" >"$work/parquet.data"
      gen_s[parquet]=$(awk '$1 == "seconds" { print $2 }' "$work/parquet.out")
      write_manifest parquet Parquet "message s3.inventory { required binary bucket (STRING); \
required binary key (STRING); optional binary version_id (STRING); optional boolean is_latest; \
optional boolean is_delete_marker; optional int64 size; optional int64 last_modified_date \
(TIMESTAMP(MILLIS,true)); optional binary e_tag (STRING); optional binary storage_class (STRING); \
optional boolean is_multipart_uploaded; optional binary replication_status (STRING); optional \
binary encryption_status (STRING); optional int64 object_lock_retain_until_date \
(TIMESTAMP(MILLIS,true)); optional binary object_lock_mode (STRING); optional binary \
object_lock_legal_hold_status (STRING); optional binary intelligent_tiering_access_tier \
(STRING); optional binary bucket_key_status (STRING); optional binary checksum_algorithm (STRING);}"
      ;;
    orc)
      bucket_of[orc]=$BUCKET-orc
      mkdir -p "$work/orc.files"
      echo "writing them as ORC (bench/orcgen) ..."
      # shellcheck disable=SC2086
      "$BUILD"/orcgen -s "${ORC_STRIPE:-200000}" -c "${ORC_COMPRESSION:-zlib}" \
        "$work/orc.files" "${bucket_of[orc]}" "$BUCKET/orc" $csv_files >"$work/orc.out"
      awk '$1 == "data"' "$work/orc.out" >"$work/orc.data"
      gen_s[orc]=$(awk '$1 == "seconds" { print $2 }' "$work/orc.out")
      write_manifest orc ORC "struct<bucket:string,key:string,version_id:string,\
is_latest:boolean,is_delete_marker:boolean,size:bigint,last_modified_date:timestamp,\
e_tag:string,storage_class:string,is_multipart_uploaded:boolean,replication_status:string,\
encryption_status:string,object_lock_retain_until_date:timestamp,object_lock_mode:string,\
object_lock_legal_hold_status:string,intelligent_tiering_access_tier:string,\
bucket_key_status:string,checksum_algorithm:string>"
      ;;
  esac
done
for f in $FORMATS; do
  lines=$(awk '{ s += $6 } END { print s }' "$work/$f.data")
  [ "$lines" = "$LINES" ] || { echo "$f: $lines lines written, not $LINES"; exit 1; }
done
data_bytes() { awk '{ s += $4 } END { print s }' "$work/$1.data"; }
gz_bytes=$(data_bytes csv)
manifest_key=${manifest_of[csv]}

# ---- s3rver, with the files uploaded (SigV4) ---------------------------------------------
mkdir "$work/s3"
NODE_OPTIONS=--openssl-legacy-provider node "$S3RVER_JS" --directory "$work/s3" \
  --address 127.0.0.1 --port 0 --silent --configure-bucket "$BUCKET" \
  >"$work/s3rver.out" 2>"$work/s3rver.log" &
s3_pid=$!
s3port=""
for _ in $(seq 1 300); do
  s3port=$(grep -o 'S3rver listening on [0-9.]*:[0-9]*' "$work/s3rver.out" 2>/dev/null | grep -o '[0-9]*$' || true)
  [ -n "$s3port" ] && break
  sleep 0.1
done
[ -n "$s3port" ] || { echo "s3rver did not start"; cat "$work/s3rver.log"; exit 1; }
s3=http://127.0.0.1:$s3port
s3curl() {
  curl -sSf --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}
t=$(now)
# shellcheck disable=SC2046 # (invgen2.out only with REPEAT=1)
cat "$work/invgen.out" $([ "${REPEAT:-0}" = 1 ] && echo "$work/invgen2.out") |
  while read -r kind path key _; do
    case $kind in data | manifest | checksum) s3curl -T "$path" "$s3/$BUCKET/$key" >/dev/null ;; esac
  done
for f in $FORMATS; do
  [ "$f" = csv ] && continue
  while read -r _ path key _; do s3curl -T "$path" "$s3/$BUCKET/$key" >/dev/null; done <"$work/$f.data"
  s3curl -T "$work/$f/manifest.json" "$s3/$BUCKET/${manifest_of[$f]}" >/dev/null
done
upload_s=$(elapsed "$t" "$(now)")
# what S3 (s3rver) itself costs: GET every CSV data file once, signed like ingestd's
t=$(now)
while read -r _ _ key _; do s3curl -o /dev/null "$s3/$BUCKET/$key"; done <"$work/csv.data"
s3get_s=$(elapsed "$t" "$(now)")

# ---- ingestd ------------------------------------------------------------------------------
AWS_ENDPOINT_URL=$s3 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
  INGESTD_DATA_DIR=$work/data INGESTD_LISTEN=127.0.0.1:0 INGESTD_DB_POOL=$POOL \
  "$BUILD"/ingestd serve 2>"$work/ingestd.log" &
ingestd_pid=$!
port=""
for _ in $(seq 1 600); do
  port=$(grep -o '"msg":"listening".*"port":[0-9]*' "$work/ingestd.log" 2>/dev/null | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "ingestd did not start"; cat "$work/ingestd.log"; exit 1; }
base=http://127.0.0.1:$port
sock=$work/data/run
pg_pid=$(head -1 "$work/data/pgdata/postmaster.pid")
psql_cmd=(psql -h "$sock" -U postgres -d ingestd -XAtq)
# every statement goes to postgres.log with its duration, the runner's give the phases
"${psql_cmd[@]}" -c "ALTER SYSTEM SET log_min_duration_statement = 0" \
  -c "ALTER SYSTEM SET log_line_prefix = '%n [%p] '" -c "SELECT pg_reload_conf()" >/dev/null
pglog=$work/data/postgres.log

# RSS sampler: "seconds VmRSS_kB" every 0.2 s, for as long as ingestd runs
(
  while [ -r "/proc/$ingestd_pid/status" ]; do
    r=$(awk '/^VmRSS/ { print $2 }' "/proc/$ingestd_pid/status" 2>/dev/null || true)
    [ -n "$r" ] && echo "$(now) $r"
    sleep 0.2
  done
) >"$work/rss.log" 2>/dev/null &
pids+=($!)

# Before a job: what an earlier job left to the database (autovacuum of its tables) done now,
# not during the job, and a checkpoint
# and ingestd's background key index builds of the earlier job's partitions
# (bench/key-index-wait.sh) done, with how long they took
. bench/key-index-wait.sh
settle() {
  local n
  echo "waited $(key_index_wait "${psql_cmd[@]}") s for the background key index builds"
  "${psql_cmd[@]}" -c "VACUUM (ANALYZE)" -c "CHECKPOINT"
  for _ in $(seq 1 120); do
    n=$("${psql_cmd[@]}" -c "SELECT count(*) FROM pg_stat_activity
      WHERE backend_type = 'autovacuum worker'")
    [ "$n" = 0 ] && break
    sleep 0.5
  done
}

# One job: POST ?wait=true of manifest key $2, timed, watched. Sets e2e_s, records, cpu_*,
# rss_hwm_kb (VmHWM reset before the job), rss_max_kb (sampled); writes $work/$1.*
run_job() {
  local name=$1 manifest=$2 mon tm t0 t1 i0 p0 s0
  tm=$(now)
  (
    while :; do
      "${psql_cmd[@]}" -F '|' -c "SELECT extract(epoch FROM clock_timestamp()), j.status,
          j.files_done, j.files_total, j.records, (SELECT string_agg(left(regexp_replace(a.query,
          '\s+', ' ', 'g'), 60) || ' [' || coalesce(a.wait_event, 'cpu') || ']', ' ; ')
          FROM pg_stat_activity a WHERE a.datname = 'ingestd' AND a.state = 'active'
          AND a.pid <> pg_backend_pid() AND a.query NOT LIKE 'SELECT id, status, bucket%')
        FROM inventory_jobs j WHERE j.created_at >= to_timestamp($tm)
        ORDER BY j.created_at DESC LIMIT 1" 2>/dev/null || true
      sleep 0.5
    done
  ) >"$work/$name.progress" &
  mon=$!
  pids+=("$mon")
  pglog_from=$(stat -c %s "$pglog")
  i0=$(ticks "$ingestd_pid"); p0=$(ticks_tree "$pg_pid"); s0=$(ticks "$s3_pid")
  echo "POST /api/v1/s3/inventories?wait=true ($name) ..."
  echo 5 >"/proc/$ingestd_pid/clear_refs" # VmHWM := VmRSS
  t0=$(now)
  code=$(curl -sS -o "$work/$name.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data "{\"bucket\": \"$BUCKET\", \"key\": \"$manifest\"}" \
    "$base/api/v1/s3/inventories?wait=true")
  t1=$(now)
  rss_hwm_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$ingestd_pid/status")
  rss_max_kb=$(awk -v a="$t0" -v b="$t1" '$1 >= a && $1 <= b && $2 > m { m = $2 } END { print m + 0 }' \
    "$work/rss.log")
  cpu_ingestd=$(secs $(($(ticks "$ingestd_pid") - i0)))
  cpu_pg=$(secs $(($(ticks_tree "$pg_pid") - p0)))
  cpu_s3=$(secs $(($(ticks "$s3_pid") - s0)))
  sleep 0.6
  kill "$mon" 2>/dev/null || true
  e2e_s=$(elapsed "$t0" "$t1")
  if [ "$code" != 200 ] || [ "$(jq -r .status "$work/$name.json")" != succeeded ]; then
    echo "the job did not succeed (HTTP $code):"
    cat "$work/$name.json"
    echo
    tail -20 "$work/ingestd.log"
    exit 1
  fi
  records=$(jq -r .records "$work/$name.json")
  # phases from the statements in postgres.log ("EPOCH [PID] LOG:  duration: MS ms ..."): the
  # staging streams COPY into s3_objects_inv_<part>; the runner attaches them at the end
  tail -c +"$((pglog_from + 1))" "$pglog" >"$work/$name.pglog"
  awk -v t0="$t0" -v t1="$t1" '
    NR == FNR { if (/ duration: .*ATTACH PARTITION/) runner = $2
                if (/ duration: .*COPY s3_objects_inv_/) stream[$2] = 1
                next }
    / duration: [0-9.]+ ms / {
      ts = $1; pid = $2; ms = $0; sub(/.* duration: /, "", ms); ms += 0
      if (ts > t1 || ts - ms / 1000 < t0) next # (the runner polling for jobs)
      if (pid != runner && !(pid in stream)) next
      if (!first) first = ts - ms / 1000
      if ($0 ~ /COPY s3_objects_inv_/) printf "file%d %.1f\n", ++n, ms / 1000
      if (pid in stream && pid != runner) staged = ts
      last = ts
    }
    END {
      printf "start %.1f\n", first - t0
      printf "staging %.1f\n", staged - first
      printf "apply %.1f\n", last - staged
      printf "after %.1f\n", t1 - last
    }' "$work/$name.pglog" "$work/$name.pglog" >"$work/$name.phases"
  # what the database was doing: samples per phase, statement and wait event
  awk -F'|' '
    NF >= 6 && $6 != "" {
      ph = ($3 < $4) ? "staging" : "apply"
      n = split($6, a, / ; /)
      for (i = 1; i <= n; i++) {
        w = a[i]; sub(/.*\[/, "", w); sub(/\]$/, "", w)
        s = a[i]; sub(/ \[[^]]*\]$/, "", s); split(s, f, " ")
        what = f[1] " " f[2] (f[1] == "CREATE" || f[1] == "autovacuum:" ? " " f[3] " " f[4] : "")
        c[ph "|" what " [" w "]"]++
      }
    }
    END { for (k in c) { split(k, p, "|"); printf "%s|%d|%s\n", p[1], c[k], p[2] } }' \
    "$work/$name.progress" | sort -t'|' -k1,1r -k2,2nr >"$work/$name.waits"
  awk '
    / duration: [0-9.]+ ms / {
      d = $0; sub(/.* duration: /, "", d); ms = d + 0
      if (ms < 200) next
      s = d; sub(/^[0-9.]+ ms +/, "", s); sub(/^(statement|execute [^:]*): /, "", s)
      if (s ~ /^SELECT id, status, bucket/ || s ~ /pg_stat_activity/) next
      gsub(/[ \t]+/, " ", s)
      printf "  %9.0f  %s\n", ms, substr(s, 1, 100)
    }' "$work/$name.pglog" >"$work/$name.statements"
}

row() { printf '%-48s %20s %28s\n' "$@"; }
phase() { awk -v k="$2" '$1 == k { print $2 }' "$work/$1.phases"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
declare -A rate_of rss_hwm_of rss_max_of
job_rows() { # NAME TARGET: the rows of one job's figures
  local name=$1 target=$2 i
  row "POST inventories?wait=true, end to end" "$e2e_s s" "-"
  row "  records/s end to end" "$(rate "$records" "$e2e_s") rec/s" "$target"
  row "  until the runner's first statement" "$(phase "$name" start) s" "-"
  for i in $(seq 1 "$FILES"); do
    row "    COPY of a file (download..COPY)" "$(phase "$name" "file$i") s" "-"
  done
  row "  staging (first statement to last staged file)" "$(phase "$name" staging) s" "-"
  row "  final apply (to the runner's last statement)" "$(phase "$name" apply) s" "-"
  row "  until the answer (?wait=true polls)" "$(phase "$name" after) s" "-"
  row "  CPU: ingestd / PostgreSQL / s3rver" "$cpu_ingestd s" "$cpu_pg s / $cpu_s3 s"
  row "  job summary: created / deleted / unchanged" "$(jq -r .summary.created "$work/$name.json")" \
    "$(jq -r .summary.deleted "$work/$name.json") / $(jq -r .summary.unchanged "$work/$name.json")"
  row "  ingestd peak RSS: VmHWM / max VmRSS (0.2 s)" "$(mib "$rss_hwm_kb") MiB" \
    "$(mib "$rss_max_kb") MiB; target < 100 MB"
}
details() { # NAME: where the time went
  echo
  echo "$1: statements >= 200 ms (postgres.log; ms, then the statement's start):"
  cat "$work/$1.statements"
  echo "$1: pg_stat_activity samples (every 0.5 s) per phase: count, statement [wait event]:"
  awk -F'|' '{ printf "  %-8s %5d  %s\n", $1, $2, $3 }' "$work/$1.waits" | head -24
}

if [ "${EVENTS:-0}" -gt 0 ]; then
  awk -v n="$EVENTS" -v b="$BUCKET" 'BEGIN {
    printf "{\"Records\":["
    for (i = 0; i < n; i++)
      printf "%s{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"eventName\":\"ObjectCreated:Put\",\"eventTime\":\"2030-01-01T00:00:00.000Z\",\"s3\":{\"s3SchemaVersion\":\"1.0\",\"bucket\":{\"name\":\"%s\"},\"object\":{\"key\":\"events/obj-%07d\",\"size\":1,\"eTag\":\"0123456789abcdef0123456789abcdef\",\"sequencer\":\"0A\"}}}", (i ? "," : ""), b, i
    printf "]}"
  }' >"$work/events.json"
  echo "POST /api/v1/s3/events ($EVENTS records of other keys in $BUCKET) ..."
  curl -sS -f -o /dev/null -X POST -H 'Content-Type: application/json' \
    --data-binary @"$work/events.json" "$base/api/v1/s3/events"
fi
declare -A rows_of
for f in $FORMATS; do
  settle
  run_job "$f" "${manifest_of[$f]}"
  rate_of[$f]=$(rate "$records" "$e2e_s")
  rss_hwm_of[$f]=$rss_hwm_kb
  rss_max_of[$f]=$rss_max_kb
  if [ "$f" = csv ]; then
    first_e2e=$e2e_s
    first_records=$records
    rows_of[$f]=$(job_rows "$f" "target >= 250000")
  else
    rows_of[$f]=$(job_rows "$f" "$(ratio_of "${rate_of[$f]}" "${rate_of[csv]}") x CSV; target >= 1")
  fi
done
# the catalog: per bucket, and the Parquet and ORC records against the CSV ones
catalog() { # BUCKET: "records current"
  "${psql_cmd[@]}" -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE is_current) FROM s3_objects
    WHERE bucket = '$1'"
}
same_records() { # BUCKET: "yes" when its records are the CSV bucket's (count, checksum), else "no"
  local row="concat_ws('|', key, version_id, event_type, size, etag, storage_class, last_modified,
    is_delete_marker, is_current, sequencer)"
  "${psql_cmd[@]}" -c "SELECT CASE WHEN count(DISTINCT (n, h1, h2)) = 1 AND count(*) = 2
      THEN 'yes' ELSE 'no' END
    FROM (SELECT bucket, count(*) n, sum(hashtext($row)::bigint) h1,
        sum(hashtextextended($row, 1)::numeric) h2
      FROM s3_objects WHERE bucket IN ('$BUCKET', '$1') AND key NOT LIKE 'events/%'
      GROUP BY bucket) b"
}
declare -A cat_of diff_of
for f in $FORMATS; do
  cat_of[$f]=$(catalog "${bucket_of[$f]}")
  [ "$f" = csv ] || diff_of[$f]=$(same_records "${bucket_of[$f]}")
done
read -r cat_records cat_current <<<"${cat_of[csv]}"
expect_current=$(($(gen keys) - $(gen delete_markers) + ${EVENTS:-0}))
# reads from the catalog with the inventory's partitions attached (curl's time_total, p50 of 20)
p50() { sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] * 1000 }'; }
list_url="$base/api/v1/s3/objects?bucket=$BUCKET&key=production%2Fproject-0001%2F*&rowsPerPage=1000"
list_n=$(curl -sS "$list_url" | jq '.results | length')
list_ms=$(for _ in $(seq 1 20); do curl -sS -o /dev/null -w '%{time_total}\n' "$list_url"; done | p50)
get_ms=$("${psql_cmd[@]}" -c "SELECT id FROM s3_objects TABLESAMPLE SYSTEM (0.01) LIMIT 20" |
  while read -r id; do curl -sS -o /dev/null -w '%{time_total}\n' "$base/api/v1/s3/objects/$id"; done | p50)
if [ "${REPEAT:-0}" = 1 ]; then
  settle
  run_job again "$manifest_key"
  again_e2e=$e2e_s
  again_rows=$(job_rows again "-")
  read -r cat2_records cat2_current < <(catalog "$BUCKET")
  settle
  run_job next "$(awk '$1 == "manifest" { print $3 }' "$work/invgen2.out")"
  next_e2e=$e2e_s
  next_rows=$(job_rows next "-")
  read -r cat3_records cat3_current < <(catalog "$BUCKET")
  expect3_current=$(($(gen2 keys) - $(gen2 delete_markers) + ${EVENTS:-0}))
fi

# ---- the floor: gunzip -c | psql \copy into 18 text columns -----------------------------
cols=$(seq -s, -f 'c%g text' 1 18)
"${psql_cmd[@]}" -c "CREATE TABLE floor_table ($cols)"
# user+sys seconds of this shell's ended children: `times` must run in this shell, so it
# writes to a file that children_cpu reads
children_cpu() {
  awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.2f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$work/times"
}
times >"$work/times"
c0=$(children_cpu)
p0=$(ticks_tree "$pg_pid")
t=$(now)
while read -r kind path _; do
  [ "$kind" = data ] || continue
  gunzip -c "$path" | "${psql_cmd[@]}" -c "\copy floor_table FROM STDIN WITH (FORMAT csv)"
done <"$work/invgen.out"
floor_s=$(elapsed "$t" "$(now)")
times >"$work/times"
floor_cpu_client=$(awk -v a="$c0" -v b="$(children_cpu)" 'BEGIN { printf "%.1f", b - a }')
floor_cpu_pg=$(secs $(($(ticks_tree "$pg_pid") - p0)))
floor_rows=$("${psql_cmd[@]}" -c "SELECT count(*) FROM floor_table")
floor_rate=$(rate "$floor_rows" "$floor_s")
first_rate=$(rate "$first_records" "$first_e2e")
ratio=$(awk -v a="$first_rate" -v b="$floor_rate" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
[ "${KEEP:-0}" = 1 ] || "${psql_cmd[@]}" -c "DROP TABLE floor_table"

# ---- report -------------------------------------------------------------------------------
echo
row "figure" "ingestd" "baseline / target"
row "inventory: lines / keys / delete markers" "$(gen lines)" "$(gen keys) / $(gen delete_markers)"
row "  $FILES gzip files (uncompressed)" "$(mb "$gz_bytes") MB" "$(mb "$(gen uncompressed_bytes)") MB"
for f in $FORMATS; do
  [ "$f" = csv ] || row "  $FILES $f files" "$(mb "$(data_bytes "$f")") MB" "-"
done
row "  generate: invgen / Parquet / ORC" "${gen_s[csv]} s" "${gen_s[parquet]:--} s / ${gen_s[orc]:--} s"
row "  upload to s3rver" "$upload_s s" "-"
row "  GET of the CSV files from s3rver (curl)" "$s3get_s s" \
  "$(awk -v b="$gz_bytes" -v s="$s3get_s" 'BEGIN { printf "%.0f MB/s", b / 1e6 / s }')"
for f in $FORMATS; do
  case $f in
    csv) if [ "${EVENTS:-0}" -gt 0 ]; then echo "CSV, first ingestion (after $EVENTS events for other keys):"; else echo "CSV, first ingestion (empty catalog):"; fi ;;
    parquet) echo "Parquet (${PARQUET_COMPRESSION:-snappy}, row groups of ${PARQUET_ROW_GROUP:-122880} rows), first ingestion of its bucket:" ;;
    orc) echo "ORC (${ORC_COMPRESSION:-zlib}, stripes of ${ORC_STRIPE:-200000} rows), first ingestion of its bucket:" ;;
  esac
  echo "${rows_of[$f]}"
  read -r r c <<<"${cat_of[$f]}"
  if [ "$f" = csv ]; then
    row "  catalog records (current)" "$r ($c)" "current expected $expect_current"
  else
    row "  catalog records (current)" "$r ($c)" "$(gen keys) - $(gen delete_markers) expected"
    row "  the same records as the CSV job's" "${diff_of[$f]}" "count and checksum"
  fi
done
row "floor: gunzip -c | psql \\copy (18 text)" "$floor_s s" "$floor_rate rec/s"
row "  CPU: gunzip+psql / PostgreSQL" "$floor_cpu_client s" "$floor_cpu_pg s"
row "  ratio CSV end to end / floor" "$ratio" "target >= 0.5"
row "GET objects?bucket&key=prefix*, $list_n records" "$list_ms ms p50" "-"
row "GET objects/{id} (20 sampled ids)" "$get_ms ms p50" "-"
if [ "${REPEAT:-0}" = 1 ]; then
  echo "second ingestion of the same CSV inventory (no-op):"
  echo "$again_rows"
  row "catalog records (current) after it" "$cat2_records ($cat2_current)" "unchanged"
  echo "the next day's inventory ($(gen2 lines) lines: 1 % changed, 0.1 % of keys removed):"
  echo "$next_rows"
  row "catalog records (current) after it" "$cat3_records ($cat3_current)" \
    "current expected $expect3_current"
  row "ratio unchanged repeat / first ingestion" "$(ratio_of "$again_e2e" "$first_e2e")" \
    "target <= 0.5"
  row "ratio 1 % changed / first ingestion" "$(ratio_of "$next_e2e" "$first_e2e")" \
    "target <= 0.6"
  row "inventory partitions of the catalog" "$("${psql_cmd[@]}" -c "SELECT count(*) - 1 FROM
    pg_inherits WHERE inhparent = 's3_objects'::regclass")" "besides the events' one"
fi
echo
echo "summary: records/s end to end, ratio to CSV, ingestd's peak RSS during the job"
echo "(VmHWM / max VmRSS sampled every 0.2 s)"
for f in $FORMATS; do
  printf '  %-8s %9s rec/s  %5s  %7s / %s MiB\n' "$f" "${rate_of[$f]}" \
    "$(ratio_of "${rate_of[$f]}" "${rate_of[csv]}")" "$(mib "${rss_hwm_of[$f]}")" \
    "$(mib "${rss_max_of[$f]}")"
done
for f in $FORMATS; do details "$f"; done
[ "${REPEAT:-0}" = 1 ] && details again && details next
echo
grep '"inventory job' "$work/ingestd.log" | sed 's/^/ingestd: /' || true

status=0
[ "$cat_current" = "$expect_current" ] || { echo "catalog: $cat_current current records, expected $expect_current"; status=1; }
for f in $FORMATS; do
  [ "$f" = csv ] && continue
  read -r r c <<<"${cat_of[$f]}"
  [ "$c" = "$(($(gen keys) - $(gen delete_markers)))" ] || { echo "$f: $c current records"; status=1; }
  [ "${diff_of[$f]}" = yes ] || { echo "$f: not the same records as the CSV job's"; status=1; }
done
[ "$floor_rows" = "$LINES" ] || { echo "floor: $floor_rows rows, expected $LINES"; status=1; }
if [ "${REPEAT:-0}" = 1 ] && { [ "$cat2_records" != "$cat_records" ] || [ "$cat2_current" != "$cat_current" ]; }; then
  echo "the second ingestion changed the catalog"; status=1
fi
if [ "${REPEAT:-0}" = 1 ] && [ "$cat3_current" != "$expect3_current" ]; then
  echo "after the next day's inventory: $cat3_current current records, expected $expect3_current"
  status=1
fi

if [ "${KEEP:-0}" = 1 ]; then
  if [ "${STAGING:-0}" = 1 ]; then
    # the same files plus one that does not exist: the job stages every real file, then
    # fails on the missing one and keeps its staged tables (a resumable job)
    jq --arg missing "$BUCKET/bench-inventory/data/missing.csv.gz" '.files += [{key: $missing}]' \
      "$work/inv/manifest.json" >"$work/staging-manifest.json"
    echo
    echo "staging again into a job that fails on a missing last file ..."
    curl -sS -o "$work/staging-job.json" -X POST -H 'Content-Type: application/json' \
      --data-binary @"$work/staging-manifest.json" "$base/api/v1/s3/inventories?wait=true"
    sid=$(jq -r .id "$work/staging-job.json")
    echo "  job $sid: $(jq -r '.status + " (" + (.error // "") + ")"' "$work/staging-job.json")"
    echo "  staged tables: $("${psql_cmd[@]}" -c "SELECT string_agg('s3_objects_inv_' || part, ' '
      ORDER BY idx) FROM inventory_files WHERE job_id = '$sid' AND staged")"
  fi
  echo
  echo "KEEP=1: ingestd (pid $ingestd_pid) serves $base; s3rver $s3; database:"
  echo "  psql -h $sock -U postgres ingestd"
  echo "  (floor_table is kept; files in $work)"
  echo "interrupt this script (Ctrl-C, or kill $$) to stop and clean up"
  while kill -0 "$ingestd_pid" 2>/dev/null; do sleep 1; done
fi
exit $status
