#!/usr/bin/env bash
# tests/reliability/soak.sh BUILD_DIR [SECONDS] - replicas under mixed traffic, figures printed
#
#   tests/reliability/soak.sh /tmp/build          600 s (default) on a plain build
#   tests/reliability/soak.sh /tmp/build-asan 600 ASan+UBSan+LSan build (-DINGESTD_SANITIZE=ON)
#   tests/reliability/soak.sh /tmp/build-tsan 600 ThreadSanitizer build (-DINGESTD_TSAN=ON)
#   REPLICAS=3 tests/reliability/soak.sh /tmp/build 20      three replicas, a short run
#   REPLICAS=2 THROUGHPUT=1 tests/reliability/soak.sh /tmp/build 60   as fast as it goes
#
# Environment: REPLICAS (default 2, 1-9), UPLOADERS (default 3), THROUGHPUT (set: the
# uploaders, the reader and the S3 client send their next request as soon as the last one
# is answered; bench/replicas.sh compares 1, 2 and 3 replicas this way), CLIENT (bash, the
# default: the uploaders, reader and S3 client are bash loops forking curl; wrk, with
# THROUGHPUT only: one wrk process per replica runs those requests instead, through
# tests/reliability/mix.lua, one connection per thread and UPLOADERS + 2 connections in all
# spread over the replicas, so the clients cost little CPU beside the server; the merger,
# inventory client, importer and sampler stay as they are).
#
# Starts s3rver (tests/s3rver) with the CSV sample of tests/fixtures/s3-inventory, then
# REPLICAS ingestd replicas on one PostgreSQL (replica A runs the embedded server of its
# INGESTD_DATA_DIR, replicas B, C, ... reach it through DATABASE_URL) sharing one
# INGESTD_IMPORTS folder. For SECONDS, clients spread over the replicas (request i of a
# client goes to replica i mod REPLICAS):
#   - UPLOADERS clients POST repos-lock.csv events (each one distinct, new changesets of a
#     fixed set of 500 repositories) to /api/v1/events;
#   - 1 merger POSTs /api/v1/merges every 3 s;
#   - 1 reader GETs /api/v1/repos.csv with If-None-Match (304 unless a merge changed it);
#   - 1 S3 client POSTs notification batches of 10 new keys to /api/v1/s3/events, and
#     lists /api/v1/s3/objects between batches;
#   - 1 inventory client POSTs the CSV inventory job every 30 s;
#   - 1 importer drops a repos-lock.csv file into pending/ every 2 s (written aside, renamed).
# Every 10 s it samples each replica's VmRSS (/proc/PID/status) and open fds (/proc/PID/fd).
# The flatness checks below need a run of at least 120 s (shorter runs print them as n/a).
# With ASan the quarantine of freed memory is off (ASAN_QUARANTINE, default
# "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"; leak detection stays on): with
# any quarantine, ASan's size-class allocator maps more memory for as long as the run lasts
# while the live heap stays flat (about 1 MB a replica here), because freed chunks of every
# size class leave the quarantine in FIFO order and each class keeps its high-water mark
# (README, Reliability). Set ASAN_QUARANTINE= (empty) for ASan's defaults (256 MiB:
# use-after-free caught longer, RSS no longer a measure of ingestd).
# With TSan each thread's history of memory accesses (a ring buffer that only says where the
# other access of a race came from) is cut to its minimum (TSAN_HISTORY, default
# "history_size=0", 32K accesses): at the default (2, 128K accesses, 1 MiB a thread) the
# rings of quiet threads fill for many minutes and RSS grows by that (README, Reliability).
# Warm-up is the first 20 % of the run; after it every RSS sample of a replica must lie
# within +-10 % of that replica's first post-warm-up sample, and its fds within +-10 of it.
# Throughput (requests/s, uploads/s over SECONDS) and the CPU seconds the replicas,
# PostgreSQL and the clients (bash, curl) used meanwhile are printed with the table and
# as one "RATE ..." line. At the end: 0 5xx and 0 failed connections; every 2xx'd upload
# id stored exactly once in PostgreSQL; every 2xx'd S3 record stored; every dropped file
# imported; every inventory job succeeded. Then SIGTERM to every replica, A last: each
# must exit 0. With a sanitizer build (found from the binary's libraries) each replica logs to ASAN_OPTIONS/TSAN_OPTIONS
# log_path files, LeakSanitizer checks the shutdown, TSan uses tests/reliability/tsan.supp
# (races inside the uninstrumented libpq/libcurl/libmicrohttpd only), and any report fails.
# Prints a table (figure, count, outcome); exits non-zero when an invariant failed.
set -euo pipefail
{ # the whole script is one compound command: bash reads it all before running it, so the
  # file may be edited while a soak runs
cd "$(dirname "$0")/../.."
root=$(pwd)
BUILD=${1:?usage: soak.sh BUILD_DIR [SECONDS]}
DURATION=${2:-600}
REPLICAS=${REPLICAS:-2}
UPLOADERS=${UPLOADERS:-3}
CLIENT=${CLIENT:-bash}
THROUGHPUT=${THROUGHPUT:-}
case $CLIENT in
  bash) ;;
  wrk) [ -n "$THROUGHPUT" ] || { echo "soak.sh: CLIENT=wrk needs THROUGHPUT=1" >&2; exit 2; }
       command -v wrk >/dev/null || { echo "soak.sh: CLIENT=wrk needs wrk (apt-get install wrk)" >&2; exit 2; } ;;
  *) echo "soak.sh: CLIENT must be bash or wrk" >&2; exit 2 ;;
