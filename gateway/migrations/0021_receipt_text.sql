-- Ingest performance (issue 11; bench/README.md "Changed in the morning of 2026-12-05"): a
-- 500-record batch's receipt is ~110 KB of JSON, stored to be answered again verbatim and never
-- queried inside. As jsonb PostgreSQL parsed and re-encoded it on every push (~3 ms of a
-- backend per 500-record batch, measured with psql; ~1 ms as text). New receipts go to
-- `receipt_text`; rows written before keep `receipt`. Adding a nullable column and dropping NOT
-- NULL rewrite nothing, so this is instant on a large store.
ALTER TABLE ingest_batches
    ALTER COLUMN receipt DROP NOT NULL,
    ADD COLUMN receipt_text text,
    ADD CONSTRAINT ingest_batches_receipt_kept
        CHECK (receipt IS NOT NULL OR receipt_text IS NOT NULL) NOT VALID;
