-- Valid scans from `scans.valid`, one row per event id: the sink writes to scans_incoming,
-- whose view (0024) drops an event id this table already holds (sql/README.md, "Exact
-- counts"), so the tier-count views fed by this table count every event once. The bloom
-- filter serves that lookup; the order key serves a venue's scans in time order.
CREATE TABLE IF NOT EXISTS scans
(
    event_id UUID,
    source LowCardinality(String),
    person_id String,
    venue_id String,
    device_id String,
    direction LowCardinality(String),
    scanned_at DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    area_id String,
    area_path Array(String),
    category LowCardinality(String),
    default_stay_minutes UInt32,
    max_stay_minutes UInt32,
    kafka_partition UInt16,
    kafka_offset UInt64,
    INDEX event_id_bloom event_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(scanned_at)
ORDER BY (venue_id, scanned_at, event_id)
TTL toDateTime(scanned_at) + INTERVAL 30 DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000
