-- Registered, active venues in an area (at any tier below it) that had no scan in
-- [from, to): posters not put up, gates not used, stations offline.
-- Parameters: area String, from DateTime64, to DateTime64.
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
      SELECT DISTINCT venue_id
      FROM scans
      WHERE scanned_at >= {from:DateTime64(3, 'UTC')} AND scanned_at < {to:DateTime64(3, 'UTC')}
        AND has(area_path, {area:String})
  )
ORDER BY area_id, venue_id
