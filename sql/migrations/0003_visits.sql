-- Visits from `visits`: every version of every visit; the latest version wins
-- (ReplacingMergeTree on version, keyed by visit id). Read it with FINAL or argMax(...,
-- version) and drop `deleted` ones: a revision may withdraw a visit.
CREATE TABLE IF NOT EXISTS visits
(
    visit_id UUID,
    version UInt32,
    person_id String,
    venue_id String,
    area_id String,
    area_path Array(String),
    category LowCardinality(String),
    t_in DateTime64(3, 'UTC'),
    t_out DateTime64(3, 'UTC'),
    entry_how LowCardinality(String),
    exit_how LowCardinality(String),
    entry_event_id Nullable(UUID),
    exit_event_id Nullable(UUID),
    deleted Bool,
    updated_at DateTime64(3, 'UTC'),
    kafka_partition UInt16,
    kafka_offset UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toDate(t_in)
ORDER BY visit_id
TTL toDateTime(t_in) + INTERVAL 30 DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000
