-- Registered people (`registry.persons`): an id and a home area, no personal data.
CREATE TABLE IF NOT EXISTS persons
(
    person_id String,
    home_area_id String,
    active Bool,
    updated_at DateTime64(3, 'UTC'),
    deleted Bool,
    kafka_partition UInt16,
    kafka_offset UInt64
)
ENGINE = ReplacingMergeTree(kafka_offset)
ORDER BY person_id
SETTINGS non_replicated_deduplication_window = 1000
