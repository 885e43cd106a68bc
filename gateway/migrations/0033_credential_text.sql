-- Ingest performance (issue 11; bench/README.md "Changed and measured on 2026-12-07, eighth
-- session"): a credential version is stored to be answered, forwarded and hashed as issued,
-- and never queried inside on the hot path. As jsonb PostgreSQL parsed every one on insert:
-- a 2.1 KB credential took 34 µs of a backend as jsonb against 10.5 µs as text (psql, on the
-- bench's database), ~90 µs of PostgreSQL's time a certificate in all. New versions go to
-- `credential_text`, exactly the RFC 8785 bytes that were signed and logged; rows written
-- before keep `credential` (jsonb), and readers take `coalesce(credential_text,
-- credential::text)`. Adding a nullable column and dropping NOT NULL rewrite nothing, so this
-- is instant on a large store.
ALTER TABLE credential_versions
    ALTER COLUMN credential DROP NOT NULL,
    ADD COLUMN credential_text text,
    ADD CONSTRAINT credential_versions_credential_kept
        CHECK (credential IS NOT NULL OR credential_text IS NOT NULL) NOT VALID;
DO $$
BEGIN
    ALTER TABLE credential_versions ALTER COLUMN credential_text SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available in this PostgreSQL: credentials stay pglz-compressed';
END $$;
