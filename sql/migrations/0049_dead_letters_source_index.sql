-- A dead letter's place in its envelope (`schemas.envelopes`): several scans of one message
-- may be refused, each its own dead letter, so the place joins the key. 0 for a message of
-- one scan, as every dead letter before envelopes. (No DEFAULT: a column added to the
-- sorting key may not have one; its type's default is 0.)
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS source_index UInt32 AFTER source_offset,
    MODIFY ORDER BY (source_topic, source_partition, source_offset, source_index)
