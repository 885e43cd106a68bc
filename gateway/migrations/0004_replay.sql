-- The whole payload of every batch that had a rejected or conflicting record, kept once per
-- batch: replaying a quarantined record re-decodes the payload with its adapter and takes the
-- record at its position (a CSV row alone has no header, an XML record no declared encoding).
CREATE TABLE ingest_payloads (
    batch_id     uuid PRIMARY KEY,
    adapter      text NOT NULL,
    principal_id text NOT NULL,
    received_at  timestamptz NOT NULL,
    payload      bytea NOT NULL
);

-- Replays: when a quarantined record was last tried again, and why it still fails.
ALTER TABLE quarantine ADD COLUMN replay_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE quarantine ADD COLUMN last_replay_at timestamptz;
