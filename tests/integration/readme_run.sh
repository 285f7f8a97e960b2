#!/usr/bin/env bash
# readme_run.sh SRC WORK - run the README's walkthrough as a newcomer would paste it
#
# Takes every ```sh block of SRC/README.md's "## Using it" section (up to the
# next "## " heading; ```console blocks are shown, not run), in order, into
# WORK/readme.sh and runs it with bash from WORK, where `examples` links to
# SRC/examples (so `@examples/repos-lock.csv` and `examples/inventory.sh` work
# as from the checkout, and the files the walkthrough writes land in WORK).
# curl fails on an HTTP error status there (--fail-with-body), each command
# stops the run when it fails (set -euo pipefail: also an unset $ID), and the
# outputs the README's comments promise are checked afterwards.
#
# The server is the caller's: INGESTD_LISTEN says where it listens (the
# README's B derives from it), and it must read S3 at 127.0.0.1:$S3RVER_PORT,
# where examples/inventory.sh starts s3rver. test_docs.c starts both.
# Output: the walkthrough's, in WORK/readme.log too. Exit status 0 when all ran
# and every promised output appeared.
set -euo pipefail
src=$(cd "$1" && pwd)
work=$(cd "$2" && pwd)
: "${INGESTD_LISTEN:?INGESTD_LISTEN must name the running server}"

script=$work/readme.sh
log=$work/readme.log
{
  # each traced command starts a line of its own, so that an answer without a
  # final newline still ends its line
  cat <<'EOF'
set -euo pipefail
PS4=$'\n+ README: '
curl() { command curl --fail-with-body --show-error --max-time 120 "$@"; }
set -x
EOF
  awk '
    /^## /     { inside = ($0 == "## Using it") }
    !inside    { next }
    /^```sh$/  { block = 1; next }
    /^```/     { block = 0; next }
    block      { print }
  ' "$src/README.md"
} >"$script"
[ "$(grep -c . "$script")" -gt 10 ] || { echo "readme_run: no sh blocks under \"## Using it\"" >&2; exit 1; }

ln -sfn "$src/examples" "$work/examples"
rc=0
(cd "$work" && bash "$script") >"$log" 2>&1 || rc=$?
cat "$log"
[ -z "$(tail -c 1 "$log")" ] || echo
if [ "$rc" -ne 0 ]; then
  echo "readme_run: the walkthrough stopped with status $rc (the last '+ README:' line above is the command)" >&2
  exit 1
fi

# what the README's comments say the commands print
bad=0
expect() { # expect DESCRIPTION EXTENDED-REGEX
  if ! grep -qE -- "$2" "$log"; then
    echo "readme_run: missing from the output: $1 (/$2/)" >&2
    bad=1
  fi
}
expect 'healthz answer' '^\{"status":"ok"\}'
expect 'readyz answer' '\{"status":"ready"\}'
expect 'the event (201)' '"status":"pending".*"duplicate":false'
expect 'the duplicate upload' '"duplicate":true'
expect 'the exact bytes' '^same bytes$'
expect 'DELETE answers 204' '^204$'
expect 'the merge summary' '"added":5,.*"skipped":1'
expect 'merge times from the real clock' '"generation":1,"started_at":"2[0-9]{3}-'
expect 'the ETag' '^[Ee][Tt][Aa][Gg]: "[0-9]+"'
expect 'If-None-Match answers 304' '^304$'
expect 'the gunzipped repos.csv' '^github.com,acme/billing-service,main,'
expect 'the PUT result' '"generation":[0-9]+,"rows":5'
expect 'the history of a repository' '"path":"acme/billing-service","branch":"main".*"outcome":"applied"'
expect 'S3 event ingested' '\{"records":1,"ingested":1,"duplicates":0,"ignored":0\}'
expect 'S3 event delivered twice' '\{"records":1,"ingested":0,"duplicates":1,"ignored":0\}'
expect 'the object by id' '^\{"s3ObjectId":"[0-9a-f-]+","eventType":"Created","bucket":"my-bucket"'
expect 'no delete markers' '\{"nRecords":0\}'
expect 'the inventory job' '"status":"succeeded".*"records":5'
expect 'the inventory objects' '"key":"inventory-test/key1","versionId":"tpinzcbxOfWpZsmjvVgdHEvSohsY4TA0".*"isCurrentState":true'
[ "$bad" -eq 0 ] || exit 1
echo "readme_run: $(grep -c '^+ README: ' "$log") README commands ran; every promised output appeared"
