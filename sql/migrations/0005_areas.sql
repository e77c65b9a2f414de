-- Administrative areas (`registry.areas`): the newest record per id wins (the Kafka
-- offset is the version); a tombstone arrives as a row with deleted = true.
CREATE TABLE IF NOT EXISTS areas
(
    area_id String,
    name String,
    tier LowCardinality(String),
    level UInt8,
    parent_id String,
    path Array(String),
    deleted Bool,
    kafka_partition UInt16,
    kafka_offset UInt64
)
ENGINE = ReplacingMergeTree(kafka_offset)
ORDER BY area_id
SETTINGS non_replicated_deduplication_window = 1000
