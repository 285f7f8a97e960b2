-- 0015_journal_feed.sql - the rest of the journal: accepted events, published
-- generations, S3 object changes and inventory job states
--
-- The `changes` journal (0008) held what webhooks announce: merges, inventory
-- outcomes, failing exports, written by the C code beside a delivery row per
-- URL. The live feed (GET /api/v1/feed) reads the same journal and needs
-- more of what happens; these triggers write it in the transaction that
-- makes the change, so every writer (POST/PUT events, imports, SQS, merges,
-- PUT repos.csv, event notifications, inventories) is covered and a rolled
-- back change leaves no row. They write no webhook_deliveries row: webhooks
-- keep announcing the types OPERATIONS.md names, the feed carries all.
--
--  * io.ingestd.event.accepted: one change per stored event (subject: its id).
--  * io.ingestd.generation.published: effective_meta's generation moved (a
--    merge or PUT repos.csv; subject: the generation).
--  * io.ingestd.s3.objects.changed: one change per statement and bucket of
--    records stored in partition 0 (event notifications, crawls, the final
--    move of an inventory): subject the bucket, data.records the first 1000
--    records (key, versionId, eventType, sequencer) and data.count all of
--    them. A change per record would double the rows an ingest writes.
--  * io.ingestd.inventory.state: an inventory job was queued or changed
--    status (subject: the job id).
-- Each statement but the events' sends one NOTIFY on ingestd_changes (at
-- commit). Not the events': PostgreSQL serialises the commits of notifying
-- transactions (a global lock while the notification is queued), which cost
-- concurrent uploads a third of their throughput; readers of the journal
-- find accepted events by polling.

CREATE FUNCTION journal_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (event_id, type, source, subject, data)
    SELECT gen_random_uuid(), 'io.ingestd.event.accepted', '/api/v1/events', n.id::text,
           jsonb_build_object('id', n.id, 'receivedAt', n.received_at, 'source', n.source,
                              'rowCount', n.row_count, 'byteCount', n.byte_count)
    FROM new_rows n ORDER BY n.sequence;
    RETURN NULL;
END $$;
CREATE TRIGGER events_journal AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION journal_events();

CREATE FUNCTION journal_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (event_id, type, source, subject, data)
    VALUES (gen_random_uuid(), 'io.ingestd.generation.published', '/api/v1/repos.csv',
            NEW.generation::text,
            jsonb_build_object('generation', NEW.generation, 'updatedAt', NEW.updated_at));
    PERFORM pg_notify('ingestd_changes', 'journal');
    RETURN NULL;
END $$;
CREATE TRIGGER effective_meta_journal AFTER UPDATE OF generation ON effective_meta
    FOR EACH ROW WHEN (NEW.generation IS DISTINCT FROM OLD.generation)
    EXECUTE FUNCTION journal_generation();

CREATE FUNCTION journal_s3_objects() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (event_id, type, source, subject, data)
    SELECT gen_random_uuid(), 'io.ingestd.s3.objects.changed', '/api/v1/s3/objects', b.bucket,
           jsonb_build_object('bucket', b.bucket, 'count', b.n, 'records', b.records)
    FROM (SELECT r.bucket, count(*) AS n,
                 (SELECT jsonb_agg(jsonb_build_object('key', x.key, 'versionId', x.version_id,
                                                      'eventType', x.event_type,
                                                      'sequencer', x.sequencer)
                                   ORDER BY x.key, x.sequencer)
                  FROM (SELECT * FROM new_rows y WHERE y.bucket = r.bucket
                        ORDER BY y.key, y.sequencer LIMIT 1000) x) AS records
          FROM new_rows r GROUP BY r.bucket ORDER BY r.bucket) b;
    IF FOUND THEN
        PERFORM pg_notify('ingestd_changes', 'journal');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER s3_objects_events_journal AFTER INSERT ON s3_objects_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION journal_s3_objects();

CREATE FUNCTION journal_inventory() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (event_id, type, source, subject, data)
    VALUES (gen_random_uuid(), 'io.ingestd.inventory.state', '/api/v1/s3/inventories',
            NEW.id::text, jsonb_build_object('id', NEW.id, 'status', NEW.status,
                                             'bucket', NEW.bucket, 'key', NEW.key));
    PERFORM pg_notify('ingestd_changes', 'journal');
    RETURN NULL;
END $$;
CREATE TRIGGER inventory_jobs_journal_insert AFTER INSERT ON inventory_jobs
    FOR EACH ROW EXECUTE FUNCTION journal_inventory();
CREATE TRIGGER inventory_jobs_journal_status AFTER UPDATE OF status ON inventory_jobs
    FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION journal_inventory();

-- the feed's horizon: the first change written since the oldest open transaction began
CREATE INDEX changes_created_at ON changes (created_at);
