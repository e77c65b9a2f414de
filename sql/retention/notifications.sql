-- Retention of notifications: RAVAO_RETENTION_DAYS, applied by `ravao migrate` when it changes.
ALTER TABLE notifications MODIFY TTL toDateTime(created_at) + toIntervalDay({days:UInt16})
