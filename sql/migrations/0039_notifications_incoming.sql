-- Where the sink writes notifications (source of 0040): a Null table keeps nothing, not
-- even the phone it is given; its view forwards each block to `notifications` masked.
CREATE TABLE IF NOT EXISTS notifications_incoming
(
    notification_id UUID,
    alert_id UUID,
    alert_version UInt32,
    purpose LowCardinality(String),
    channel LowCardinality(String),
    recipient String,
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
ENGINE = Null
