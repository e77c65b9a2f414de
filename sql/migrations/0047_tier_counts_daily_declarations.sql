-- Scans made with a current declaration (status other than none) and scans whose person
-- had reported symptoms (status symptoms): sums, exact like `scans` (see 0015). Rows
-- written before read 0.
ALTER TABLE tier_counts_daily
    ADD COLUMN IF NOT EXISTS scans_declared SimpleAggregateFunction(sum, UInt64) DEFAULT 0 AFTER exits,
    ADD COLUMN IF NOT EXISTS scans_with_symptoms SimpleAggregateFunction(sum, UInt64) DEFAULT 0 AFTER scans_declared
