-- 0010_s3_object_annotations.sql - the filemanager's record fields and annotations
--
-- New nullable columns without a default: adding them changes only the
-- catalog (no table rewrite, however many records there are), and every
-- partition gets them (inventory partitions are created LIKE s3_objects, so
-- the ones staged later have them too; inventory COPY names its columns and
-- leaves these NULL):
--  * sha256: the object's SHA-256 checksum (base64, as S3 reports it) where
--    something learnt it; NULL otherwise;
--  * attributes: the JSON annotations of a record (PATCH /api/v1/s3...);
--    NULL until the first patch;
--  * ingest_id: the ingest id a record is tagged with (PATCH, or a crawl that
--    reads it); NULL otherwise;
--  * archive_status: ArchiveAccess / DeepArchiveAccess of an Intelligent-
--    Tiering object where something learnt it. The API's archiveStatus also
--    derives it from an access-tier storage class (ARCHIVE_ACCESS ...).
-- The indexes are partial, so records without annotations cost nothing in
-- them and building them on an existing catalog only reads it once:
--  * a GIN index (jsonb_path_ops) serves `attributes @? jsonpath` equality
--    filters;
--  * a (bucket, key, sequencer) index over annotated records serves the list
--    order of any attribute filter (wildcards included): an `@?` clause
--    implies attributes IS NOT NULL, so the planner may use it;
--  * ingest_id lookups.
-- Inventory partitions create the same three indexes when they are created
-- (storage/inventory_part.c), so attaching one builds nothing.

ALTER TABLE s3_objects
    ADD COLUMN sha256 text,
    ADD COLUMN attributes jsonb,
    ADD COLUMN ingest_id uuid,
    ADD COLUMN archive_status text;

CREATE INDEX s3_objects_attributes ON s3_objects USING gin (attributes jsonb_path_ops)
    WHERE attributes IS NOT NULL;
CREATE INDEX s3_objects_annotated ON s3_objects (bucket, key, sequencer)
    WHERE attributes IS NOT NULL;
CREATE INDEX s3_objects_ingest_id ON s3_objects (ingest_id) WHERE ingest_id IS NOT NULL;
