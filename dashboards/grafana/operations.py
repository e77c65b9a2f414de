"""The operations dashboard: what the warehouse holds about the pipeline's health: scans
arriving, dead letters by reason, where the sink has landed each topic, alerts and the
delivery of their notifications. Consumer lag and the services' own counters are in
their Prometheus metrics (/metrics), not in the warehouse. No personal table; no
recipient (an SMS's phone is masked in `notifications`, and not shown here either)."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row

from .panels import HOURS_IN_RANGE, stat_panel, table_panel, time_series_panel

UID = "ravao-operations"

SCANS_PER_HOUR = f"""
SELECT hour AS time, sum(scans) AS scans, sum(entries) AS entries, sum(exits) AS exits
FROM tier_counts_hourly
WHERE level = 0 AND {HOURS_IN_RANGE}
GROUP BY hour
ORDER BY hour
"""

# By the time the pipeline received each scan: how fast scans arrive, per source.
SCANS_PER_SECOND = """
SELECT $__timeInterval(received_at) AS time, source, count() / $__interval_s AS scans_per_second
FROM scans
WHERE $__timeFilter(received_at)
GROUP BY time, source
ORDER BY time
"""

DEAD_LETTERS_OVER_TIME = """
SELECT $__timeInterval(rejected_at) AS time, reason, count() AS dead_letters
FROM dead_letters FINAL
WHERE $__timeFilter(rejected_at)
GROUP BY time, reason
ORDER BY time
"""

DEAD_LETTERS_BY_REASON = """
SELECT reason, source_topic, count() AS dead_letters, max(rejected_at) AS last_at,
       countIf(raw_truncated) AS truncated
FROM dead_letters FINAL
WHERE $__timeFilter(rejected_at)
GROUP BY reason, source_topic
ORDER BY dead_letters DESC, reason, source_topic
"""

DEAD_LETTERS_TOTAL = """
SELECT count() AS dead_letters
FROM dead_letters FINAL
WHERE $__timeFilter(rejected_at)
"""

# The sink writes each topic partition's next offset right after a batch's inserts.
SINK = """
SELECT topic, count() AS partitions, sum(next_offset) AS messages_landed, max(updated_at) AS last_batch_at,
       dateDiff('second', max(updated_at), now64(3)) AS seconds_since_last_batch
FROM sink_positions FINAL
GROUP BY topic
ORDER BY topic
"""

SINK_QUIET = """
SELECT dateDiff('second', max(updated_at), now64(3)) AS seconds_since_last_batch
FROM sink_positions FINAL
"""

# The latest version of each alert.
ALERTS = """
SELECT kind, status, count() AS alerts
FROM
(
    SELECT alert_id, argMax(kind, version) AS kind, argMax(status, version) AS status,
           argMax(created_at, version) AS created_at
    FROM alerts
    GROUP BY alert_id
)
WHERE $__timeFilter(created_at)
GROUP BY kind, status
ORDER BY kind, status
"""

NOTIFICATIONS_OVER_TIME = """
SELECT $__timeInterval(created_at) AS time, state, count() AS notifications
FROM notifications FINAL
WHERE NOT deleted AND $__timeFilter(created_at)
GROUP BY time, state
ORDER BY time
"""

NOTIFICATIONS_BY_STATE = """
SELECT channel, state, count() AS notifications, sum(attempts) AS attempts
FROM notifications FINAL
WHERE NOT deleted AND $__timeFilter(created_at)
GROUP BY channel, state
ORDER BY channel, state
"""

FAILING = """
SELECT updated_at, alert_id, channel, role, purpose, state, attempts, last_status, last_error, next_attempt_at
FROM notifications FINAL
WHERE NOT deleted AND $__timeFilter(created_at)
  AND (state IN ('failed', 'disabled') OR (state IN ('pending', 'sending') AND attempts > 0))
ORDER BY updated_at DESC
LIMIT 200
"""


def dashboard() -> Dashboard:
    return (
        Dashboard("ravao: operations").uid(UID).tags(["ravao"]).timezone("browser").time("now-24h", "now")
        .refresh("1m")
        .description("Scans arriving, dead letters, the sink's progress, alerts and their notifications.")
        .with_row(Row("Scans"))
        .with_panel(time_series_panel("Scans per second, by source", SCANS_PER_SECOND,
                                      description="Valid scans in the warehouse by the time they were received.",
                                      unit="reqps"))
        .with_panel(time_series_panel("Scans per hour, every area", SCANS_PER_HOUR,
                                      description="From the tier-count views (province rows: every scan once)."))
        .with_row(Row("Dead letters"))
        .with_panel(stat_panel("Dead letters", DEAD_LETTERS_TOTAL, width=4, height=8,
                               description="Messages refused in the range."))
        .with_panel(time_series_panel("Dead letters by reason", DEAD_LETTERS_OVER_TIME, width=20, bars=True,
                                      description="What the pipeline refused, by reason (scans.dlq, and what "
                                                  "the sink could not read)."))
        .with_panel(table_panel("Dead letters by reason and topic", DEAD_LETTERS_BY_REASON, height=7,
                                description="Counts in the range; truncated: only the first bytes were kept."))
        .with_row(Row("Sink"))
        .with_panel(stat_panel("Seconds since the sink's last batch", SINK_QUIET, width=6, height=7, unit="s",
                               description="Every batch moves a topic partition's position."))
        .with_panel(table_panel("Where the sink is, by topic", SINK, width=18, height=7,
                                description="Partitions, messages landed (the sum of next offsets) and the "
                                            "last batch of each topic."))
        .with_row(Row("Alerts and notifications"))
        .with_panel(table_panel("Alerts by kind and status", ALERTS, width=8, height=8,
                                description="Alerts created in the range, each at its latest version."))
        .with_panel(time_series_panel("Notifications by state", NOTIFICATIONS_OVER_TIME, width=16, bars=True,
                                      description="Notifications created in each interval, by their current "
                                                  "delivery state."))
        .with_panel(table_panel("Notifications by channel and state", NOTIFICATIONS_BY_STATE, width=8, height=8,
                                description="Current delivery state of the range's notifications."))
        .with_panel(table_panel("Deliveries failing", FAILING, width=16, height=8,
                                description="Given up, disabled by a 410, or retrying after a failed attempt; "
                                            "the last error says why."))
    )
