#!/usr/bin/env bash
# bench/feed.sh - what SSE subscribers of the live feed cost, and how soon they hear
#
#   bash bench/feed.sh [SUBSCRIBERS] [EVENTS] [LATENCY_UPLOADS]   (default: 1000 2000 200)
#
# Builds ingestd (Release; INGESTD_BIN=path uses that binary instead), bench/loadgen and
# bench/feedsub, starts ingestd on a private embedded PostgreSQL and, in one run:
#   1. RSS of the ingestd process before and after SUBSCRIBERS idle SSE streams attach
#      (GET /api/v1/feed?format=sse filtered on a type that never occurs, so they stay
#      idle while the hub still wakes them for every change) -> KiB per subscriber;
#   2. upload throughput (bench/loadgen: EVENTS events of 10 rows, 16 clients; a first
#      run of the same size warms up) without subscribers, with them attached twice,
#      without again (same instance, ABBA) -> ratio of the runs with to the runs without;
#   3. commit-to-delivery latency: LATENCY_UPLOADS uploads one after the other, from each
#      201 to a (separate, unfiltered) subscriber holding its io.ingestd.event.accepted
#      (p50, p99), with the SUBSCRIBERS still attached.
set -euo pipefail
cd "$(dirname "$0")/.."
SUBS=${1:-1000}
EVENTS=${2:-2000}
LAT=${3:-200}
BUILD=${BENCH_BUILD:-build-bench}

mkdir -p "$BUILD"
if [ -z "${INGESTD_BIN:-}" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DINGESTD_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target ingestd >/dev/null
  INGESTD_BIN=$BUILD/ingestd
fi
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o "$BUILD/loadgen" bench/loadgen.c -lcurl
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o "$BUILD/feedsub" bench/feedsub.c
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d /tmp/ingestd-bench.XXXXXX)
chmod 711 "$work"
cleanup() {
  exec 3>&- 2>/dev/null || true
  [ -n "${sub_pid:-}" ] && kill "$sub_pid" 2>/dev/null || true
  [ -n "${ingestd_pid:-}" ] && kill "$ingestd_pid" 2>/dev/null && wait "$ingestd_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

INGESTD_DATA_DIR="$work/data" INGESTD_LISTEN=127.0.0.1:0 INGESTD_MAX_CONNECTIONS=4096 \
  INGESTD_MAX_CONNECTIONS_PER_IP=4096 "$INGESTD_BIN" serve 2>"$work/ingestd.log" &
ingestd_pid=$!
port=""
for _ in $(seq 1 600); do
  port=$(grep -o '"msg":"listening".*"port":[0-9]*' "$work/ingestd.log" 2>/dev/null | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "ingestd did not start"; cat "$work/ingestd.log"; exit 1; }
base="http://127.0.0.1:$port"
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$ingestd_pid/status"; }
rate() { awk '$1 == "upload_rate" { print $2 }' "$1"; }

# warm up (first connections, prepared statements, the ring's first pages)
"$BUILD/loadgen" "$base" 1000 "$EVENTS" 16 "$work/warm.csv" >"$work/warm.out" 2>/dev/null
sleep 1
rss0=$(rss_kib)

mkfifo "$work/ctl"
attach() {
  "$BUILD/feedsub" "$port" "$SUBS" "type=io.ingestd.export.failed" <"$work/ctl" >"$work/sub.out" &
  sub_pid=$!
  exec 3>"$work/ctl"
  for _ in $(seq 1 600); do grep -q '^attached' "$work/sub.out" && break; sleep 0.1; done
  grep -q '^attached' "$work/sub.out" || { echo "subscribers did not attach"; exit 1; }
}
detach() { # EOF on feedsub's stdin ends it
  exec 3>&-
  wait "$sub_pid" 2>/dev/null || true
  sub_pid=
}
attach
sleep 2
rss1=$(rss_kib)
detach
sleep 1

# runs of the same size in the order without, with, with, without (ABBA: a steady drift, as
# the database grows or the machine's load changes, weighs on both sides alike)
"$BUILD/loadgen" "$base" 1000 "$EVENTS" 16 "$work/a.csv" >"$work/off1.out" 2>/dev/null
attach
"$BUILD/loadgen" "$base" 1000 "$EVENTS" 16 "$work/b.csv" >"$work/on1.out" 2>/dev/null
"$BUILD/loadgen" "$base" 1000 "$EVENTS" 16 "$work/c.csv" >"$work/on2.out" 2>/dev/null
echo "lat $LAT" >&3
for _ in $(seq 1 1200); do grep -q '^latency_p99' "$work/sub.out" && break; sleep 0.1; done
echo stats >&3
for _ in $(seq 1 50); do grep -q '^closed' "$work/sub.out" && break; sleep 0.1; done
detach
"$BUILD/loadgen" "$base" 1000 "$EVENTS" 16 "$work/d.csv" >"$work/off2.out" 2>/dev/null

off1=$(rate "$work/off1.out"); on1=$(rate "$work/on1.out")
off2=$(rate "$work/off2.out"); on2=$(rate "$work/on2.out")
echo "subscribers: $SUBS idle SSE streams (+1 for latency), one instance, embedded PostgreSQL"
awk -v a="$rss0" -v b="$rss1" -v n="$SUBS" 'BEGIN {
  printf "RSS: %d KiB before, %d KiB with the subscribers: %.1f KiB per subscriber (target <= 16)\n",
         a, b, (b - a) / n }'
awk -v a="$off1" -v b="$on1" -v c="$off2" -v d="$on2" 'BEGIN {
  printf "uploads (loadgen, 16 clients), events/s: without %.0f, with %.0f, with %.0f, without %.0f: with/without %.2f (target >= 0.9)\n",
         a, b, d, c, (b + d) / (a + c) }'
echo "commit-to-delivery ($LAT sequential uploads, 201 -> event.accepted at a subscriber):" \
  "p50 $(awk '$1 == "latency_p50_ms" { print $2 }' "$work/sub.out") ms," \
  "p99 $(awk '$1 == "latency_p99_ms" { print $2 }' "$work/sub.out") ms"
echo "streams ended by the server during the run: $(awk '$1 == "closed" { print $2 }' "$work/sub.out")," \
  "resume events: $(awk '$1 == "resumes" { print $2 }' "$work/sub.out")"
for f in off1 on1 off2 on2; do
  [ "$(awk '$1 == "upload_failed" { print $2 }' "$work/$f.out")" = "0" ] || { echo "uploads failed ($f)"; exit 1; }
done
