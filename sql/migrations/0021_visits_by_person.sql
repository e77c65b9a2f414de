-- A person's visits, fast (target of 0022), and every visit's latest version: ordered by
-- (person, visit), so tracing finds a case's visits, and the latest version of each
-- candidate visit, by primary-key ranges. Partitioned by month, not by day: a lookup by
-- key touches every partition, and thirty daily partitions would make every lookup thirty
-- lookups. Retention is therefore a row TTL (rows removed by TTL merges, not whole parts).
-- Small granules and small compressed blocks: a lookup of a hundred scattered visits reads
-- and decompresses a few kilobytes each, not 64 KiB (45 ms -> 15 ms at 10M visits).
CREATE TABLE IF NOT EXISTS visits_by_person
(
    person_id String,
    visit_id UUID,
    version UInt32,
    venue_id String,
    t_in DateTime64(3, 'UTC'),
    t_out DateTime64(3, 'UTC'),
    entry_how LowCardinality(String),
    exit_how LowCardinality(String),
    deleted Bool
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(t_in)
ORDER BY (person_id, visit_id)
TTL toDateTime(t_in) + INTERVAL 30 DAY
SETTINGS ttl_only_drop_parts = 0, non_replicated_deduplication_window = 1000,
    index_granularity = 256, min_compress_block_size = 4096, max_compress_block_size = 16384
