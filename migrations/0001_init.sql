-- 0001_init.sql - repos-lock events, merges and the effective repos.csv
--
-- Invariants:
--  * events.sequence is assigned at acceptance and defines "most recent";
--    events are never updated: a merge takes every event above the previous
--    merge's seq_hi, so an event is merged exactly when some merge has
--    seq_lo < sequence <= seq_hi, and pending when its sequence is above the
--    newest seq_hi (merges.seq_lo/seq_hi are NULL for merges of nothing);
--  * event_rows holds the parsed rows of pending events only (a merge
--    empties it in the transaction that records the merge);
--  * effective_meta has exactly one row; its generation changes whenever the
--    effective rows or columns change, and the rows of one generation never
--    change;
--  * keys are compared byte for byte: key_digest is the SHA-256 of the
--    length-prefixed raw bytes of (origin, path, branch) (computed by
--    ingestd, see storage/pgcopy.c), so values of any length can be unique
--    (a B-tree entry holds at most ~2.7 kB).

CREATE TABLE events (
    id uuid PRIMARY KEY,
    sequence bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    received_at timestamptz NOT NULL DEFAULT now(),
    source text,
    row_count integer NOT NULL,
    byte_count bigint NOT NULL,
    sha256 text NOT NULL,
    columns text[] NOT NULL,
    idempotency_key text,
    content bytea NOT NULL
);
CREATE UNIQUE INDEX events_sha256_key ON events (sha256);
CREATE UNIQUE INDEX events_idempotency_key ON events (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_source ON events (source, sequence);
ALTER TABLE events ALTER COLUMN content SET STORAGE EXTERNAL;

CREATE TABLE event_rows (
    event_seq bigint NOT NULL REFERENCES events (sequence) ON DELETE CASCADE,
    row_no integer NOT NULL,
    origin text COLLATE "C" NOT NULL,
    path text COLLATE "C" NOT NULL,
    branch text COLLATE "C" NOT NULL,
    changeset text NOT NULL,
    publish_uri text NOT NULL,
    vals text[] NOT NULL,
    key_digest bytea NOT NULL,
    PRIMARY KEY (event_seq, row_no)
);

CREATE TABLE merges (
    id uuid PRIMARY KEY,
    status text NOT NULL,
    dry_run boolean NOT NULL DEFAULT false,
    event_count integer NOT NULL,
    row_count bigint NOT NULL,
    added bigint NOT NULL,
    updated bigint NOT NULL,
    unchanged bigint NOT NULL,
    skipped bigint NOT NULL,
    columns_added text[] NOT NULL DEFAULT '{}',
    generation bigint NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    duration_ms bigint NOT NULL,
    seq_lo bigint,
    seq_hi bigint
);
CREATE INDEX merges_started ON merges (started_at DESC, id DESC);
CREATE INDEX merges_seq_hi ON merges (seq_hi) WHERE seq_hi IS NOT NULL;

CREATE TABLE effective_meta (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    generation bigint NOT NULL DEFAULT 0,
    columns text[] NOT NULL
        DEFAULT '{origin,path,branch,cloneUrl,changeset,publishUri}',
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO effective_meta DEFAULT VALUES;

-- vals is aligned with effective_meta.columns; missing trailing entries (and
-- NULL entries) read as empty. The changeset and publishUri columns are read
-- from their own columns (what merges update), never from vals.
CREATE TABLE effective_rows (
    pos bigint PRIMARY KEY,
    origin text COLLATE "C" NOT NULL,
    path text COLLATE "C" NOT NULL,
    branch text COLLATE "C" NOT NULL,
    changeset text NOT NULL DEFAULT '',
    publish_uri text NOT NULL DEFAULT '',
    vals text[] NOT NULL,
    event_id uuid,
    updated_at timestamptz NOT NULL DEFAULT now(),
    key_digest bytea NOT NULL UNIQUE
) WITH (fillfactor = 75); -- room for HOT updates of changeset/publishUri
