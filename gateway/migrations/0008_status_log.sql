-- Certificate status (issue 7): suspension is reversible, revocation final. The status lists a
-- node publishes are derived from `certificates.status` of the certificates it issued.
ALTER TABLE certificates ADD COLUMN status text NOT NULL DEFAULT 'valid'
    CHECK (status IN ('valid', 'suspended', 'revoked'));
ALTER TABLE certificates ADD COLUMN status_changed_at timestamptz;

-- Every status change, at the issuing node and (forwarded) at every tier above it.
CREATE TABLE certificate_status_changes (
    change_id   uuid PRIMARY KEY,
    identifier  text NOT NULL REFERENCES certificates (identifier),
    issuer_node text NOT NULL,
    status      text NOT NULL CHECK (status IN ('valid', 'suspended', 'revoked')),
    reason      text NOT NULL,
    -- The principal (API) or source system (case update) that changed it.
    changed_by  text NOT NULL,
    source      text NOT NULL CHECK (source IN ('api', 'case_update')),
    at          timestamptz NOT NULL,
    -- NULL: made here; otherwise the child it was forwarded from.
    forwarded_from text
);
CREATE INDEX status_changes_identifier ON certificate_status_changes (identifier, at);

-- The node's transparency log (RFC 6962): leaves in order, and the hashes of complete aligned
-- subtrees (level, index), from which every root and proof is computed.
CREATE TABLE tlog_leaves (
    leaf_index  bigint PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('credential', 'status')),
    -- credential_versions.credential_id or certificate_status_changes.change_id.
    ref_id      uuid NOT NULL UNIQUE,
    leaf_hash   bytea NOT NULL,
    appended_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE tlog_nodes (
    level smallint NOT NULL,
    idx   bigint NOT NULL,
    hash  bytea NOT NULL,
    PRIMARY KEY (level, idx)
);
-- Signed checkpoints (C2SP tlog-checkpoint), with the cosignatures witnesses returned.
CREATE TABLE tlog_checkpoints (
    tree_size  bigint PRIMARY KEY,
    root       bytea NOT NULL,
    note       text NOT NULL,
    -- How many witnesses cosigned it (their lines are in `note`).
    witnesses  integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- As a log: the size each witness last cosigned (the `old` of the next request to it).
CREATE TABLE tlog_witness_state (
    witness   text PRIMARY KEY,
    tree_size bigint NOT NULL
);
-- As a witness: the latest checkpoint this node cosigned for each log it witnesses.
CREATE TABLE tlog_witnessed (
    origin     text PRIMARY KEY,
    tree_size  bigint NOT NULL,
    root       bytea NOT NULL,
    note       text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
