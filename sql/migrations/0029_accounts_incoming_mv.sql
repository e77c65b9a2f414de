-- Accounts with the phone masked as `pipeline.privacy.mask_phone` does: the first three
-- and the last three digits, a star for each one between.
CREATE MATERIALIZED VIEW IF NOT EXISTS accounts_incoming_mv TO accounts AS
SELECT
    if(length(phone) <= 6, repeat('*', length(phone)),
       concat(substring(phone, 1, 3), repeat('*', length(phone) - 6), substring(phone, -3))) AS phone_masked,
    role,
    venue_id,
    area_id,
    active,
    added_by,
    updated_at,
    deleted,
    kafka_partition,
    kafka_offset
FROM accounts_incoming
