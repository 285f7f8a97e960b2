-- 0018_effective_rows_valid_from.sql - the rows written after a generation
--
-- A process that holds the rendering of generation G re-renders, for a
-- later generation, only the blocks of positions holding a row written
-- after G (storage/repos_blocks.c): effective_rows WHERE valid_from > G,
-- read through this index in O(rows written since G), never a scan of the
-- whole file.
CREATE INDEX effective_rows_valid_from ON effective_rows (valid_from);
