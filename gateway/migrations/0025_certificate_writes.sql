-- Ingest performance (issue 11; bench/README.md "Changed in the morning of 2026-12-06"): a batch
-- that issues certificates inserts each new certificate row, stores its credential versions,
-- then moves the row's current_version, all in one transaction.
--
-- * Each credential version checked two foreign keys (its certificate, its record): a query and
--   a row lock each, as migration 0020 measured for case heads. Both rows are written or locked
--   by the transaction that stores the version (certificates/issue.rs, federation/receive.rs,
--   which checks that a forwarded credential's record is stored first), so the checks only
--   guarded against a certificate or record disappearing. Records are append-only since 0020;
--   certificates now are too (a revocation is a status, never a delete).
-- * The move of current_version rewrote the row in a fresh place with an entry in each of its
--   four indexes: a newly filled page has no room for the new version (13 % of those updates
--   were HOT). Leaving a fifth of each page free keeps the new version on its page, with no
--   index entry (current_version is in no index). Pages written from now on.
ALTER TABLE credential_versions DROP CONSTRAINT credential_versions_identifier_fkey;
ALTER TABLE credential_versions DROP CONSTRAINT credential_versions_record_id_fkey;

CREATE FUNCTION certificates_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'certificates are never deleted (revocation is a status; credential versions name them)'
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER certificates_append_only BEFORE DELETE OR TRUNCATE ON certificates
    FOR EACH STATEMENT EXECUTE FUNCTION certificates_append_only();

ALTER TABLE certificates SET (fillfactor = 80);
