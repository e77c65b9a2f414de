-- Retention of scans: RAVAO_RETENTION_DAYS, applied by `ravao migrate` when it changes.
ALTER TABLE scans MODIFY TTL toDateTime(scanned_at) + toIntervalDay({days:UInt16})
