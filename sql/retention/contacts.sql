-- Retention of contact lists: RAVAO_RETENTION_DAYS, applied by `ravao migrate` when it changes.
ALTER TABLE contacts MODIFY TTL toDateTime(updated_at) + toIntervalDay({days:UInt16})
