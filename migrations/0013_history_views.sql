-- 0013_history_views.sql - every event row kept, and the read-only schema ingestd_v1
--
-- Per-repository history (GET /api/v1/repos/history):
--  * event_rows now keeps the rows of every event, merged or not (a merge no
--    longer empties it); a merged row's merge is the one whose
--    (seq_lo, seq_hi] holds its event's sequence, and its outcome follows
--    from the rows of its key in that merge (MERGE.md): `ignored` when
--    changeset or publishUri is empty (rule failed_build), else `applied`
--    when it is the last applying row of its key in the merge, else
--    `superseded`; `pending` when no merge holds it yet;
--  * event_rows_key serves a key's rows newest first, so a lookup reads the
--    rows of that key only;
--  * the rows of events merged before this migration were emptied by their
--    merge: event_rows_backfill lists those events, and ingestd parses their
--    stored content (the same decoder as an upload) into event_rows right
--    after migrating, under the migration lock, a batch per transaction,
--    deleting each event from the list in the transaction that adds its rows
--    (events_store_backfill()).
--
-- ingestd_v1 is the schema analysts read: views only, each with a fixed set
-- of columns (tests/integration/test_history.c pins names and types). A later
-- change of shape goes to a new schema (ingestd_v2), never into these views.
-- The role ingestd_reader (NOLOGIN) gets USAGE on the schema and SELECT on its
-- views, nothing else; it is created when absent and when the migrating user
-- may create roles; otherwise the grants are skipped with a NOTICE (and
-- ingestd logs a warning at start-up), and an administrator can create the
-- role and grant later (README "SQL views for analysts").

CREATE INDEX event_rows_key ON event_rows (key_digest, event_seq DESC, row_no DESC);

CREATE TABLE event_rows_backfill (
    event_seq bigint PRIMARY KEY REFERENCES events (sequence) ON DELETE CASCADE
);
INSERT INTO event_rows_backfill (event_seq)
SELECT e.sequence FROM events e
WHERE e.row_count > 0
  AND e.sequence <= (SELECT coalesce(max(seq_hi), 0) FROM merges)
  AND NOT EXISTS (SELECT 1 FROM event_rows r WHERE r.event_seq = e.sequence);

CREATE SCHEMA ingestd_v1;

-- the effective repos.csv, one row per repository, in file order; `columns`
-- holds every effective column by name (changeset and publishUri included)
CREATE VIEW ingestd_v1.repos AS
SELECT r.pos AS position,
       r.origin::text AS origin,
       r.path::text AS path,
       r.branch::text AS branch,
       r.changeset,
       r.publish_uri,
       (SELECT jsonb_object_agg(c.name, CASE c.name
                   WHEN 'changeset' THEN r.changeset
                   WHEN 'publishUri' THEN r.publish_uri
                   ELSE coalesce(r.vals[c.ord], '') END)
        FROM unnest(m.columns) WITH ORDINALITY AS c(name, ord)) AS columns,
       r.event_id,
       r.updated_at,
       m.generation
FROM effective_rows r CROSS JOIN effective_meta m;

-- uploads: metadata only (the body stays behind GET /api/v1/events/{id}/content)
CREATE VIEW ingestd_v1.events AS
SELECT e.id,
       e.sequence,
       CASE WHEN mg.id IS NULL THEN 'pending' ELSE 'merged' END AS status,
       e.received_at,
       e.source,
       e.row_count AS rows,
       e.byte_count AS bytes,
       e.sha256,
       e.columns,
       mg.id AS merge_id,
       mg.finished_at AS merged_at
FROM events e
LEFT JOIN LATERAL (SELECT m.id, m.finished_at FROM merges m
                   WHERE m.seq_hi >= e.sequence AND m.seq_lo < e.sequence
                   ORDER BY m.seq_hi LIMIT 1) mg ON true;

-- every stored event row with its outcome, as GET /api/v1/repos/history
CREATE VIEW ingestd_v1.repo_history AS
WITH k AS (
    SELECT r.*, (r.changeset <> '' AND r.publish_uri <> '') AS applies,
           mg.id AS merge_id, mg.generation, mg.finished_at AS merged_at, mg.seq_hi
    FROM event_rows r
    LEFT JOIN LATERAL (SELECT m.id, m.generation, m.finished_at, m.seq_hi FROM merges m
                       WHERE m.seq_hi >= r.event_seq AND m.seq_lo < r.event_seq
                       ORDER BY m.seq_hi LIMIT 1) mg ON true
), w AS (
    SELECT k.*, max(ARRAY[k.event_seq, k.row_no]) FILTER (WHERE k.applies)
               OVER (PARTITION BY k.key_digest, k.seq_hi) AS winner
    FROM k
)
SELECT e.id AS event_id,
       w.event_seq AS event_sequence,
       w.row_no,
       e.source,
       e.received_at,
       w.origin::text AS origin,
       w.path::text AS path,
       w.branch::text AS branch,
       w.changeset,
       w.publish_uri,
       jsonb_object(e.columns, w.vals) AS columns,
       CASE WHEN NOT w.applies THEN 'ignored'
            WHEN w.merge_id IS NULL THEN 'pending'
            WHEN w.winner = ARRAY[w.event_seq, w.row_no] THEN 'applied'
            ELSE 'superseded' END AS outcome,
       CASE WHEN NOT w.applies THEN 'failed_build'
            WHEN w.merge_id IS NOT NULL AND w.winner <> ARRAY[w.event_seq, w.row_no]
            THEN 'later_row_won' END AS rule,
       w.merge_id,
       w.generation,
       w.merged_at
FROM w JOIN events e ON e.sequence = w.event_seq;

-- the current record of every (bucket, key) that has one (never a delete marker)
CREATE VIEW ingestd_v1.s3_objects_current AS
SELECT o.id, o.bucket::text AS bucket, o.key::text AS key, o.version_id::text AS version_id,
       o.event_time, o.size, o.etag, o.storage_class, o.last_modified,
       o.sequencer::text AS sequencer, o.reason, o.ingested_at, o.source
FROM s3_objects o
WHERE o.is_current;

-- every S3 record, per (bucket, key) in sequencer order (sequencers compare
-- within one key only)
CREATE VIEW ingestd_v1.s3_object_journal AS
SELECT o.id, o.bucket::text AS bucket, o.key::text AS key, o.version_id::text AS version_id,
       o.event_type, o.event_time, o.size, o.etag, o.storage_class, o.last_modified,
       o.sequencer::text AS sequencer, o.sequencer_raw, o.is_delete_marker,
       o.is_current, o.reason, o.number_duplicate_events, o.ingested_at, o.source
FROM s3_objects o
ORDER BY o.bucket, o.key, o.sequencer, o.id;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ingestd_reader') THEN
        BEGIN
            CREATE ROLE ingestd_reader NOLOGIN;
        EXCEPTION
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'role ingestd_reader not created (%), grants skipped', SQLERRM;
            WHEN duplicate_object THEN
                NULL; -- created meanwhile by a migration of another database
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ingestd_reader') THEN
        GRANT USAGE ON SCHEMA ingestd_v1 TO ingestd_reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA ingestd_v1 TO ingestd_reader;
    END IF;
END
$$;
