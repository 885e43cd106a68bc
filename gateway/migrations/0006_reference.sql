-- Reference data published by the province and propagated down the tree (catalog, region
-- table, trust bundle): every version a node holds, as the signed envelope it arrived in.
-- A version is never replaced: the same (kind, version) with other content is refused.
CREATE TABLE reference_versions (
    kind           text        NOT NULL,
    version        bigint      NOT NULL CHECK (version >= 1),
    effective_from timestamptz NOT NULL,
    retroactive    boolean     NOT NULL,
    published_at   timestamptz NOT NULL,
    content_hash   bytea       NOT NULL,
    envelope       jsonb       NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    -- NULL: published here; otherwise the parent it came from.
    received_from  text,
    PRIMARY KEY (kind, version)
);
