-- Which migrations have run. `ravao migrate` creates this first, then applies every
-- file whose version is not recorded here, in order, and records it.
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version
