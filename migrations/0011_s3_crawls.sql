-- 0011_s3_crawls.sql - crawls of the live bucket (POST /api/v1/s3/crawl)
--
-- A crawl lists the objects (or object versions) of a bucket under a prefix
-- and writes what it observed into the catalog as records with source
-- 'crawl' and reason 'Crawl' (through the same batch ingestion as events);
-- a `verify` crawl HEADs every current object of the prefix instead and
-- records those S3 no longer has. At most one crawl of a (bucket, prefix) is
-- queued or running at a time (s3_crawls_active: a second submission is a
-- unique violation, 409). Crawls are claimed through this table (FOR UPDATE
-- SKIP LOCKED) by any replica's crawl runner, which holds a session advisory
-- lock on the crawl while it runs, so a running crawl whose lock is free lost
-- its runner and may be claimed again.

CREATE TABLE s3_crawls (
    id uuid PRIMARY KEY,
    bucket text COLLATE "C" NOT NULL,
    prefix text COLLATE "C" NOT NULL DEFAULT '', -- '': the whole bucket
    mode text NOT NULL CHECK (mode IN ('crawl', 'verify')),
    status text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,  -- first claimed: records ingested since are left to their events
    finished_at timestamptz,
    heartbeat_at timestamptz,
    listing text,            -- 'versions' (ListObjectVersions) or 'objects' (ListObjectsV2)
    n_objects bigint NOT NULL DEFAULT 0, -- versions listed, or current objects checked (verify)
    created bigint NOT NULL DEFAULT 0,   -- records written for new or changed objects
    deleted bigint NOT NULL DEFAULT 0,   -- Deleted records written for objects S3 no longer has
    unchanged bigint NOT NULL DEFAULT 0,
    missing bigint NOT NULL DEFAULT 0,   -- verify: current objects S3 answered 404 for
    missing_keys jsonb NOT NULL DEFAULT '[]', -- verify: the first keys found missing
    error text,
    error_kind text
);
CREATE UNIQUE INDEX s3_crawls_active ON s3_crawls (bucket, prefix)
    WHERE status IN ('queued', 'running');
CREATE INDEX s3_crawls_open ON s3_crawls (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX s3_crawls_created ON s3_crawls (created_at DESC, id DESC);

-- records a crawl writes say so: source 'crawl'
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT conrelid::regclass::text AS t, conname FROM pg_constraint
             WHERE contype = 'c'
               AND conrelid IN ('s3_objects'::regclass, 's3_objects_events'::regclass)
               AND pg_get_constraintdef(oid) LIKE '%source%'
             ORDER BY conrelid = 's3_objects'::regclass DESC
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I', r.t, r.conname);
    END LOOP;
END
$$;
ALTER TABLE s3_objects ADD CONSTRAINT s3_objects_source_check
    CHECK (source IN ('event', 'inventory', 'crawl'));
