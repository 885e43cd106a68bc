-- Principals of the nodes below, as their nodes last reported them (docs/sharing.md,
-- "Participants"): a routed lookup is refused here when the requester's own node suspended or
-- retired it. Each child's report replaces its previous one as a whole.
CREATE TABLE remote_principals (
    -- The child node that reported it (the principal's node is in that child's subtree).
    via_child text NOT NULL,
    -- The node where the principal is registered.
    node text NOT NULL,
    id text NOT NULL,
    role text NOT NULL,
    department text,
    region_code text NOT NULL,
    status text NOT NULL CHECK (status IN ('active', 'suspended', 'retired')),
    PRIMARY KEY (node, id)
);
CREATE INDEX remote_principals_via_child ON remote_principals (via_child);

-- The latest report stored per child: an older one arriving late is not applied.
CREATE TABLE remote_principal_reports (
    via_child text PRIMARY KEY,
    taken_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
