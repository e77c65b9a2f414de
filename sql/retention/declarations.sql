-- Retention of declarations: RAVAO_RETENTION_DAYS, applied by `ravao migrate` when it changes.
ALTER TABLE declarations MODIFY TTL toDateTime(declared_at) + toIntervalDay({days:UInt16})
