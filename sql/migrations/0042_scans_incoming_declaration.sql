-- The sink's Null table for scans takes the declaration status too (see 0041, 0043).
ALTER TABLE scans_incoming ADD COLUMN IF NOT EXISTS declaration LowCardinality(String) DEFAULT 'none' AFTER max_stay_minutes
