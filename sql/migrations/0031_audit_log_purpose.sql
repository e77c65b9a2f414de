-- Why personal data was read in full: the case a tracer works on, or the role's own use.
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS purpose String AFTER subject
