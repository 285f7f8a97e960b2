#!/usr/bin/env bash
# bench/history.sh - GET /api/v1/repos/history beside GET /api/v1/events/{id}
#
#   bash bench/history.sh [REPOS] [EVENTS] [HOT]      (defaults: 100000 10000 200)
#
# Builds ingestd (Release) and bench/loadgen, starts ingestd on a private
# embedded PostgreSQL and fills it as bench/merge.sh does (PUT REPOS
# repositories, EVENTS events of 10 rows, one merge). Then HOT more events
# each send one row of a "hot" key (half before a second merge, half left
# pending), so one key has HOT stored rows while the rest have a few.
# Latency (wrk, one connection, WRK_SECONDS each, p50 / p99 / requests/s) of:
#   - GET /api/v1/events/{id}                                     (baseline)
#   - GET /api/v1/repos/history of the busiest key loadgen made
#   - GET /api/v1/repos/history of the hot key (first page of 100 of HOT rows)
# and the plan of the history query: an index scan on event_rows_key that
# reads the key's rows only, whatever the number of stored rows.
set -euo pipefail
cd "$(dirname "$0")/.."
REPOS=${1:-100000}
EVENTS=${2:-10000}
HOT=${3:-200}
BUILD=${BUILD_DIR:-build-bench}
WRK_SECONDS=${WRK_SECONDS:-10}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DINGESTD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target ingestd >/dev/null
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o "$BUILD/loadgen" bench/loadgen.c -lcurl

work=$(mktemp -d /tmp/ingestd-history.XXXXXX)
chmod 711 "$work"
cleanup() {
  [ -n "${ingestd_pid:-}" ] && kill "$ingestd_pid" 2>/dev/null && wait "$ingestd_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

INGESTD_DATA_DIR="$work/data" INGESTD_LISTEN=127.0.0.1:0 "$BUILD/ingestd" serve 2>"$work/ingestd.log" &
ingestd_pid=$!
port=""
for _ in $(seq 1 600); do
  port=$(grep -o '"msg":"listening".*"port":[0-9]*' "$work/ingestd.log" 2>/dev/null | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "ingestd did not start"; cat "$work/ingestd.log"; exit 1; }
base=http://127.0.0.1:$port
psql_() { "$PG_BIN/psql" -h "$work/data/run" -U postgres -d ingestd -XAtq "$@"; }

"$BUILD/loadgen" "$base" "$REPOS" "$EVENTS" 16 "$work/repos.csv" 2>/dev/null >"$work/loadgen.out"
[ "$(awk '$1 == "upload_failed" { print $2 }' "$work/loadgen.out")" = "0" ] || { echo "uploads failed"; exit 1; }

for i in $(seq 1 "$HOT"); do
  printf 'origin,path,branch,changeset,publishUri\ngithub.com,org0/hot,main,%s,%s\n' \
    "$([ $((i % 7)) -eq 0 ] || printf 'cs%d' "$i")" "https://artifactory.example.com/hot/$i.jar" |
    curl -sf -o /dev/null -H 'Content-Type: text/csv' -H "X-Event-Source: hot-$((i % 3))" \
      --data-binary @- "$base/api/v1/events"
  [ "$i" -eq $((HOT / 2)) ] && curl -sf -o /dev/null -X POST "$base/api/v1/merges"
done

event_id=$(psql_ -c "SELECT id FROM events ORDER BY sequence LIMIT 1")
read -r busy_o busy_p busy_b busy_n < <(psql_ -F ' ' -c \
  "SELECT origin, path, branch, count(*) FROM event_rows WHERE path NOT LIKE '%,%' AND path <> 'org0/hot'
   GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 1")
total_rows=$(psql_ -c "SELECT count(*) FROM event_rows")
total_events=$(psql_ -c "SELECT count(*) FROM events")
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
busy_url="$base/api/v1/repos/history?origin=$(enc "$busy_o")&path=$(enc "$busy_p")&branch=$busy_b"
hot_url="$base/api/v1/repos/history?origin=github.com&path=org0%2Fhot&branch=main"

curl -sf "$hot_url" | python3 -c '
import json, sys, collections
d = json.load(sys.stdin)
c = collections.Counter(i["outcome"] for i in d["items"])
print("hot key, first page:", len(d["items"]), "rows,", dict(c), "next:", d["next"] is not None)'
curl -sf -o /dev/null "$base/api/v1/events/$event_id"
curl -sf -o /dev/null "$busy_url"

lat() { # lat NAME URL -> one line: p50 p99 req/s
  local f=$work/wrk-$RANDOM.txt
  wrk -t1 -c1 -d"${WRK_SECONDS}s" --latency "$2" >"$f"
  awk -v name="$1" '/^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 } /^Requests\/sec/ { rps = $2 }
       /Non-2xx/ { bad = $NF }
       END { printf "%-44s %10s %10s %10.0f%s\n", name, p50, p99, rps, bad ? "  NON-2xx: " bad : "" }' \
    "$f"
}
echo
echo "fill (loadgen): $(awk '$1 == "upload_rate" { print $2 }' "$work/loadgen.out") events/s uploaded," \
  "merge of $EVENTS events $(awk '$1 == "merge_seconds" { print $2 }' "$work/loadgen.out") s"
echo "load average before the latencies: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "stored: $total_events events, $total_rows event rows; busiest loadgen key: $busy_n rows; hot key: $HOT rows"
printf '%-44s %10s %10s %10s\n' "request (1 connection)" "p50" "p99" "req/s"
lat "GET /api/v1/events/{id}" "$base/api/v1/events/$event_id"
lat "GET /api/v1/repos/history (busiest, $busy_n rows)" "$busy_url"
lat "GET /api/v1/repos/history (hot, 100 of $HOT)" "$hot_url"

echo
echo "plan of the history lookup (hot key):"
digest=$(python3 - <<'PY'
import hashlib, struct
def part(b, n=True): return (struct.pack('>I', len(b)) if n else b'') + b
print(hashlib.sha256(part(b'github.com') + part(b'org0/hot') + part(b'main', False)).hexdigest())
PY
)
psql_ -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY ON)
  SELECT event_seq, row_no FROM event_rows WHERE key_digest = '\\x$digest'::bytea
  ORDER BY event_seq DESC, row_no DESC" | sed 's/^/  /'
