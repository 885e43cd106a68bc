-- Staff accounts for the web listener (approvers, operators, supervisors who log in instead of
-- presenting a client certificate). Passwords are argon2id PHC strings, never plain text.
CREATE TABLE users (
    username      text PRIMARY KEY CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('approver', 'operator', 'supervisor')),
    department    text CHECK (department ~ '^[a-z][a-z0-9_]{1,39}$'),
    region_code   text NOT NULL CHECK (region_code ~ '^[0-9]{12}$'),
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'retired')),
    display_name  text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Login sessions. Only the SHA-256 of the cookie value is stored, so a database reader cannot
-- take over a session.
CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY,
    username   text NOT NULL REFERENCES users (username),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Every lookup of shared data: who, in which role, on which node, for what purpose, what, when.
-- Written (committed) before the answer leaves.
CREATE TABLE audit_log (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    principal_id   text NOT NULL,
    principal_kind text NOT NULL CHECK (principal_kind IN ('certificate', 'account')),
    role           text NOT NULL,
    node_region    text NOT NULL,
    action         text NOT NULL,
    target         text NOT NULL,
    purpose        text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 500),
    results        integer NOT NULL,
    request_id     text
);
CREATE INDEX audit_principal ON audit_log (principal_id, at);
CREATE INDEX audit_target ON audit_log (target, at);
