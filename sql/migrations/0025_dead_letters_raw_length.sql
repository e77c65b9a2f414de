-- A dead letter keeps a bounded prefix of what it refused, and the whole length. Rows
-- written before hold the whole value: their length is that of the decoded bytes.
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS raw_length UInt64 DEFAULT length(tryBase64Decode(raw_base64)) AFTER raw_base64
