-- Tier counts per day for every area at every tier (target of 0018); see 0015 (also for
-- why it is partitioned by month).
CREATE TABLE IF NOT EXISTS tier_counts_daily
(
    area_id String,
    parent_id String,
    level UInt8,
    day Date,
    venues_scanned AggregateFunction(uniqExact, String),
    scans SimpleAggregateFunction(sum, UInt64),
    entries SimpleAggregateFunction(sum, UInt64),
    exits SimpleAggregateFunction(sum, UInt64),
    people AggregateFunction(uniqCombined(14), String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (area_id, parent_id, level, day)
TTL day + INTERVAL 30 DAY
SETTINGS ttl_only_drop_parts = 0, non_replicated_deduplication_window = 1000,
    index_granularity = 32, min_compress_block_size = 4096, max_compress_block_size = 16384
