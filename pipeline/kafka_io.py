"""Small, shared Kafka plumbing: topic creation, a reliable producer, reading a
compacted topic to its end. Everything else imports these instead of configuring
clients itself."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from .topics import READER_GROUP, TopicSpec


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec], replication: int = 1) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    client = admin(bootstrap)
    existing = set(client.list_topics(timeout=15).topics)
    wanted = [
        NewTopic(s.name, num_partitions=s.partitions, replication_factor=replication, config=s.config())
        for s in specs
        if s.name not in existing
    ]
    if not wanted:
        return []
    created = []
    for name, future in client.create_topics(wanted, operation_timeout=30).items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created


def partition_counts(bootstrap: str, names: Iterable[str]) -> dict[str, int]:
    """How many partitions each of these existing topics has on the cluster."""
    topics = admin(bootstrap).list_topics(timeout=15).topics
    return {name: len(topics[name].partitions) for name in names if name in topics}


# A topic created a moment ago, or a broker just started, answers these for a while.
LEADER_NOT_YET = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                            KafkaError.UNKNOWN_TOPIC_OR_PART})


def while_leaders_settle(call, tries: int = 20, pause: float = 0.5):
    """``call()``, again while a topic just created (or a broker just started) has no
    leader yet, or the error is one the client calls retriable; any other error at once."""
    for attempt in range(tries):
        try:
            return call()
        except KafkaException as exc:
            error = exc.args[0]
            if attempt == tries - 1 or not (error.retriable() or error.code() in LEADER_NOT_YET):
                raise
            time.sleep(pause)
    raise AssertionError("unreachable")


def reliable_producer(bootstrap: str, **extra: Any) -> Producer:
    """Idempotent, acks=all: a message acknowledged is a message kept, once."""
    config = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        # The Java client's partitioner (murmur2), which Faust's producer uses too: a scan
        # keyed by person lands in the partition the worker keeps that person's state in.
        "partitioner": "murmur2_random",
        # Warnings such as "coordinator load in progress" right after a broker starts are
        # retried by the client; a failure still surfaces as a delivery error.
        "log_level": 3,
    }
    config.update(extra)
    return Producer(config)


class DeliveryFailed(RuntimeError):
    pass


def produce_all(producer: Producer, topic: str, messages: Iterable[tuple[bytes | None, bytes]],
                timeout: float = 30.0) -> int:
    """Send (key, value) pairs and wait until every one is acknowledged."""
    errors: list[str] = []

    def on_delivery(err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    count = 0
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
        producer.poll(0)
    remaining = producer.flush(timeout)
    if remaining:
        raise DeliveryFailed(f"{remaining} message(s) to {topic} not acknowledged within {timeout:.0f}s")
    if errors:
        raise DeliveryFailed(f"{len(errors)} message(s) to {topic} failed: {errors[0]}")
    return count


def read_to_end(bootstrap: str, topic: str, timeout: float = 30.0) -> Iterator[tuple[bytes | None, bytes | None, int, int]]:
    """Every message of ``topic`` from the beginning to the end offsets seen at the start:
    (key, value, partition, offset). No consumer group, nothing committed."""
    return _read_up_to_end(bootstrap, topic, timeout, last=None)


def read_tail(bootstrap: str, topic: str, count: int, timeout: float = 5.0) -> list[bytes | None]:
    """The values of the last ``count`` messages of each partition of ``topic`` (fewer where
    compaction left gaps), read within ``timeout`` seconds (else `TimeoutError`); none if
    the topic does not exist. No consumer group, nothing committed."""
    return [value for _key, value, _p, _o in _read_up_to_end(bootstrap, topic, timeout, last=count)]


def _read_up_to_end(bootstrap: str, topic: str, timeout: float,
                    last: int | None) -> Iterator[tuple[bytes | None, bytes | None, int, int]]:
    """The messages of each partition up to its end offset as seen at the start: all of
    them, or the ``last`` few; within ``timeout`` seconds in all, else `TimeoutError`."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": READER_GROUP, "enable.auto.commit": False,
        "enable.partition.eof": True, "auto.offset.reset": "earliest",
        "socket.timeout.ms": max(1000, int(timeout * 1000)), "log_level": 2,
    })
    deadline = time.monotonic() + timeout

    def left() -> float:
        return max(0.1, deadline - time.monotonic())

    try:
        metadata = consumer.list_topics(topic, timeout=left()).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return
        ends: dict[int, int] = {}
        starts = []
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=left())
            if high > low:
                ends[partition] = high
                starts.append(TopicPartition(topic, partition, low if last is None else max(low, high - last)))
        if not ends:
            return
        consumer.assign(starts)
        while ends:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} did not reach its end within {timeout:g}s")
            message = consumer.poll(min(0.5, left()))
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    ends.pop(message.partition(), None)
                    continue
                raise KafkaException(message.error())
            partition, offset = message.partition(), message.offset()
            if partition in ends:
                yield message.key(), message.value(), partition, offset
                if offset + 1 >= ends[partition]:
                    ends.pop(partition)
    finally:
        consumer.close()