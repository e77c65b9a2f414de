-- Guard phones and reader stations (`registry.devices`), newest record per id; neither
-- the phone number nor the token hash is kept.
CREATE TABLE IF NOT EXISTS devices
(
    device_id String,
    venue_id String,
    kind LowCardinality(String),
    mode LowCardinality(String),
    label String,
    active Bool,
    updated_at DateTime64(3, 'UTC'),
    deleted Bool,
    kafka_partition UInt16,
    kafka_offset UInt64
)
ENGINE = ReplacingMergeTree(kafka_offset)
ORDER BY device_id
SETTINGS non_replicated_deduplication_window = 1000
