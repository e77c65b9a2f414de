-- Where do the tier-count views disagree with a recount from the raw scans?
-- Every (area, day) of tier_counts_daily and (area, hour) of tier_counts_hourly, against
-- the same counts over `scans FINAL` (each event once). No rows: the views are exact.
-- `ravao warehouse check` runs it.
-- Parameters: none.
WITH
    raw_daily AS
    (
        SELECT area_path[i] AS area_id, toString(toDate(scanned_at)) AS period,
               uniqExact(venue_id) AS venues_scanned, count() AS scans, countIf(direction = 'in') AS entries,
               countIf(direction = 'out') AS exits,
               countIf(declaration != 'none') AS scans_declared, countIf(declaration = 'symptoms') AS scans_with_symptoms,
               uniqCombined(14)(person_id) AS people
        FROM scans FINAL
        ARRAY JOIN arrayEnumerate(area_path) AS i
        GROUP BY area_id, period
    ),
    view_daily AS
    (
        SELECT area_id, toString(day) AS period,
               uniqExactMerge(venues_scanned) AS venues_scanned, sum(scans) AS scans, sum(entries) AS entries,
               sum(exits) AS exits, sum(scans_declared) AS scans_declared,
               sum(scans_with_symptoms) AS scans_with_symptoms, uniqCombinedMerge(14)(people) AS people
        FROM tier_counts_daily
        GROUP BY area_id, period
    ),
    raw_hourly AS
    (
        SELECT area_path[i] AS area_id, toString(toStartOfHour(toDateTime(scanned_at))) AS period,
               uniqExact(venue_id) AS venues_scanned, count() AS scans, countIf(direction = 'in') AS entries,
               countIf(direction = 'out') AS exits,
               countIf(declaration != 'none') AS scans_declared, countIf(declaration = 'symptoms') AS scans_with_symptoms,
               uniqCombined(14)(person_id) AS people
        FROM scans FINAL
        ARRAY JOIN arrayEnumerate(area_path) AS i
        GROUP BY area_id, period
    ),
    view_hourly AS
    (
        SELECT area_id, toString(hour) AS period,
               uniqExactMerge(venues_scanned) AS venues_scanned, sum(scans) AS scans, sum(entries) AS entries,
               sum(exits) AS exits, sum(scans_declared) AS scans_declared,
               sum(scans_with_symptoms) AS scans_with_symptoms, uniqCombinedMerge(14)(people) AS people
        FROM tier_counts_hourly
        GROUP BY area_id, period
    )
SELECT view, area_id, period, raw, counted
FROM
(
    SELECT 'daily' AS view, area_id, period,
           [r.venues_scanned, r.scans, r.entries, r.exits, r.scans_declared, r.scans_with_symptoms, r.people] AS raw,
           [v.venues_scanned, v.scans, v.entries, v.exits, v.scans_declared, v.scans_with_symptoms, v.people] AS counted
    FROM raw_daily AS r
    FULL OUTER JOIN view_daily AS v USING (area_id, period)
    UNION ALL
    SELECT 'hourly' AS view, area_id, period,
           [r.venues_scanned, r.scans, r.entries, r.exits, r.scans_declared, r.scans_with_symptoms, r.people] AS raw,
           [v.venues_scanned, v.scans, v.entries, v.exits, v.scans_declared, v.scans_with_symptoms, v.people] AS counted
    FROM raw_hourly AS r
    FULL OUTER JOIN view_hourly AS v USING (area_id, period)
)
WHERE raw != counted
ORDER BY view, area_id, period
