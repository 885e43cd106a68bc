-- Electronic certificates. A certificate is identified by (issuing authority, type code,
-- number); its GB/T 36904 identifier is fixed at first issue and never minted again, whatever
-- re-pushes or new case versions arrive.
CREATE TABLE certificates (
    identifier      text PRIMARY KEY,
    authority_code  text NOT NULL,
    type_code       text NOT NULL,
    number          text NOT NULL,
    holder_code     text NOT NULL,
    holder_name     text NOT NULL,
    region_code     text NOT NULL,
    minted          boolean NOT NULL,   -- minted by this node (the source supplied none)
    current_version integer NOT NULL,
    -- Position in this node's revocation and suspension status lists (same index in both).
    status_index    bigint NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (authority_code, type_code, number)
);
CREATE INDEX certificates_holder ON certificates (holder_code);

-- Every signed credential ever issued; a changed certificate gets a new version, the old one
-- stays.
CREATE TABLE credential_versions (
    credential_id uuid PRIMARY KEY,
    identifier    text NOT NULL REFERENCES certificates (identifier),
    version       integer NOT NULL,
    record_id     uuid NOT NULL REFERENCES case_records (record_id),
    content_hash  bytea NOT NULL,
    signing_key   text NOT NULL,
    issued_at     timestamptz NOT NULL,
    credential    jsonb NOT NULL,
    UNIQUE (identifier, version)
);

-- Serials of minted identifiers (node region + this sequence) and status-list indices.
CREATE SEQUENCE certificate_serial_seq;
CREATE SEQUENCE status_index_seq MINVALUE 0 START 0;
