-- Who made a case's latest change (see 0035).
ALTER TABLE cases ADD COLUMN IF NOT EXISTS updated_by Nullable(String) AFTER updated_at
