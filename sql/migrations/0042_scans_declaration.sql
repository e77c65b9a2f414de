-- The person's declaration status at the scan's time (`none`, `ok`, `symptoms`,
-- `exposed`), attached by validation: the word only, never the answers. Rows written
-- before it existed read `none`.
ALTER TABLE scans ADD COLUMN IF NOT EXISTS declaration LowCardinality(String) DEFAULT 'none' AFTER max_stay_minutes
