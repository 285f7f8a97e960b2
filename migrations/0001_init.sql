-- 0001_init.sql - repos-lock events, merges and the effective repos.csv
--
-- Invariants:
--  * events.sequence is assigned at acceptance and defines "most recent";
--  * event_rows holds the parsed rows of pending events only (a merge
--    empties it in the same transaction that marks the events merged);
--  * effective_meta has exactly one row; its generation changes whenever the
--    effective rows or columns change, and the rows of one generation never
--    change;
--  * keys are compared byte for byte: repo_key() digests the length-prefixed
--    raw bytes of (origin, path, branch), so values of any length are unique.

CREATE FUNCTION repo_key(origin text, path text, branch text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT sha256(int4send(octet_length(origin)) || textsend(origin) ||
                  int4send(octet_length(path)) || textsend(path) || textsend(branch))
$$;

CREATE TABLE events (
    id uuid PRIMARY KEY,
    sequence bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'merged')),
    received_at timestamptz NOT NULL DEFAULT now(),
    source text,
    row_count integer NOT NULL,
    byte_count bigint NOT NULL,
    sha256 text NOT NULL,
    columns text[] NOT NULL,
    idempotency_key text,
    merge_id uuid,
    merged_at timestamptz,
    content bytea NOT NULL
);
CREATE UNIQUE INDEX events_sha256_key ON events (sha256);
CREATE UNIQUE INDEX events_idempotency_key ON events (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_pending ON events (sequence) WHERE status = 'pending';
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
    key_digest bytea GENERATED ALWAYS AS (repo_key(origin, path, branch)) STORED,
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
    duration_ms bigint NOT NULL
);
CREATE INDEX merges_started ON merges (started_at DESC, id DESC);

CREATE TABLE effective_meta (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    generation bigint NOT NULL DEFAULT 0,
    columns text[] NOT NULL
        DEFAULT '{origin,path,branch,cloneUrl,changeset,publishUri}',
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO effective_meta DEFAULT VALUES;

-- vals is aligned with effective_meta.columns; missing trailing entries (and
-- NULL entries) read as empty
CREATE TABLE effective_rows (
    pos bigint PRIMARY KEY,
    origin text COLLATE "C" NOT NULL,
    path text COLLATE "C" NOT NULL,
    branch text COLLATE "C" NOT NULL,
    vals text[] NOT NULL,
    event_id uuid,
    updated_at timestamptz NOT NULL DEFAULT now(),
    key_digest bytea GENERATED ALWAYS AS (repo_key(origin, path, branch)) STORED UNIQUE
);
CREATE INDEX effective_rows_origin_path ON effective_rows (origin, path, pos);
