-- When the client certificate a principal presented last expires (recorded as it connects), so
-- operators are warned before it stops working.
ALTER TABLE principals ADD COLUMN cert_not_after timestamptz;
