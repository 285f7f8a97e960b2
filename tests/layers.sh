#!/usr/bin/env bash
# layers.sh [ROOT] - fail on any #include that goes up the house's ranks
#
#   core(0) < codec(1) < storage(2), clients(2) < jobs(3) < handlers(4) < server(5)
#
# A file includes its own folder and lower ranks only, root-relative
# ("core/err.h"); storage/ and clients/ do not include each other; no product
# include climbs with "..". Prints every offending file:line and exits 1.
# `layers.sh --self-test` copies the tree, plants one upward, one sideways and
# one ".." include, and checks that each is caught (so the check can fail).
set -euo pipefail

declare -A RANK=([core]=0 [codec]=1 [storage]=2 [clients]=2 [jobs]=3 [handlers]=4 [server]=5)

check() { # check ROOT -> number of violations on stdout, messages on stderr
  local root=$1 bad=0 f dir line num target tdir
  for dir in "${!RANK[@]}"; do
    [ -d "$root/$dir" ] || continue
    for f in "$root/$dir"/*.[ch]; do
      [ -e "$f" ] || continue
      while IFS=: read -r num line; do
        target=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/' <<<"$line")
        if [[ $target == *..* ]]; then
          echo "${f#"$root"/}:$num: relative include \"$target\" (write it root-relative)" >&2
          bad=$((bad + 1))
          continue
        fi
        tdir=${target%%/*}
        [ "$tdir" != "$target" ] || continue # same-folder include without a folder
        [ -n "${RANK[$tdir]+x}" ] || continue
        if [ "${RANK[$tdir]}" -gt "${RANK[$dir]}" ] ||
          { [ "${RANK[$tdir]}" -eq "${RANK[$dir]}" ] && [ "$tdir" != "$dir" ]; }; then
          echo "${f#"$root"/}:$num: $dir/ (rank ${RANK[$dir]}) includes $target (rank ${RANK[$tdir]})" >&2
          bad=$((bad + 1))
        fi
      done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' "$f" || true)
    done
  done
  echo "$bad"
}

self_test() {
  local src=$1 tmp n
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  for d in "${!RANK[@]}"; do [ -d "$src/$d" ] && cp -r "$src/$d" "$tmp/"; done
  n=$(check "$tmp" 2>/dev/null)
  [ "$n" -eq 0 ] || { echo "self-test: the tree is not clean ($n)" >&2; return 1; }
  echo '#include "server/http.h"' >>"$tmp/storage/db.c"
  echo '#include "clients/s3_client.h"' >>"$tmp/storage/db.h"
  echo '#include "../handlers/app.h"' >>"$tmp/jobs/workers.c"
  n=$(check "$tmp" 2>/dev/null)
  if [ "$n" -ne 3 ]; then
    echo "self-test: planted 3 violations, the check found $n" >&2
    return 1
  fi
  echo "self-test: 3 planted violations caught"
}

# The image builds from the same folders: the Dockerfile copies each of them.
check_dockerfile() { # check_dockerfile ROOT -> number of folders missing, names on stderr
  local root=$1 bad=0 dir
  [ -f "$root/Dockerfile" ] || { echo 0; return; }
  for dir in "${!RANK[@]}"; do
    if ! grep -qE "^COPY $dir $dir\$" "$root/Dockerfile"; then
      echo "Dockerfile: no \"COPY $dir $dir\" (the image would not build)" >&2
      bad=$((bad + 1))
    fi
  done
  echo "$bad"
}

if [ "${1:-}" = --self-test ]; then
  self_test "${2:-$(dirname "$0")/..}"
  exit
fi
n=$(check "${1:-$(dirname "$0")/..}")
n=$((n + $(check_dockerfile "${1:-$(dirname "$0")/..}")))
if [ "$n" -ne 0 ]; then
  echo "layers: $n problem(s): includes against the ranks or folders missing from the Dockerfile" >&2
  exit 1
fi
echo "layers: every include goes down the ranks; the Dockerfile copies every folder"
