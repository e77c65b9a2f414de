-- Retention of visit_slots: RAVAO_RETENTION_DAYS, applied by `ravao migrate` when it changes.
ALTER TABLE visit_slots MODIFY TTL slot + toIntervalDay({days:UInt16})
