-- Signing-key rotation (issue 7): a node's request to add its new key to the trust bundle,
-- passed up the tree to the province, which publishes a new bundle listing it.
CREATE TABLE key_requests (
    new_key       text PRIMARY KEY,
    node_region   text NOT NULL,
    request       jsonb NOT NULL,
    -- NULL: made here (`gateway keys rotate`); otherwise the child it came from.
    received_from text,
    received_at   timestamptz NOT NULL DEFAULT now(),
    -- When it was passed to this node's parent.
    forwarded_at  timestamptz,
    -- At the root: the trust bundle version that lists the key.
    published_in  bigint
);
