-- The row cache also keeps this node's latest checkpoint and latest cosigned size
-- (gateway/src/db/row_cache.rs): tell every process when a checkpoint is added or cosigned.
CREATE FUNCTION notify_table_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gateway_rows', TG_TABLE_NAME || ':');
    RETURN NULL;
END $$;

CREATE TRIGGER tlog_checkpoints_changed AFTER INSERT OR UPDATE OR DELETE ON tlog_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION notify_table_change();
