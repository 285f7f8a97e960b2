-- 0008_changes_outbox.sql - the journal of changes, and webhook deliveries (the outbox)
--
-- `changes` is one journal of what changed, written by the transaction that
-- made the change (storage/outbox_store.c, outbox_enqueue()): a merge that
-- changed the effective file, an inventory job that ended, an export that
-- failed. A change is committed exactly when what it announces is, so a
-- rolled-back merge leaves no row and a committed one always has its row.
-- `id` is the cursor of the journal (bigserial: ids grow in the order the
-- rows were inserted; a reader that needs commit order waits for
-- transactions in flight, as a merge does with events). `event_id` is the
-- CloudEvents `id` and the Standard Webhooks `webhook-id` of the change:
-- the same on every attempt and every URL, so receivers deduplicate by it.
-- `data` is the announced object (a merge, a job) as the API shows it.
--
-- `webhook_deliveries`: one row per change and webhook URL, inserted in the
-- same transaction as the change (from INGESTD_WEBHOOK_URLS of the process
-- that committed it). status: pending (attempts < the maximum; due at
-- next_attempt_at), delivered (a 2xx), gone (the receiver answered 410: no
-- further attempt), failed (the last attempt failed). A delivery thread
-- claims due rows with FOR UPDATE SKIP LOCKED and holds the row lock while
-- it sends, so no two replicas send one delivery at the same time.

CREATE TABLE changes (
    id bigserial PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    type text NOT NULL,
    source text NOT NULL,
    subject text,
    data jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX changes_type_id ON changes (type, id);

CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    change_id bigint NOT NULL REFERENCES changes (id),
    url text NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed', 'gone')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_attempt_at timestamptz,
    last_status integer, -- HTTP status of the last answer; NULL: none (or no attempt yet)
    last_error text,     -- why the last attempt failed (no secret, the URL redacted)
    delivered_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (change_id, url)
);
-- the delivery thread's claim: due pending rows, oldest due first
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
-- the admin list: newest first, optionally by status
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (created_at, id);
CREATE INDEX webhook_deliveries_status_list ON webhook_deliveries (status, created_at, id);
