-- Rebuild one day of tier_counts_daily from the raw scans (after that day's rows
-- were deleted). The same SELECT as 0047_tier_counts_daily_mv_declarations, over the deduplicated scans of
-- that day; no insert deduplication, or an identical rebuild would be dropped.
INSERT INTO tier_counts_daily
SELECT
    area_path[i] AS area_id,
    if(i = 1, '', area_path[i - 1]) AS parent_id,
    toUInt8(i - 1) AS level,
    toDate(scanned_at) AS day,
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
GROUP BY area_id, parent_id, level, day
SETTINGS insert_deduplicate = 0
