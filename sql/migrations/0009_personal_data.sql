-- Names, phones and ID numbers (`registry.personal_data`), apart from everything else.
-- Read only by `ravao trace --with-names`, which writes an audit_log row first.
CREATE TABLE IF NOT EXISTS personal_data
(
    person_id String,
    full_name String,
    phone String,
    id_number String,
    birth_year Nullable(UInt16),
    updated_at DateTime64(3, 'UTC'),
    deleted Bool,
    kafka_partition UInt16,
    kafka_offset UInt64
)
ENGINE = ReplacingMergeTree(kafka_offset)
ORDER BY person_id
SETTINGS non_replicated_deduplication_window = 1000
