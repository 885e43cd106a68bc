-- Large values compressed with lz4 instead of pglz (issue 11; bench/README.md "Changed on the
-- evening of 2026-12-05"). A 500-record receipt is ~110 KB of text: pglz took ~0.8 ms of
-- PostgreSQL's CPU to compress one, lz4 ~0.2 ms, for about the same size (17 vs 19 KB).
-- Applies to values written from now on; nothing is rewritten. A server built without lz4
-- (the Debian package has it) keeps pglz.
DO $$
BEGIN
    ALTER TABLE ingest_batches ALTER COLUMN receipt_text SET COMPRESSION lz4;
    ALTER TABLE ingest_payloads ALTER COLUMN payload SET COMPRESSION lz4;
    ALTER TABLE quarantine ALTER COLUMN raw SET COMPRESSION lz4;
    ALTER TABLE case_records ALTER COLUMN body SET COMPRESSION lz4;
    ALTER TABLE credential_versions ALTER COLUMN credential SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available in this PostgreSQL: large values stay pglz-compressed';
END $$;
