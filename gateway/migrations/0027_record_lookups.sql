-- migrate: no transaction
-- Record lookups (issue 11; bench/README.md "Changed in the late morning of 2026-12-06").
-- GET /v1/records returns a subtree's newest records first, 100 by default. The only index by
-- time was (region_code, occurred_at), which orders one region code's records, not a
-- subtree's, so a listing without a case number read and sorted every record of the subtree
-- (3.4 s over 1.46 million records); by item it read and sorted all of the item's records; a
-- holder's listing had no index at all and read every record (1.1 s). Each way in now has an
-- index ending in (occurred_at, record_id), read backward to the limit, so no plan sorts a
-- large set (the record id orders the records of one instant): time alone (a city's or the
-- province's newest), holder (the expression of gateway/src/api/records.rs FILTERS, character
-- for character: stored bodies and archived ones by their kept holder id), item, and region
-- code (a county's listing merges its codes' newest records, LISTING_BY_CODE).
--
-- Built CONCURRENTLY, outside a transaction: a build over a large store takes minutes (three
-- of these four took 76 s at 12 million records on the bench machine, built one by one without
-- CONCURRENTLY, which is slower) and must not stop pushes meanwhile. Every
-- statement can run again after an interruption (an interrupted build leaves an invalid index,
-- dropped first).
DROP INDEX IF EXISTS case_records_occurred;
CREATE INDEX CONCURRENTLY case_records_occurred ON case_records (occurred_at, record_id);
DROP INDEX IF EXISTS case_records_holder;
CREATE INDEX CONCURRENTLY case_records_holder
    ON case_records ((COALESCE(body->'applicant'->>'id_number', archive_holder_id)), occurred_at, record_id);
DROP INDEX IF EXISTS case_records_item_time;
CREATE INDEX CONCURRENTLY case_records_item_time ON case_records (item_code, occurred_at, record_id);
DROP INDEX IF EXISTS case_records_item;
DROP INDEX IF EXISTS case_records_region_time;
CREATE INDEX CONCURRENTLY case_records_region_time ON case_records (region_code, occurred_at, record_id);
DROP INDEX IF EXISTS case_records_region;
