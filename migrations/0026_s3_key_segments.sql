-- 0026_s3_key_segments.sql - a key's path segments, for key patterns that start with a wildcard
--
-- A key pattern with a literal start (run00420/*) is a range of the
-- (bucket, key, ...) B-tree indexes; one that starts with a wildcard
-- (*/sample0042*.bam) used to read every record. Such a pattern, where a
-- literal follows a `/`, says something about a whole path segment of
-- every key it matches: "some segment starts with sample0042", or "is
-- run00420" when the literal reaches the next `/` or the pattern's end.
-- s3_key_segments(key) is the key's segments as a tsvector (no parsing, no
-- stemming: each segment is one lexeme, compared byte for byte), taken from
-- the key with its ASCII letters in lower case, and storage/s3_query.c adds
-- `s3_key_segments(key) @@ '''sample0042'':*'` (the literal in lower case
-- too) beside the LIKE, which still decides: a GIN index on the expression
-- serves it. Lower case, so that one index serves caseSensitive=false as
-- well: on a "C" column (key is one) ILIKE is lower(key) LIKE lower(pattern)
-- and lower() folds ASCII letters only, so a key ILIKE matches has the
-- lower-cased literal as (the start of) one of its lower-cased segments; a
-- case-sensitive pattern only gets a few more candidates (keys that differ
-- from a match in case alone).
--
-- Those indexes are not built here, nor while an inventory lands: building
-- one takes 17-23 s per 5,000,000 records on 2 cores (as long as half or
-- more of an inventory's ingestion). jobs/key_index.c builds them in the background, CREATE INDEX
-- CONCURRENTLY per partition (s3_objects_events_segs, s3_objects_inv_N_segs),
-- and until a partition has its index the planner scans that partition: the
-- results are the same either way.
--
-- Empty segments (a//b, a trailing /) are left out (array_to_tsvector refuses
-- empty strings). A GIN entry holds at most about 2,700 bytes: in a key of
-- over 2,000 bytes each segment is cut to its first 255 characters, and the
-- query cuts a longer literal the same way and matches it as a prefix.
-- Not STRICT, so that PostgreSQL inlines the body (into the index's
-- expression and the query's alike): a STRICT SQL function with a CASE is
-- called per row instead, which made the index's build 1.7 times as long.

CREATE FUNCTION s3_key_segments(key text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT array_to_tsvector(array_remove(string_to_array(
        CASE WHEN octet_length(key) <= 2000 THEN lower(key COLLATE "C")
             ELSE regexp_replace(lower(key COLLATE "C"), '([^/]{255})[^/]*', '\1', 'g') END,
        '/'), ''))
$$;
