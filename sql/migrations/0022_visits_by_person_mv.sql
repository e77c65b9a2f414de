-- Copies each inserted visit version into visits_by_person (columns in the target's order).
CREATE MATERIALIZED VIEW IF NOT EXISTS visits_by_person_mv TO visits_by_person AS
SELECT person_id, visit_id, version, venue_id, t_in, t_out, entry_how, exit_how, deleted
FROM visits
