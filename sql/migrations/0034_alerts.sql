-- Alerts of the alerting job (`alerts`, compacted by alert id): venue alerts (a case was
-- there in its infectious window) and cluster alerts (k cases there within d days). Every
-- version once; the latest version of an alert id is the alert. No person in it: cases
-- by id, exposed people as a count.
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id UUID,
    version UInt32,
    kind LowCardinality(String),
    status LowCardinality(String),
    venue_id String,
    case_ids Array(String),
    first_presence DateTime64(3, 'UTC'),
    last_presence DateTime64(3, 'UTC'),
    visits UInt32,
    exposed UInt32,
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    registered_at DateTime64(3, 'UTC'),
    newest_scan_at Nullable(DateTime64(3, 'UTC')),
    seconds_from_registration Float64,
    seconds_from_newest_scan Nullable(Float64),
    reason String,
    confirmed_by Nullable(String),
    kafka_partition UInt16,
    kafka_offset UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(created_at)
ORDER BY alert_id
TTL toDateTime(created_at) + INTERVAL 30 DAY
SETTINGS ttl_only_drop_parts = 0, non_replicated_deduplication_window = 1000
