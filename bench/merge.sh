#!/usr/bin/env bash
# bench/merge.sh - the effective repos.csv benchmark (issue targets in brackets)
#
#   bash bench/merge.sh [REPOS] [EVENTS]        (defaults: 100000 10000)
#   bash bench/merge.sh curve [REPOS...] [-e E1,E2,...]
#                          (defaults: 100000 1000000 5000000, -e 10,10000)
#
# curve: one ingestd on a private embedded PostgreSQL; for each REPOS, PUT
# an effective file of REPOS rows and GET it once (the full render), then
# for each E: upload E events of 10 rows, time POST /api/v1/merges, the
# first GET after it (the new generation, built from the previous one's
# blocks) and the best of three cached GETs, and print their ratio
#   [merge of 10 events into 1 M rows <= 50 ms; GET after merge <= 2 x cached]
# The default mode, below, is the throughput benchmark:
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
# All of it twice, one run after the other on a fresh database each: auth off
# (no tokens) and auth on (INGESTD_API_TOKENS set, every request with a
# Bearer token), printed side by side with their ratio  [on/off >= 0.95].
# The merge baseline is the bash pipeline ingestd replaces (~130 s for this
# work, as measured on the same machine class; it is not re-run here).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BENCH_BUILD_DIR:-$PWD/build-bench} # where ingestd (Release) and loadgen are built
MODE=default
CURVE_REPOS=()
CURVE_EVENTS=10,10000
if [ "${1:-}" = curve ]; then
  MODE=curve
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      -e) CURVE_EVENTS=$2; shift 2 ;;
      *) CURVE_REPOS+=("$1"); shift ;;
    esac
  done
  [ ${#CURVE_REPOS[@]} -gt 0 ] || CURVE_REPOS=(100000 1000000 5000000)
fi
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

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DINGESTD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o "$BUILD"/loadgen bench/loadgen.c -lcurl

work=$(mktemp -d /tmp/ingestd-bench.XXXXXX)
chmod 711 "$work"
cleanup() {
  [ -n "${ingestd_pid:-}" ] && kill "$ingestd_pid" 2>/dev/null && wait "$ingestd_pid" 2>/dev/null || true
  [ -n "${nginx_pid:-}" ] && kill "$nginx_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# curve mode: one ingestd, limits raised for files of millions of rows
if [ "$MODE" = curve ]; then
  INGESTD_DATA_DIR="$work/data-curve" INGESTD_LISTEN=127.0.0.1:0 INGESTD_DB_POOL="$POOL" \
    INGESTD_MAX_BODY_BYTES=$((4 << 30)) INGESTD_MAX_ROWS=100000000 \
    "$BUILD"/ingestd serve 2>"$work/ingestd-curve.log" &
  ingestd_pid=$!
  port=""
  for _ in $(seq 1 600); do
    port=$(grep -o '"msg":"listening".*"port":[0-9]*' "$work/ingestd-curve.log" 2>/dev/null | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "ingestd did not start"; cat "$work/ingestd-curve.log"; exit 1; }
  for r in "${CURVE_REPOS[@]}"; do
    "$BUILD"/loadgen "http://127.0.0.1:$port" "$r" "$CURVE_EVENTS" "$CLIENTS" curve
  done
  grep '"msg":"repos.csv rendered"' "$work/ingestd-curve.log" |
    sed 's/.*"generation":\([0-9]*\).*"blocks":\([0-9]*\),"blocks_rendered":\([0-9]*\),"duration_ms":\([0-9]*\).*/  generation \1: rendered \3 of \2 blocks in \4 ms/'
  exit 0
fi

mbps() { # wrk output -> MB/s (10^6 bytes)
  awk '/^Transfer\/sec/ { v = $2; u = substr(v, length(v) - 1); n = v + 0;
        if (u == "GB") n *= 1024; else if (u == "KB") n /= 1024;
        printf "%.0f", n * 1048576 / 1e6 }'
}

# One run on a fresh embedded PostgreSQL: run_once MODE (off: no tokens; on: a token set
# of 3 entries, every request with Authorization: Bearer). Leaves $work/MODE.out.
run_once() {
  local mode=$1 out=$work/$1.out auth_env=() hdr=() port="" pid
  if [ "$mode" = on ]; then
    auth_env=(INGESTD_API_TOKENS="read:bench-read-tok,write:bench-write-tok,admin:bench-admin-tok")
    export INGESTD_TOKEN=bench-admin-tok
    hdr=(-H "Authorization: Bearer bench-admin-tok")
  else
    unset INGESTD_TOKEN
  fi
  env "${auth_env[@]}" INGESTD_DATA_DIR="$work/data-$mode" INGESTD_LISTEN=127.0.0.1:0 \
    INGESTD_DB_POOL="$POOL" "$BUILD"/ingestd serve 2>"$work/ingestd-$mode.log" &
  pid=$!
  ingestd_pid=$pid
  for _ in $(seq 1 600); do
    port=$(grep -o '"msg":"listening".*"port":[0-9]*' "$work/ingestd-$mode.log" 2>/dev/null | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "ingestd did not start"; cat "$work/ingestd-$mode.log"; exit 1; }
  base=http://127.0.0.1:$port
  "$BUILD"/loadgen "$base" "$REPOS" "$EVENTS" "$CLIENTS" "$work/repos.csv" 2>/dev/null >"$out"
  wrk -t2 -c8 -d"${WRK_SECONDS}s" "${hdr[@]}" "$base/api/v1/repos.csv" >"$work/wrk-$mode.txt"
  echo "get_mbps $(mbps <"$work/wrk-$mode.txt") MB/s" >>"$out"
  wrk -t2 -c8 -d"${WRK_SECONDS}s" "${hdr[@]}" -H 'Accept-Encoding: gzip' "$base/api/v1/repos.csv" \
    >"$work/wrk-$mode-gz.txt"
  echo "get_gz_mbps $(mbps <"$work/wrk-$mode-gz.txt") MB/s" >>"$out"
  echo "get_gz_rps $(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$work/wrk-$mode-gz.txt") req/s" >>"$out"
  echo "rss_kb $(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status") kB" >>"$out"
  kill "$pid" && wait "$pid" 2>/dev/null || true
  ingestd_pid=""
  [ "$(awk '$1 == "upload_failed" { print $2 }' "$out")" = "0" ] || { echo "some uploads failed ($mode)"; exit 1; }
}
# auth off, then on: the same work on the same machine, one after the other
run_once off
run_once on
val() { awk -v k="$2" '$1 == k { print $2 }' "$work/$1.out"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }

