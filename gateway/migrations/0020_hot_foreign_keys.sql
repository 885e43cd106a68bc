-- Ingest performance (issue 11; bench/README.md "Changed on 2026-12-05, morning"): every stored
-- record writes a case head and a supervision row that point at it, and each foreign-key check
-- on them was a query plus a row lock on case_records (about 9 µs of PostgreSQL time each, two
-- per record). Both rows are written in the transaction that inserts (or already holds) the
-- record they name, so the checks only guarded against a record disappearing. Records never
-- disappear (archiving keeps the row and moves only the body): that is now enforced instead.
ALTER TABLE case_heads DROP CONSTRAINT case_heads_record_id_fkey;
ALTER TABLE supervision_cases DROP CONSTRAINT supervision_cases_record_id_fkey;

CREATE FUNCTION case_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case records are never deleted (archiving moves the body, the row stays)'
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER case_records_append_only BEFORE DELETE OR TRUNCATE ON case_records
    FOR EACH STATEMENT EXECUTE FUNCTION case_records_append_only();
