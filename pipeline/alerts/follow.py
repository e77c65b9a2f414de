"""`python -m pipeline.alerts.notify`: the notifier on its own, until the alerting job
runs it. Restores `notifications`, loads the venues and accounts, follows `alerts` from
the beginning (the latest version of each alert is what it offers) and delivers in a
loop, every RAVAO_NOTIFY_POLL_SECONDS. SIGTERM or SIGINT stops it between two attempts.

It never writes `alerts` (the job alone does): a settled alert is only logged here.
"""

from __future__ import annotations

import logging
import signal
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from ..access.directory import AccountDirectory
from ..kafka_io import ensure_topics, read_to_end
from ..kafka_local import bootstrap_servers
from ..settings import get_settings
from ..topics import topics_for
from .notify import Notifier
from schemas.cases import Alert

log = logging.getLogger("ravao.alerts.notify")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    bootstrap = bootstrap_servers(settings)
    topics = topics_for(settings)
    ensure_topics(bootstrap, [topics.notifications, topics.alerts, topics.venues, topics.accounts],
                  settings.topic_replication)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    directory = AccountDirectory()
    latest: dict[bytes, bytes | None] = {}  # the alerts read back: each one's latest version only
    appliers = {topics.venues.name: directory.apply_venue, topics.accounts.name: directory.apply_account,
                topics.alerts.name: latest.__setitem__}
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "ravao-notifier", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    start: list[TopicPartition] = []
    for topic, apply in appliers.items():
        next_offsets = {p: OFFSET_BEGINNING for p in consumer.list_topics(topic, timeout=15).topics[topic].partitions}
        for key, value, partition, offset in read_to_end(bootstrap, topic):
            if key is not None:
                apply(key, value)
            next_offsets[partition] = offset + 1
        start += [TopicPartition(topic, p, o) for p, o in next_offsets.items()]
    notifier = Notifier(settings, bootstrap, directory,
                        on_settled=lambda alert_id: log.info("alert %s: every notification ended", alert_id))
    notifier.restore()
    for value in latest.values():
        if value is not None:
            notifier.offer(Alert.from_bytes(value))
    appliers[topics.alerts.name] = lambda _key, value: value is not None and notifier.offer(Alert.from_bytes(value))
    consumer.assign(start)
    log.info("notifier running: %d webhook endpoint(s)", len(notifier.endpoints))
    try:
        while not stopping:
            deadline = time.monotonic() + settings.notify_poll_seconds
            while not stopping and time.monotonic() < deadline:
                message = consumer.poll(max(0.0, min(0.2, deadline - time.monotonic())))
                if message is None:
                    continue
                if message.error():
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(message.error())
                if message.key() is not None:
                    appliers[message.topic()](message.key(), message.value())
            if not stopping:
                notifier.deliver_due()
    finally:
        consumer.close()
        notifier.close()
