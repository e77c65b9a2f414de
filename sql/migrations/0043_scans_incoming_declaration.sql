-- The sink's Null table for scans takes the declaration status too (see 0042, 0044).
ALTER TABLE scans_incoming ADD COLUMN IF NOT EXISTS declaration LowCardinality(String) DEFAULT 'none' AFTER max_stay_minutes
