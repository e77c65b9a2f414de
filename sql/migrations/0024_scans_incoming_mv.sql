-- Each event id once in `scans`, so the count views it feeds count each scan once.
-- Inside a view, `scans_incoming` is the block being inserted: keep its first row per
-- event id (LIMIT 1 BY) unless `scans` holds the id already, looked up only in the days
-- of the block (partition pruning) through the bloom filter on event_id. A replay, a
-- restarted sink re-reading a batch, a device's retry: all dropped here.
CREATE MATERIALIZED VIEW IF NOT EXISTS scans_incoming_mv TO scans AS
SELECT
    event_id,
    source,
    person_id,
    venue_id,
    device_id,
    direction,
    scanned_at,
    received_at,
    area_id,
    area_path,
    category,
    default_stay_minutes,
    max_stay_minutes,
    kafka_partition,
    kafka_offset
FROM scans_incoming
WHERE event_id NOT IN
(
    SELECT event_id
    FROM scans
    WHERE toDate(scanned_at) IN (SELECT toDate(scanned_at) FROM scans_incoming)
      AND event_id IN (SELECT event_id FROM scans_incoming)
)
LIMIT 1 BY event_id
