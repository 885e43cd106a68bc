-- A credential's transparency-log leaf hash, computed when it is issued (issue 11; bench/README.md
-- "Changed on the night of 2026-12-05"). The sequencer appends it as it is: it no longer reads
-- each credential back, parses it and hashes it, nor checks that the row is this node's and not
-- logged yet (the issuing transaction wrote both rows; the sequencer's transaction deletes the
-- queue row with the leaf it appends). That reading and checking was a tenth of PostgreSQL's
-- statement time during sustained ingest. NULL for status changes (queued by the trigger of
-- migration 0013), rows of that migration's backfill and rows queued by an older process: the
-- sequencer checks and hashes those from their source rows, as before. `gateway log audit`
-- still recomputes every leaf from its source row.
ALTER TABLE tlog_pending ADD COLUMN leaf_hash bytea CHECK (octet_length(leaf_hash) = 32);
