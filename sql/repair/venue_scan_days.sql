-- Rebuild one day of venue_scan_days from the raw scans (after that day's rows were
-- deleted): the same SELECT as 0051, over the deduplicated scans of that day.
INSERT INTO venue_scan_days
SELECT venue_id, toDate(scanned_at) AS day, any(area_path) AS area_path
FROM scans FINAL
WHERE toDate(scanned_at) = {day:Date}
GROUP BY venue_id, day
SETTINGS insert_deduplicate = 0
