"""The gateway's Prometheus metrics: its requests (`pipeline.http_metrics.HttpMetrics`, at
/metrics for RAVAO_METRICS_FROM only) and the scans it took: accepted (published and
acknowledged by Kafka) or refused here, by reason. A scan answered 503 is neither: it
is sent again."""

from __future__ import annotations

from prometheus_client import Counter

from pipeline.http_metrics import HttpMetrics

REASONS = 40  # characters of a refusal's reason kept as a label (the reasons are a closed set)


class GatewayMetrics(HttpMetrics):
    def __init__(self, metrics_from: str) -> None:
        super().__init__("gateway", metrics_from)
        self.scans = Counter("ravao_gateway_scans", "Scans taken by the gateway, by outcome (accepted: acknowledged "
                             "by Kafka; refused here, not published) and the refusal's reason",
                             ["kind", "outcome", "reason"], registry=self.registry)
        self.messages = Counter("ravao_gateway_scan_messages", "Messages the gateway sent to scans.raw (an "
                                "envelope counts one; scans per message: ravao_gateway_published_scans over this)",
                                registry=self.registry)
        self.published = Counter("ravao_gateway_published_scans", "Scans the gateway sent to scans.raw, in "
                                 "envelopes or alone (a scan sent again counts again)", registry=self.registry)

    def sent(self, messages: int, scans: int) -> None:
        """``scans`` went to Kafka in ``messages`` messages (`envelopes.ScanPublisher`)."""
        self.messages.inc(messages)
        self.published.inc(scans)

    def answered(self, kind: str, answers) -> None:
        """``answers``: the `ScanAnswer`s given (``kind``: device or self check-in)."""
        for answer in answers:
            if answer.reason:
                self.scans.labels(kind, "refused", answer.reason[:REASONS]).inc()
            else:
                self.scans.labels(kind, "accepted", "").inc()
