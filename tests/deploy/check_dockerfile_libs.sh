#!/usr/bin/env bash
# check_dockerfile_libs.sh BINARY DOCKERFILE - the runtime image installs
# exactly the libraries the binary links
#
# The shared libraries BINARY names directly (its NEEDED entries, readelf -d)
# are found where the loader finds them (ldd) and mapped to their Debian
# packages (dpkg -S). The `apt-get install` of the Dockerfile's last stage
# (the runtime image) must name each of those packages, and nothing else but
# the extras below. Libraries that a listed package pulls in itself are its
# business (the image installs packages, not files), so only direct links
# count. The list comes from the binary, never from this file: a new library
# linked into ingestd fails here until the Dockerfile installs it.
#
# `--self-test BINARY DOCKERFILE` drops one needed package from a copy of the
# Dockerfile, then adds one the binary does not link, and expects both caught.
set -euo pipefail

# Installed although ingestd links neither: TLS roots for S3 and webhooks, and
# the PostgreSQL server for the embedded mode (no DATABASE_URL).
EXTRAS=(ca-certificates postgresql-15)
# In every Debian image (debian:12-slim included): may be left unlisted.
BASE=(libc6)
# Sanitizer runtimes: linked by -DINGESTD_SANITIZE=ON builds only, never by the
# image's Release build.
SANITIZER_RE='^lib(asan|ubsan|tsan|lsan|hwasan)\.so'

die() { echo "check_dockerfile_libs: $*" >&2; exit 1; }

