-- Forwarding (issue 11; bench/README.md "Changed late in the night of 2026-12-06"): an outbox
-- row names up to 100 items (`ref_ids`) instead of one (`ref_id`). A pushed batch of 500
-- records wrote 500 rows and two index entries each, and the drain deleted them one by one:
-- about 6 µs of PostgreSQL a record on the child (and on every tier between it and the root)
-- for what is one request's worth of ids. Each row from before becomes a row of one item,
-- with its attempts, delay and error.
--
-- Not across a rolling upgrade: an older process writes and claims `ref_id` (its pushes fail
-- until it is stopped). The rewrite touches only unsent rows: the outbox holds nothing else.
ALTER TABLE outbox ADD COLUMN ref_ids uuid[];
UPDATE outbox SET ref_ids = ARRAY[ref_id];
ALTER TABLE outbox ALTER COLUMN ref_ids SET NOT NULL;
ALTER TABLE outbox ADD CONSTRAINT outbox_ref_ids CHECK (cardinality(ref_ids) BETWEEN 1 AND 100);
ALTER TABLE outbox DROP COLUMN ref_id;
