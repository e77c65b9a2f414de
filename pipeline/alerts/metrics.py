"""What the alerting job did, as Prometheus metrics (served on RAVAO_ALERTS_METRICS_PORT,
0: off): evaluations of cases, alert and contact versions written, notification attempts
by channel and outcome. The job and its notifier (another thread) share one object; the
counters are thread-safe."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from ..prometheus import new_registry

EVALUATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class AlertsMetrics:
    def __init__(self) -> None:
        self.registry = r = new_registry()
        self.evaluations = Counter("ravao_alerts_evaluations", "Evaluations of a case against the warehouse, by "
                                   "outcome (done; deferred: the warehouse cannot answer yet)", ["outcome"],
                                   registry=r)
        self.seconds = Histogram("ravao_alerts_evaluation_seconds", "Time one completed evaluation of a case took",
                                 buckets=EVALUATION_BUCKETS, registry=r)
        self.written = Counter("ravao_alerts_written", "Versions written to Kafka, by kind (venue and cluster "
                               "alerts, contacts)", ["kind"], registry=r)
        self.notifications = Counter("ravao_alerts_notifications", "Notification attempts, by channel and outcome "
                                     "(delivered; retrying: failed, tried again later; failed: given up after the "
                                     "last attempt; disabled: the endpoint answered 410 Gone)",
                                     ["channel", "outcome"], registry=r)

    def evaluated(self, done: bool, seconds: float = 0.0) -> None:
        self.evaluations.labels("done" if done else "deferred").inc()
        if done:
            self.seconds.observe(seconds)

    def wrote(self, alerts, contacts: int) -> None:
        for alert in alerts:
            self.written.labels(alert.kind.value).inc()
        if contacts:
            self.written.labels("contact").inc(contacts)

    def attempted(self, channel: str, outcome: str) -> None:
        self.notifications.labels(channel, outcome).inc()
