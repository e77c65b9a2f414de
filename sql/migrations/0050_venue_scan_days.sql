-- The days each venue had a scan (target of 0051): what the tier page's "venues without
-- scans" reads, instead of the raw scans of its window (a province's month: millions of
-- rows). One row per venue and day, with its areas; repeats collapse (ReplacingMergeTree),
-- so a backfill or a rebuild may insert a day again.
CREATE TABLE IF NOT EXISTS venue_scan_days
(
    venue_id String,
    day Date,
    area_path Array(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (venue_id, day)
TTL day + INTERVAL 30 DAY
SETTINGS ttl_only_drop_parts = 0, index_granularity = 256
