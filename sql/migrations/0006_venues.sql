-- Venues (`registry.venues`), newest record per id. The owner's and staff phones are not
-- kept here: personal data lives only in personal_data (the sink skips unknown fields).
CREATE TABLE IF NOT EXISTS venues
(
    venue_id String,
    name String,
    address String,
    area_id String,
    area_path Array(String),
    category LowCardinality(String),
    privileged Bool,
    default_stay_minutes UInt32,
    max_stay_minutes UInt32,
    active Bool,
    updated_at DateTime64(3, 'UTC'),
    deleted Bool,
    kafka_partition UInt16,
    kafka_offset UInt64
)
ENGINE = ReplacingMergeTree(kafka_offset)
ORDER BY venue_id
SETTINGS non_replicated_deduplication_window = 1000
