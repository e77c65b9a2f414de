-- Settings `ravao migrate` has applied to the tables (the retention in days), so it
-- alters the TTLs only when RAVAO_RETENTION_DAYS changes.
CREATE TABLE IF NOT EXISTS warehouse_settings
(
    name String,
    value String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY name
