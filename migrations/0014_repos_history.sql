-- 0014_repos_history.sql - the effective repos.csv of past generations
--
-- Every generation of the effective file can be rendered again, byte for
-- byte, while it is inside the retention window (INGESTD_REPOS_HISTORY):
--  * repos_generations: one row per generation from this migration on (the
--    generation current at migration time is the first), with its columns
--    and when it was made; a trigger on effective_meta adds the row in the
--    transaction that bumps the generation. Generations are consecutive, so
--    generation N stopped being served at created_at of N + 1;
--  * effective_rows.valid_from: the generation since which the row holds
--    these values (0: since before this migration). Merges set it on the
--    rows they add or update, PUT on every row;
--  * repos_history: row versions that stopped being current, valid for the
--    generations valid_from <= N < valid_to. A merge moves the old version
--    of each row it updates here (O(rows changed)); PUT moves every row (it
--    replaces the file). Versions whose valid_to generation was made before
--    the window are deleted in bounded batches after merges and PUTs.
-- The rows of generation N: effective_rows with valid_from <= N, plus
-- repos_history with valid_from <= N < valid_to; ordered by pos.

ALTER TABLE effective_rows ADD COLUMN valid_from bigint NOT NULL DEFAULT 0;

CREATE TABLE repos_generations (
    generation bigint PRIMARY KEY,
    columns text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO repos_generations (generation, columns, created_at)
    SELECT generation, columns, updated_at FROM effective_meta;

CREATE TABLE repos_history (
    valid_from bigint NOT NULL,
    valid_to bigint NOT NULL,
    pos bigint NOT NULL,
    origin text COLLATE "C" NOT NULL,
    path text COLLATE "C" NOT NULL,
    branch text COLLATE "C" NOT NULL,
    changeset text NOT NULL,
    publish_uri text NOT NULL,
    vals text[] NOT NULL,
    key_digest bytea NOT NULL
);
-- versions are appended in valid_to order: a BRIN index finds the sweep's
-- ranges at almost no cost to the merges that append
CREATE INDEX repos_history_valid_to ON repos_history USING brin (valid_to);

CREATE FUNCTION repos_generation_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO repos_generations (generation, columns, created_at)
        VALUES (NEW.generation, NEW.columns, NEW.updated_at)
        ON CONFLICT (generation) DO UPDATE SET columns = EXCLUDED.columns,
                                               created_at = EXCLUDED.created_at;
    RETURN NEW;
END $$;

CREATE TRIGGER effective_meta_generation AFTER UPDATE ON effective_meta
    FOR EACH ROW WHEN (NEW.generation <> OLD.generation)
    EXECUTE FUNCTION repos_generation_record();
