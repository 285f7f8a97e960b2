#!/usr/bin/env bash
# bench/inventory.sh - the S3 Inventory ingestion benchmark (targets in brackets)
#
#   bash bench/inventory.sh [LINES] [FILES]       (defaults: 5000000 5)
#   SMALL=1 bash bench/inventory.sh               200000 lines in 2 files (a quick check)
#   REPEAT=1 bash bench/inventory.sh ...          then ingest the same inventory again
#                                                 (a new job; a no-op for the catalog)
#   EVENTS=N bash bench/inventory.sh ...          first POST N S3 events for other keys of the
#                                                 bucket (the inventory then meets records)
#   KEEP=1 bash bench/inventory.sh ...            keep ingestd, its database and s3rver
#                                                 running at the end until interrupted
#   KEEP=1 STAGING=1 bash bench/inventory.sh ...  also stage the files again into a job
#                                                 that fails on a missing last file, so its
#                                                 staged tables stay for EXPLAIN ANALYZE
#
# Builds ingestd (Release) and bench/invgen, writes an S3 Inventory of LINES
# lines (18 quoted columns like the real sample, sorted keys, some keys with
# several versions, delete markers) as FILES gzip data files plus
# manifest.json, uploads them to a private s3rver (SigV4), starts ingestd on a
# private embedded PostgreSQL (durable commits) with INGESTD_DB_POOL=8, then:
#   - times POST /api/v1/s3/inventories?wait=true {bucket, key of manifest.json}
#     end to end                                          [>= 250,000 records/s]
#     with its phases (staging of each file, the final apply) from the
#     runner's statements in PostgreSQL's log (all statements are logged with
#     their duration; those >= 200 ms are listed), what the database was doing
#     (pg_stat_activity every 0.5 s), and the CPU seconds ingestd, PostgreSQL
#     and s3rver used;
#   - samples ingestd's VmRSS every 0.2 s (max) and reads VmHWM  [< 100 MB]
#   - the floor, on the same database right after: the same files through
#     gunzip -c | psql \copy into a plain table of 18 text columns, one COPY
#     per file                                            [ratio >= 0.5]
#   - checks the catalog: current records = keys - delete markers.
# Wall-clock figures depend on what else the machine runs; the CPU seconds
# much less so.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SMALL:-0}" = 1 ]; then
  LINES=${1:-200000}
  FILES=${2:-2}
else
  LINES=${1:-5000000}
  FILES=${2:-5}
fi
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
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DINGESTD_TESTS=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o build-bench/invgen bench/invgen.c -lz -lcrypto

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

# ---- the inventory -------------------------------------------------------------------------
echo "generating $LINES lines in $FILES files ..."
./build-bench/invgen "$work/inv" "$BUCKET" "$LINES" "$FILES" >"$work/invgen.out"
gen() { awk -v k="$1" '$1 == k { print $2 }' "$work/invgen.out"; }
gz_bytes=$(awk '$1 == "data" { s += $4 } END { print s }' "$work/invgen.out")
manifest_key=$(awk '$1 == "manifest" { print $3 }' "$work/invgen.out")

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
while read -r kind path key _; do
  case $kind in data | manifest | checksum) s3curl -T "$path" "$s3/$BUCKET/$key" >/dev/null ;; esac
done <"$work/invgen.out"
upload_s=$(elapsed "$t" "$(now)")
# what S3 (s3rver) itself costs: GET every data file once, signed like ingestd's
t=$(now)
while read -r kind _ key _; do
  if [ "$kind" = data ]; then s3curl -o /dev/null "$s3/$BUCKET/$key"; fi
done <"$work/invgen.out"
s3get_s=$(elapsed "$t" "$(now)")

# ---- ingestd ------------------------------------------------------------------------------
AWS_ENDPOINT_URL=$s3 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
  INGESTD_DATA_DIR=$work/data INGESTD_LISTEN=127.0.0.1:0 INGESTD_DB_POOL=$POOL \
  ./build-bench/ingestd serve 2>"$work/ingestd.log" &
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

