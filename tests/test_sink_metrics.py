"""The sink's Prometheus metrics on the real broker and the real engine: served on its
metrics port, parsed as Prometheus parses them, and moved by the work it did (batches,
rows per table, the time per batch, dead letters by reason, positions and lag)."""

from __future__ import annotations

import socket
import urllib.request
from datetime import datetime, timezone

import pytest

from metrics_helpers import parsed, value
from pipeline.kafka_io import produce_all, reliable_producer
from pipeline.prometheus import serve
from pipeline.settings import Settings
from pipeline.sink.metrics import SinkMetrics
from pipeline.sink.sink import Sink
from pipeline.topics import Topics
from pipeline.warehouse import open_warehouse
from pipeline.warehouse.migrations import migrate
from schemas.dlq import DeadLetter, RejectReason

pytestmark = pytest.mark.kafka


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_sinks_metrics_count_what_it_wrote_and_are_served_on_their_port(settings: Settings,
                                                                           topics: Topics) -> None:
    producer = reliable_producer(settings.kafka_bootstrap)
    letters = [DeadLetter(reason=reason, message="test", raw_base64="", source_topic=topics.scans_raw.name,
                          source_partition=0, source_offset=n, rejected_at=datetime.now(timezone.utc))
               for n, reason in enumerate([RejectReason.bad_signature] * 2 + [RejectReason.unknown_venue])]
    produce_all(producer, topics.scans_dlq.name, [(None, letter.to_bytes()) for letter in letters])
    produce_all(producer, topics.scans_valid.name, [(b"PBCDEFGHIJKLNOP", b'{"not": "a scan"')])  # the sink's own
    metrics = SinkMetrics()
    port = free_port()
    server = serve(metrics.registry, port)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        before = parsed(urllib.request.urlopen(url, timeout=10).read().decode())
        assert value(before, "ravao_sink_batches_total") == 0
        with open_warehouse(settings) as warehouse:
            migrate(warehouse, 30)
            Sink(settings, warehouse, settings.kafka_bootstrap, until_caught_up=True, metrics=metrics).run()
        after = parsed(urllib.request.urlopen(url, timeout=10).read().decode())
    finally:
        server.shutdown()
    assert value(after, "ravao_sink_batches_total") >= 1
    assert value(after, "ravao_sink_batch_seconds_count") == value(after, "ravao_sink_batches_total")
    assert value(after, "ravao_sink_rows_total", table="dead_letters") == 4  # three letters, one refused scan
    assert value(after, "ravao_sink_dead_letters_total", reason="bad_signature") == 2
    assert value(after, "ravao_sink_dead_letters_total", reason="unknown_venue") == 1
    assert value(after, "ravao_sink_dead_letters_total", reason="undecodable") == 1
    assert value(after, "ravao_sink_position", topic=topics.scans_dlq.name, partition="0") == 3
    assert value(after, "ravao_sink_failed_attempts_total") == 0


def test_port_zero_serves_nothing() -> None:
    assert serve(SinkMetrics().registry, 0) is None
