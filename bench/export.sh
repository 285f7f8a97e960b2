#!/usr/bin/env bash
# bench/export.sh - time from a merge's commit to each export target holding it
#
#   bash bench/export.sh [REPOS] [MERGES]        (defaults: 100000 10)
#
# Builds ingestd (Release) and bench/exportwatch, starts s3rver (tests/s3rver)
# and ingestd on a private embedded PostgreSQL with
#   INGESTD_EXPORTS=<tmp>/out/effective-repos.csv,s3://bench/config/effective-repos.csv
# then (bench/exportwatch.c): PUTs an effective repos.csv of REPOS
# repositories, and MERGES times posts one event of 10 new rows, merges, and
# watches both targets until each holds the new generation. A target's lag
# is when it was seen changed (the file's inode, stat every millisecond; the
# object's ETag, HEAD every 10 ms) minus the merge's finished_at, written just
# before its commit. Prints each merge and the median and max per target  [< 1 s].
# INGESTD_BIN=path uses an existing binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
REPOS=${1:-100000}
MERGES=${2:-10}

if [ -z "${INGESTD_BIN:-}" ]; then
  cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DINGESTD_TESTS=OFF >/dev/null
  cmake --build build-bench -j"$(nproc)" --target ingestd >/dev/null
  INGESTD_BIN=./build-bench/ingestd
fi
mkdir -p build-bench
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o build-bench/exportwatch bench/exportwatch.c \
  -lcurl -lcrypto

js=tests/s3rver/node_modules/s3rver/bin/s3rver.js
[ -f "$js" ] || (cd tests/s3rver && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

work=$(mktemp -d /tmp/ingestd-export-bench.XXXXXX)
chmod 711 "$work"
cleanup() {
  [ -n "${ingestd_pid:-}" ] && kill "$ingestd_pid" 2>/dev/null && wait "$ingestd_pid" 2>/dev/null || true
  [ -n "${s3_pid:-}" ] && kill "$s3_pid" 2>/dev/null && wait "$s3_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

s3port=$(( 20000 + RANDOM % 20000 ))
s3=http://127.0.0.1:$s3port
mkdir "$work/s3" "$work/out"
NODE_OPTIONS=--openssl-legacy-provider node "$js" --directory "$work/s3" --address 127.0.0.1 \
  --port "$s3port" --silent --configure-bucket bench >"$work/s3rver.log" 2>&1 &
s3_pid=$!
for _ in $(seq 150); do
  curl -s -o /dev/null "$s3/bench" && break
  sleep 0.2
done

AWS_ENDPOINT_URL=$s3 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
  INGESTD_EXPORTS="$work/out/effective-repos.csv,s3://bench/config/effective-repos.csv" \
  INGESTD_DATA_DIR="$work/data" INGESTD_LISTEN=127.0.0.1:0 "$INGESTD_BIN" serve \
  2>"$work/ingestd.log" &
ingestd_pid=$!
port=""
for _ in $(seq 1 600); do
  port=$(grep -o '"msg":"listening".*"port":[0-9]*' "$work/ingestd.log" 2>/dev/null | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "ingestd did not start"; cat "$work/ingestd.log"; exit 1; }

echo "== exports: $REPOS repositories, $MERGES merges (file and s3rver targets)"
./build-bench/exportwatch "http://127.0.0.1:$port" "$work/out/effective-repos.csv" "$s3" bench \
  config/effective-repos.csv "$REPOS" "$MERGES"
echo "bytes $(wc -c <"$work/out/effective-repos.csv") per publication; load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
grep '"export published"' "$work/ingestd.log" | tail -n 2 | sed 's/^/  /'
# for scale: what rendering the same generation costs GET /api/v1/repos.csv (its first request)
grep '"repos.csv rendered"' "$work/ingestd.log" | tail -n 1 | sed 's/^/  /'