# dpkg package owning the library file PATH (the loader's path, then its
# target, each also with /usr toggled: Debian 12 merges /lib into /usr/lib,
# and dpkg knows a file by the path its package shipped)
package_of() {
  local p=$1 c out cands=()
  cands+=("$p" "$(readlink -f "$p")")
  for c in "${cands[@]}"; do
    case "$c" in
    /usr/*) cands+=("${c#/usr}") ;;
    *) cands+=("/usr$c") ;;
    esac
  done
  for c in "${cands[@]}"; do
    out=$(dpkg -S "$c" 2>/dev/null | grep -v '^diversion' | head -1) || continue
    [ -n "$out" ] || continue
    # "libpq5:amd64: /usr/lib/..." (several packages: "a:amd64, b:amd64: path")
    out=${out%%: /*}
    out=${out%%,*}
    echo "${out%%:*}"
    return 0
  done
  return 1
}

# The packages BINARY's NEEDED libraries come from, one a line, sorted; notes on stderr.
needed_packages() {
  local bin=$1 soname path pkg
  declare -A where=()
  while read -r soname _ path _; do
    where[$soname]=$path
  done < <(ldd "$bin" | awk '$2 == "=>" { print $1, $2, $3 }')
  while read -r soname; do
    if [[ $soname =~ $SANITIZER_RE ]]; then
      echo "  $soname: sanitizer runtime, not in a Release image (skipped)" >&2
      continue
    fi
    path=${where[$soname]:-}
    [ -n "$path" ] && [ "$path" != "not" ] || die "$bin needs $soname, which the loader does not find"
    pkg=$(package_of "$path") || die "no Debian package owns $path ($soname)"
    echo "  $soname -> $path -> $pkg" >&2
    echo "$pkg"
  done < <(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
}

# The packages the last stage's `apt-get install` lines name, one a line, sorted.
runtime_packages() {
  local dockerfile=$1
  # the last stage, continuation lines joined, its RUN instructions only
  awk 'toupper($1) == "FROM" { stage = "" } { stage = stage $0 "\n" } END { printf "%s", stage }' \
    "$dockerfile" |
    sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' |
    grep -iE '^[[:space:]]*RUN[[:space:]]' |
    sed -E 's/&&|\|\||;|\|/\n/g' |
    grep -E '(^|[[:space:]])apt(-get)?[[:space:]]+([^[:space:]]+[[:space:]]+)*install([[:space:]]|$)' |
    sed -E 's/.*[[:space:]]install([[:space:]]|$)//' |
    tr -s ' \t' '\n\n' |
    grep -vE '^(-|$)|=' |
    sort -u || true
}

# check BINARY DOCKERFILE: 0 when the lists agree; each difference on stderr.
check() {
  local bin=$1 dockerfile=$2 bad=0 p
  local -a needed listed
  mapfile -t needed < <(needed_packages "$bin" | sort -u)
  mapfile -t listed < <(runtime_packages "$dockerfile")
  [ ${#needed[@]} -gt 0 ] || die "readelf found no NEEDED libraries in $bin"
  [ ${#listed[@]} -gt 0 ] || die "no apt-get install in the last stage of $dockerfile"
  for p in "${needed[@]}"; do
    in_list "$p" "${BASE[@]}" && continue
    in_list "$p" "${listed[@]}" && continue
    echo "$dockerfile: the runtime stage does not install $p, which $bin links" >&2
    bad=$((bad + 1))
  done
  for p in "${EXTRAS[@]}"; do
    in_list "$p" "${listed[@]}" && continue
    echo "$dockerfile: the runtime stage does not install $p (a declared extra)" >&2
    bad=$((bad + 1))
  done
  for p in "${listed[@]}"; do
    in_list "$p" "${needed[@]}" "${EXTRAS[@]}" && continue
    echo "$dockerfile: the runtime stage installs $p, which $bin does not link" \
      "(nor is it one of the extras: ${EXTRAS[*]})" >&2
    bad=$((bad + 1))
  done
  [ "$bad" -eq 0 ] || return 1
  echo "ok: the runtime stage installs ${listed[*]}: the packages of every library" \
    "$(basename "$bin") links (${BASE[*]} comes with the base image) and the extras ${EXTRAS[*]}"
}

in_list() { # in_list WORD LIST...
  local w=$1 x
  shift
  for x in "$@"; do [ "$x" = "$w" ] && return 0; done
  return 1
}

self_test() {
  local bin=$1 dockerfile=$2 tmp out drop unneeded needed
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  check "$bin" "$dockerfile" >/dev/null 2>&1 || { echo "self-test: $dockerfile does not pass as it is" >&2; return 1; }
  needed=$(needed_packages "$bin" 2>/dev/null)
  drop=$(grep -vxF -f <(printf '%s\n' "${BASE[@]}") <<<"$needed" | head -1)
  unneeded=$(printf '%s\n' libyaml-0-2 libxml2 libncursesw6 | grep -vxF -f <(echo "$needed") | head -1)
  # 1: a needed package missing from the runtime stage's list
  awk -v p="$drop" 'toupper($1) == "FROM" { n++ } { if (n >= 2) gsub("[[:space:]]" p "([[:space:]]|$)", " ") } 1' \
    "$dockerfile" >"$tmp/Dockerfile.missing"
  if out=$(check "$bin" "$tmp/Dockerfile.missing" 2>&1) || ! grep -q "does not install $drop," <<<"$out"; then
    echo "self-test: dropping $drop was not caught:" >&2
    echo "$out" >&2
    return 1
  fi
  # 2: a package the binary does not link
  awk -v p="$unneeded" 'toupper($1) == "FROM" { n++ } { if (n >= 2) sub("ca-certificates", "ca-certificates " p) } 1' \
    "$dockerfile" >"$tmp/Dockerfile.extra"
  if out=$(check "$bin" "$tmp/Dockerfile.extra" 2>&1) || ! grep -q "installs $unneeded, which" <<<"$out"; then
    echo "self-test: an unneeded $unneeded was not caught:" >&2
    echo "$out" >&2
    return 1
  fi
  echo "self-test: a runtime stage without $drop, and one with $unneeded added, both fail"
}

command -v readelf >/dev/null 2>&1 || die "readelf is missing (binutils)"
command -v dpkg >/dev/null 2>&1 || die "dpkg is missing (a Debian system is needed)"
if [ "${1:-}" = --self-test ]; then
  [ $# -eq 3 ] || die "usage: $0 --self-test BINARY DOCKERFILE"
  self_test "$2" "$3"
else
  [ $# -eq 2 ] || die "usage: $0 BINARY DOCKERFILE"
  check "$1" "$2"
fi
