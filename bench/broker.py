"""The broker a benchmark runs against: RAVAO_KAFKA_BOOTSTRAP, else the running local
broker, else a temporary one that the benchmark stops when it ends."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.progress import phase
from pipeline.kafka_local import LocalKafka
from pipeline.settings import Settings


def bench_broker(settings: Settings) -> tuple[str, LocalKafka | None]:
    """(bootstrap, the broker to stop afterwards or None)."""
    if settings.kafka_bootstrap:
        return settings.kafka_bootstrap, None
    state = LocalKafka.from_settings(settings).state()
    if state is not None:
        return state.bootstrap, None
    broker = LocalKafka(Path(tempfile.mkdtemp(prefix="ravao-bench-kafka-")), settings.kafka_heap)
    with phase("starting a local Kafka broker"):
        return broker.start().bootstrap, broker
