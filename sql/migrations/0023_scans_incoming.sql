-- Where the sink writes scans (target of nothing, source of 0024): a Null table keeps
-- nothing; its view forwards each inserted block to `scans` minus the event ids `scans`
-- already holds. The deduplication runs inside the engine, in the INSERT itself.
CREATE TABLE IF NOT EXISTS scans_incoming
(
    event_id UUID,
    source LowCardinality(String),
    person_id String,
    venue_id String,
    device_id String,
    direction LowCardinality(String),
    scanned_at DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    area_id String,
    area_path Array(String),
    category LowCardinality(String),
    default_stay_minutes UInt32,
    max_stay_minutes UInt32,
    kafka_partition UInt16,
    kafka_offset UInt64
)
ENGINE = Null
