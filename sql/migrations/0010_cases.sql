-- Registered cases (`cases`), newest record per case id. `ravao trace` takes its default
-- window from a person's case onset.
CREATE TABLE IF NOT EXISTS cases
(
    case_id String,
    person_id String,
    status LowCardinality(String),
    onset Date,
    registered_at DateTime64(3, 'UTC'),
    registered_by String,
    deleted Bool,
    kafka_partition UInt16,
    kafka_offset UInt64
)
ENGINE = ReplacingMergeTree(kafka_offset)
ORDER BY case_id
SETTINGS non_replicated_deduplication_window = 1000
