-- Every process keeps principals and certificate statuses in memory (gateway/src/db/row_cache.rs);
-- these triggers tell all of them of each change, when it commits.
CREATE FUNCTION notify_row_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    key_column text := TG_ARGV[0];
    old_key text := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) ->> key_column END;
    new_key text := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) ->> key_column END;
BEGIN
    IF old_key IS NOT NULL THEN
        PERFORM pg_notify('gateway_rows', TG_TABLE_NAME || ':' || old_key);
    END IF;
    IF new_key IS NOT NULL AND new_key IS DISTINCT FROM old_key THEN
        PERFORM pg_notify('gateway_rows', TG_TABLE_NAME || ':' || new_key);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER principals_changed AFTER INSERT OR UPDATE OR DELETE ON principals
    FOR EACH ROW EXECUTE FUNCTION notify_row_change('id');

-- Only a status change (or a deletion) matters to the copies; a new version does not.
CREATE TRIGGER certificates_status_changed AFTER UPDATE ON certificates
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION notify_row_change('identifier');
CREATE TRIGGER certificates_deleted AFTER DELETE ON certificates
    FOR EACH ROW EXECUTE FUNCTION notify_row_change('identifier');