# baseline: nginx serving the same bytes from a file
mkdir -p "$work/www" && cp "$work/repos.csv" "$work/www/repos.csv"
nport=$(( (RANDOM % 20000) + 30000 ))
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

printf '\n%-36s %14s %14s %9s %20s\n' "figure" "auth off" "auth on" "on/off" "baseline / target"
row() { # row LABEL KEY UNIT BASELINE
  printf '%-36s %14s %14s %9s %20s\n' "$1" "$(val off "$2") $3" "$(val on "$2") $3" \
    "$(ratio "$(val on "$2")" "$(val off "$2")")" "$4"
}
row "PUT repos.csv ($REPOS rows)" put_seconds s "-"
row "uploads ($CLIENTS clients, durable)" upload_rate ev/s "target >= 3000"
row "merge ($EVENTS events x 10 rows)" merge_seconds s "bash ~130 s; <= 1.0"
row "first GET after merge (render)" first_get_seconds s "-"
row "GET repos.csv keep-alive" get_mbps MB/s "nginx $get_nginx MB/s"
row "GET repos.csv gzip keep-alive" get_gz_mbps MB/s "-"
row "GET repos.csv gzip requests" get_gz_rps req/s "-"
row "repos.csv size" repos_csv_bytes B "-"
printf '%-36s %14s %14s\n' "ingestd peak RSS" "$(( $(val off rss_kb) / 1024 )) MiB" "$(( $(val on rss_kb) / 1024 )) MiB"
echo "auth on/off: uploads and GETs target >= 0.95 (each run is noisy: compare several runs)"
