-- Days whose tier counts disagree with the raw scans in total (level 0: every scan once),
-- or whose venues with scans (venue_scan_days) are not the raw scans' venues.
-- An INSERT commits the scans part and each view's part separately; a process killed
-- between those commits leaves a day off by that insert. The embedded sink runs this at
-- start and rebuilds the days it returns (tier_counts_daily.sql, tier_counts_hourly.sql,
-- venue_scan_days.sql).
SELECT day
FROM
(
    SELECT toDate(scanned_at) AS day, count() AS raw, uniqExact(venue_id) AS raw_venues
    FROM scans FINAL
    GROUP BY day
) AS r
FULL OUTER JOIN
(
    SELECT day, sum(scans) AS daily
    FROM tier_counts_daily
    WHERE level = 0
    GROUP BY day
) AS d USING (day)
FULL OUTER JOIN
(
    SELECT toDate(hour) AS day, sum(scans) AS hourly
    FROM tier_counts_hourly
    WHERE level = 0
    GROUP BY day
) AS h USING (day)
FULL OUTER JOIN
(
    SELECT day, uniqExact(venue_id) AS venue_days
    FROM venue_scan_days
    GROUP BY day
) AS v USING (day)
WHERE raw != daily OR raw != hourly OR raw_venues != venue_days
ORDER BY day
