#!/usr/bin/env bash
# examples/inventory.sh - ingest the repository's S3 Inventory sample through a
# running ingestd, with a local S3 server standing in for S3
#
# 1. starts s3rver (the npm package the tests use: tests/s3rver, installed with
#    `npm ci` there when missing) on 127.0.0.1:$S3RVER_PORT with the bucket
#    filemanager-inventory-test, in a temp dir;
# 2. uploads the versioned CSV sample of tests/fixtures/s3-inventory as S3
#    Inventory writes it: the data file csv_inventory.csv.gz (the key its
#    manifest names), csv/manifest.json and csv/manifest.checksum;
# 3. POST $B/api/v1/s3/inventories?wait=true with that bucket and the
#    manifest.checksum key, and prints the job;
# 4. prints the bucket's object records (all of them, then the current ones),
#    and stops s3rver.
#
# ingestd reads S3 with its own AWS_* settings, so it must be started pointed
# at this s3rver (s3rver takes any key and does not check signatures):
#   AWS_ENDPOINT_URL=http://127.0.0.1:4568 AWS_REGION=us-east-1 \
#     AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER ./dev.sh run
#
# Environment: B (default http://$INGESTD_LISTEN, else http://127.0.0.1:8080);
# TOKEN, a token of INGESTD_API_TOKENS with the write scope (sent when set);
# S3RVER_PORT (4568). Needs bash, curl and Node.js (npm) for s3rver.
# Exit status 0 when the job succeeded.
set -euo pipefail

root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
fixtures=$root/tests/fixtures/s3-inventory
B=${B:-http://${INGESTD_LISTEN:-127.0.0.1:8080}}
port=${S3RVER_PORT:-4568}
s3=http://127.0.0.1:$port
bucket=filemanager-inventory-test # the sample's bucket (its manifest's destinationBucket)
auth=()
[ -z "${TOKEN:-}" ] || auth=(-H "Authorization: Bearer $TOKEN")

die() { echo "inventory.sh: $*" >&2; exit 1; }
say() { printf '== %s\n' "$*" >&2; }

command -v node >/dev/null 2>&1 || die "Node.js is missing (apt-get install nodejs npm)"
js=$root/tests/s3rver/node_modules/s3rver/bin/s3rver.js
if [ ! -f "$js" ]; then
  say "installing s3rver (npm ci in tests/s3rver)"
  (cd "$root/tests/s3rver" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
curl -s -o /dev/null "$B/healthz" || die "no ingestd answers at $B (start it as this script's header says)"
! curl -s -o /dev/null "$s3/" || die "port $port is taken (S3RVER_PORT=another port, and ingestd's AWS_ENDPOINT_URL with it)"

# 1. s3rver, stopped when this script ends
tmp=$(mktemp -d)
s3pid=
cleanup() {
  [ -z "$s3pid" ] || { kill "$s3pid" 2>/dev/null || true; wait "$s3pid" 2>/dev/null || true; }
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/data"
say "s3rver on $s3 (bucket $bucket)"
NODE_OPTIONS=--openssl-legacy-provider node "$js" --directory "$tmp/data" --address 127.0.0.1 \
  --port "$port" --silent --configure-bucket "$bucket" >"$tmp/s3rver.log" 2>&1 &
s3pid=$!
for _ in $(seq 150); do
  curl -s -o /dev/null "$s3/$bucket" && break
  kill -0 "$s3pid" 2>/dev/null || die "s3rver exited: $(tail -n 5 "$tmp/s3rver.log")"
  sleep 0.2
done
curl -s -o /dev/null "$s3/$bucket" || die "s3rver did not start within 30 s"

# 2. the sample, as S3 Inventory writes it
put() { # put FILE KEY: upload, then wait until it reads back whole (s3rver answers
  #   a PUT before its file is closed)
  local file=$1 key=$2 size got
  size=$(wc -c <"$file")
  curl -sf -X PUT --data-binary @"$file" "$s3/$bucket/$key" >/dev/null || die "PUT $key failed"
  for _ in $(seq 50); do
    got=$(curl -s -o /dev/null -w '%{size_download}' "$s3/$bucket/$key")
    [ "$got" = "$size" ] && { say "uploaded s3://$bucket/$key ($size bytes)"; return 0; }
    sleep 0.1
  done
  die "s3://$bucket/$key reads back $got bytes, not $size"
}
put "$fixtures/csv_inventory.csv.gz" csv_inventory.csv.gz
put "$fixtures/csv_inventory_manifest.json" csv/manifest.json
put "$fixtures/csv_inventory_manifest.checksum" csv/manifest.checksum

# 3. the job
body="{\"bucket\":\"$bucket\",\"key\":\"csv/manifest.checksum\"}"
say "POST $B/api/v1/s3/inventories?wait=true $body"
job=$(curl -s "${auth[@]}" -H 'Content-Type: application/json' -d "$body" \
  -w '\n%{http_code}' "$B/api/v1/s3/inventories?wait=true")
code=${job##*$'\n'}
job=${job%$'\n'*}
echo "$job"
if [ "$code" != 200 ]; then
  [ "$code" != 502 ] || say "ingestd could not read S3: was it started with AWS_ENDPOINT_URL=$s3 ?"
  die "the inventory job answered $code"
fi

# 4. what it made: every record, then the current ones
say "GET $B/api/v1/s3/objects?bucket=$bucket&currentState=false"
curl -s "${auth[@]}" "$B/api/v1/s3/objects?bucket=$bucket&currentState=false" |
  sed 's/},{"s3ObjectId"/},\n{"s3ObjectId"/g'
echo
say "GET $B/api/v1/s3/objects?bucket=$bucket (current)"
curl -s "${auth[@]}" "$B/api/v1/s3/objects?bucket=$bucket" | sed 's/},{"s3ObjectId"/},\n{"s3ObjectId"/g'
echo
