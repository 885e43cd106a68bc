-- The audit trail keeps a lookup's purpose as `code: text`, with a text of up to 500
-- characters: the stored form is longer than the text alone (schemathesis found a 500 at 490+
-- characters of text).
ALTER TABLE audit_log DROP CONSTRAINT audit_log_purpose_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_purpose_check
    CHECK (length(purpose) BETWEEN 1 AND 1000);
