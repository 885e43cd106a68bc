-- case_records.body: json instead of jsonb (issue 11; bench/README.md "Changed on the night of
-- 2026-12-05"). The gateway writes each body as RFC 8785 text it has already validated; jsonb
-- made PostgreSQL parse it into a tree, sort every object's keys and print it back for every
-- read, the forwarding drain's included. json keeps the text as given (PostgreSQL only checks
-- that it is JSON): 500 real bodies (1.1 KB) took 8.4-9.4 ms to insert as jsonb, 5.9-6.0 ms as
-- json and 3.1 ms as text (pgbench, unlogged table, no indexes), so about 6 µs of PostgreSQL's
-- CPU per record less on every insert, and no jsonb-to-text conversion when a body is read.
-- Nothing compares or indexes bodies (json has no equality operator); ->, ->> work on json.
-- Rewrites the table once; existing bodies keep jsonb's printed form, new ones are RFC 8785.
ALTER TABLE case_records ALTER COLUMN body TYPE json USING body::json;
-- The type change drops the column's compression setting (migration 0023): set it again.
DO $$
BEGIN
    ALTER TABLE case_records ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available in this PostgreSQL: bodies stay pglz-compressed';
END $$;
