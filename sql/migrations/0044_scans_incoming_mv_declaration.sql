-- 0024's view, forwarding the declaration status as well (in `scans`' column order: a
-- view writes by position).
ALTER TABLE scans_incoming_mv MODIFY QUERY
SELECT
    event_id,
    source,
    person_id,
    venue_id,
    device_id,
    direction,
    scanned_at,
    received_at,
    area_id,
    area_path,
    category,
    default_stay_minutes,
    max_stay_minutes,
    declaration,
    kafka_partition,
    kafka_offset
FROM scans_incoming
WHERE event_id NOT IN
(
    SELECT event_id
    FROM scans
    WHERE toDate(scanned_at) IN (SELECT toDate(scanned_at) FROM scans_incoming)
      AND event_id IN (SELECT event_id FROM scans_incoming)
)
LIMIT 1 BY event_id
