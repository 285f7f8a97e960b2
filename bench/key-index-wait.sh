# bench/key-index-wait.sh - sourced by the benchmarks: wait for ingestd's background builds
#
# key_index_wait CMD...   run CMD (a psql command line, -XAtq, on the ingestd database)
#                         until every partition of s3_objects has its valid key segments
#                         index (<partition>_segs, built by jobs/key_index.c every
#                         INGESTD_KEY_INDEX_INTERVAL seconds, 10 by default), then print
#                         the seconds it waited. Benchmarks call it between their timed
#                         parts, so that no build runs beside what they time. With
#                         INGESTD_KEY_INDEX_INTERVAL=0 (no builds) it prints 0 at once.
key_index_wait() {
  local t0 n
  [ "${INGESTD_KEY_INDEX_INTERVAL:-10}" = 0 ] && { echo 0; return; }
  t0=$(date +%s)
  while :; do
    n=$("$@" -c "SELECT count(*) FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
      LEFT JOIN pg_class ic ON ic.relname = c.relname || '_segs'
      LEFT JOIN pg_index i ON i.indexrelid = ic.oid
      WHERE h.inhparent = 's3_objects'::regclass AND i.indisvalid IS NOT TRUE")
    [ "$n" = 0 ] && break
    sleep 1
  done
  echo $(($(date +%s) - t0))
}
