#!/usr/bin/env bash
# bench/uploads.sh - durable uploads against PostgreSQL's own ceiling, in one run
#
#   bash bench/uploads.sh [EVENTS] [CLIENTS]          (defaults: 10000 16)
#
# For each disk - the machine's own, then one whose fsync takes 2 ms - on a
# fresh ingestd (its embedded PostgreSQL, durable: fsync and
# synchronous_commit on, wal_sync_method fdatasync):
#   (a) the ceiling: pgbench on the same server, the same tables and indexes,
#       with a custom script that inserts what one upload inserts - the events
#       row (1.1 kB content, unique sha256), its 10 event_rows and its journal
#       row, in one prepared statement, one transaction per upload - for
#       each client count of PGBENCH_CLIENTS (default "4 8 16"),
#       PGBENCH_SECONDS each; the best tps is the ceiling;
#   (b) ingestd: EVENTS repos-lock.csv uploads of 10 rows POSTed over HTTP by
#       CLIENTS keep-alive clients (bench/loadgen, LOADGEN_UPLOAD_ONLY=1),
#       INGESTD_DB_POOL=CLIENTS; every 2xx is committed;
# and prints both rates and the ratio ingestd / ceiling [targets: >= 0.8 on
# the machine's disk, >= 0.5 with a 2 ms fsync]. Beside it, what a savepoint
# per upload costs: pgbench with 8 uploads per transaction, without and with
# SAVEPOINT/RELEASE around each (2 clients).
#
# The 2 ms fsync: bench/slow_fsync.c, an LD_PRELOAD shim, is loaded into
# ingestd and through it into the PostgreSQL it starts (initdb, pg_ctl and
# the postmaster inherit LD_PRELOAD; pgbench does not get it). Every fsync()
# and fdatasync() sleeps SLOW_FSYNC_US (2000) microseconds and then does the
# real call, so each WAL flush at commit costs 2 ms more, as on a disk whose
# flush takes that long; the single-client pgbench line shows it (<= ~500
# commits/s).
#
# Settings: INGESTD_BIN (default: build Release into build-bench), and any
# INGESTD_* in the environment reaches ingestd (INGESTD_UPLOAD_GROUP_MAX=1:
# every upload commits alone, the behaviour without group commit).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-10000}
CLIENTS=${2:-16}
PGBENCH_CLIENTS=${PGBENCH_CLIENTS:-"4 8 16"}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-10}
SLOW_US=${SLOW_FSYNC_US:-2000}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

