-- Archiving (issue 12): completed cases older than a configured age move out of the database
-- into segment files (one JSON body per line) with a signed hash manifest. The row stays —
-- its keys keep duplicates out and its id keeps certificates and supervision rows attached —
-- but its body is replaced by where it lies in the archive, and the two body fields lookups
-- filter on are kept beside it.
CREATE TABLE archive_segments (
    id          bigserial PRIMARY KEY,
    -- file name inside archive.dir
    file        text NOT NULL UNIQUE,
    -- SHA-256 of the segment file; the manifest lists every record's content hash
    sha256      bytea NOT NULL,
    bytes       bigint NOT NULL,
    records     integer NOT NULL,
    cutoff      timestamptz NOT NULL,
    manifest    jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE case_records
    ALTER COLUMN body DROP NOT NULL,
    ADD COLUMN archive_segment   bigint REFERENCES archive_segments (id),
    ADD COLUMN archive_offset    bigint,
    ADD COLUMN archive_length    integer,
    -- body->'applicant'->>'id_number' and body->'disclosure'->>'public' of an archived body
    ADD COLUMN archive_holder_id text,
    ADD COLUMN archive_public    boolean,
    ADD CONSTRAINT case_records_body_or_archive CHECK (
        (body IS NOT NULL AND archive_segment IS NULL)
        OR (body IS NULL AND archive_segment IS NOT NULL
            AND archive_offset IS NOT NULL AND archive_length IS NOT NULL));