esac
[[ "$REPLICAS" =~ ^[1-9]$ ]] || { echo "soak.sh: REPLICAS must be 1-9" >&2; exit 2; }
[[ "$UPLOADERS" =~ ^[1-9][0-9]?$ ]] || { echo "soak.sh: UPLOADERS must be 1-99" >&2; exit 2; }
ASAN_QUARANTINE=${ASAN_QUARANTINE-quarantine_size_mb=0:thread_local_quarantine_size_kb=0}
TSAN_HISTORY=${TSAN_HISTORY-history_size=0}
names=(A B C D E F G H I)
names=("${names[@]:0:$REPLICAS}")
BUILD=$(cd "$BUILD" && pwd)
bin=$BUILD/ingestd
[ -x "$bin" ] || { echo "soak.sh: build first: cmake --build $BUILD --target ingestd" >&2; exit 2; }
S3RVER_JS=$root/tests/s3rver/node_modules/s3rver/bin/s3rver.js
[ -f "$S3RVER_JS" ] || (cd tests/s3rver && npm ci --silent >/dev/null)
INV=$root/tests/fixtures/s3-inventory
INV_BUCKET=filemanager-inventory-test

san=none
if ldd "$bin" | grep -q libtsan; then san=tsan; elif ldd "$bin" | grep -q libasan; then san=asan; fi

work=$(mktemp -d /tmp/ingestd-soak.XXXXXX)
chmod 711 "$work"
cd "$work" # the replicas and s3rver run here, outside the checkout
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] && echo "soak.sh: kept $work" || rm -rf "$work"
}
trap cleanup EXIT

# ---- s3rver with the inventory sample --------------------------------------------------------
mkdir "$work/s3"
NODE_OPTIONS=--openssl-legacy-provider node "$S3RVER_JS" --directory "$work/s3" \
  --address 127.0.0.1 --port 0 --silent --configure-bucket "$INV_BUCKET" \
  >"$work/s3rver.out" 2>"$work/s3rver.log" &
s3_pid=$!
pids+=("$s3_pid")
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
s3curl -T "$INV/csv_inventory.csv.gz" "$s3/$INV_BUCKET/csv_inventory.csv.gz" >/dev/null
s3curl -T "$INV/csv_inventory_manifest.json" "$s3/$INV_BUCKET/soak/manifest.json" >/dev/null

