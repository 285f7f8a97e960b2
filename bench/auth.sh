#!/usr/bin/env bash
# bench/auth.sh - the cost of the token check alone
#
#   bash bench/auth.sh [TOKENS] [CHECKS]        (defaults: 16 2000000)
#
# Builds bench/auth_cost.c with server/auth.c and prints nanoseconds per
# check (Bearer and Basic, 1 and 2 threads). bench/merge.sh gives the
# end-to-end figures with auth off and on side by side; their run-to-run
# noise is larger than this cost, which this benchmark isolates.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build-bench
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -I. -o build-bench/auth_cost bench/auth_cost.c \
  server/auth.c core/buf.c core/err.c core/hex.c -lcrypto -lpthread
./build-bench/auth_cost "${1:-16}" "${2:-2000000}"
