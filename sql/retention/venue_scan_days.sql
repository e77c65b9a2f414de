-- Retention of venue_scan_days: RAVAO_RETENTION_DAYS, applied by `ravao migrate` when it changes.
ALTER TABLE venue_scan_days MODIFY TTL day + toIntervalDay({days:UInt16})
