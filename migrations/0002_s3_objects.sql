-- 0002_s3_objects.sql - the S3 object catalog (S3.md)
--
-- One row per observed S3 event (or inventory line); rows are never deleted.
-- Invariants:
--  * sequencer is the ordering key: a delivered sequencer upper-cased with
--    trailing zeros removed (so byte order under COLLATE "C" equals "compare
--    case-insensitively after right-padding the shorter with 0"); a generated
--    one is <base>-<20-digit counter>, which sorts after <base> and before any
--    delivered sequencer greater than <base> ('-' sorts below every hex
--    digit); sequencer_raw keeps what was delivered (NULL when generated);
--  * (bucket, key, version_id, event_type, sequencer) is unique: a repeat
--    delivery only increments number_duplicate_events;
--  * at most one row per (bucket, key) has is_current (a unique partial
--    index); batches hold transaction advisory locks on the keys they touch,
--    taken in hash order, so concurrent batches neither deadlock nor race.

CREATE TABLE s3_objects (
    id uuid PRIMARY KEY,
    bucket text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    version_id text COLLATE "C" NOT NULL,
    event_type text NOT NULL CHECK (event_type IN ('Created', 'Deleted')),
    event_time timestamptz,
    size bigint,
    etag text,
    storage_class text,
    last_modified timestamptz,
    sequencer text COLLATE "C" NOT NULL,
    sequencer_raw text,
    is_delete_marker boolean NOT NULL DEFAULT false,
    is_current boolean NOT NULL DEFAULT false,
    reason text NOT NULL,
    number_duplicate_events integer NOT NULL DEFAULT 0,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    source text NOT NULL DEFAULT 'event' CHECK (source IN ('event', 'inventory'))
);
-- also serves the list order (bucket, key, sequencer)
CREATE UNIQUE INDEX s3_objects_event
    ON s3_objects (bucket, key, sequencer, version_id, event_type);
CREATE UNIQUE INDEX s3_objects_current ON s3_objects (bucket, key) WHERE is_current;
