-- Retention of alerts: RAVAO_RETENTION_DAYS, applied by `ravao migrate` when it changes.
ALTER TABLE alerts MODIFY TTL toDateTime(created_at) + toIntervalDay({days:UInt16})
