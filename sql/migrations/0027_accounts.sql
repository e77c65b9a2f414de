-- People's accounts (`accounts`): every change of every account, once each (by its place
-- on the topic), for "who held which role when" beside the audit log. The phone is kept
-- masked, as the audit log names a person's account: the warehouse is read by many, and a
-- hash of a phone number would hide nothing (there are only so many numbers). The
-- current accounts are the compacted topic's, read by `ravao user list`.
CREATE TABLE IF NOT EXISTS accounts
(
    phone_masked String,
    role LowCardinality(String),
    venue_id String,
    area_id String,
    active Bool,
    added_by String,
    updated_at DateTime64(3, 'UTC'),
    deleted Bool,
    kafka_partition UInt16,
    kafka_offset UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY (kafka_partition, kafka_offset)
SETTINGS non_replicated_deduplication_window = 1000
