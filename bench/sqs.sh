#!/usr/bin/env bash
# bench/sqs.sh - the SQS consumer's throughput against POSTs of the same batches
#
#   bash bench/sqs.sh [MESSAGES]         (default 5000; needs `npm ci` in tests/sqs)
#
# Builds ingestd (Release), starts fauxqs (tests/sqs/server.mjs) on 127.0.0.1 and fills one
# queue with MESSAGES S3 notifications (one record each, distinct keys), then starts ingestd
# on a private embedded PostgreSQL (durable commits) consuming that queue
# (INGESTD_SQS_QUEUES, AWS_ENDPOINT_URL_SQS) and times how long it takes until GET
# /api/v1/sqs counts every message deleted: receive (10 a call), decode, one transaction
# per batch, DeleteMessageBatch, one batch at a time. Baseline in the same run: the same
# number of notifications POSTed to /api/v1/s3/events as SQS receive results of 10
# messages, one request at a time on the same server (the same decode and transaction,
# without SQS's two round trips).
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-5000}

[ -f tests/sqs/node_modules/fauxqs/package.json ] || { echo "run npm ci in tests/sqs first"; exit 2; }
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DINGESTD_TESTS=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" --target ingestd >/dev/null

work=$(mktemp -d /tmp/ingestd-sqsbench.XXXXXX)
chmod 711 "$work"
cleanup() {
  [ -n "${ingestd_pid:-}" ] && kill "$ingestd_pid" 2>/dev/null && wait "$ingestd_pid" 2>/dev/null || true
  [ -n "${sqs_pid:-}" ] && kill "$sqs_pid" 2>/dev/null && wait "$sqs_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkfifo "$work/sqs.in"
node tests/sqs/server.mjs <"$work/sqs.in" >"$work/sqs.out" 2>"$work/sqs.log" &
sqs_pid=$!
exec 3>"$work/sqs.in" # the server stops when this closes
for _ in $(seq 1 300); do
  sqs_port=$(sed -n 's/^sqs listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/sqs.out")
  [ -n "$sqs_port" ] && break
  sleep 0.1
done
[ -n "$sqs_port" ] || { echo "fauxqs did not start"; cat "$work/sqs.log"; exit 1; }
sqs=http://127.0.0.1:$sqs_port

t0=$(date +%s.%N)
queue_url=$(node bench/sqs_fill.mjs queue "$sqs" bench "$MESSAGES")
fill_s=$(echo "$(date +%s.%N) - $t0" | bc)

INGESTD_DATA_DIR=$work/data INGESTD_LISTEN=127.0.0.1:0 INGESTD_SQS_QUEUES=$queue_url \
  AWS_ENDPOINT_URL_SQS=$sqs AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=bench \
  ./build-bench/ingestd serve 2>"$work/ingestd.log" &
ingestd_pid=$!
for _ in $(seq 1 600); do
  port=$(grep -o '"msg":"listening".*"port":[0-9]*' "$work/ingestd.log" 2>/dev/null | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "ingestd did not start"; cat "$work/ingestd.log"; exit 1; }
base=http://127.0.0.1:$port
t0=$(date +%s.%N)
deleted=0
for _ in $(seq 1 6000); do
  deleted=$(curl -s "$base/api/v1/sqs" | grep -o '"deleted": *[0-9]*' | grep -o '[0-9]*$' || echo 0)
  [ "$deleted" -ge "$MESSAGES" ] && break
  sleep 0.05
done
consume_s=$(echo "$(date +%s.%N) - $t0" | bc)
status=$(curl -s "$base/api/v1/sqs")
[ "$deleted" -ge "$MESSAGES" ] || { echo "only $deleted of $MESSAGES deleted: $status"; exit 1; }
post_s=$(node bench/sqs_fill.mjs post "$base" "$MESSAGES" | awk '{ print $2 }')
current=$(curl -s "$base/api/v1/s3/objects/count?bucket=sqs-bench" | grep -o '[0-9]*')

rate() { echo "scale=0; $MESSAGES / $1" | bc; }
printf '\n%-52s %14s %16s\n' "figure" "seconds" "messages/s"
printf '%-52s %14s %16s\n' "fill the queue ($MESSAGES messages, SendMessageBatch)" "$fill_s" "$(rate "$fill_s")"
printf '%-52s %14s %16s\n' "consume: received, committed, deleted" "$consume_s" "$(rate "$consume_s")"
printf '%-52s %14s %16s\n' "baseline: POST the same as 10-message bodies" "$post_s" "$(rate "$post_s")"
printf '%-52s %14s\n' "current records of the consumed bucket" "$current"
echo "status: $status"
