-- Retention of tier_counts_hourly: RAVAO_RETENTION_DAYS, applied by `ravao migrate` when it changes.
ALTER TABLE tier_counts_hourly MODIFY TTL hour + toIntervalDay({days:UInt16})
