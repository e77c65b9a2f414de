-- The read's own id: the same audit record landed twice (a replayed offset) is one read.
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS audit_id UUID FIRST
