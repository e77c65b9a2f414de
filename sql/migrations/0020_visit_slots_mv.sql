-- Explodes each inserted visit version into the 15-minute slots from the slot of t_in to
-- the slot of t_out (timeSlots), into visit_slots (columns in the target's order).
CREATE MATERIALIZED VIEW IF NOT EXISTS visit_slots_mv TO visit_slots AS
SELECT
    venue_id,
    arrayJoin(timeSlots(toDateTime(t_in), toUInt32(dateDiff('second', t_in, t_out)), 900)) AS slot,
    person_id,
    visit_id,
    version,
    t_in,
    t_out,
    deleted
FROM visits
