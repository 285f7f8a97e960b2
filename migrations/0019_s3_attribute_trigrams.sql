-- 0019_s3_attribute_trigrams.sql - attribute wildcards served by a trigram index
--
-- An attribute wildcard (attributes[k]=P4*, or any attribute filter with
-- caseSensitive=false) is a jsonpath like_regex, which the GIN index of 0010
-- (jsonb_path_ops) cannot serve: a list had to read every annotated record.
-- storage/s3_query.c adds to each such condition a LIKE on attributes::text
-- that every matching record also satisfies (the leaf key as jsonb writes it,
-- then the value's literal runs: `%"k": %"P4%`); this pg_trgm index on the
-- annotated records serves it, and the jsonpath still decides.
--
-- pg_trgm ships with PostgreSQL (Debian's postgresql-15 package, the contrib
-- modules). Where it is not installed, or the role may not create it, the
-- index is left out: the filters give the same results, only slower.
-- Inventory partitions carry no attributes when they are attached, so
-- ATTACH builds their (empty) part of the index at no cost.

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'pg_trgm not created (%): attribute wildcards go without an index', SQLERRM;
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX s3_objects_attributes_trgm ON s3_objects
            USING gin ((attributes::text) gin_trgm_ops) WHERE attributes IS NOT NULL;
    END IF;
END
$$;
