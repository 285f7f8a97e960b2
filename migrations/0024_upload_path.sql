-- 0024_upload_path.sql - what an upload writes beside its event, made cheaper
--
-- An upload wrote, beside its event and event_rows, an entry per row in the
-- B-tree event_rows_key (key_digest, event_seq DESC, row_no DESC) and, by the
-- statement trigger events_journal (0015), its io.ingestd.event.accepted
-- journal row. Together they cost uploads about a quarter of their
-- throughput (README "Uploads"):
--  * event_rows_key becomes a hash index on key_digest. A history lookup
--    reads every row of its key anyway (the window that finds each merge's
--    winner needs them all, history_store.c), so the B-tree's order served
--    nothing; a hash entry holds a 4-byte hash code instead of the 32-byte
--    digest and two sort columns, and an insert finds its bucket page
--    without comparing digests down a tree.
--  * the journal row of an accepted event is written by the upload's own
--    statement (a data-modifying WITH in storage/events_store.c, the one
--    place events are inserted), in the same transaction as before, without
--    a trigger's transition table and its second statement.
DROP INDEX event_rows_key;
CREATE INDEX event_rows_key ON event_rows USING hash (key_digest);

DROP TRIGGER events_journal ON events;
DROP FUNCTION journal_events();
