-- 0006_inventory_progress.sql - an inventory job's progress while a data file streams
--
-- A data file is staged in one transaction (COPY into a table created in
-- it), so nothing of it is visible before it commits, and a file of millions
-- of lines used to show no progress for a minute. While files stream, the
-- job's runner writes how far each file in flight has come into the file's
-- row, about once a second, from its own connection (never the staging
-- one): streamed_records (lines) and streamed_bytes (stored bytes read).
-- The staging transaction sets them back to 0 when it marks the file staged
-- (its records and bytes then count), and a runner that claims the job
-- resets those of unstaged files. While the job runs, its `records` and
-- `bytes` are the staged files' plus these.
--
-- inventory_jobs.bytes_total: the sum of the manifest's files[].size, NULL
-- while the manifest is not read or when a file has no size (jobs older
-- than this migration keep NULL). applying_at: when the current run's final
-- transaction began (the job's phase is "applying" while it runs), NULL
-- before; a claim clears it.

ALTER TABLE inventory_files
    ADD COLUMN streamed_records bigint NOT NULL DEFAULT 0,
    ADD COLUMN streamed_bytes bigint NOT NULL DEFAULT 0;
ALTER TABLE inventory_jobs
    ADD COLUMN bytes_total bigint,
    ADD COLUMN applying_at timestamptz;
