-- Principals: who a client certificate's principal id is. Department and region come from
-- here, never from a payload.
CREATE TABLE principals (
    id           text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    role         text NOT NULL CHECK (role IN ('system', 'approver', 'operator', 'supervisor', 'peer', 'public')),
    department   text CHECK (department ~ '^[a-z][a-z0-9_]{1,39}$'),
    region_code  text NOT NULL CHECK (region_code ~ '^[0-9]{12}$'),
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'retired')),
    display_name text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (role <> 'system' OR department IS NOT NULL)
);

-- One row per ingest request: its receipt, so a client can ask again later.
CREATE TABLE ingest_batches (
    batch_id        uuid PRIMARY KEY,
    client_batch_id text,
    principal_id    text NOT NULL REFERENCES principals (id),
    adapter         text NOT NULL,
    received_at     timestamptz NOT NULL,
    committed_at    timestamptz NOT NULL DEFAULT now(),
    records         integer NOT NULL,
    accepted        integer NOT NULL,
    duplicates      integer NOT NULL,
    conflicts       integer NOT NULL,
    rejected        integer NOT NULL,
    receipt         jsonb NOT NULL,
    UNIQUE (principal_id, client_batch_id)
);

-- Every version of every case. (source_system, case_no, version) identifies a record
-- network-wide; content_hash (SHA-256 of the RFC 8785 form, without ingested_at) tells a
-- duplicate from a version conflict.
CREATE TABLE case_records (
    record_id     uuid PRIMARY KEY,
    source_system text NOT NULL,
    case_no       text NOT NULL,
    version       bigint NOT NULL,
    department    text NOT NULL,
    region_code   text NOT NULL,
    item_code     text NOT NULL,
    status        text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    ingested_at   timestamptz NOT NULL,
    stored_at     timestamptz NOT NULL DEFAULT now(),
    batch_id      uuid NOT NULL,
    content_hash  bytea NOT NULL,
    body          jsonb NOT NULL,
    UNIQUE (source_system, case_no, version)
);
CREATE INDEX case_records_region ON case_records (region_code, occurred_at);
CREATE INDEX case_records_item ON case_records (item_code);

-- The current (highest) version of each case; every other version is history.
CREATE TABLE case_heads (
    source_system text NOT NULL,
    case_no       text NOT NULL,
    version       bigint NOT NULL,
    record_id     uuid NOT NULL REFERENCES case_records (record_id),
    PRIMARY KEY (source_system, case_no)
);

-- Forwarding outbox: written in the same transaction as what it forwards, drained upward.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('record', 'certificate', 'status')),
    ref_id          uuid NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    sent_at         timestamptz
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at, id) WHERE sent_at IS NULL;

-- Quarantine: every rejected record (or undecodable payload) with its raw bytes, for replay.
CREATE TABLE quarantine (
    id              uuid PRIMARY KEY,
    batch_id        uuid NOT NULL,
    adapter         text NOT NULL,
    principal_id    text NOT NULL,
    department      text NOT NULL,
    position        integer,            -- NULL: the whole payload
    source_location text,
    case_no         text,
    reason          text NOT NULL CHECK (reason IN ('rejected', 'version_conflict', 'payload')),
    errors          jsonb NOT NULL,
    raw             bytea NOT NULL,
    received_at     timestamptz NOT NULL,
    replayed_at     timestamptz,
    replay_record_id uuid
);
CREATE INDEX quarantine_open ON quarantine (adapter, received_at) WHERE replayed_at IS NULL;
