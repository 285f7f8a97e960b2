-- 0023_effective_rows_hot_updates.sql - merges update effective_rows in place again
--
-- 0018 indexed effective_rows.valid_from so that a render could find the
-- rows written after a generation. The index made every row a merge updates
-- a non-HOT update (valid_from changes, and an indexed column changing
-- forbids HOT): three index entries per updated row instead of none, the
-- largest part of what keeping history added to a merge. The rows written
-- after generation G are found without it (storage/repos_blocks.c): the
-- positions whose old version went to repos_history with valid_to > G
-- (every update and every PUT moves the old version there), plus the
-- positions appended after G's last block. That lookup needs the versions
-- retired after G in O(their number): the BRIN index on valid_to returned
-- every range not yet summarized (all of a large PUT's until a vacuum), so
-- it becomes a B-tree. Versions are appended in valid_to order, so its
-- inserts go to the rightmost leaf, deduplicated (one merge's versions share
-- one valid_to): far cheaper than the index entries of non-HOT updates. The
-- sweep deletes repos_generations below its cutoff in the statement that
-- deletes the versions, so min(generation) tells a render how far back
-- repos_history is complete.
DROP INDEX effective_rows_valid_from;
DROP INDEX repos_history_valid_to;
CREATE INDEX repos_history_valid_to ON repos_history (valid_to);
