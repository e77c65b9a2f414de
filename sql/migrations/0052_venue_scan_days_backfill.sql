-- The scans stored before 0051: their venues' days. Harmless when repeated (the table
-- keeps one row per venue and day) and when 0051 already wrote some of them.
INSERT INTO venue_scan_days
SELECT venue_id, toDate(scanned_at) AS day, any(area_path) AS area_path
FROM scans
GROUP BY venue_id, day