# ---- the replicas, on one database ------------------------------------------------------------
mkdir -p "$work/imports/pending" "$work/imports/tmp"
declare -A rpid rbase
start_replica() { # NAME
  local name=$1 port="" log=$work/ingestd-$1.log
  local sanenv=() dbenv=()
  # A runs the embedded PostgreSQL of the data directory; the others reach the same
  # server through DATABASE_URL (a data directory belongs to one process)
  [ "$name" != A ] && dbenv=(DATABASE_URL="host=$work/data/run user=postgres dbname=ingestd")
  case $san in
    asan) sanenv=(ASAN_OPTIONS="log_path=$work/san-$name:detect_leaks=1:$ASAN_QUARANTINE"
                  UBSAN_OPTIONS="log_path=$work/san-$name:print_stacktrace=1") ;;
    tsan) sanenv=(TSAN_OPTIONS="log_path=$work/san-$name:halt_on_error=0:second_deadlock_stack=1:$TSAN_HISTORY:suppressions=$root/tests/reliability/tsan.supp") ;;
  esac
  env "${sanenv[@]}" "${dbenv[@]}" AWS_ENDPOINT_URL="$s3" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=S3RVER \
    AWS_SECRET_ACCESS_KEY=S3RVER INGESTD_DATA_DIR="$work/data" INGESTD_LISTEN=127.0.0.1:0 \
    INGESTD_IMPORTS="$work/imports" INGESTD_IMPORT_RESCAN=5 INGESTD_MERGE_INTERVAL=0 \
    INGESTD_DB_POOL=4 "$bin" serve 2>"$log" &
  rpid[$name]=$!
  pids+=("${rpid[$name]}")
  for _ in $(seq 1 1200); do
    port=$(grep -o '"msg":"listening".*"port":[0-9]*' "$log" 2>/dev/null | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    kill -0 "${rpid[$name]}" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "replica $name did not start"; tail -20 "$log"; exit 1; }
  rbase[$name]=http://127.0.0.1:$port
}
for n in "${names[@]}"; do start_replica "$n"; done
psql_() { psql -h "$work/data/run" -U postgres -d ingestd -XAtq "$@"; }

