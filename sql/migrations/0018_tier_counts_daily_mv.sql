-- Feeds tier_counts_daily from every insert into scans (columns in the target's order).
CREATE MATERIALIZED VIEW IF NOT EXISTS tier_counts_daily_mv TO tier_counts_daily AS
SELECT
    area_path[i] AS area_id,
    if(i = 1, '', area_path[i - 1]) AS parent_id,
    toUInt8(i - 1) AS level,
    toDate(scanned_at) AS day,
    uniqExactState(venue_id) AS venues_scanned,
    count() AS scans,
    countIf(direction = 'in') AS entries,
    countIf(direction = 'out') AS exits,
    uniqCombinedState(14)(person_id) AS people
FROM scans
ARRAY JOIN arrayEnumerate(area_path) AS i
GROUP BY area_id, parent_id, level, day
