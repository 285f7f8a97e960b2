#!/usr/bin/env bash
# bench/replicas.sh - throughput of 1, 2 and 3 replicas on one PostgreSQL, side by side
#
#   bash bench/replicas.sh BUILD_DIR [SECONDS] [COUNTS]   (defaults: 60 s a run, "1 2 3")
#
# Runs tests/reliability/soak.sh with THROUGHPUT=1 once per replica count, one run after
# the other on a fresh database each: the soak's mixed load (UPLOADERS, default 6, event
# uploaders; GETs of repos.csv; S3 event batches and object lists; a merge
# every 3 s, an inventory job every 30 s, an import file every 2 s) with the same clients
# each time, spread over the replicas, sending their next request as soon as the last one
# is answered; the uploads, repos.csv GETs, S3 batches and lists come from one wrk process per
# replica (CLIENT=wrk, tests/reliability/mix.lua; CLIENT=bash for the soak's bash clients).
# Every run must keep the soak's invariants (0 5xx, nothing lost; the RSS and
# fd flatness checks need runs of 120 s or more). Prints requests/s and uploads/s per
# replica count with the ratio to the first count, and the CPU seconds the replicas,
# PostgreSQL, s3rver and the load generator (wrk, and bash + curl for the periodic clients) used in each run, and per
# answered request the CPU milliseconds of the server side (replicas + PostgreSQL) and of
# the clients, which tell where the time went. Exits non-zero when a run broke an invariant.
set -euo pipefail
{ # one compound command: bash reads it whole, so the file may be edited while it runs
cd "$(dirname "$0")/.."
BUILD=${1:?usage: bench/replicas.sh BUILD_DIR [SECONDS] [COUNTS]}
SECONDS_EACH=${2:-60}
COUNTS=${3:-1 2 3}
export UPLOADERS=${UPLOADERS:-6}
export CLIENT=${CLIENT:-wrk} # CLIENT=bash: the soak's bash + curl clients (10x the server's CPU)
if [ "$CLIENT" = wrk ] && ! command -v wrk >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
fi
out=$(mktemp -d /tmp/ingestd-replicas.XXXXXX)
trap 'rm -rf "$out"' EXIT

status=0
for n in $COUNTS; do
  echo "== $n replica(s), $SECONDS_EACH s"
  rc=0
  REPLICAS=$n THROUGHPUT=1 tests/reliability/soak.sh "$BUILD" "$SECONDS_EACH" >"$out/run-$n" 2>&1 || rc=$?
  grep -E '^(RATE|throughput|CPU|== soak)|FAILED' "$out/run-$n" || true
  [ "$rc" = 0 ] || { status=1; echo "   (run with $n replicas broke an invariant: table above)"; grep '^|' "$out/run-$n"; }
  grep '^RATE' "$out/run-$n" | sed "s/\$/ ok=$((rc == 0))/" >>"$out/rates"
done

echo
echo "Replicas on one PostgreSQL, $SECONDS_EACH s each, $UPLOADERS uploaders + reader + S3 client" \
  "(throughput mode), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg):"
awk '
  { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[NR, kv[1]] = kv[2] } }
  END {
    printf "| %-8s | %-14s | %-13s | %-33s | %-30s | %-10s |\n", "replicas", "requests/s", "uploads/s",
      "CPU s: replicas/PG/s3rver/clients", "CPU ms/request: server/clients", "invariants"
    printf "| %-8s | %-14s | %-13s | %-33s | %-30s | %-10s |\n", "---", "---", "---", "---", "---", "---"
    for (r = 1; r <= NR; r++) {
      q = v[r, "requests_per_s"]; u = v[r, "uploads_per_s"]
      n = v[r, "answered"]
      printf "| %-8s | %6.1f (%4.2fx) | %6.1f (%4.2fx) | %33s | %30s | %-10s |\n", v[r, "replicas"],
        q, q / v[1, "requests_per_s"], u, u / v[1, "uploads_per_s"],
        sprintf("%.1f / %.1f / %.1f / %.1f", v[r, "cpu_replicas"], v[r, "cpu_postgres"],
          v[r, "cpu_s3rver"], v[r, "cpu_clients"]),
        sprintf("%.1f / %.1f", 1000 * (v[r, "cpu_replicas"] + v[r, "cpu_postgres"]) / n,
          1000 * v[r, "cpu_clients"] / n), v[r, "ok"] ? "hold" : "BROKEN"
    }
  }' "$out/rates"
exit "$status"
}
