-- Audit chain (issue 7): the audit trail becomes tamper-evident.
--
-- Rows are inserted (and committed) without chain columns, before the answer leaves; shortly
-- after, one chainer at a time (advisory lock) links committed rows in id order:
--   row_hash = SHA-256(prev_hash || RFC 8785 JCS of the row's audited fields)
-- with chain_seq 1, 2, 3, … and prev_hash of seq 1 = 32 zero bytes (docs/audit.md).
ALTER TABLE audit_log
    ADD COLUMN chain_seq bigint UNIQUE,
    ADD COLUMN prev_hash bytea CHECK (length(prev_hash) = 32),
    ADD COLUMN row_hash  bytea CHECK (length(row_hash) = 32),
    ADD CONSTRAINT audit_log_chained_whole CHECK (
        (chain_seq IS NULL) = (row_hash IS NULL) AND (chain_seq IS NULL) = (prev_hash IS NULL)
    );
-- The chainer's work list: unchained rows, in id order.
CREATE INDEX audit_unchained ON audit_log (id) WHERE chain_seq IS NULL;

-- Chain heads this node received from its children (`POST /v1/federation/audit-head`), one row
-- per head that raised the child's sequence; the child's held head is its highest seq. A lower
-- seq never replaces a higher one; the same seq with another hash is refused as a fork. Kept,
-- not overwritten: every acknowledged head is evidence of what the child's chain was.
CREATE TABLE audit_child_heads (
    child_region text NOT NULL CHECK (child_region ~ '^[0-9]{12}$'),
    seq          bigint NOT NULL CHECK (seq >= 1),
    hash         bytea NOT NULL CHECK (length(hash) = 32),
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (child_region, seq)
);
