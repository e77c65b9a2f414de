-- Each block of scans (deduplicated, as 0024 writes them) gives its venues' days.
CREATE MATERIALIZED VIEW IF NOT EXISTS venue_scan_days_mv TO venue_scan_days AS
SELECT
    venue_id,
    toDate(scanned_at) AS day,
    any(area_path) AS area_path
FROM scans
GROUP BY venue_id, day
