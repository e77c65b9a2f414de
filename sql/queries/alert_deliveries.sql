-- The notifications of the given alerts, each's latest delivery state (the tracing
-- console's "alerts and their delivery"): an SMS's phone masked as the table keeps it,
-- never the body. Oldest first within an alert.
-- Parameters: alerts Array(UUID).
SELECT alert_id, notification_id, alert_version, purpose, channel, role, recipient_masked, state, attempts,
       last_status, last_error, next_attempt_at, created_at, updated_at, delivered_at
FROM notifications FINAL
WHERE alert_id IN {alerts:Array(UUID)} AND NOT deleted
ORDER BY alert_id, created_at, notification_id
