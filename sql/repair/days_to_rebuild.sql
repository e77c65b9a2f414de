-- Days whose tier counts disagree with the raw scans in total (level 0: every scan once).
-- An INSERT commits the scans part and each view's part separately; a process killed
-- between those commits leaves a day off by that insert. The embedded sink runs this at
-- start and rebuilds the days it returns (tier_counts_daily.sql, tier_counts_hourly.sql).
SELECT day
FROM
(
    SELECT toDate(scanned_at) AS day, count() AS raw
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
WHERE raw != daily OR raw != hourly
ORDER BY day
