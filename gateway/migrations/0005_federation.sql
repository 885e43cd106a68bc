-- Certificates forwarded from child nodes live beside this node's own: a status-list index is
-- unique within its issuing node's list, not across the network.
ALTER TABLE certificates ADD COLUMN issuer_node text;
UPDATE certificates SET issuer_node = '';
ALTER TABLE certificates ALTER COLUMN issuer_node SET NOT NULL;
ALTER TABLE certificates DROP CONSTRAINT certificates_status_index_key;
ALTER TABLE certificates ADD CONSTRAINT certificates_issuer_status_index UNIQUE (issuer_node, status_index);
-- Where each stored record came from: this node's own push (NULL) or a child node.
ALTER TABLE case_records ADD COLUMN forwarded_from text;
