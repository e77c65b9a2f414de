-- Notifications of alerts (`notifications`): the latest delivery state of each, for
-- "who was told, when, and what failed" beside `alerts`. The recipient of an SMS is a phone
-- and is kept masked, as in `accounts` (fed masked by 0040); a webhook's is the endpoint's
-- name. What was sent (`body`) is not kept here: the topic has it.
CREATE TABLE IF NOT EXISTS notifications
(
    notification_id UUID,
    alert_id UUID,
    alert_version UInt32,
    purpose LowCardinality(String),
    channel LowCardinality(String),
    recipient_masked String,
    role LowCardinality(String),
    venue_id String,
    state LowCardinality(String),
    attempts UInt16,
    next_attempt_at Nullable(DateTime64(3, 'UTC')),
    last_status Nullable(UInt16),
    last_error String,
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    delivered_at Nullable(DateTime64(3, 'UTC')),
    deleted Bool,
    kafka_partition UInt16,
    kafka_offset UInt64
)
ENGINE = ReplacingMergeTree(kafka_offset)
PARTITION BY toDate(created_at)
ORDER BY (alert_id, notification_id)
TTL toDateTime(created_at) + INTERVAL 30 DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000
