-- Forwarding (issue 11; bench/README.md "Changed in the afternoon of 2026-12-06"): an outbox row
-- is deleted when the parent has acknowledged it, in the transaction that claimed it, instead
-- of being marked `sent_at` and kept a week as a trail. Marking was an update of a column in
-- the pending index's predicate, so never HOT: a new row version and index entry per forwarded
-- item, then a purge and its vacuum a week later; the table held a week of sent rows that the
-- depth count, the lag probe and the archiver's "still to forward?" check stepped over. What
-- went up, and when, is at the parent (`case_records.forwarded_from`, `stored_at`).
--
-- Not across a rolling upgrade: an older process's drainer reads `sent_at` (its claims fail and
-- retry until it is stopped; its pushes go on). The sent rows' delete is the slow part (a
-- week of them); the node answers 503 on /readyz meanwhile.
DELETE FROM outbox WHERE sent_at IS NOT NULL;
-- Drops `outbox_pending` with it (its predicate names the column).
ALTER TABLE outbox DROP COLUMN sent_at;
CREATE INDEX outbox_due ON outbox (next_attempt_at, id);
