-- Retention of dead_letters: RAVAO_RETENTION_DAYS, applied by `ravao migrate` when it changes.
ALTER TABLE dead_letters MODIFY TTL toDateTime(rejected_at) + toIntervalDay({days:UInt16})
