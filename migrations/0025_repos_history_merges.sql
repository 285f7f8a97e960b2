-- 0025_repos_history_merges.sql - a merge's retired versions in one row
--
-- A merge moved the old version of every row it updated into repos_history,
-- one heap tuple and one index entry per row: a merge of 10,000 events that
-- updates 34,300 rows wrote 34,300 versions of ~400 bytes, the largest part
-- of what keeping history added to a merge (README "Merge performance").
-- A merge changes only changeset and publishUri: a row's position, key,
-- origin, path, branch and other values stay what they were from the row's
-- insert until a PUT replaces the file. So a merge now writes one row here,
-- keyed by the generation it made (valid_to), holding parallel arrays of
-- what its retired versions do not share with the current row: valid_from,
-- pos, changeset, publish_uri and key_digest. The arrays are stored out of
-- line without compression (STORAGE EXTERNAL), written in one pass.
--
-- The rest of such a version is the current effective row of its key:
-- every version here belongs to a row that is still current, because a PUT
-- (storage/repos_store.c), before it retires every current row into
-- repos_history, first writes the versions here out as whole repos_history
-- rows (joined with the rows they belong to) and empties this table.
--
-- repos_history_versions shows both tables as repos_history's rows: the
-- whole versions (PUTs, merges before this migration) and the versions
-- here joined with their current rows. Renders and diffs of a past
-- generation read it; a generation's blocks read the positions alone.
CREATE TABLE repos_history_merges (
    valid_to bigint PRIMARY KEY,
    valid_from bigint[] NOT NULL,
    pos bigint[] NOT NULL,
    changeset text[] NOT NULL,
    publish_uri text[] NOT NULL,
    key_digest bytea[] NOT NULL
);
ALTER TABLE repos_history_merges
    ALTER COLUMN valid_from SET STORAGE EXTERNAL,
    ALTER COLUMN pos SET STORAGE EXTERNAL,
    ALTER COLUMN changeset SET STORAGE EXTERNAL,
    ALTER COLUMN publish_uri SET STORAGE EXTERNAL,
    ALTER COLUMN key_digest SET STORAGE EXTERNAL;

CREATE VIEW repos_history_versions AS
    SELECT valid_from, valid_to, pos, origin, path, branch, changeset, publish_uri, vals,
           key_digest
    FROM repos_history
    UNION ALL
    SELECT v.valid_from, m.valid_to, v.pos, e.origin, e.path, e.branch, v.changeset,
           v.publish_uri, e.vals, v.key_digest
    FROM repos_history_merges m
    CROSS JOIN LATERAL unnest(m.valid_from, m.pos, m.changeset, m.publish_uri, m.key_digest)
        AS v (valid_from, pos, changeset, publish_uri, key_digest)
    JOIN effective_rows e ON e.key_digest = v.key_digest;
