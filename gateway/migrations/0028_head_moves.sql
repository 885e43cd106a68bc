-- Ingest performance (issue 11; bench/README.md "Changed in the late morning of 2026-12-06"):
-- case_heads (record_id) served one query, the records listing's "is this version current",
-- which now finds the head by its key and compares versions (unique per case). Without it each
-- new case writes one index entry less (a random key), and moving a head to its case's next
-- version changes no indexed column: the update is HOT (no index entry at all) when the page
-- has room, which a tenth of each new page now keeps.
DROP INDEX case_heads_record;
ALTER TABLE case_heads SET (fillfactor = 90);
