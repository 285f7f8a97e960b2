-- 0007_imports.sql - the old pipeline's publishers: named events and imported files
--
-- event_names: the names given by PUT /api/v1/events/pending/{name} (what
-- the Artifactory publisher sends). A name is unique and points at one event
-- for its life; the same name with the same bytes again is the same event,
-- with other bytes a conflict. Several names may point at one event (the same
-- bytes published twice under two names: events are unique by content). A
-- deleted event takes its names with it.
--
-- import_files: every file an import location (INGESTD_IMPORTS) handed over,
-- keyed by (location, name, sha256 of the bytes). The row is written in the
-- transaction that stores the file's event, so a file read again after a
-- crash between that commit and the move out of pending/ (or by another
-- replica watching the same location) finds its row and stores nothing: the
-- insert of the key is the claim, and a second inserter waits on the unique
-- index until the first commits or rolls back. outcome 'failed' rows record
-- files refused with a problem (invalid CSV, too large, a symlink), so their
-- counts survive restarts and a file that could not be moved to failed/ is
-- not judged twice. event_id outlives a deleted event (it is history).
--
-- import_locations: per location, what the last scan saw, shared by the
-- replicas (whichever scanned last).

CREATE TABLE event_names (
    name text PRIMARY KEY,
    event_id uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    sha256 text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_names_event ON event_names (event_id);

CREATE TABLE import_files (
    location text NOT NULL,
    name text NOT NULL,
    sha256 text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('accepted', 'failed')),
    event_id uuid,
    bytes bigint NOT NULL,
    problem jsonb,
    imported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (location, name, sha256)
);
CREATE INDEX import_files_outcome ON import_files (location, outcome);

CREATE TABLE import_locations (
    location text PRIMARY KEY,
    last_scan_at timestamptz,
    last_error text,
    last_error_at timestamptz
);
