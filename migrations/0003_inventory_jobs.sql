-- 0003_inventory_jobs.sql - S3 Inventory ingestion jobs (S3.md "Inventory ingestion")
--
-- A job is claimed through this table (FOR UPDATE SKIP LOCKED), so any
-- replica may run it and none runs it twice at once; its runner holds a
-- session advisory lock on the job while it runs, so a running job whose
-- lock is free (the runner died) may be claimed again. Data files
-- are staged one at a time, each in its own transaction (inventory_files
-- .staged), into the job's own staging table inventory_staging_<id>; the
-- catalog changes in one final transaction that also drops the staging
-- table. A job submitted again with the same manifest source (`identity`)
-- resumes the failed or interrupted one: staged files are not fetched again.

CREATE TABLE inventory_jobs (
    id uuid PRIMARY KEY,
    identity text NOT NULL,
    status text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    bucket text,
    key text,
    manifest text,
    format text,
    files_total integer NOT NULL DEFAULT 0,
    files_done integer NOT NULL DEFAULT 0,
    records bigint NOT NULL DEFAULT 0,
    bytes bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    error text,
    error_status integer, -- 422 (bad manifest or data) or 502 (S3 failed)
    summary jsonb,
    heartbeat_at timestamptz
);
CREATE INDEX inventory_jobs_open ON inventory_jobs (created_at)
    WHERE status IN ('queued', 'running');
CREATE INDEX inventory_jobs_identity ON inventory_jobs (identity, created_at DESC);
CREATE INDEX inventory_jobs_created ON inventory_jobs (created_at DESC, id DESC);

CREATE TABLE inventory_files (
    job_id uuid NOT NULL REFERENCES inventory_jobs (id) ON DELETE CASCADE,
    idx integer NOT NULL,
    key text NOT NULL,
    md5 text,
    staged boolean NOT NULL DEFAULT false,
    records bigint NOT NULL DEFAULT 0,
    bytes bigint NOT NULL DEFAULT 0,
    buckets text[] NOT NULL DEFAULT '{}', -- source buckets its lines name
    versioned boolean NOT NULL DEFAULT false, -- its lines have a VersionId column
    PRIMARY KEY (job_id, idx)
);

-- when a record was observed: an inventory's creation time for its records
-- (events carry eventTime); deletion detection compares it with a newer
-- inventory's creation time
ALTER TABLE s3_objects ADD COLUMN observed_at timestamptz;
