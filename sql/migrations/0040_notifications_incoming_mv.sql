-- Notifications with an SMS recipient's phone masked as `pipeline.privacy.mask_phone`
-- does (the first three and the last three digits, a star for each one between); a
-- webhook's endpoint name as it is.
CREATE MATERIALIZED VIEW IF NOT EXISTS notifications_incoming_mv TO notifications AS
SELECT
    notification_id,
    alert_id,
    alert_version,
    purpose,
    channel,
    if(channel != 'sms', recipient,
       if(length(recipient) <= 6, repeat('*', length(recipient)),
          concat(substring(recipient, 1, 3), repeat('*', length(recipient) - 6), substring(recipient, -3))))
        AS recipient_masked,
    role,
    venue_id,
    state,
    attempts,
    next_attempt_at,
    last_status,
    last_error,
    created_at,
    updated_at,
    delivered_at,
    deleted,
    kafka_partition,
    kafka_offset
FROM notifications_incoming
