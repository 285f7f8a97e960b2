-- 0005_inventory_error_kind.sql - a failed inventory job records the kind of its failure
--
-- inventory_jobs.error_status held the HTTP status a failed ?wait=true
-- answers with (422: bad manifest or data, 502: S3 failed), chosen by the
-- storage layer. error_kind holds the kind of the failure instead, spelt
-- as core/err.c's err_name() spells enum err ('unprocessable', 'upstream',
-- ...); the handler maps it to a status. NULL unless the job failed.
-- Existing failed jobs keep the status they had: 502 was 'upstream', 422
-- 'unprocessable'.

ALTER TABLE inventory_jobs ADD COLUMN error_kind text;
UPDATE inventory_jobs SET error_kind = CASE error_status WHEN 502 THEN 'upstream'
                                                         ELSE 'unprocessable' END
    WHERE error_status IS NOT NULL;
ALTER TABLE inventory_jobs DROP COLUMN error_status;
