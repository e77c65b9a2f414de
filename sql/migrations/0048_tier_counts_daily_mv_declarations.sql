-- 0018's view, counting scans with a current declaration and with symptoms reported
-- (columns in the target's order, as 0047 left it).
ALTER TABLE tier_counts_daily_mv MODIFY QUERY
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
FROM scans
ARRAY JOIN arrayEnumerate(area_path) AS i
GROUP BY area_id, parent_id, level, day
