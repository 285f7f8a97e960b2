#!/usr/bin/env bash
# bench/merge.sh - the effective repos.csv benchmark (issue targets in brackets)
#
#   bash bench/merge.sh [REPOS] [EVENTS]        (defaults: 100000 10000)
#
# Builds ingestd (Release) and bench/loadgen, starts ingestd on a private
# embedded PostgreSQL (durable commits: fsync and synchronous_commit on), then:
#   - PUT an effective repos.csv of REPOS repositories;
#   - uploads EVENTS repos-lock.csv events of 10 rows from 16 concurrent
#     keep-alive clients                                        [>= 3,000 events/s]
#   - times POST /api/v1/merges                                  [<= 1.0 s]
#   - measures GET /api/v1/repos.csv on keep-alive with wrk     [>= 2,000 MB/s]
#     side by side with nginx serving the same bytes from a file (baseline);
#   - reports ingestd's peak RSS.
# The merge baseline is the bash pipeline ingestd replaces (~130 s for this
# work, as measured on the same machine class; it is not re-run here).
set -euo pipefail
cd "$(dirname "$0")/.."
REPOS=${1:-100000}
EVENTS=${2:-10000}
CLIENTS=16
POOL=${INGESTD_DB_POOL:-8}
WRK_SECONDS=${WRK_SECONDS:-10}

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk nginx-light >/dev/null
fi

cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DINGESTD_TESTS=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o build-bench/loadgen bench/loadgen.c -lcurl

work=$(mktemp -d /tmp/ingestd-bench.XXXXXX)
chmod 711 "$work"
cleanup() {
  [ -n "${ingestd_pid:-}" ] && kill "$ingestd_pid" 2>/dev/null && wait "$ingestd_pid" 2>/dev/null || true
  [ -n "${nginx_pid:-}" ] && kill "$nginx_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

INGESTD_DATA_DIR=$work/data INGESTD_LISTEN=127.0.0.1:0 INGESTD_DB_POOL=$POOL \
  ./build-bench/ingestd serve 2>"$work/ingestd.log" &
ingestd_pid=$!
for _ in $(seq 1 600); do
  port=$(grep -o '"msg":"listening".*"port":[0-9]*' "$work/ingestd.log" 2>/dev/null | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "ingestd did not start"; cat "$work/ingestd.log"; exit 1; }
base=http://127.0.0.1:$port

./build-bench/loadgen "$base" "$REPOS" "$EVENTS" "$CLIENTS" "$work/repos.csv" 2>/dev/null | tee "$work/loadgen.out"
val() { awk -v k="$1" '$1 == k { print $2 }' "$work/loadgen.out"; }

mbps() { # wrk output -> MB/s (10^6 bytes)
  awk '/^Transfer\/sec/ { v = $2; u = substr(v, length(v) - 1); n = v + 0;
        if (u == "GB") n *= 1024; else if (u == "KB") n /= 1024;
        printf "%.0f", n * 1048576 / 1e6 }'
}
wrk -t2 -c8 -d"${WRK_SECONDS}s" "$base/api/v1/repos.csv" >"$work/wrk-ingestd.txt"
get_ingestd=$(mbps <"$work/wrk-ingestd.txt")
wrk -t2 -c8 -d"${WRK_SECONDS}s" -H 'Accept-Encoding: gzip' "$base/api/v1/repos.csv" >"$work/wrk-ingestd-gz.txt"
get_ingestd_gz=$(mbps <"$work/wrk-ingestd-gz.txt")
rps_gz=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$work/wrk-ingestd-gz.txt")

# baseline: nginx serving the same bytes from a file
mkdir -p "$work/www" && cp "$work/repos.csv" "$work/www/repos.csv"
nport=$((port + 1))
cat >"$work/nginx.conf" <<NGINX
daemon off; worker_processes 2; pid $work/nginx.pid; error_log $work/nginx-error.log;
events { worker_connections 256; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work;
  uwsgi_temp_path $work; scgi_temp_path $work;
  server { listen 127.0.0.1:$nport; root $work/www; } }
NGINX
nginx -c "$work/nginx.conf" &
nginx_pid=$!
sleep 0.5
wrk -t2 -c8 -d"${WRK_SECONDS}s" "http://127.0.0.1:$nport/repos.csv" >"$work/wrk-nginx.txt"
get_nginx=$(mbps <"$work/wrk-nginx.txt")

rss_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$ingestd_pid/status")

printf '\n%-38s %14s %22s\n' "figure" "ingestd" "baseline / target"
printf '%-38s %14s %22s\n' "PUT repos.csv ($REPOS rows)" "$(val put_seconds) s" "-"
printf '%-38s %14s %22s\n' "uploads ($CLIENTS clients, durable)" "$(val upload_rate) ev/s" "target >= 3000"
printf '%-38s %14s %22s\n' "merge ($EVENTS events x 10 rows)" "$(val merge_seconds) s" "bash ~130 s; <= 1.0"
printf '%-38s %14s %22s\n' "first GET after merge (render)" "$(val first_get_seconds) s" "-"
printf '%-38s %14s %22s\n' "GET repos.csv keep-alive" "$get_ingestd MB/s" "nginx $get_nginx MB/s"
printf '%-38s %14s %22s\n' "GET repos.csv gzip keep-alive" "$get_ingestd_gz MB/s" "$rps_gz req/s"
printf '%-38s %14s %22s\n' "repos.csv size" "$(val repos_csv_bytes) B" "-"
printf '%-38s %14s %22s\n' "ingestd peak RSS" "$((rss_kb / 1024)) MiB" "-"
[ "$(val upload_failed)" = "0" ] || { echo "some uploads failed"; exit 1; }
