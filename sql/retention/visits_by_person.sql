-- Retention of visits_by_person: RAVAO_RETENTION_DAYS, applied by `ravao migrate` when it changes.
ALTER TABLE visits_by_person MODIFY TTL toDateTime(t_in) + toIntervalDay({days:UInt16})
