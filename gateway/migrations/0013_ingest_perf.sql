-- Ingest performance (issue 11; bench/README.md "Changed after measuring").

-- Lookups by case number (GET /v1/records?case_no=…, the public lookup): the unique key starts
-- with source_system, so without this they scanned the table.
CREATE INDEX case_records_case_no ON case_records (case_no);
-- Joins from a record to its case head (the records query) read heads by record id.
CREATE INDEX case_heads_record ON case_heads (record_id);

-- What the transparency-log sequencer still has to append: a queue instead of an anti-join of
-- every credential version and status change against tlog_leaves on every round (whose cost
-- grew with the store). A row is written in the transaction that makes the credential (by
-- gateway/src/certificates/issue.rs) or the status change (by the trigger below), and deleted
-- in the sequencer's transaction that appends its leaf, so an entry is logged exactly once.
-- The sequencer also drops rows that are not this node's to log (forwarded from a child).
CREATE TABLE tlog_pending (
    ref_id uuid PRIMARY KEY,
    kind   text NOT NULL CHECK (kind IN ('credential', 'status')),
    -- The order leaves are appended in: credential_versions.issued_at / certificate_status_changes.at.
    at     timestamptz NOT NULL
);
CREATE INDEX tlog_pending_order ON tlog_pending (at, ref_id);

-- Status changes are written by several paths (API, case updates); a trigger queues every
-- change made at this node (forwarded ones carry forwarded_from and are never logged here).
CREATE FUNCTION tlog_pending_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tlog_pending (ref_id, kind, at) VALUES (NEW.change_id, 'status', NEW.at)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

-- No insert may slip between the backfill and the trigger (a process still on the old version).
LOCK TABLE credential_versions, certificate_status_changes IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER certificate_status_changes_tlog AFTER INSERT ON certificate_status_changes
    FOR EACH ROW WHEN (NEW.forwarded_from IS NULL) EXECUTE FUNCTION tlog_pending_status();

-- Whatever is not logged yet (the sequencer drops what another node issued).
INSERT INTO tlog_pending (ref_id, kind, at)
SELECT v.credential_id, 'credential', v.issued_at FROM credential_versions v
WHERE NOT EXISTS (SELECT 1 FROM tlog_leaves l WHERE l.ref_id = v.credential_id)
UNION ALL
SELECT s.change_id, 'status', s.at FROM certificate_status_changes s
WHERE s.forwarded_from IS NULL
  AND NOT EXISTS (SELECT 1 FROM tlog_leaves l WHERE l.ref_id = s.change_id);
