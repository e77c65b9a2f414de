-- What the pipeline refused (`scans.dlq`), and messages the sink itself could not read.
-- One row per refused source message, whoever refused it how often.
CREATE TABLE IF NOT EXISTS dead_letters
(
    reason LowCardinality(String),
    message String,
    raw_base64 String,
    source_topic String,
    source_partition UInt32,
    source_offset UInt64,
    event_id String,
    rejected_at DateTime64(3, 'UTC'),
    kafka_partition UInt16,
    kafka_offset UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(rejected_at)
ORDER BY (source_topic, source_partition, source_offset)
TTL toDateTime(rejected_at) + INTERVAL 30 DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000