# ---- clients --------------------------------------------------------------------------------
for f in merge get s3ev s3list inv imp samples; do : >"$work/$f"; done
for n in $(seq 1 "$UPLOADERS"); do : >"$work/up-$n"; done
t0=$(date +%s)
deadline=$((t0 + DURATION))
base_of() { echo "${rbase[${names[$(($1 % REPLICAS))]}]}"; }
pause() { [ -n "$THROUGHPUT" ] || sleep "$1"; } # the pause of a client between requests
nap() { # SECONDS, or less when the deadline comes first (periodic clients end on time)
  local left=$((deadline - $(date +%s)))
  ((left <= 0)) || sleep $((left < $1 ? left : $1))
}
lockcsv() { # TAG -> a distinct repos-lock.csv on stdout: new changesets of 5 of 500 repositories
  # (a fixed set, so that the effective repos.csv, which every replica keeps rendered in
  # memory, keeps its size and RSS measures ingestd rather than the data's growth)
  printf 'origin,path,branch,changeset,publishUri,buildTool\n'
  local k h
  h=$(printf '%s' "$1" | md5sum | cut -c1-16)
  for k in 1 2 3 4 5; do
    printf 'github.com,soak/r%d,main,%s%d,https://repo.example.com/%s/%d.jar,maven\n' \
      "$(( (16#${h:0:6} + k * 97) % 500 ))" "$h" "$k" "$1" "$k"
  done
}
uploader() { # N: every answer "code id" into up-N
  local n=$1 i=0 out code id
  while [ "$(date +%s)" -lt "$deadline" ]; do
    i=$((i + 1))
    out=$(lockcsv "u$n-$i" | curl -s -m 30 -w '\n%{http_code}' -H 'Content-Type: text/csv' \
      --data-binary @- "$(base_of $((i + n)))/api/v1/events" || true)
    code=${out##*$'\n'}
    id=$(printf '%s' "$out" | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4 || true)
    echo "$code ${id:--}" >>"$work/up-$n"
    pause 0.05
  done
}
merger() {
  local i=0
  while [ "$(date +%s)" -lt "$deadline" ]; do
    i=$((i + 1))
    curl -s -m 60 -o /dev/null -w '%{http_code}\n' -X POST "$(base_of $i)/api/v1/merges" \
      >>"$work/merge" || echo 000 >>"$work/merge"
    nap 3
  done
}
reader() { # conditional GETs of repos.csv
  local i=0 etag="" hdr
  while [ "$(date +%s)" -lt "$deadline" ]; do
    i=$((i + 1))
    hdr=$(curl -s -m 30 -o /dev/null -D - -H "If-None-Match: ${etag:-\"none\"}" \
      "$(base_of $i)/api/v1/repos.csv" || true)
    code=$(printf '%s' "$hdr" | awk 'NR == 1 { print $2 }')
    echo "${code:-000}" >>"$work/get"
    e=$(printf '%s' "$hdr" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }')
    [ -n "$e" ] && etag=$e
    pause 0.1
  done
}
s3batch() { # TAG: 10 ObjectCreated records of new keys
  local k sep=""
  printf '{"Records":['
  for k in 0 1 2 3 4 5 6 7 8 9; do
    printf '%s{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",' "$sep"
    printf '"eventTime":"2026-01-02T03:04:05.000Z","eventName":"ObjectCreated:Put",'
    printf '"s3":{"s3SchemaVersion":"1.0","bucket":{"name":"soak","arn":"arn:aws:s3:::soak"},'
    printf '"object":{"key":"soak/%s/k%d","size":%d,"eTag":"d41d8cd98f00b204e9800998ecf8427e",' "$1" "$k" "$k"
    printf '"versionId":"null","sequencer":"0055AED6DCD9028%03d"}}}' "$k"
    sep=,
  done
  printf ']}'
}
s3client() {
  local i=0 code
  while [ "$(date +%s)" -lt "$deadline" ]; do
    i=$((i + 1))
    code=$(s3batch "b$i" | curl -s -m 30 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
      --data-binary @- "$(base_of $i)/api/v1/s3/events" || true)
    echo "${code:-000} b$i" >>"$work/s3ev"
    code=$(curl -s -m 30 -o /dev/null -w '%{http_code}' \
      "$(base_of $((i + 1)))/api/v1/s3/objects?bucket=soak&rowsPerPage=100" || true)
    echo "${code:-000}" >>"$work/s3list"
    pause 0.2
  done
}
inventory() {
  local i=0 code
  while [ "$(date +%s)" -lt "$deadline" ]; do
    i=$((i + 1))
    code=$(curl -s -m 60 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
      -d "{\"bucket\":\"$INV_BUCKET\",\"key\":\"soak/manifest.json\"}" \
      "$(base_of $i)/api/v1/s3/inventories" || true)
    echo "${code:-000}" >>"$work/inv"
    nap 30
  done
}
importer() {
  local i=0
  while [ "$(date +%s)" -lt "$deadline" ]; do
    i=$((i + 1))
    lockcsv "imp-$i" >"$work/imports/tmp/imp-$i.csv"
    mv "$work/imports/tmp/imp-$i.csv" "$work/imports/pending/imp-$i.csv"
    echo "imp-$i" >>"$work/imp"
    nap 2
  done
}
sampler() {
  local n p
  while [ "$(date +%s)" -lt "$deadline" ]; do
    for n in "${names[@]}"; do
      p=${rpid[$n]}
      echo "$(($(date +%s) - t0)) $n $(awk '/^VmRSS/ { print $2 }' "/proc/$p/status") $(ls "/proc/$p/fd" | wc -l)" \
        >>"$work/samples"
    done
    nap 10
  done
}
cpu_snapshot() { # clock ticks so far: replicas, PostgreSQL, s3rver, clients (this shell's reaped children)
  local pm rp=" " n
  pm=$(head -1 "$work/data/pgdata/postmaster.pid" 2>/dev/null || echo 0)
  for n in "${names[@]}"; do rp="$rp${rpid[$n]} "; done
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$pm" -v rp="$rp" -v s3="$s3_pid" -v me="$$" '
    { pid = $1; sub(/^.*\) /, ""); t = $12 + $13
      if (index(rp, " " pid " ")) r += t
      else if (pid == pm) g += t + $14 + $15
      else if ($2 == pm) g += t
      else if (pid == s3) s += t + $14 + $15
      if (pid == me) c = $14 + $15 }
    END { print r + 0, g + 0, s + 0, c + 0 }'
}
list=""
for n in "${names[@]}"; do list="$list ${rbase[$n]}"; done
echo "== soak: $DURATION s, build $BUILD (sanitizer: $san), $REPLICAS replica(s):$list," \
  "$UPLOADERS uploaders${THROUGHPUT:+, throughput mode (no pause between requests)}"
