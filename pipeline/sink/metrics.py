"""What the sink did, as Prometheus metrics (served on RAVAO_SINK_METRICS_PORT, 0: off):
batches and rows written, the time each batch took, dead letters by reason, failed
attempts, and per topic partition the position written and how far it is behind.

`Sink` calls `written` after each batch it wrote and `lag` every few seconds from its
loop (the consumer is the loop's alone; the high watermarks are the ones its fetches
already brought back, no request to the broker)."""

from __future__ import annotations

import json

from prometheus_client import Counter, Gauge, Histogram

from ..prometheus import new_registry

# Seconds one batch takes, inserts and position together: milliseconds to the 30 s of a
# large replay batch on a loaded engine.
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
REFUSED_REASON = "undecodable"  # what `routes.refused_row` writes


class SinkMetrics:
    def __init__(self) -> None:
        self.registry = new_registry()
        r = self.registry
        self.batches = Counter("ravao_sink_batches", "Batches written to the warehouse (rows, then the position)",
                               registry=r)
        self.rows = Counter("ravao_sink_rows", "Rows sent to the warehouse, by table (scans before the engine drops "
                            "repeated event ids)", ["table"], registry=r)
        self.seconds = Histogram("ravao_sink_batch_seconds", "Time to write one batch: its inserts and its position",
                                 buckets=BATCH_BUCKETS, registry=r)
        self.dead_letters = Counter("ravao_sink_dead_letters", "Dead letters written to the warehouse, by reason "
                                    "(the worker's, from scans.dlq, and messages the sink could not read)",
                                    ["reason"], registry=r)
        self.failures = Counter("ravao_sink_failed_attempts", "Attempts at a batch that failed and are retried, by "
                                "kind (warehouse_unavailable, batch_incomplete)", ["kind"], registry=r)
        self.position = Gauge("ravao_sink_position", "Next offset written to the warehouse, per topic partition",
                              ["topic", "partition"], registry=r)
        self.behind = Gauge("ravao_sink_lag_messages", "Messages on the broker not yet written, per topic partition "
                            "(the high watermark the consumer last saw, less the position)", ["topic", "partition"],
                            registry=r)

    def written(self, batch, rows: dict[str, int], refused: int, seconds: float) -> None:
        """One batch written: ``rows`` per table as `write_batch` reports them."""
        self.batches.inc()
        self.seconds.observe(seconds)
        for table, count in rows.items():
            self.rows.labels(table).inc(count)
        for entry in batch.rows.get("dead_letters", ()):
            self.dead_letters.labels(_reason(entry[2])).inc()
        if refused:
            self.dead_letters.labels(REFUSED_REASON).inc(refused)
        for (topic, partition), offset in batch.next.items():
            self.position.labels(topic, str(partition)).set(offset)

    def failed(self, kind: str) -> None:
        self.failures.labels(kind).inc()

    def lag(self, consumer, assigned, done: dict) -> None:
        """Positions and lag of the assigned partitions, from the consumer's cached watermarks."""
        from confluent_kafka import TopicPartition

        for topic, partition in sorted(assigned):
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            if high is None or high < 0 or (topic, partition) not in done:
                continue
            self.behind.labels(topic, str(partition)).set(max(0, high - done[(topic, partition)]))

    def forget(self, sources) -> None:
        """Partitions no longer this sink's: their gauges are another sink's to report."""
        for topic, partition in sources:
            for gauge in (self.position, self.behind):
                try:
                    gauge.remove(topic, str(partition))
                except KeyError:
                    pass


def _reason(line: bytes) -> str:
    try:
        return str(json.loads(line).get("reason") or "unknown")[:40]
    except (ValueError, AttributeError):
        return "unknown"
