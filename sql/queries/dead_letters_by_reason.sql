-- Dead letters by reason (the operations page): how many the warehouse holds from the hour
-- and the day before `now`, and in all it keeps (RAVAO_RETENTION_DAYS), with the newest.
-- Each refused source message once (FINAL: the sink may write one twice).
-- Parameters: now DateTime64.
SELECT
    reason,
    countIf(rejected_at >= {now:DateTime64(3, 'UTC')} - INTERVAL 1 HOUR) AS last_hour,
    countIf(rejected_at >= {now:DateTime64(3, 'UTC')} - INTERVAL 1 DAY) AS last_day,
    count() AS kept,
    max(rejected_at) AS newest
FROM dead_letters FINAL
GROUP BY reason
ORDER BY kept DESC, reason
