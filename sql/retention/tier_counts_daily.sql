-- Retention of tier_counts_daily: RAVAO_RETENTION_DAYS, applied by `ravao migrate` when it changes.
ALTER TABLE tier_counts_daily MODIFY TTL day + toIntervalDay({days:UInt16})
