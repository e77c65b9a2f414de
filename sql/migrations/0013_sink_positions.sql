-- Where the sink resumes: the next offset of every topic partition whose messages are
-- in the warehouse. Written right after each batch's inserts, so the position lives
-- with the data (a restored or wiped warehouse re-reads what it lacks).
CREATE TABLE IF NOT EXISTS sink_positions
(
    topic String,
    partition UInt16,
    next_offset UInt64,
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(next_offset)
ORDER BY (topic, partition)
