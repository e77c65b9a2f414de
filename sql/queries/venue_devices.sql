-- A venue's guard phones and reader stations, latest record of each, withdrawn ones left
-- out (a device moved to another venue counts there only). No phone, no token hash.
-- Parameters: venue String.
SELECT device_id, kind, mode, label, active, updated_at
FROM
(
    SELECT device_id, argMax(venue_id, kafka_offset) AS place, argMax(kind, kafka_offset) AS kind,
           argMax(mode, kafka_offset) AS mode, argMax(label, kafka_offset) AS label,
           argMax(active, kafka_offset) AS active, argMax(updated_at, kafka_offset) AS updated_at,
           argMax(deleted, kafka_offset) AS deleted
    FROM devices
    WHERE device_id IN (SELECT device_id FROM devices WHERE venue_id = {venue:String})
    GROUP BY device_id
)
WHERE NOT deleted AND place = {venue:String}
ORDER BY active DESC, kind, label, device_id
