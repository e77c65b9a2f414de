-- Tier counts for an area and its children, over the days from_day..to_day (inclusive):
-- venues registered (active now), venues with at least one scan, scans, entries, exits
-- and distinct people; scans made with a current health declaration (`scans_declared`)
-- and scans whose person had reported symptoms (`scans_with_symptoms`). The area's own row first, then each child (any tier below it has
-- rows of its own: ask again with the child's id). Distinct counts are over the whole
-- window (states merged), not sums of daily figures; people are counted by
-- uniqCombined(14) (exact for small sets, ~0.8% error for large ones), venues exactly.
-- Entries and exits are scans marked so by the scanner or the gate; scans at "auto" gates count only in `scans`.
-- Children without a scan in the window are listed (with zeros) once areas are loaded.
-- Decodes the states of the areas asked for only (small granules, PREWHERE).
-- Parameters: area String, from_day Date, to_day Date.
WITH
    counted AS
    (
        SELECT area_id, any(level) AS counted_level, uniqExactMerge(venues_scanned) AS venues_scanned,
               sum(scans) AS scans, sum(entries) AS entries, sum(exits) AS exits,
               sum(scans_declared) AS scans_declared, sum(scans_with_symptoms) AS scans_with_symptoms,
               uniqCombinedMerge(14)(people) AS people
        FROM tier_counts_daily
        PREWHERE (area_id = {area:String} OR parent_id = {area:String}) AND day BETWEEN {from_day:Date} AND {to_day:Date}
        GROUP BY area_id
    ),
    known AS
    (
        SELECT area_id, argMax(name, kafka_offset) AS name, argMax(level, kafka_offset) AS known_level,
               argMax(parent_id, kafka_offset) AS parent, argMax(deleted, kafka_offset) AS gone
        FROM areas
        WHERE area_id = {area:String} OR parent_id = {area:String}
        GROUP BY area_id
        HAVING NOT gone AND (area_id = {area:String} OR parent = {area:String})
    ),
    registered AS
    (
        SELECT arrayJoin(area_path) AS area_id, count() AS venues_registered
        FROM
        (
            SELECT venue_id, argMax(area_path, kafka_offset) AS area_path, argMax(active, kafka_offset) AS active,
                   argMax(deleted, kafka_offset) AS deleted
            FROM venues
            GROUP BY venue_id
        )
        WHERE active AND NOT deleted AND has(area_path, {area:String})
        GROUP BY area_id
    )
SELECT
    area_id,
    name,
    greatest(counted_level, known_level) AS level,
    venues_registered,
    venues_scanned,
    scans,
    entries,
    exits,
    scans_declared,
    scans_with_symptoms,
    people
FROM counted
FULL OUTER JOIN known USING (area_id)
LEFT JOIN registered USING (area_id)
ORDER BY area_id != {area:String}, area_id
