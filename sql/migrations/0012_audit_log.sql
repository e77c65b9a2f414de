-- Every read of personal data: who, what, about whom, when. Kept beyond the data's
-- retention (no TTL): the trail must outlive what it audits.
CREATE TABLE IF NOT EXISTS audit_log
(
    at DateTime64(3, 'UTC'),
    actor String,
    action LowCardinality(String),
    subject String,
    detail String,
    rows UInt32
)
ENGINE = MergeTree
ORDER BY at
