-- The fork guard of the transparency log (docs/backup.md): every change of its state, newest
-- last. A node whose latest event is `hold` (restored from a backup: wait for the parent to
-- confirm the log) or `fork` (the parent cosigned a tree this log does not extend) signs no
-- checkpoint; `clear` (confirmed by the parent) and `accepted` (an operator accepted the fork,
-- with a reason) let it sign again. As a witness, `forget` records that this node dropped the
-- checkpoint it held for a child's log (`origin`). No rows: nothing ever happened.
CREATE TABLE tlog_fork_events (
    seq          bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    state        text NOT NULL CHECK (state IN ('hold', 'fork', 'clear', 'accepted', 'forget')),
    origin       text,
    local_size   bigint,
    parent_size  bigint,
    parent_root  bytea,
    reason       text NOT NULL
);
