-- One area's counts day by day over from_day..to_day (inclusive): venues with a scan,
-- scans, entries, exits, scans with a current declaration, scans with symptoms reported,
-- distinct people (the tier page's 30-day chart and table). Days as the views count them
-- (UTC). From tier_counts_daily; days without a scan have no row.
-- Parameters: area String, from_day Date, to_day Date.
SELECT
    day,
    uniqExactMerge(venues_scanned) AS venues_scanned,
    sum(scans) AS scans,
    sum(entries) AS entries,
    sum(exits) AS exits,
    sum(scans_declared) AS scans_declared,
    sum(scans_with_symptoms) AS scans_with_symptoms,
    uniqCombinedMerge(14)(people) AS people
FROM tier_counts_daily
PREWHERE area_id = {area:String} AND day BETWEEN {from_day:Date} AND {to_day:Date}
GROUP BY day
ORDER BY day
