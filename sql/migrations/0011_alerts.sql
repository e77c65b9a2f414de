-- Venues flagged because a case was there (`alerts`), one row per alert id.
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id UUID,
    case_id String,
    venue_id String,
    first_presence DateTime64(3, 'UTC'),
    last_presence DateTime64(3, 'UTC'),
    visits UInt32,
    created_at DateTime64(3, 'UTC'),
    kafka_partition UInt16,
    kafka_offset UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(created_at)
ORDER BY (venue_id, alert_id)
TTL toDateTime(created_at) + INTERVAL 30 DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000
