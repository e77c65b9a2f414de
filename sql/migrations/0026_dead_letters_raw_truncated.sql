-- Whether raw_base64 is only the first bytes of the refused value (see 0025).
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS raw_truncated Bool DEFAULT false AFTER raw_length
