-- 0009_exports.sql - what each export target holds (INGESTD_EXPORTS)
--
-- One row per target, keyed by the target's name (the configured entry
-- without credentials, core/export_spec.h), written by whichever replica
-- publishes to it. `generation` is the generation of the effective
-- repos.csv the target holds (0: none published yet); it only grows.
-- `attempts` counts every publication attempt (successful or not),
-- `failures` those that failed. A replica publishes to a target only while
-- it holds the target's session advisory lock (storage/locks.h
-- LOCK_EXPORT_TARGET) and reads `generation` after taking it, so each
-- generation is published to a target by one replica, once, unless the
-- publisher dies between writing the target and recording it here (then
-- the next one writes the same bytes again).

CREATE TABLE export_targets (
    target text PRIMARY KEY,
    kind text NOT NULL,
    generation bigint NOT NULL DEFAULT 0,
    attempts bigint NOT NULL DEFAULT 0,
    failures bigint NOT NULL DEFAULT 0,
    last_attempt_at timestamptz,
    last_success_at timestamptz,
    last_error text,
    last_error_at timestamptz,
    last_duration_ms bigint
);