# One job: POST ?wait=true, timed, watched. Sets e2e_s, records, cpu_*; writes $work/$1.*
run_job() {
  local name=$1 mon tm t0 t1 i0 p0 s0
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
  t0=$(now)
  code=$(curl -sS -o "$work/$name.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data "{\"bucket\": \"$BUCKET\", \"key\": \"$manifest_key\"}" \
    "$base/api/v1/s3/inventories?wait=true")
  t1=$(now)
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
job_rows() { # NAME: the rows of one job's figures
  local name=$1 i
  row "POST inventories?wait=true, end to end" "$e2e_s s" "-"
  row "  records/s end to end" "$(rate "$records" "$e2e_s") rec/s" "target >= 250000"
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
run_job first
first_e2e=$e2e_s
first_records=$records
first_rows=$(job_rows first)
read -r cat_records cat_current < <("${psql_cmd[@]}" -F ' ' -c \
  "SELECT count(*), count(*) FILTER (WHERE is_current) FROM s3_objects WHERE bucket = '$BUCKET'")
expect_current=$(($(gen keys) - $(gen delete_markers) + ${EVENTS:-0}))
# reads from the catalog with the inventory's partitions attached (curl's time_total, p50 of 20)
p50() { sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] * 1000 }'; }
list_url="$base/api/v1/s3/objects?bucket=$BUCKET&key=production%2Fproject-0001%2F*&rowsPerPage=1000"
list_n=$(curl -sS "$list_url" | jq '.results | length')
list_ms=$(for _ in $(seq 1 20); do curl -sS -o /dev/null -w '%{time_total}\n' "$list_url"; done | p50)
get_ms=$("${psql_cmd[@]}" -c "SELECT id FROM s3_objects TABLESAMPLE SYSTEM (0.01) LIMIT 20" |
  while read -r id; do curl -sS -o /dev/null -w '%{time_total}\n' "$base/api/v1/s3/objects/$id"; done | p50)
if [ "${REPEAT:-0}" = 1 ]; then
  run_job again
  again_rows=$(job_rows again)
  read -r cat2_records cat2_current < <("${psql_cmd[@]}" -F ' ' -c \
    "SELECT count(*), count(*) FILTER (WHERE is_current) FROM s3_objects WHERE bucket = '$BUCKET'")
fi
rss_hwm_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$ingestd_pid/status")
rss_max_kb=$(awk '$2 > m { m = $2 } END { print m + 0 }' "$work/rss.log")

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
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
echo
row "figure" "ingestd" "baseline / target"
row "inventory: lines / keys / delete markers" "$(gen lines)" "$(gen keys) / $(gen delete_markers)"
row "  $FILES gzip files (uncompressed)" "$(mb "$gz_bytes") MB" "$(mb "$(gen uncompressed_bytes)") MB"
row "  generate (invgen) / upload to s3rver" "$(gen seconds) s" "$upload_s s"
row "  GET of the data files from s3rver (curl)" "$s3get_s s" \
  "$(awk -v b="$gz_bytes" -v s="$s3get_s" 'BEGIN { printf "%.0f MB/s", b / 1e6 / s }')"
if [ "${EVENTS:-0}" -gt 0 ]; then echo "first ingestion (after $EVENTS events for other keys):"; else echo "first ingestion (empty catalog):"; fi
echo "$first_rows"
row "floor: gunzip -c | psql \\copy (18 text)" "$floor_s s" "$floor_rate rec/s"
row "  CPU: gunzip+psql / PostgreSQL" "$floor_cpu_client s" "$floor_cpu_pg s"
row "  ratio end to end / floor (first ingestion)" "$ratio" "target >= 0.5"
row "ingestd peak RSS: max VmRSS (0.2 s) / VmHWM" "$(mib "$rss_max_kb") MiB" "$(mib "$rss_hwm_kb") MiB; target < 100 MB"
row "catalog records (current)" "$cat_records ($cat_current)" "current expected $expect_current"
row "  GET objects?bucket&key=prefix*, $list_n records" "$list_ms ms p50" "-"
row "  GET objects/{id} (20 sampled ids)" "$get_ms ms p50" "-"
if [ "${REPEAT:-0}" = 1 ]; then
  echo "second ingestion of the same inventory (no-op):"
  echo "$again_rows"
  row "catalog records (current) after it" "$cat2_records ($cat2_current)" "unchanged"
fi
details first
[ "${REPEAT:-0}" = 1 ] && details again
echo
grep '"inventory job' "$work/ingestd.log" | sed 's/^/ingestd: /' || true

status=0
[ "$cat_current" = "$expect_current" ] || { echo "catalog: $cat_current current records, expected $expect_current"; status=1; }
[ "$floor_rows" = "$LINES" ] || { echo "floor: $floor_rows rows, expected $LINES"; status=1; }
if [ "${REPEAT:-0}" = 1 ] && { [ "$cat2_records" != "$cat_records" ] || [ "$cat2_current" != "$cat_current" ]; }; then
  echo "the second ingestion changed the catalog"; status=1
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
