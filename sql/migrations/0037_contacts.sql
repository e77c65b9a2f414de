-- Cases' contact lists (`contacts`, compacted by "<case id>:<person id>"), as `ravao trace`
-- computes them, written by the alerting job: the latest version of each (case, person);
-- `removed` when a re-run no longer finds the person or the case was cleared. Person ids
-- only, like `visits`: names stay in personal_data. By month of the version: the
-- queries take the latest version of each pair (argMax), whatever its partition.
CREATE TABLE IF NOT EXISTS contacts
(
    case_id String,
    person_id String,
    version UInt32,
    degree UInt8,
    overlap_seconds UInt32,
    overlaps UInt32,
    via String,
    venues Array(String),
    first_contact Nullable(DateTime64(3, 'UTC')),
    last_contact Nullable(DateTime64(3, 'UTC')),
    removed Bool,
    updated_at DateTime64(3, 'UTC'),
    kafka_partition UInt16,
    kafka_offset UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(updated_at)
ORDER BY (case_id, person_id)
TTL toDateTime(updated_at) + INTERVAL 30 DAY
SETTINGS ttl_only_drop_parts = 0, non_replicated_deduplication_window = 1000
