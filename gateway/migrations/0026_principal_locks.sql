-- Ingest performance (issue 11; bench/README.md "Changed in the morning of 2026-12-06"): every
-- push's ingest_batches row checked its foreign key to principals, which locks the principal's
-- row (FOR KEY SHARE) until the push commits. A department system pushes over many connections
-- at once, so its row was locked by several transactions together: each lock is a WAL record
-- on the principal's page and, shared, a MultiXact, on every push. The push's principal is the
-- one its client certificate was just authenticated as, read from this table; principals are
-- never deleted (retirement is a status, and audit rows and receipts name them), which the
-- store now enforces instead.
ALTER TABLE ingest_batches DROP CONSTRAINT ingest_batches_principal_id_fkey;

CREATE FUNCTION principals_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'principals are never deleted (retire them: gateway principals retire)'
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER principals_kept BEFORE DELETE OR TRUNCATE ON principals
    FOR EACH STATEMENT EXECUTE FUNCTION principals_kept();
