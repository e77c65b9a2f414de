-- The co-presence index (target of 0020): every visit version once per 15-minute slot
-- it touches, ordered by (venue, slot, person), so the people at a venue in a slot are
-- one range of the primary key. Granules of 256 rows and compressed blocks of 4-16 KiB:
-- a lookup reads and decompresses a few kilobytes, not 8192 rows in 64 KiB blocks. Only
-- for finding candidates: tracing then checks the exact overlap against the latest
-- version of each visit (visits_by_person).
CREATE TABLE IF NOT EXISTS visit_slots
(
    venue_id String,
    slot DateTime('UTC'),
    person_id String,
    visit_id UUID,
    version UInt32,
    t_in DateTime64(3, 'UTC'),
    t_out DateTime64(3, 'UTC'),
    deleted Bool
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toDate(slot)
PRIMARY KEY (venue_id, slot)
ORDER BY (venue_id, slot, person_id, visit_id)
TTL slot + INTERVAL 30 DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000,
    index_granularity = 256, min_compress_block_size = 4096, max_compress_block_size = 16384
