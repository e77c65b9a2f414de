"""The worker's Faust app: how Faust is configured, and every topic and the table it
reads and writes, declared once (`Topology`). The agents that run on it are the
worker's (`pipeline.stream.worker`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faust

from ..settings import Settings
from ..topics import Topics, groups_for
from .faust_seam import ChangelogReceipts, no_skipped_message_lost

STATE_TABLE = "person-state"


def make_app(settings: Settings, bootstrap: str, datadir: Path, *, store: str, port: int) -> faust.App:
    """``port`` 0: no web server (no /metrics)."""
    app = faust.App(
        groups_for(settings).worker,
        broker=f"kafka://{bootstrap}",
        store=store,
        datadir=str(datadir),
        processing_guarantee="at_least_once",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=2000,
        broker_commit_interval=1.0,
        stream_buffer_maxsize=8192,
        web_enabled=port != 0,
        web_port=port or 6066,
        web_bind="127.0.0.1",
        worker_redirect_stdouts=False,
        producer_acks=-1,
        # Some linger for bigger produce requests (aiokafka spends much per request), but
        # short: each batch of events waits for its states to reach Kafka.
        producer_linger=0.01,
    )
    no_skipped_message_lost(app)
    return app


@dataclass
class Topology:
    """The app's topics and table. Raw scans, repartitioned scans and stats are raw bytes
    (the worker decodes them itself); the table holds one `PersonState.to_bytes()` per
    person (JSON), and has the partitions of scans.repartition."""

    raw_topic: object
    repartition_topic: object
    stats_topic: object
    states: object
    changelog: ChangelogReceipts
    valid_name: str
    dlq_name: str
    visits_name: str
    repartition_name: str

    @classmethod
    def declare(cls, app: faust.App, topics: Topics) -> "Topology":
        raw = dict(key_serializer="raw", value_serializer="raw")
        # Values are `PersonState.to_bytes()` as they are (raw): Faust's json codec would
        # encode each state twice per write, for the store and for the changelog. Keys
        # stay Faust's json (the person id in quotes), as they always were.
        states = app.Table(STATE_TABLE, default=None, partitions=topics.scans_repartition.partitions,
                           value_type=bytes)
        return cls(
            raw_topic=app.topic(topics.scans_raw.name, **raw),
            repartition_topic=app.topic(topics.scans_repartition.name, partitions=topics.scans_repartition.partitions,
                                        **raw),
            stats_topic=app.topic(topics.stats.name, **raw),
            states=states,
            changelog=ChangelogReceipts(states),
            valid_name=topics.scans_valid.name,
            dlq_name=topics.scans_dlq.name,
            visits_name=topics.visits.name,
            repartition_name=topics.scans_repartition.name,
        )
