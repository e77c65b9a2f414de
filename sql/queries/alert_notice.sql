-- One alert as its notification's link shows it: the latest version, its venue's name and
-- commune, nothing of the case (no case id). No row if there is no such alert.
-- Parameters: alert String (an alert id, a UUID).
SELECT a.status AS status, a.kind AS kind, a.latest_version AS version, a.first_presence AS first_presence,
       a.last_presence AS last_presence, a.updated_at AS updated_at, v.name AS venue_name,
       v.address AS venue_address, ar.name AS area_name
FROM
(
    SELECT max(version) AS latest_version, argMax(status, version) AS status, argMax(kind, version) AS kind,
           argMax(venue_id, version) AS venue_id, argMax(first_presence, version) AS first_presence,
           argMax(last_presence, version) AS last_presence, max(updated_at) AS updated_at
    FROM alerts
    WHERE alert_id = toUUIDOrZero({alert:String})
    GROUP BY alert_id
) AS a
LEFT JOIN
(
    SELECT venue_id, argMax(name, kafka_offset) AS name, argMax(address, kafka_offset) AS address,
           argMax(area_id, kafka_offset) AS area_id
    FROM venues
    GROUP BY venue_id
) AS v ON v.venue_id = a.venue_id
LEFT JOIN
(
    SELECT area_id, argMax(name, kafka_offset) AS name FROM areas GROUP BY area_id
) AS ar ON ar.area_id = v.area_id
