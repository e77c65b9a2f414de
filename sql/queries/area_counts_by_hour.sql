-- One area's counts hour by hour in [from, to): venues with a scan, scans, entries,
-- exits, scans with a current declaration, scans with symptoms reported, distinct people (a dashboard's line chart). From tier_counts_hourly.
-- Parameters: area String, from DateTime64, to DateTime64.
SELECT
    hour,
    uniqExactMerge(venues_scanned) AS venues_scanned,
    sum(scans) AS scans,
    sum(entries) AS entries,
    sum(exits) AS exits,
    sum(scans_declared) AS scans_declared,
    sum(scans_with_symptoms) AS scans_with_symptoms,
    uniqCombinedMerge(14)(people) AS people
FROM tier_counts_hourly
WHERE area_id = {area:String}
  AND hour >= toStartOfHour(toDateTime({from:DateTime64(3, 'UTC')}))
  AND hour < {to:DateTime64(3, 'UTC')}
GROUP BY hour
ORDER BY hour
