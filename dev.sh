#!/usr/bin/env bash
# dev.sh - the two commands of the README
#
#   ./dev.sh run    install what is missing, build the server (only), serve on
#                   127.0.0.1:8080 (INGESTD_LISTEN=address:port to change it)
#                   with the embedded PostgreSQL under ./var (INGESTD_DATA_DIR)
#   ./dev.sh test   install what is missing (also chromium and prometheus, for the browser and
#                   metrics tests), build (-Werror), check formatting, lint the OpenAPI
#                   document, install s3rver, fauxqs (SQS) and the Parquet writers of
#                   test_parquet (npm), run the whole suite (the
#                   tests start their own PostgreSQL, s3rver and headless
#                   Chromium), then build and run it again under ASan + UBSan
#
# Works on a fresh Debian 12 as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(build-essential cmake pkg-config git curl ca-certificates
  libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libpq-dev zlib1g-dev uuid-dev
  libssl-dev libcmocka-dev libyaml-dev libsnappy-dev libzstd-dev libisal-dev libgit2-dev postgresql-15 clang-format acl
  jq)

log() { printf '== %s\n' "$*" >&2; }

install_deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # Node.js (OpenAPI linter, s3rver) may come from elsewhere than Debian: probe the commands
  if [ "${1:-}" = test ]; then
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    # headless browser of tests/integration/test_status_page.c (CHROMIUM=path overrides)
    [ -n "${CHROMIUM:-}" ] || dpkg-query -W -f='${Status}' chromium 2>/dev/null |
      grep -q "install ok installed" || missing+=(chromium)
    # promtool and a real Prometheus for tests/integration/test_prometheus.c
    dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -q "install ok installed" ||
      missing+=(prometheus)
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# As root, the embedded PostgreSQL runs as user postgres, which must be able to
# reach the data directory. A checkout under a private home (/root is 0700)
# is not reachable: grant postgres traverse-only access (an ACL entry, no
# read) on each directory on the way that it cannot pass.
pg_reach() {
  [ "$(id -u)" -eq 0 ] || return 0
  local dir d path=""
  dir=$(realpath -m "${INGESTD_DATA_DIR:-./var}")
  mkdir -p "$dir"
  IFS=/ read -r -a parts <<<"${dir#/}"
  for d in "${parts[@]}"; do
    path="$path/$d"
    if ! runuser -u postgres -- test -x "$path" 2>/dev/null; then
      log "granting user postgres traverse access to $path (setfacl -m u:postgres:x)"
      setfacl -m u:postgres:x "$path"
    fi
  done
}

build() { # build DIR [cmake options...]
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINGESTD_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)"
}

build_server() { # the ingestd binary alone: no tests, no benchmarks
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINGESTD_WERROR=ON >/dev/null
  cmake --build build -j"$(nproc)" --target ingestd
}

check_format() {
  log "clang-format check"
  local files
  files=$(git ls-files '*.c' '*.h' 2>/dev/null || find core codec storage clients jobs handlers server tests bench -name '*.[ch]')
  # shellcheck disable=SC2086
  clang-format --dry-run --Werror $files
}

s3rver_install() {
  log "s3rver (npm) for the S3 integration tests"
  (cd tests/s3rver && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

sqs_server_install() {
  log "fauxqs (npm), the SQS server of the SQS consumer tests"
  (cd tests/sqs && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

parquet_writers_install() {
  log "Parquet writers (npm: DuckDB, parquet-wasm) for test_parquet"
  (cd tests/parquet && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

deploy_tools_install() {
  log "Kubernetes schemas (npm) for the manifest check"
  (cd tests/deploy && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

lint_openapi() {
  log "openapi lint"
  (cd openapi && npm ci --no-audit --no-fund --loglevel=error >/dev/null && npx --no-install redocly lint openapi.yaml)
}

run_tests() { # run_tests DIR
  log "ctest in $1"
  ctest --test-dir "$1" --output-on-failure -j2 --timeout 900
}

cmd=${1:-}
case "$cmd" in
run)
  install_deps
  build_server
  pg_reach
  log "serving on http://${INGESTD_LISTEN:-127.0.0.1:8080} (embedded PostgreSQL in ${INGESTD_DATA_DIR:-./var})"
  exec ./build/ingestd serve
  ;;
test)
  install_deps test
  check_format
  lint_openapi
  s3rver_install
  sqs_server_install
  parquet_writers_install
  deploy_tools_install
  build build
  run_tests build
  log "sanitizers: ASan + UBSan"
  build build-asan -DINGESTD_SANITIZE=ON
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_tests build-asan
  log "all tests passed"
  ;;
*)
  cat >&2 <<EOF
usage: $0 run | test
  run   install what is missing, build ingestd, serve on http://127.0.0.1:8080
        (INGESTD_LISTEN=address:port to use another port; INGESTD_DATA_DIR=./var)
  test  install what is missing, build, run the whole test suite (plain and ASan+UBSan)
EOF
  exit 2
  ;;
esac
