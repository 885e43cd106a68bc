-- Operator totals (issue 9): per-minute counts of what the node did, summed over all of its
-- processes. Each process adds up its own counts in memory and upserts them every
-- `ops.flush_interval_ms` (gateway/src/ops/totals.rs), so the hot path never touches this table
-- and a row is written a few times a minute, not once per batch. `GET /v1/ops/series` and the
-- `/ops` page read it; docs/operations.md lists the kinds and measures.
--
--   kind     key                      measure                                      count / sum / max
--   adapter  adapter id, `forwarded`  received, accepted, duplicate,               records / – / –
--                                     version_conflict, rejected
--   tier     province … township      the same (records by the tier of the node    records / – / –
--                                     that first accepted them)
--   batch    adapter id               latency_ms                                   batches / ms / ms
--   outbox   ''                       depth, lag_seconds (sampled)                 samples / Σ / max
CREATE TABLE ops_minutes (
    -- Start of the minute (UTC, whole minutes).
    minute  timestamptz NOT NULL CHECK (date_trunc('minute', minute) = minute),
    kind    text NOT NULL,
    key     text NOT NULL,
    measure text NOT NULL,
    count   bigint NOT NULL,
    sum     double precision NOT NULL DEFAULT 0,
    max     double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, kind, key, measure)
);
