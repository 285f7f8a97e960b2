#!/usr/bin/env bash
# check_k8s.sh ROOT - validate ROOT/deploy/kubernetes/*.yaml offline
#
# Every document against the Kubernetes API schemas (strict: unknown fields
# fail), the pod templates against the Pod Security Standards "restricted"
# profile, and the ingestd Deployment against the project's rules (replicas,
# PodDisruptionBudget, probes, resources, preStop pause within the grace
# period, writable emptyDirs under a read-only root, secrets as files).
# check_k8s.js says how; its tools come from `npm ci` in tests/deploy (done by
# `dev.sh test`), so nothing is fetched while the test runs.
#
# `check_k8s.sh --self-test ROOT` proves the check can fail: it deletes the
# `drop: [ALL]` line from a copy of the manifests and expects that to be
# caught, then plants each of check_k8s.js's faults in the parsed documents.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

need_tools() {
  command -v node >/dev/null 2>&1 || { echo "check_k8s: node is missing (dev.sh test installs it)" >&2; exit 1; }
  [ -d "$here/node_modules/kubernetes-models" ] && [ -d "$here/node_modules/yaml" ] || {
    echo "check_k8s: $here/node_modules is missing: run \`npm ci\` there (dev.sh test does)" >&2
    exit 1
  }
}

self_test() {
  local root=$1 tmp out rc
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/deploy"
  cp -r "$root/deploy/kubernetes" "$tmp/deploy/"
  cp "$root/Dockerfile" "$tmp/"
  # the file itself, changed as an editor would: no `drop: [ALL]`
  grep -q 'capabilities: {drop: \[ALL\]}' "$tmp/deploy/kubernetes/ingestd.yaml" || {
    echo "self-test: ingestd.yaml has no 'capabilities: {drop: [ALL]}' line to remove" >&2
    return 1
  }
  sed -i '/capabilities: {drop: \[ALL\]}/d' "$tmp/deploy/kubernetes/ingestd.yaml"
  rc=0
  out=$(node "$here/check_k8s.js" "$tmp" 2>&1) || rc=$?
  if [ "$rc" -ne 1 ] || ! grep -q 'capabilities.drop: must include ALL' <<<"$out"; then
    echo "self-test: removing drop: [ALL] was not caught (exit $rc):" >&2
    echo "$out" >&2
    return 1
  fi
  echo "self-test: a copy without drop: [ALL] fails: $(grep 'capabilities.drop' <<<"$out" | head -1)"
  node "$here/check_k8s.js" --self-test "$root"
}

need_tools
if [ "${1:-}" = --self-test ]; then
  self_test "$(cd "${2:-.}" && pwd)"
else
  node "$here/check_k8s.js" "$(cd "${1:-.}" && pwd)"
fi
