#!/usr/bin/env bash
# bench/webhooks.sh - what webhooks cost a merge, and how soon a change reaches a receiver
#
#   bash bench/webhooks.sh [MERGES]        (default: 200)
#
# Builds ingestd (Release; INGESTD_BIN=path uses that binary instead), starts it
# on a private embedded PostgreSQL (durable commits) twice, one run after the
# other on a fresh database each: without webhooks, and with INGESTD_WEBHOOK_URLS
# pointing at a receiver on loopback (python3, answering 200 at once). Each run
# uploads one small event and merges it, MERGES times, one after the other, and
# reports the merge's time as the client sees it and its duration_ms (the
# server's, which includes journaling the change) (p50, p99). With webhooks it
# also reports, per change, the time from the change's `time` (written inside
# the merge's transaction, just before COMMIT) to the receiver holding the POST
# (p50, p99, max), and checks that every change arrived exactly once.
set -euo pipefail
cd "$(dirname "$0")/.."
MERGES=${1:-200}

if [ -z "${INGESTD_BIN:-}" ]; then
  cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DINGESTD_TESTS=OFF >/dev/null
  cmake --build build-bench -j"$(nproc)" --target ingestd >/dev/null
  INGESTD_BIN=build-bench/ingestd
fi

work=$(mktemp -d /tmp/ingestd-bench.XXXXXX)
chmod 711 "$work"
cleanup() {
  [ -n "${ingestd_pid:-}" ] && kill "$ingestd_pid" 2>/dev/null && wait "$ingestd_pid" 2>/dev/null || true
  [ -n "${recv_pid:-}" ] && kill "$recv_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The receiver: one line per POST, "<webhook-id> <arrival ms> <event time ms>".
cat >"$work/recv.py" <<'EOF'
import datetime, http.server, json, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length']))
        now = time.time() * 1000
        ev = json.loads(body)
        t = datetime.datetime.strptime(ev['time'], '%Y-%m-%dT%H:%M:%S.%fZ')
        t = t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000
        self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()
        print(self.headers['webhook-id'], round(now), round(t), flush=True)
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF

pct() { # stdin: numbers; $1: percentile -> value
  sort -n | awk -v p="$1" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print v[i] }'
}

# run_once MODE (off | on): merges timed into $work/MODE.ms
run_once() {
  local mode=$1 env=() port="" i t0 t1
  if [ "$mode" = on ]; then
    python3 "$work/recv.py" >"$work/recv.out" &
    recv_pid=$!
    for _ in $(seq 1 100); do [ -s "$work/recv.out" ] && break; sleep 0.05; done
    env=(INGESTD_WEBHOOK_URLS="http://127.0.0.1:$(head -1 "$work/recv.out")/hook"
      INGESTD_WEBHOOK_SECRET=bench-secret)
  fi
  env "${env[@]}" INGESTD_DATA_DIR="$work/data-$mode" INGESTD_LISTEN=127.0.0.1:0 \
    "$INGESTD_BIN" serve 2>"$work/ingestd-$mode.log" &
  ingestd_pid=$!
  for _ in $(seq 1 600); do
    port=$(grep -o '"msg":"listening".*"port":[0-9]*' "$work/ingestd-$mode.log" 2>/dev/null | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "ingestd did not start"; cat "$work/ingestd-$mode.log"; exit 1; }
  : >"$work/$mode.ms"
  : >"$work/$mode.server"
  for i in $(seq 1 "$MERGES"); do
    printf 'origin,path,branch,cloneUrl,changeset,publishUri\nhttps://a.example/r%d.git,r%d,main,u,c%d,https://p/r\n' \
      "$i" "$i" "$i" | curl -sf -H 'Content-Type: text/csv' --data-binary @- \
      "http://127.0.0.1:$port/api/v1/events" >/dev/null
    t0=$(date +%s%N)
    curl -sf -X POST "http://127.0.0.1:$port/api/v1/merges" >"$work/merge.json"
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000)) >>"$work/$mode.ms" # microseconds
    grep -o '"duration_ms":[0-9]*' "$work/merge.json" | cut -d: -f2 >>"$work/$mode.server"
  done
  kill "$ingestd_pid"
  wait "$ingestd_pid" 2>/dev/null || true
  ingestd_pid=
}

run_once off
run_once on
for _ in $(seq 1 100); do [ "$(($(wc -l <"$work/recv.out") - 1))" -ge "$MERGES" ] && break; sleep 0.1; done
kill "$recv_pid" 2>/dev/null || true
recv_pid=

tail -n +2 "$work/recv.out" >"$work/arrivals"
got=$(wc -l <"$work/arrivals")
distinct=$(cut -d' ' -f1 "$work/arrivals" | sort -u | wc -l)
awk '{ print $2 - $3 }' "$work/arrivals" >"$work/latency"
echo "merges: $MERGES, one event of 1 row each, sequential"
printf 'merge as the client sees it, webhooks off: p50 %.1f ms  p99 %.1f ms\n' \
  "$(pct 50 <"$work/off.ms")e-3" "$(pct 99 <"$work/off.ms")e-3"
printf 'merge as the client sees it, webhooks on:  p50 %.1f ms  p99 %.1f ms\n' \
  "$(pct 50 <"$work/on.ms")e-3" "$(pct 99 <"$work/on.ms")e-3"
echo "merge's own duration_ms (server side), off: p50 $(pct 50 <"$work/off.server") ms  p99 $(pct 99 <"$work/off.server") ms; on: p50 $(pct 50 <"$work/on.server") ms  p99 $(pct 99 <"$work/on.server") ms"
echo "change written -> receiver holds the POST: p50 $(pct 50 <"$work/latency") ms  p99 $(pct 99 <"$work/latency") ms  max $(pct 100 <"$work/latency") ms"
echo "deliveries received: $got, distinct webhook-ids: $distinct (want $MERGES and $MERGES)"
[ "$got" -eq "$MERGES" ] && [ "$distinct" -eq "$MERGES" ]
