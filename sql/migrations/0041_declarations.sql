-- Health declarations from `declarations`, one row per declaration id: a person's own
-- answers (symptoms, contact with a case, travel). Personal: the read-only door refuses
-- it and only the tracing role reads it on a server (pipeline/warehouse/door.py,
-- grants.py). A scan carries only the status word (`scans.declaration`), never these.
-- Kept for the retention period, by day of declaration, like the scans. Symptoms and who
-- declared are enums of `schemas.declarations`: the engine refuses any other word, so a
-- bad declaration becomes a dead letter (without its bytes: a personal route) instead of
-- a row (a new symptom is a new migration).
CREATE TABLE IF NOT EXISTS declarations
(
    declaration_id UUID,
    person_id String,
    declared_on Date,
    declared_at DateTime64(3, 'UTC'),
    symptoms Array(Enum8('fever' = 1, 'cough' = 2, 'shortness_of_breath' = 3, 'sore_throat' = 4, 'loss_of_taste_or_smell' = 5, 'fatigue' = 6, 'muscle_pain' = 7, 'diarrhoea' = 8)),
    contact_with_case Bool,
    travel String,
    declared_by Enum8('self' = 1, 'guard' = 2, 'cli' = 3, 'api' = 4),
    device_id Nullable(String),
    kafka_partition UInt16,
    kafka_offset UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(declared_at)
ORDER BY (person_id, declared_at, declaration_id)
TTL toDateTime(declared_at) + INTERVAL 30 DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000
