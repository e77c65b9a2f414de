-- Registered, active venues in an area (at any tier below it) that had no scan on the
-- days from_day to to_day: the tier page's list, from venue_scan_days (one row per venue
-- and day) rather than the raw scans of the window.
-- Parameters: area String, from_day Date, to_day Date.
SELECT venue_id, name, category, area_id
FROM
(
    SELECT venue_id, argMax(name, kafka_offset) AS name, argMax(category, kafka_offset) AS category,
           argMax(area_id, kafka_offset) AS area_id, argMax(area_path, kafka_offset) AS area_path,
           argMax(active, kafka_offset) AS active, argMax(deleted, kafka_offset) AS deleted
    FROM venues
    GROUP BY venue_id
)
WHERE active AND NOT deleted AND has(area_path, {area:String})
  AND venue_id NOT IN
  (
      SELECT venue_id
      FROM venue_scan_days
      WHERE day >= {from_day:Date} AND day <= {to_day:Date} AND has(area_path, {area:String})
  )
ORDER BY area_id, venue_id
