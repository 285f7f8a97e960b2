-- 0004_s3_objects_partitions.sql - the catalog as a partitioned table
--
-- s3_objects becomes a table partitioned by `part` (LIST):
--  * part 0, s3_objects_events, holds what events (and deletion detection)
--    write; it keeps the unique event index that deduplicates deliveries
--    (INSERT ... ON CONFLICT goes to this partition directly) and the unique
--    current index;
--  * every inventory data file is loaded into a table of its own,
--    s3_objects_inv_<part>, while its job runs (one transaction per file),
--    and the job's final transaction attaches them all, so the records of a
--    job appear at once and a failed job changes nothing. These partitions
--    carry a (bucket, key, sequencer) index for lists and lookups, and a BRIN
--    index on id (a file's ids grow with its physical order). A file with few
--    new records moves them into partition 0 in that final transaction.
-- At most one current record per (bucket, key) across partitions holds by
-- the locking protocol (0002): event batches lock their keys, an inventory
-- job locks its source buckets exclusively while it attaches and recomputes.

ALTER TABLE s3_objects RENAME TO s3_objects_events;
ALTER INDEX s3_objects_pkey RENAME TO s3_objects_events_pkey;
ALTER INDEX s3_objects_event RENAME TO s3_objects_events_event;
ALTER INDEX s3_objects_current RENAME TO s3_objects_events_current;
ALTER TABLE s3_objects_events ADD COLUMN part integer NOT NULL DEFAULT 0;

CREATE TABLE s3_objects (LIKE s3_objects_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY LIST (part);
ALTER TABLE s3_objects_events ADD CONSTRAINT s3_objects_events_part CHECK (part = 0);
ALTER TABLE s3_objects ATTACH PARTITION s3_objects_events FOR VALUES IN (0);

-- the part numbers of inventory partitions
CREATE SEQUENCE s3_objects_part START 1;

-- where a staged data file's lines are (its partition), and what the final
-- transaction needs to know of their order: a file is `sorted` when its
-- (bucket, key) never decrease, so each key's lines are together; first/last
-- bound its keys
ALTER TABLE inventory_files
    ADD COLUMN part integer,
    ADD COLUMN sorted boolean NOT NULL DEFAULT false,
    ADD COLUMN first_bucket text COLLATE "C",
    ADD COLUMN first_key text COLLATE "C",
    ADD COLUMN last_bucket text COLLATE "C",
    ADD COLUMN last_key text COLLATE "C";

-- unfinished jobs staged by the previous format (one inventory_staging_<id>
-- table per job) stage their files again
UPDATE inventory_files f SET staged = false, records = 0, bytes = 0
    FROM inventory_jobs j WHERE f.job_id = j.id AND j.status <> 'succeeded' AND f.staged;
UPDATE inventory_jobs SET files_done = 0, records = 0, bytes = 0 WHERE status <> 'succeeded';
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind = 'r'
               AND c.relname LIKE 'inventory\_staging\_%'
    LOOP
        EXECUTE format('DROP TABLE %I', t);
    END LOOP;
END
$$;