BUILD=${BUILD:-build-bench}
if [ -z "${INGESTD_BIN:-}" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DINGESTD_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target ingestd >/dev/null
  INGESTD_BIN=$BUILD/ingestd
fi
mkdir -p "$BUILD"
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o "$BUILD/loadgen" bench/loadgen.c -lcurl

work=$(mktemp -d /tmp/ingestd-up.XXXXXX)
chmod 711 "$work"
cc -O2 -shared -fPIC -Wall -Wextra -o "$work/slow_fsync.so" bench/slow_fsync.c -ldl
chmod 755 "$work/slow_fsync.so"
cleanup() {
  [ -n "${ingestd_pid:-}" ] && kill "$ingestd_pid" 2>/dev/null && wait "$ingestd_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# what one upload of loadgen inserts: 10 rows, a 1.1 kB content, a new digest, the journal row
cat >"$work/upload.sql" <<'SQL'
\set r random(1, 1000000000)
WITH e AS (INSERT INTO events (id, source, row_count, byte_count, sha256, columns,
                               idempotency_key, content)
    VALUES (gen_random_uuid(), NULL, 10, 1100, md5(random()::text) || md5(random()::text),
            '{origin,path,branch,changeset,publishUri,buildTool}', NULL,
            convert_to(repeat('github.com,org' || :r % 1000 || '/repo-' || :r ||
              ',main,0123456789abcdef,https://artifactory.example.com/lst/repo-' || :r ||
              '/e1.jar,maven' || chr(10), 10), 'UTF8'))
    ON CONFLICT DO NOTHING RETURNING id, source, row_count, byte_count, sequence, received_at),
j AS (INSERT INTO changes (event_id, type, source, subject, data)
    SELECT gen_random_uuid(), 'io.ingestd.event.accepted', '/api/v1/events', e.id::text,
           jsonb_build_object('id', e.id, 'receivedAt', e.received_at, 'source', e.source,
                              'rowCount', e.row_count, 'byteCount', e.byte_count) FROM e)
INSERT INTO event_rows (event_seq, row_no, origin, path, branch, changeset, publish_uri,
                        vals, key_digest)
SELECT e.sequence, g, 'github.com', 'org' || (:r + g) % 1000 || '/repo-' || (:r + g), 'main',
       substr(md5(g::text || :r), 1, 16),
       'https://artifactory.example.com/lst/repo-' || (:r + g) || '/e1.jar',
       ARRAY['github.com', 'org/repo-' || (:r + g), 'main', substr(md5(g::text), 1, 16),
             'https://artifactory.example.com/lst/repo-' || (:r + g) || '/e1.jar', 'maven'],
       sha256(convert_to('github.com/org/repo-' || (:r + g) || '/main', 'UTF8'))
FROM e, generate_series(1, 10) g;
SQL

# the savepoint question: 8 uploads per transaction, without and with a savepoint each
{ echo '\set r random(1, 1000000000)'; echo 'BEGIN;'
  for _ in 1 2 3 4 5 6 7 8; do sed 1d "$work/upload.sql"; done; echo 'COMMIT;'; } >"$work/group8.sql"
{ echo '\set r random(1, 1000000000)'; echo 'BEGIN;'
  for _ in 1 2 3 4 5 6 7 8; do echo 'SAVEPOINT u;'; sed 1d "$work/upload.sql"; echo 'RELEASE SAVEPOINT u;'; done
  echo 'COMMIT;'; } >"$work/group8sp.sql"

# start ingestd on a fresh data dir: start_ingestd NAME [LD_PRELOAD]
start_ingestd() {
  local data=$work/$1 port=""
  env ${2:+LD_PRELOAD="$2"} SLOW_FSYNC_US="$SLOW_US" INGESTD_DATA_DIR="$data" \
    INGESTD_LISTEN=127.0.0.1:0 INGESTD_DB_POOL="$CLIENTS" "$INGESTD_BIN" serve \
    2>"$work/$1.log" &
  ingestd_pid=$!
  for _ in $(seq 1 900); do
    port=$(grep -o '"msg":"listening".*"port":[0-9]*' "$work/$1.log" 2>/dev/null | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "ingestd did not start"; cat "$work/$1.log"; exit 1; }
  base=http://127.0.0.1:$port
  sock=$data/run
}
psql_q() { PGOPTIONS="-c client_min_messages=warning" "$PGBIN/psql" -X -q -At -h "$sock" -U postgres -d ingestd -c "$1"; }
pgbench_tps() { # pgbench_tps CLIENTS SECONDS [SCRIPT]
  "$PGBIN/pgbench" -n -M prepared -h "$sock" -U postgres -f "${3:-$work/upload.sql}" -c "$1" -j 2 \
    -T "$2" ingestd 2>/dev/null | awk '/^tps = / { printf "%.0f", $3 }'
}

# one disk: run_disk NAME [LD_PRELOAD]; leaves $work/NAME.out
run_disk() {
  local name=$1 out=$work/$1.out best=0 bestc=0 tps c
  start_ingestd "$name" "${2:-}"
  echo "wal_sync_method $(psql_q 'SHOW wal_sync_method')" >"$out"
  echo "fsync_commits_1client $(pgbench_tps 1 3)" >>"$out"
  for c in $PGBENCH_CLIENTS; do
    psql_q "CHECKPOINT" >/dev/null
    tps=$(pgbench_tps "$c" "$PGBENCH_SECONDS")
    echo "pgbench_c$c $tps" >>"$out"
    if [ "${tps:-0}" -gt "$best" ]; then best=$tps; bestc=$c; fi
  done
  echo "group8 $(( $(pgbench_tps 2 "$PGBENCH_SECONDS" "$work/group8.sql") * 8 ))" >>"$out"
  echo "group8sp $(( $(pgbench_tps 2 "$PGBENCH_SECONDS" "$work/group8sp.sql") * 8 ))" >>"$out"
  echo "ceiling $best" >>"$out"
  echo "ceiling_clients $bestc" >>"$out"
  psql_q "TRUNCATE events, changes CASCADE" >/dev/null
  psql_q "CHECKPOINT" >/dev/null
  LOADGEN_UPLOAD_ONLY=1 "$BUILD/loadgen" "$base" 1000 "$EVENTS" "$CLIENTS" /dev/null \
    2>/dev/null >>"$out"
  echo "transactions $(psql_q 'SELECT count(DISTINCT xmin::text) FROM events')" >>"$out"
  kill "$ingestd_pid" && wait "$ingestd_pid" 2>/dev/null || true
  ingestd_pid=""
  [ "$(awk '$1 == "upload_failed" { print $2 }' "$out")" = "0" ] || { echo "some uploads failed ($name)"; exit 1; }
}

run_disk disk
run_disk slow "$work/slow_fsync.so"

val() { awk -v k="$2" '$1 == k { print $2 }' "$work/$1.out"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
printf '\n%-22s %16s %22s %20s %7s %7s\n' "disk" "1-client commit/s" "pgbench ceiling" \
  "ingestd ($CLIENTS clients)" "ratio" "target"
row() { # row NAME LABEL TARGET
  printf '%-22s %16s %22s %20s %7s %7s\n' "$2" "$(val "$1" fsync_commits_1client)" \
    "$(val "$1" ceiling) tps (c=$(val "$1" ceiling_clients))" "$(val "$1" upload_rate) ev/s" \
    "$(ratio "$(val "$1" upload_rate)" "$(val "$1" ceiling)")" "$3"
}
row disk "this machine's disk" ">= 0.8"
row slow "fsync + ${SLOW_US} us" ">= 0.5"
for d in disk slow; do
  printf '%s: pgbench by clients:' "$d"
  for c in $PGBENCH_CLIENTS; do printf ' %s=%s' "$c" "$(val $d "pgbench_c$c")"; done
  printf '; %s uploads in %s transactions (wal_sync_method %s)\n' "$EVENTS" \
    "$(val $d transactions)" "$(val $d wal_sync_method)"
  printf '%s: pgbench, 8 uploads per transaction, 2 clients: %s uploads/s; with a savepoint each: %s (%s)\n' \
    "$d" "$(val $d group8)" "$(val $d group8sp)" "$(ratio "$(val $d group8sp)" "$(val $d group8)")"
done
