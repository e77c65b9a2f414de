-- Where the sink writes accounts (source of 0029): a Null table keeps nothing, not even
-- the phone it is given; its view forwards each block to `accounts` with the phone masked.
CREATE TABLE IF NOT EXISTS accounts_incoming
(
    phone String,
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
ENGINE = Null
