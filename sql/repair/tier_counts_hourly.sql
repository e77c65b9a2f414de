-- Rebuild one day of tier_counts_hourly from the raw scans (after that day's rows
-- were deleted). The same SELECT as 0045_tier_counts_hourly_mv_declarations; see tier_counts_daily.sql.
INSERT INTO tier_counts_hourly
SELECT
    area_path[i] AS area_id,
    if(i = 1, '', area_path[i - 1]) AS parent_id,
    toUInt8(i - 1) AS level,
    toStartOfHour(toDateTime(scanned_at)) AS hour,
    uniqExactState(venue_id) AS venues_scanned,
    count() AS scans,
    countIf(direction = 'in') AS entries,
    countIf(direction = 'out') AS exits,
    countIf(declaration != 'none') AS scans_declared,
    countIf(declaration = 'symptoms') AS scans_with_symptoms,
    uniqCombinedState(14)(person_id) AS people
FROM scans FINAL
ARRAY JOIN arrayEnumerate(area_path) AS i
WHERE toDate(scanned_at) = {day:Date}
GROUP BY area_id, parent_id, level, hour
SETTINGS insert_deduplicate = 0
