-- A case's latest change (status, onset) and who made it. The case's note stays on the
-- `cases` topic: free words about a person's health are not for the warehouse's readers.
ALTER TABLE cases ADD COLUMN IF NOT EXISTS updated_at Nullable(DateTime64(3, 'UTC')) AFTER registered_by
