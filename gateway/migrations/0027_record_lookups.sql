-- Record lookups (issue 11; bench/README.md "Changed in the late morning of 2026-12-06"):
-- GET /v1/records returns a region subtree's newest records first. The only index by time was
-- (region_code, occurred_at), which orders one region code's records, not a subtree's many, so
-- a listing without a case number read and sorted every record of the subtree to return 100
-- (3.4 s over 1.46 million records); a holder's listing had no index at all and read every
-- record (1.1 s). Newest-first now walks the first index backward and stops at the limit (the
-- record id in the key orders records of one instant too, so none is sorted), and a holder's
-- newest records (stored bodies, and archived ones by their kept holder id: the expression of
-- gateway/src/api/records.rs LISTING, character for character) are the end of their range in
-- the second.
-- Building them holds writes to case_records for the length of the build (34 s for 12 million
-- records on the bench machine): upgrade a large node in a quiet hour (docs/operations.md).
CREATE INDEX case_records_occurred ON case_records (occurred_at, record_id);
CREATE INDEX case_records_holder
    ON case_records ((COALESCE(body->'applicant'->>'id_number', archive_holder_id)), occurred_at, record_id);
