-- Forwarding (issue 11; bench/README.md "Changed at noon, 2026-12-05"): a credential issued
-- with a record now travels in the request that carries the record's outbox row, found by its
-- record, instead of in a `certificate` outbox row of its own. Two rows for one record could be
-- claimed by two requests in flight, which then both carried the record: the parent stored it
-- once and made the second request wait for the first one's commit (the drain's bottleneck).
CREATE INDEX credential_versions_record ON credential_versions (record_id);
