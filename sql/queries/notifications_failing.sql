-- Alert deliveries failing (the operations page): notifications given up (failed), whose
-- endpoint is disabled (410 Gone), or being retried after a failed attempt; the newest 100
-- first, an SMS's phone masked as the table keeps it (never the body).
-- Parameters: none.
SELECT
    notification_id,
    alert_id,
    purpose,
    channel,
    recipient_masked,
    state,
    attempts,
    last_status,
    last_error,
    next_attempt_at,
    updated_at
FROM notifications FINAL
WHERE NOT deleted AND (state IN ('failed', 'disabled') OR (state = 'pending' AND attempts > 0))
ORDER BY updated_at DESC, notification_id
LIMIT 100
