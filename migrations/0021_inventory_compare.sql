-- 0021_inventory_compare.sql - data files compared with the catalog while they stream
--
-- A sorted data file is read beside the catalog's records of its key range
-- (storage/inventory_compare.c): a key whose lines are all identical to
-- their versions' latest records is not staged, and a current record of the
-- range that no line lists is staged as a marker row (reason 'Unlisted')
-- that the apply takes out of the partition and checks for deletion.
--  * compared: the file was read so (its key range's deletions are its markers);
--  * skipped: its lines not staged (records still counts every line);
--  * unlisted: its marker rows;
--  * same: its staged lines found identical while streaming (reason 'Same'
--    until the apply drops them or, for a key's kept latest line, sets 'Crawl').

ALTER TABLE inventory_files
    ADD COLUMN compared boolean NOT NULL DEFAULT false,
    ADD COLUMN skipped bigint NOT NULL DEFAULT 0,
    ADD COLUMN unlisted bigint NOT NULL DEFAULT 0,
    ADD COLUMN same bigint NOT NULL DEFAULT 0;
