-- Retention of visits: RAVAO_RETENTION_DAYS, applied by `ravao migrate` when it changes.
ALTER TABLE visits MODIFY TTL toDateTime(t_in) + toIntervalDay({days:UInt16})