read -r cpu0_r cpu0_g cpu0_s cpu0_c < <(cpu_snapshot)
ts0=$(date +%s.%N)
cpids=()
if [ "$CLIENT" = wrk ]; then
  conns=$((UPLOADERS + 2)) # the bash clients' uploaders + reader + S3 client
  for i in "${!names[@]}"; do
    n=${names[$i]}
    c=$((conns / REPLICAS + (i < conns % REPLICAS ? 1 : 0)))
    [ "$c" -gt 0 ] || continue
    MIX_OUT=$work MIX_TAG=$n wrk -t"$c" -c"$c" -d"${DURATION}s" --timeout 30s \
      -s "$root/tests/reliability/mix.lua" "${rbase[$n]}" >"$work/wrk-$n.txt" 2>&1 & cpids+=($!)
  done
else
  for n in $(seq 1 "$UPLOADERS"); do uploader "$n" & cpids+=($!); done
  reader & cpids+=($!)
  s3client & cpids+=($!)
fi
merger & cpids+=($!)
inventory & cpids+=($!)
importer & cpids+=($!)
sampler & cpids+=($!)
for p in "${cpids[@]}"; do wait "$p" || true; done
elapsed=$(awk -v a="$ts0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
read -r cpu1_r cpu1_g cpu1_s cpu1_c < <(cpu_snapshot)

# ---- invariants -----------------------------------------------------------------------------
fail=0
row() { # FIGURE COUNT OK(0/1)
  local o=ok
  [ "$3" = 1 ] || { o=FAILED; fail=1; }
  printf '| %-58s | %12s | %-6s |\n' "$1" "$2" "$o"
}
cnt() { [ -f "$1" ] && awk "$2" "$1" || echo 0; }
# let the imports and inventory jobs finish (bounded)
for _ in $(seq 1 120); do
  pend=$(find "$work/imports/pending" -type f | wc -l)
  running=$(psql_ -c "SELECT count(*) FROM inventory_jobs WHERE status IN ('queued','running')" 2>/dev/null || echo 1)
  [ "$pend" = 0 ] && [ "$running" = 0 ] && break
  sleep 1
done
cat "$work"/up-* >"$work/up"
wrk_errors=0
if [ "$CLIENT" = wrk ]; then
  for f in get s3ev s3list; do cat "$work/$f"-* >>"$work/$f" 2>/dev/null || true; done
  # requests wrk sent but got no answer for (connect/read/write errors, timeouts)
  wrk_errors=$(cat "$work"/wrk-*.txt | awk '/Socket errors/ { gsub(/,/, ""); s += $4 + $6 + $8 + $10 }
    END { print s + 0 }')
fi
uploads=$(wc -l <"$work/up")
up_ok=$(awk '$1 ~ /^2/' "$work/up" | wc -l)
awk '$1 ~ /^2/ { print $2 }' "$work/up" | sort >"$work/up.ids"
psql_ -c "SELECT id FROM events" | sort >"$work/db.ids"
missing=$(comm -23 "$work/up.ids" "$work/db.ids" | wc -l)
dupes=$(uniq -d "$work/up.ids" | wc -l)
s3_ok=$(awk '$1 ~ /^2/' "$work/s3ev" | wc -l)
s3_stored=$(psql_ -c "SELECT count(DISTINCT key) FROM s3_objects WHERE bucket = 'soak'")
imp_dropped=$(wc -l <"$work/imp")
imp_done=$(find "$work/imports/processed" -type f 2>/dev/null | wc -l)
imp_failed=$(find "$work/imports/failed" -type f 2>/dev/null | wc -l)
inv_jobs=$(psql_ -c "SELECT count(*) FROM inventory_jobs")
inv_ok=$(psql_ -c "SELECT count(*) FROM inventory_jobs WHERE status = 'succeeded'")
all=$(cat "$work/up" "$work/merge" "$work/get" "$work/s3ev" "$work/s3list" "$work/inv" | awk '{ print $1 }')
n5xx=$(printf '%s\n' "$all" | grep -c '^5' || true)
n000=$(($(printf '%s\n' "$all" | grep -c '^000' || true) + wrk_errors))
nreq=$(printf '%s\n' "$all" | wc -l)

echo
printf '| %-58s | %12s | %-6s |\n' figure count outcome
printf '| %-58s | %12s | %-6s |\n' "---" "---" "---"
row "requests (all clients)" "$nreq" 1
row "  5xx answers" "$n5xx" "$([ "$n5xx" = 0 ] && echo 1)"
row "  failed connections / timeouts (no answer)" "$n000" "$([ "$n000" = 0 ] && echo 1)"
row "event uploads (2xx / sent)" "$up_ok / $uploads" "$([ "$up_ok" = "$uploads" ] && echo 1)"
row "  2xx'd upload ids missing in PostgreSQL / given twice" "$missing / $dupes" \
  "$([ "$missing" = 0 ] && [ "$dupes" = 0 ] && echo 1)"
row "merges (2xx / posted; 409 = one already running)" \
  "$(cnt "$work/merge" '$1 ~ /^2/ { n++ } END { print n + 0 }') / $(wc -l <"$work/merge")" \
  "$(cnt "$work/merge" '$1 !~ /^(2|409)/ { n++ } END { print (n ? 0 : 1) }')"
row "repos.csv GETs (304 / 200 / sent)" \
  "$(grep -c '^304' "$work/get" || true) / $(grep -c '^200' "$work/get" || true) / $(wc -l <"$work/get")" \
  "$(cnt "$work/get" '$1 !~ /^(200|304)$/ { n++ } END { print (n ? 0 : 1) }')"
row "S3 event batches of 10 (2xx / sent)" "$s3_ok / $(wc -l <"$work/s3ev")" \
  "$(cnt "$work/s3ev" '$1 !~ /^2/ { n++ } END { print (n ? 0 : 1) }')"
# wrk stops at its deadline with one request in flight per connection: those batches may be
# stored without their answer recorded (at most conns of them)
s3_extra=0
[ "$CLIENT" = wrk ] && s3_extra=$((conns * 10))
row "  S3 keys stored / 2xx'd" "$s3_stored / $((s3_ok * 10))" \
  "$([ "$s3_stored" -ge $((s3_ok * 10)) ] && [ "$s3_stored" -le $((s3_ok * 10 + s3_extra)) ] && echo 1)"
row "object lists (200 / sent)" "$(grep -c '^200' "$work/s3list" || true) / $(wc -l <"$work/s3list")" \
  "$(cnt "$work/s3list" '$1 != 200 { n++ } END { print (n ? 0 : 1) }')"
row "inventory jobs (succeeded / created)" "$inv_ok / $inv_jobs" \
  "$([ "$inv_jobs" -gt 0 ] && [ "$inv_ok" = "$inv_jobs" ] && echo 1)"
row "imported files (processed / dropped; failed)" "$imp_done / $imp_dropped; $imp_failed" \
  "$([ "$imp_done" = "$imp_dropped" ] && [ "$imp_failed" = 0 ] && echo 1)"
warm=$((DURATION / 5))
flat=1
[ "$DURATION" -ge 120 ] || flat=""
echo "warm-up: the first $warm s (20 %); $(awk -v w=$warm '$1 >= w' "$work/samples" | wc -l) samples after it" \
  "${flat:-(run shorter than 120 s: RSS and fds printed, not checked)}"
for n in "${names[@]}"; do
  read -r ref_rss ref_fd rmin rmax fmin fmax ns < <(awk -v n=$n -v w=$warm '
    $2 == n && $1 >= w { if (!c) { r = $3; f = $4; rmin = rmax = $3; fmin = fmax = $4 }
      c++; if ($3 < rmin) rmin = $3; if ($3 > rmax) rmax = $3
      if ($4 < fmin) fmin = $4; if ($4 > fmax) fmax = $4 }
    END { print r + 0, f + 0, rmin + 0, rmax + 0, fmin + 0, fmax + 0, c + 0 }' "$work/samples")
  ok=$(awk -v r="$ref_rss" -v a="$rmin" -v b="$rmax" -v c="$ns" \
    'BEGIN { print (c >= 2 && a >= r * 0.9 && b <= r * 1.1) ? 1 : 0 }')
  fok=$([ "$ns" -ge 2 ] && [ "$fmin" -ge $((ref_fd - 10)) ] && [ "$fmax" -le $((ref_fd + 10)) ] && echo 1 || true)
  [ -n "$flat" ] || { ok=1; fok=1; }
  row "replica $n RSS MiB after warm-up: first, min..max" \
    "$((ref_rss / 1024)), $((rmin / 1024))..$((rmax / 1024))" "$ok"
  row "replica $n open fds after warm-up: first, min..max" "$ref_fd, $fmin..$fmax" "$fok"
done
clk=$(getconf CLK_TCK)
answered=$((nreq - n000))
rate=$(awk -v n="$answered" -v u="$up_ok" -v e="$elapsed" -v k="$clk" -v r=$((cpu1_r - cpu0_r)) \
  -v g=$((cpu1_g - cpu0_g)) -v s=$((cpu1_s - cpu0_s)) -v c=$((cpu1_c - cpu0_c)) 'BEGIN {
    printf "requests_per_s=%.1f uploads_per_s=%.1f seconds=%s cpu_replicas=%.1f cpu_postgres=%.1f", n / e, u / e, e, r / k, g / k
    printf " cpu_s3rver=%.1f cpu_clients=%.1f", s / k, c / k }')
echo "throughput over $elapsed s: $(echo "$rate" | tr ' ' '\n' | grep _per_s | tr '\n' ' ')"
echo "CPU seconds used meanwhile: $(echo "$rate" | tr ' ' '\n' | grep cpu_ | tr '\n' ' ')($(nproc) cores)"
echo "RATE replicas=$REPLICAS uploaders=$UPLOADERS answered=$answered uploads=$up_ok $rate"

# ---- clean shutdown, sanitizer reports ------------------------------------------------------
for ((i = REPLICAS - 1; i >= 0; i--)); do # A last: it stops the PostgreSQL server it runs
  n=${names[$i]}
  st=0
  kill -TERM "${rpid[$n]}"
  wait "${rpid[$n]}" || st=$?
  row "replica $n exit status after SIGTERM" "$st" "$([ "$st" = 0 ] && echo 1)"
done
pids=("$s3_pid")
if [ "$san" != none ]; then
  for n in "${names[@]}"; do
    reports=$(cat "$work"/san-$n.* 2>/dev/null | grep -cE '^(==[0-9]+==)?(ERROR|WARNING): (Address|Leak|Thread)Sanitizer|runtime error:' || true)
    row "replica $n $san reports (log_path files)" "$reports" "$([ "$reports" = 0 ] && echo 1)"
    if [ "$reports" != 0 ]; then
      mkdir -p "${SOAK_REPORTS:-/tmp}/soak-reports"
      cp "$work"/san-$n.* "${SOAK_REPORTS:-/tmp}/soak-reports/" 2>/dev/null || true
      echo "   reports copied to ${SOAK_REPORTS:-/tmp}/soak-reports/"
    fi
  done
fi
echo "samples (s replica rss_kB fds):"
awk '{ printf "%s%s", sep, $0; sep = "; " } END { print "" }' "$work/samples"
[ "$fail" = 0 ] && echo "== soak: all invariants hold" || echo "== soak: FAILED"
exit "$fail"
}
